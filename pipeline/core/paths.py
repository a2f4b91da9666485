"""What a path given on a command line is, and folders expanded into their image files:
every path that gives nothing is named with a reason (missing, a pipe, a dangling link, a
folder without images), never an exception. The image commands and ``batch`` share it.
"""
from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable
from pathlib import Path

from pipeline.core.decode import SUPPORTED_INPUT_SUFFIXES
from pipeline.core.errors import os_reason

Problems = list[tuple[str, str]]  # (name as given, why it gives no image)


def path_kind(path: Path) -> tuple[str, str]:
    """What a path is, without ever raising: ("file" | "folder" | "special" | "missing" |
    "dangling" | "unusable", why). "special" is a pipe, device or socket (reading one would
    block or never end); "dangling" a link to nothing or a loop; "unusable" e.g. a name too
    long for the file system."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return ("dangling", "a link that leads nowhere") if os.path.islink(path) else ("missing", "no such file or folder")
    except OSError as error:
        if error.errno == errno.ELOOP:
            return "dangling", "a link that leads nowhere (a loop)"
        return "unusable", f"cannot be used ({os_reason(error)})"
    if stat.S_ISDIR(mode):
        return "folder", "a folder"
    if stat.S_ISREG(mode):
        return "file", "a file"
    return "special", "not a regular file (a pipe, device or socket), so it was not read"


def collect_inputs(paths: Iterable[Path], recursive: bool = False) -> tuple[list[Path], Problems]:
    """Expand folders into their image files (sorted); name every path that gives nothing:
    missing, not a regular file, unusable, or a folder without images."""
    found: list[Path] = []
    problems: Problems = []
    for path in paths:
        kind, why = path_kind(path)
        if kind == "folder":
            images = _images_in(path, recursive)
            found.extend(images)
            if not images:
                problems.append((str(path), _empty_folder_reason(path, recursive)))
        elif kind == "file":
            found.append(path)
        else:
            problems.append((str(path), why))
    return found, problems


def _images_in(folder: Path, recursive: bool) -> list[Path]:
    pattern = folder.rglob("*") if recursive else folder.glob("*")
    return sorted(p for p in pattern if p.suffix.lower() in SUPPORTED_INPUT_SUFFIXES and path_kind(p)[0] == "file")


def _empty_folder_reason(folder: Path, recursive: bool) -> str:
    kinds = ", ".join(sorted(SUPPORTED_INPUT_SUFFIXES))
    has_folders = not recursive and any(path_kind(p)[0] == "folder" for p in folder.iterdir())
    return (f"no images in this folder (looked for {kinds})"
            + ("; add --recursive to look in its sub-folders" if has_folders else ""))
