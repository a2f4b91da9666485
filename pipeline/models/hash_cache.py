"""The verified-hash cache: a weights file is hashed once, not on every start.

Why this module exists: hashing a 350 MB file takes seconds, so a verified sha256 is
remembered in ``<weights dir>/.verified.json`` with the file's size and mtime and reused
only while both still match. It is only a cache: anything unreadable counts as empty, and
a read-only folder only makes checks slower.
"""
from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from pipeline.models.locations import remove_if_present

VERIFIED_CACHE_NAME = ".verified.json"

_log = logging.getLogger(__name__)
_warned_unwritable_caches: set[Path] = set()


def _cache_path(folder: Path) -> Path:
    return folder / VERIFIED_CACHE_NAME


def _read_verified_cache(folder: Path) -> dict[str, Any]:
    """The cache's ``files`` mapping; anything unreadable counts as empty (it is only a cache)."""
    path = _cache_path(folder)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        _log.debug("ignoring unreadable verification cache %s: %s", path, error)
        return {}
    files = raw.get("files") if isinstance(raw, dict) else None
    return files if isinstance(files, dict) else {}


def cached_sha256(folder: Path, file_name: str, stat: os.stat_result) -> str | None:
    """The remembered sha256 of ``file_name``, or None unless its size and mtime still match."""
    record = _read_verified_cache(folder).get(file_name)
    if not isinstance(record, dict):
        return None
    if record.get("size") != stat.st_size or record.get("mtime_ns") != stat.st_mtime_ns:
        return None
    sha256 = record.get("sha256")
    return sha256 if isinstance(sha256, str) else None


def remember_verified(folder: Path, file_name: str, stat: os.stat_result, sha256: str) -> None:
    """Record a verified sha256 with the size and mtime it was computed for."""
    files = _read_verified_cache(folder)
    files[file_name] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": sha256}
    payload = json.dumps({"schema": 1, "files": files}, indent=2, sort_keys=True)
    try:
        _atomic_write_text(_cache_path(folder), payload)
    except OSError as error:
        _warn_cache_unwritable(folder, error)


def _atomic_write_text(target: Path, text: str) -> None:
    """Write via a temp file + rename, so a reader never sees half a file."""
    handle, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temp_name, target)
    finally:
        remove_if_present(Path(temp_name))


def _warn_cache_unwritable(folder: Path, error: OSError) -> None:
    """A read-only weights folder works, only slower: say so once, not on every check."""
    if folder not in _warned_unwritable_caches:
        _warned_unwritable_caches.add(folder)
        _log.warning("cannot write %s (files will be re-hashed): %s", _cache_path(folder), error)
