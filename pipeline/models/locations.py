"""Where the weights files live, and the command that puts them there.

Why this module exists: the folder is chosen once (a setting, the repository, or a user
cache when the code is installed read-only), and every error about a missing file quotes
the same command, so both answers have one home.
"""
from __future__ import annotations

import logging
import os
import shlex
from collections.abc import Iterable
from pathlib import Path

from pipeline.core import settings
from pipeline.models.manifest import MANIFEST_PATH

ENV_WEIGHTS_DIR = settings.WEIGHTS_DIR

_DEFAULT_WEIGHTS_DIR: Path = MANIFEST_PATH.parent
_USER_CACHE_WEIGHTS_DIR = Path("~/.cache/portrait-lab/weights")
_INSTALLED_PACKAGE_DIRS = frozenset({"site-packages", "dist-packages"})

_log = logging.getLogger(__name__)


def weights_dir() -> Path:
    """Folder holding the weights files (not created here).

    ``$PORTRAIT_LAB_WEIGHTS_DIR`` wins; otherwise ``<repo>/weights``, unless the code is
    installed inside site-packages/dist-packages, which must never be written to: then
    ``~/.cache/portrait-lab/weights``.
    """
    override = os.environ.get(ENV_WEIGHTS_DIR, "").strip()
    if override:
        return Path(override).expanduser()
    if _INSTALLED_PACKAGE_DIRS.intersection(_DEFAULT_WEIGHTS_DIR.parts):
        return _USER_CACHE_WEIGHTS_DIR.expanduser()
    return _DEFAULT_WEIGHTS_DIR


def fetch_command(names: Iterable[str]) -> str:
    """The shell command that downloads ``names``; error hints quote it verbatim."""
    chosen = list(names)
    if not chosen:
        raise ValueError("fetch_command needs at least one model name")
    return shlex.join(["python", "-m", "pipeline", "weights", "fetch", *chosen])


def resolve_dir(directory: Path | None) -> Path:
    """The folder a caller named, else :func:`weights_dir`."""
    return Path(directory) if directory is not None else weights_dir()


def remove_if_present(path: Path) -> None:
    """Delete a temp file left in the weights folder; failing to is worth a warning, not an error."""
    try:
        path.unlink(missing_ok=True)
    except OSError as error:
        _log.warning("could not remove %s: %s", path, error)
