"""Replacing one file in place, atomically: the writer behind ``save_image``.

Why this module exists: a crash or a full disk must never leave a half-written image that
looks like a result, and a reader must never see one. ``write_atomically`` keeps that
promise for one file at a path the caller chose, replacing what is there. Its sibling
``pipeline.core.publish`` makes a different promise: a set of outputs under new, unique
names, all of them or none.
"""
from __future__ import annotations

import os
import uuid
from contextlib import suppress
from pathlib import Path

from pipeline.core.errors import InvalidOptionError, OutputWriteError
from pipeline.core.publish import STAGING_PREFIX, STAGING_SUFFIX


def write_atomically(target: Path, data: bytes) -> None:
    """Write to a hidden temp file next to ``target``, fsync, then rename over it.

    The temp name is short and fixed-length (a long target name must still fit), and the
    file is created with mode 0o666 so the process umask applies, giving the same
    permissions as an ordinary write (``mkstemp`` would force 0o600). A full disk or a
    read-only folder is an ``OutputWriteError`` sentence, and leaves no temp file.
    """
    folder = target.parent
    if not folder.is_dir():
        raise InvalidOptionError(
            f"The output folder '{folder}' does not exist.", hint="Create it first or choose another folder."
        )
    if target.is_dir():
        raise InvalidOptionError(f"The output path '{target}' is a folder.", hint="Give a file name such as result.png.")
    if target.exists() and not target.is_file():  # the rename would replace a device or pipe
        raise InvalidOptionError(f"The output path '{target}' is not a regular file.",
                                 hint="Give a file name such as result.png.")
    temporary = folder / f"{STAGING_PREFIX}{uuid.uuid4().hex}{STAGING_SUFFIX}"
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, target)
        except BaseException:
            with suppress(FileNotFoundError):
                temporary.unlink()
            raise
    except OSError as error:
        raise OutputWriteError.from_os_error(error, folder) from error
