"""Publishing results: a set of files under one freshly claimed name, all of them or none.

Why this exists:
- two runs writing into one folder must never overwrite each other, so a name is claimed
  atomically (a hard link fails if the name exists; checking ``exists()`` first is a race);
- an ID photo must never appear without its overlay, reports and sheet, and a full disk
  or Ctrl-C must leave nothing that looks like a result, so every file is written and
  synced under a hidden staging name first and only then linked into place, with Ctrl-C
  and SIGTERM held back for those few system calls;
- a user's file name can be 250 characters long, start with '-' or hold a newline, so
  the stem is cleaned and shortened until the longest companion name fits the folder.

A SIGKILL or power cut between the links (a few microseconds) can still leave part of a
set; the hidden staging files it leaves are removed by :func:`sweep_staging` later.
"""
from __future__ import annotations

import errno
import os
import re
import signal
import threading
import time
import unicodedata
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from .errors import OutputWriteError

STAGING_PREFIX = ".portrait-lab-"
STAGING_SUFFIX = ".tmp"
STALE_STAGING_S = 3600.0
DEFAULT_NAME_MAX = 255
COUNTER_RESERVE = len("_999999")
FALLBACK_STEM = "image"
# link() is refused by file systems without hard links (FAT, exFAT, some network shares)
_NO_HARD_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK, errno.ENOSYS}
_UNSAFE_IN_NAMES = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]+')


@dataclass(frozen=True)
class OutputFile:
    """One member of a set: ``suffix`` follows the shared stem ("_overlay.png", ".jpg")."""

    suffix: str
    data: bytes


def safe_stem(text: str, fallback: str = FALLBACK_STEM) -> str:
    """A readable file-name stem that is safe everywhere: no control characters (a newline),
    no path or Windows-reserved characters, no leading '-' (read as an option by other
    tools) or '.' (hidden), runs of spaces collapsed."""
    normalised = unicodedata.normalize("NFKC", str(text))
    cleaned = re.sub(r"\s+", " ", _UNSAFE_IN_NAMES.sub("_", normalised))
    cleaned = cleaned.strip(" ._-")
    return cleaned or fallback


def name_limit(directory: Path) -> int:
    """The longest file name (in bytes) the folder's file system accepts."""
    try:
        return int(os.pathconf(directory, "PC_NAME_MAX"))
    except (AttributeError, OSError, ValueError):  # no pathconf (Windows) or no answer
        return DEFAULT_NAME_MAX


def fit_stem(stem: str, suffixes: Sequence[str], limit: int) -> str:
    """Shorten ``stem`` (on a character boundary, in encoded bytes) so that the stem, a
    uniqueness counter and the longest suffix form a name within ``limit`` bytes."""
    room = limit - COUNTER_RESERVE - max(len(os.fsencode(s)) for s in suffixes)
    if room < 1:
        raise OutputWriteError(f"The output names ({', '.join(suffixes)}) are too long for this folder.")
    while len(os.fsencode(stem)) > room:
        stem = stem[:-1]
    return stem.rstrip(" ._-") or FALLBACK_STEM


def publish(directory: Path, stem: str, files: Sequence[OutputFile]) -> list[Path]:
    """Write ``files`` as ``<stem><suffix>`` (``<stem>_2<suffix>``... when any member's name is
    taken) in ``directory``; return the paths in order. All appear, or none do."""
    if not files:
        raise ValueError("publish() needs at least one file")
    suffixes = [item.suffix for item in files]
    stem = fit_stem(safe_stem(stem), suffixes, name_limit(directory))
    staged = _stage(directory, files)
    try:
        with _signals_held():
            return _claim_names(directory, stem, suffixes, staged)
    except OSError as error:
        raise OutputWriteError.from_os_error(error, directory) from error
    finally:
        for path in staged:
            with suppress(FileNotFoundError):
                path.unlink()


def _stage(directory: Path, files: Sequence[OutputFile]) -> list[Path]:
    """Each file's bytes under a hidden unique name, synced; on any failure none are kept."""
    token = uuid.uuid4().hex[:16]
    staged: list[Path] = []
    try:
        for index, item in enumerate(files):
            path = directory / f"{STAGING_PREFIX}{token}-{index}{STAGING_SUFFIX}"
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
            staged.append(path)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(item.data)
                handle.flush()
                os.fsync(handle.fileno())
    except BaseException as error:
        for path in staged:
            with suppress(FileNotFoundError):
                path.unlink()
        if isinstance(error, OSError):
            raise OutputWriteError.from_os_error(error, directory) from error
        raise
    return staged


def _claim_names(directory: Path, stem: str, suffixes: Sequence[str], staged: Sequence[Path]) -> list[Path]:
    """Link every staged file to its final name; a name already taken releases this round's
    names and tries the next counter."""
    counter = 1
    while True:
        base = stem if counter == 1 else f"{stem}_{counter}"
        targets = [directory / f"{base}{suffix}" for suffix in suffixes]
        placed: list[Path] = []
        try:
            for source, target in zip(staged, targets, strict=True):
                _place(source, target)
                placed.append(target)
            return targets
        except FileExistsError:
            _release(placed)
            counter += 1
        except BaseException:
            _release(placed)
            raise


def _place(source: Path, target: Path) -> None:
    """Give ``source``'s content the name ``target``, failing with FileExistsError if taken."""
    try:
        os.link(source, target)
        return
    except OSError as error:
        if isinstance(error, FileExistsError) or error.errno not in _NO_HARD_LINKS:
            raise
    # No hard links here: claim the name with an exclusive create, then rename over it.
    os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        os.replace(source, target)
    except BaseException:
        target.unlink()
        raise


def _release(paths: Sequence[Path]) -> None:
    for path in paths:
        with suppress(FileNotFoundError):
            path.unlink()


@contextmanager
def _signals_held() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM back while names are claimed, so an interrupt lands before a
    set appears or after all of it has (only the main thread receives signals)."""
    can_block = hasattr(signal, "pthread_sigmask") and threading.current_thread() is threading.main_thread()
    if not can_block:
        yield
        return
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def sweep_staging(directory: Path, older_than_s: float = STALE_STAGING_S) -> int:
    """Remove staging files a killed run left behind (old enough not to be another run's)."""
    removed = 0
    cutoff = time.time() - older_than_s
    for path in directory.glob(f"{STAGING_PREFIX}*{STAGING_SUFFIX}"):
        try:
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue  # another run swept it first
    return removed
