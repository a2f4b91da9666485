"""Publishing results: a set of files under one freshly claimed name, all of them or none.

Why this exists:
- two runs writing into one folder must never overwrite each other, so a name is claimed
  atomically (a hard link fails if the name exists; checking ``exists()`` first is a race);
- an ID photo must never appear without its overlay, reports and sheet, and a full disk
  or Ctrl-C must leave nothing that looks like a result, so every file is written and
  synced under a hidden staging name first and only then linked into place, with Ctrl-C
  and SIGTERM held back for those few system calls;
- a user's file name can be 250 characters long, start with '-' or hold a newline, so
  the name is cleaned and shortened (never the tag after it, such as "_us_passport")
  until the longest companion name fits the folder.

Ctrl-C, SIGTERM and SIGHUP are deferred while names are claimed and recorded (see
:func:`interrupts_deferred`). A SIGKILL or power cut between the links (microseconds) can
still leave part of a set; the hidden staging files it leaves are removed by
:func:`sweep_staging` later.
"""
from __future__ import annotations

import errno
import os
import re
import shutil
import signal
import threading
import time
import unicodedata
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from pipeline.core.errors import OutputWriteError

STAGING_PREFIX = ".portrait-lab-"
STAGING_SUFFIX = ".tmp"
STALE_STAGING_S = 3600.0
DEFAULT_NAME_MAX = 255  # also the cap: vfat reports 1530 bytes but allows 255 characters
COUNTER_RESERVE = len("_999999")
FALLBACK_STEM = "image"
# link() is refused by file systems without hard links (FAT, exFAT, some network shares)
_NO_HARD_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK, errno.ENOSYS,
                  errno.EINVAL}  # EINVAL: Windows on FAT/exFAT
_UNSAFE_IN_NAMES = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]+')
# Signals that end a run the way Ctrl-C does (SIGHUP: the terminal or SSH session closed);
# those this system has. The CLI turns them into KeyboardInterrupt while a command runs.
TERMINATING_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))
_DEFERRED_SIGNALS = (signal.SIGINT, *TERMINATING_SIGNALS)


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
    # invisible format characters (right-to-left overrides, zero-width joiners) can make a
    # name read as something else ("photo\u202egnp.exe"): dropped
    visible = "".join(char for char in normalised if unicodedata.category(char) != "Cf")
    cleaned = re.sub(r"\s+", " ", _UNSAFE_IN_NAMES.sub("_", visible))
    cleaned = cleaned.strip(" ._-")
    return cleaned or fallback


def name_limit(directory: Path) -> int:
    """The longest file name (in bytes) the folder's file system accepts."""
    try:
        return min(int(os.pathconf(directory, "PC_NAME_MAX")), DEFAULT_NAME_MAX)
    except (AttributeError, OSError, ValueError):  # no pathconf (Windows) or no answer
        return DEFAULT_NAME_MAX


def fit_stem(name: str, tag: str, suffixes: Sequence[str], limit: int) -> str:
    """``name + tag``, with ``name`` shortened (on a character boundary, in encoded bytes) so
    that it, the tag, a uniqueness counter and the longest suffix fit in ``limit`` bytes."""
    room = limit - COUNTER_RESERVE - len(os.fsencode(tag)) - max(len(os.fsencode(s)) for s in suffixes)
    if room < len(FALLBACK_STEM):
        raise OutputWriteError(f"The output names ({tag}{', '.join(suffixes)}) are too long for this folder.")
    while len(os.fsencode(name)) > room:
        name = name[:-1]
    return (name.rstrip(" ._-") or FALLBACK_STEM) + tag


def publish(directory: Path, name: str, files: Sequence[OutputFile], *, tag: str = "",
            record: Callable[[list[Path]], None] | None = None) -> list[Path]:
    """Write ``files`` as ``<name><tag><suffix>`` (``<name><tag>_2<suffix>``... when any
    member's name is taken) in ``directory``; return the paths in order. All appear, or
    none do. ``record(paths)`` runs before a deferred interrupt is let through, so a caller
    counting what it finished never misses a set that is on disk."""
    if not files:
        raise ValueError("publish() needs at least one file")
    suffixes = [item.suffix for item in files]
    stem = fit_stem(safe_stem(name), tag, suffixes, name_limit(directory))
    staged = _stage(directory, files)
    with interrupts_deferred():
        try:
            paths = _claim_names(directory, stem, suffixes, staged)
        except OSError as error:
            raise OutputWriteError.from_os_error(error, directory) from error
        finally:
            _release(staged)
        if record is not None:
            record(paths)
    return paths


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
        _release(staged)
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
    # No hard links here: claim the name with an exclusive create, then rename a copy over
    # it (the staged file itself must survive in case a later member's name is taken).
    copy = source.with_name(f"{source.stem}-copy{STAGING_SUFFIX}")
    shutil.copyfile(source, copy)
    try:
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        try:
            os.replace(copy, target)
        except BaseException:
            target.unlink()
            raise
    finally:
        _release([copy])


def _release(paths: Sequence[Path]) -> None:
    for path in paths:
        with suppress(FileNotFoundError):
            path.unlink()


@contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Let Ctrl-C, SIGTERM and SIGHUP land only after the block: an interrupt then comes
    before a set appears or after all of it has been named and recorded.

    Python runs signal handlers in the main thread only, between bytecodes, whichever
    thread the OS delivered the signal to; a handler that merely remembers the signal
    therefore defers it completely (blocking it in one thread's mask would not: torch's
    threads would still receive it). Elsewhere (web workers) there is nothing to defer."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    previous = {number: signal.signal(number, lambda signum, frame: pending.append(signum))
                for number in _DEFERRED_SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, signal.SIG_DFL if handler is None else handler)  # None: set outside Python
        if pending:
            _deliver(pending[0], previous[pending[0]])


def _deliver(number: int, handler: object) -> None:
    """Act on a deferred signal as its own handler would have."""
    if callable(handler):
        handler(number, None)  # Python's SIGINT handler raises KeyboardInterrupt
    elif handler != signal.SIG_IGN:  # the default action (usually: terminate)
        signal.raise_signal(number)


def sweep_staging(directory: Path, older_than_s: float = STALE_STAGING_S) -> int:
    """Remove staging files a killed run left behind (old enough not to be another run's)."""
    removed = 0
    cutoff = time.time() - older_than_s
    for path in directory.glob(f"{STAGING_PREFIX}*{STAGING_SUFFIX}"):
        try:
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except OSError:  # swept by another run first, or not ours to delete (a shared folder)
            continue
    return removed
