"""Files under the temporary root: deleting, measuring and dating them, for the session storage
and its sweeper.

Plain functions on paths: no locks, no sessions, no visitors. A file that vanishes while one
of them runs (another sweep, a session ending) is not an error.
"""
from __future__ import annotations

import os
import shutil
import stat
from contextlib import suppress
from pathlib import Path


def is_within(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
    except ValueError:
        return False
    return True


def files_under(directory: Path) -> list[Path]:
    """Every file below ``directory``. The sweeper may delete a folder while this walks it: a
    folder gone meanwhile is skipped (os.walk ignores it), never an error in a visitor's request."""
    found: list[Path] = []
    for root, _, names in os.walk(directory):
        found += [path for path in (Path(root, name) for name in names) if path.is_file()]
    return found


def count_files(path: Path) -> int:
    if path.is_symlink() or path.is_file():
        return 1
    return sum(1 for p in path.rglob("*") if p.is_file() or p.is_symlink())


def remove_path(path: Path) -> int:
    """Delete a file or folder; returns the number of files removed (0 if already gone)."""
    try:
        if not os.path.lexists(path):
            return 0
        count = count_files(path)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        return count
    except FileNotFoundError:
        return 0


def remove_upload(path: Path, root: Path) -> int:
    """Delete an uploaded file and its (content-hash) folder when that becomes empty."""
    removed = remove_path(path)
    parent = path.parent
    if parent != root and is_within(parent, root):
        try:
            parent.rmdir()
        except OSError:
            pass  # not empty (another file of the same content) or already gone: both fine
    return removed


def tree_bytes(path: Path) -> int:
    """Size of a file, or of every file under a folder (links are not followed)."""
    try:
        if not path.is_dir() or path.is_symlink():
            return path.lstat().st_size
    except FileNotFoundError:
        return 0
    total = 0
    for entry in path.rglob("*"):
        with suppress(FileNotFoundError):
            info = entry.lstat()
            total += info.st_size if not stat.S_ISDIR(info.st_mode) else 0
    return total


def root_bytes(root: Path) -> int:
    """Stored bytes under the root: everything but the ``tmp*`` files of uploads still
    arriving or dropped, which the upload ledger counts."""
    total = 0
    for entry in root.iterdir() if root.exists() else ():
        if not is_upload_in_progress(entry):
            total += tree_bytes(entry)
    return total


def is_upload_in_progress(entry: Path) -> bool:
    """A file at the top of the root where Gradio writes an upload while it arrives (or
    left one that was dropped): ``tmp*``, named by ``tempfile``."""
    return entry.name.startswith("tmp") and entry.is_file() and not entry.is_symlink()


def newest_mtime(path: Path) -> float:
    try:
        times = [path.lstat().st_mtime]
        if path.is_dir():
            times += [p.lstat().st_mtime for p in path.rglob("*")]
        return max(times)
    except FileNotFoundError:
        return 0.0


def remove_older_than(entry: Path, limit: float, keep: set[Path]) -> int:
    """Remove files under ``entry`` last modified before ``limit`` (except ``keep``), then
    the folders that became empty."""
    if not entry.is_dir() or entry.is_symlink():
        return remove_path(entry) if entry not in keep and newest_mtime(entry) < limit else 0
    removed = 0
    for path in sorted(entry.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        try:
            if path.is_dir() and not path.is_symlink():
                if not any(path.iterdir()):
                    path.rmdir()
            elif path.resolve() not in keep and path.lstat().st_mtime < limit:
                path.unlink(missing_ok=True)
                removed += 1
        except OSError:
            continue  # in use or already gone; the next sweep tries again
    try:
        entry.rmdir()
    except OSError:
        pass  # still holds young files
    return removed
