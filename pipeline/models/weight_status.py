"""Whether a model's weights file is usable: present, missing, corrupt, unverified or bundled.

Why this module exists: loading the wrong or a half-downloaded file gives confusing
tensor-shape errors or, worse, silently bad output. So every loader goes through
:func:`require`, which only hands out files whose size and sha256 match the manifest (or
says plainly that no hash is published for them), and ``weights list`` shows the same
verdicts through :func:`check`.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import Enum
from importlib import metadata
from pathlib import Path

from pipeline.core.errors import InvalidOptionError, WeightsCorruptError, WeightsMissingError
from pipeline.models.hash_cache import cached_sha256, remember_verified
from pipeline.models.locations import fetch_command, resolve_dir
from pipeline.models.manifest import Manifest, ModelEntry


class WeightState(str, Enum):
    """What is known about a model's weights file on disk."""

    PRESENT = "present"  # file there, size and sha256 verified
    MISSING = "missing"  # no file
    CORRUPT = "corrupt"  # size or sha256 does not match the manifest
    UNVERIFIED = "unverified"  # file there, size fine or unknown, no published sha256
    BUNDLED = "bundled"  # ships inside a Python package, no file of ours


@dataclass(frozen=True)
class WeightStatus:
    """Result of :func:`check`.

    ``path`` is where the file is (or would be) for file-based models, and None only for
    bundled ones; ``detail`` is a human-readable explanation for listings and errors.
    """

    entry: ModelEntry
    state: WeightState
    path: Path | None
    detail: str


def check(entry: ModelEntry, directory: Path | None = None) -> WeightStatus:
    """Inspect one model's file without raising for user-fixable problems.

    Hashing a 350 MB file takes seconds, so a verified hash is remembered in
    ``<dir>/.verified.json`` together with the file's size and mtime; it is reused only
    while both still match.
    """
    if entry.is_bundled:
        return _bundled_status(entry)
    folder = resolve_dir(directory)
    path = folder / str(entry.file)
    if not path.exists():
        return WeightStatus(entry, WeightState.MISSING, path, "not downloaded")
    if not path.is_file():
        return WeightStatus(entry, WeightState.CORRUPT, path, "not a regular file")
    try:
        return _check_file(entry, folder, path)
    except OSError as error:
        return WeightStatus(entry, WeightState.CORRUPT, path, f"cannot read file: {error}")


def check_all(manifest: Manifest, directory: Path | None = None) -> list[WeightStatus]:
    """:func:`check` for every model, in manifest order (what ``weights list`` shows)."""
    folder = resolve_dir(directory)
    return [check(entry, folder) for entry in manifest.entries]


def _check_file(entry: ModelEntry, folder: Path, path: Path) -> WeightStatus:
    stat = path.stat()
    size = stat.st_size
    if entry.bytes is not None and size != entry.bytes:
        detail = f"size mismatch: expected {entry.bytes} bytes, got {size}"
        return WeightStatus(entry, WeightState.CORRUPT, path, detail)
    if size == 0:
        return WeightStatus(entry, WeightState.CORRUPT, path, "empty file")
    if entry.sha256 is None:
        note = entry.sha256_note or "no sha256 in manifest"
        detail = f"{format_bytes(size)}, unverified ({note})"
        return WeightStatus(entry, WeightState.UNVERIFIED, path, detail)
    actual = cached_sha256(folder, path.name, stat)
    if actual != entry.sha256:
        actual = _sha256_file(path)
        if actual == entry.sha256:
            remember_verified(folder, path.name, stat, actual)
    if actual != entry.sha256:
        detail = f"sha256 mismatch: expected {_short_hash(entry.sha256)}, got {_short_hash(actual)}"
        return WeightStatus(entry, WeightState.CORRUPT, path, detail)
    return WeightStatus(entry, WeightState.PRESENT, path, f"{format_bytes(size)}, sha256 verified")


def _bundled_status(entry: ModelEntry) -> WeightStatus:
    package = str(entry.bundled_in)
    installed = _installed_version(package.split("==")[0].strip())
    state_of_package = f"installed: {installed}" if installed else "not installed"
    detail = f"ships inside {package} ({state_of_package})"
    return WeightStatus(entry, WeightState.BUNDLED, None, detail)


def _installed_version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks (the files are hundreds of MB)."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _short_hash(value: str) -> str:
    return f"{value[:12]}…"


def format_bytes(size: int) -> str:
    """Decimal units, as the release pages and the reference quote them (348.6 MB)."""
    if size < 1000:
        return f"{size} B"
    value = float(size)
    for unit in ("kB", "MB", "GB", "TB"):
        value /= 1000
        if value < 1000 or unit == "TB":
            break
    return f"{value:.1f} {unit}"


def require(entry: ModelEntry, directory: Path | None = None) -> Path:
    """The path of a usable weights file; what model loaders call.

    Raises the typed errors the CLI/app turn into a one-line message whose hint is the
    exact command that fixes it. An UNVERIFIED file (no published hash) is returned;
    the caller may warn.
    """
    if entry.is_bundled:
        raise InvalidOptionError(
            f"{entry.display_name} ships inside {entry.bundled_in}; it has no weights file.",
            hint=f"Load it from the {entry.bundled_in} package instead.",
        )
    folder = resolve_dir(directory)
    status = check(entry, folder)
    path = folder / str(entry.file)
    if status.state is WeightState.MISSING:
        raise WeightsMissingError(
            f"Weights for {entry.display_name} are missing: {entry.file} is not in {folder}.",
            hint=f"Download them with: {fetch_command([entry.name])}",
        )
    if status.state is WeightState.CORRUPT:
        raise WeightsCorruptError(
            f"Weights file {path} for {entry.display_name} is damaged or not the expected "
            f"file ({status.detail}); fetching it again replaces it.",
            hint=f"Download it again with: {fetch_command([entry.name])}",
        )
    return path
