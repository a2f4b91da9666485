"""Model weights: the registry (manifest), where the files live, verification and downloads.

Why this module exists: every model the pipeline runs needs a weights file of tens to
hundreds of MB that comes from a third-party release page. Loading the wrong or a
half-downloaded file gives confusing tensor-shape errors or, worse, silently bad output.
So all knowledge about those files sits in one data file (``weights/manifest.json``)
and every loader goes through :func:`require`, which only hands out files whose size and
sha256 match that manifest (or says plainly that no hash is published for them).

Nothing here touches the network unless :func:`fetch` is called explicitly.
"""
from __future__ import annotations

import dataclasses
import hashlib
import http.client
import json
import logging
import os
import re
import shlex
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from importlib import metadata
from pathlib import Path
from types import MappingProxyType
from typing import Any

from tqdm import tqdm

from pipeline.core import settings
from pipeline.core.errors import (
    InvalidOptionError,
    WeightsCorruptError,
    WeightsDownloadError,
    WeightsMissingError,
    os_reason,
)

MANIFEST_PATH: Path = Path(__file__).resolve().parents[2] / "weights" / "manifest.json"
ENV_WEIGHTS_DIR = settings.WEIGHTS_DIR
ENV_WEIGHTS_MIRROR = settings.WEIGHTS_MIRROR
MANIFEST_SCHEMA = 1
KINDS: tuple[str, ...] = ("restorer", "detector", "parser", "matting", "recognition")
VERIFIED_CACHE_NAME = ".verified.json"

_DEFAULT_WEIGHTS_DIR: Path = MANIFEST_PATH.parent
_USER_CACHE_WEIGHTS_DIR = Path("~/.cache/portrait-lab/weights")
_INSTALLED_PACKAGE_DIRS = frozenset({"site-packages", "dist-packages"})
_SHA256_PATTERN = re.compile(r"[0-9a-f]{64}")
_NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]*")
_CHUNK_BYTES = 1 << 20
_USER_AGENT = "portrait-lab-weights/1"
_RETRYABLE_HTTP_CODES = frozenset({408, 425, 429})
_SUPPORTED_SCHEMES = frozenset({"http", "https", "file"})
_OPTIONAL_ENTRY_FIELDS = frozenset({"approx_bytes", "sha256_note", "bundled_in"})

_log = logging.getLogger(__name__)
_warned_unwritable_caches: set[Path] = set()


# --------------------------------------------------------------------------- manifest


@dataclass(frozen=True)
class ModelEntry:
    """One model of the manifest.

    Frozen and validated on construction (also by ``dataclasses.replace``), so an
    entry that exists is always internally consistent; ``arch_options`` is a read-only
    mapping so that no caller can change the registry for everybody else.
    """

    name: str
    kind: str
    arch: str
    arch_options: Mapping[str, Any] = field(hash=False)
    file: str | None
    url: str | None
    bytes: int | None
    approx_bytes: int | None
    sha256: str | None
    sha256_note: str | None
    licence: str
    used_for: str
    default: bool
    display_name: str
    bundled_in: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.arch_options, Mapping):
            raise ValueError(f"model {self.name!r}: 'arch_options' must be an object")
        object.__setattr__(self, "arch_options", MappingProxyType(dict(self.arch_options)))
        problem = _first_entry_problem(self)
        if problem is not None:
            raise ValueError(f"model {self.name!r}: {problem}")

    @property
    def is_bundled(self) -> bool:
        """True when the weights ship inside a Python package, so there is no file to fetch."""
        return self.bundled_in is not None


@dataclass(frozen=True)
class Manifest:
    """All models, in manifest order; names and files are unique, at most one default per kind."""

    entries: tuple[ModelEntry, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "entries", tuple(self.entries))
        _validate_entry_set(self.entries)

    def get(self, name: str) -> ModelEntry:
        """The entry called ``name``; an unknown name is a user error that lists the valid ones."""
        for entry in self.entries:
            if entry.name == name:
                return entry
        raise InvalidOptionError(
            f"Unknown model {name!r}.", hint=f"Valid models: {', '.join(self.names())}."
        )

    def names(self, kind: str | None = None) -> list[str]:
        """Model names in manifest order, optionally only those of one kind."""
        if kind is not None:
            _require_known_kind(kind)
        return [entry.name for entry in self.entries if kind is None or entry.kind == kind]

    def default(self, kind: str) -> ModelEntry:
        """The model to use for ``kind`` when the user picks none.

        The entry marked ``default``; when none is marked and the kind has a single
        model, that one. Otherwise the caller must choose by name.
        """
        candidates = [self.get(name) for name in self.names(kind)]
        marked = [entry for entry in candidates if entry.default]
        if marked:
            return marked[0]
        if len(candidates) == 1:
            return candidates[0]
        choices = ", ".join(entry.name for entry in candidates) or "none"
        raise InvalidOptionError(
            f"No default model of kind {kind!r}.", hint=f"Choose one of: {choices}."
        )

    def replace_entry(self, entry: ModelEntry) -> Manifest:
        """A copy with the entry of the same name swapped (tests point it at small files)."""
        self.get(entry.name)
        swapped = tuple(entry if old.name == entry.name else old for old in self.entries)
        return dataclasses.replace(self, entries=swapped)


def load_manifest(path: Path | None = None) -> Manifest:
    """Read and validate the manifest (default: :data:`MANIFEST_PATH`).

    A malformed manifest raises ``ValueError`` naming the file and the bad entry/field,
    because a registry typo must fail loudly at start-up, not later as a wrong download.
    """
    manifest_path = Path(path) if path is not None else MANIFEST_PATH
    text = manifest_path.read_text(encoding="utf-8")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{manifest_path}: not valid JSON: {error}") from error
    try:
        return _manifest_from_json(raw)
    except ValueError as error:
        raise ValueError(f"{manifest_path}: {error}") from error


def _manifest_from_json(raw: Any) -> Manifest:
    if not isinstance(raw, dict):
        raise ValueError("top level must be an object with 'schema' and 'models'")
    if raw.get("schema") != MANIFEST_SCHEMA or isinstance(raw.get("schema"), bool):
        raise ValueError(f"'schema' must be {MANIFEST_SCHEMA}, not {raw.get('schema')!r}")
    models = raw.get("models")
    if not isinstance(models, list) or not models:
        raise ValueError("'models' must be a non-empty list")
    return Manifest(tuple(_entry_from_json(item, index) for index, item in enumerate(models)))


def _entry_from_json(item: Any, index: int) -> ModelEntry:
    if not isinstance(item, dict):
        raise ValueError(f"models[{index}] must be an object")
    all_fields = {spec.name for spec in dataclasses.fields(ModelEntry)}
    label = f"models[{index}] ({item.get('name', '?')})"
    unknown = sorted(set(item) - all_fields)
    if unknown:
        raise ValueError(f"{label}: unknown field(s): {', '.join(unknown)}")
    missing = sorted(all_fields - _OPTIONAL_ENTRY_FIELDS - set(item))
    if missing:
        raise ValueError(f"{label}: missing field(s): {', '.join(missing)}")
    try:
        return ModelEntry(**{name: item.get(name) for name in all_fields})
    except ValueError as error:
        raise ValueError(f"models[{index}]: {error}") from error


def _first_entry_problem(entry: ModelEntry) -> str | None:
    """The first thing wrong with ``entry``, or None; one place for all per-entry rules."""
    for name in ("name", "kind", "arch", "licence", "used_for", "display_name"):
        if not _is_nonempty_text(getattr(entry, name)):
            return f"'{name}' must be a non-empty string"
    if not _NAME_PATTERN.fullmatch(entry.name):
        return "'name' may only use lowercase letters, digits, '.', '-' and '_'"
    if entry.kind not in KINDS:
        return f"'kind' must be one of {', '.join(KINDS)}, not {entry.kind!r}"
    if not isinstance(entry.default, bool):
        return "'default' must be true or false"
    if not all(isinstance(key, str) for key in entry.arch_options):
        return "'arch_options' keys must be strings"
    for name in ("bytes", "approx_bytes"):
        value = getattr(entry, name)
        if value is not None and not (_is_int(value) and value > 0):
            return f"'{name}' must be a positive integer or null"
    for name in ("sha256_note", "bundled_in"):
        value = getattr(entry, name)
        if value is not None and not _is_nonempty_text(value):
            return f"'{name}' must be a non-empty string or null"
    if entry.sha256 is not None and not (
        isinstance(entry.sha256, str) and _SHA256_PATTERN.fullmatch(entry.sha256)
    ):
        return "'sha256' must be 64 lowercase hex characters or null"
    if entry.is_bundled:
        return _bundled_entry_problem(entry)
    return _downloadable_entry_problem(entry)


def _bundled_entry_problem(entry: ModelEntry) -> str | None:
    for name in ("file", "url", "bytes", "approx_bytes", "sha256"):
        if getattr(entry, name) is not None:
            return f"'{name}' must be null for weights bundled in {entry.bundled_in}"
    return None


def _downloadable_entry_problem(entry: ModelEntry) -> str | None:
    if not _is_nonempty_text(entry.file) or not _is_plain_file_name(entry.file):
        return "'file' must be a plain file name (no folders, not hidden)"
    if not _is_nonempty_text(entry.url) or not entry.url.startswith("https://"):
        return "'url' must be an https:// URL"
    if entry.bytes is None and entry.approx_bytes is None:
        return "either 'bytes' or 'approx_bytes' must be given"
    if entry.sha256 is None and entry.sha256_note is None:
        return "'sha256_note' must say why 'sha256' is null"
    return None


def _validate_entry_set(entries: tuple[ModelEntry, ...]) -> None:
    """Cross-entry rules: names and files identify entries, so they must be unique."""
    if not all(isinstance(entry, ModelEntry) for entry in entries):
        raise ValueError("manifest entries must be ModelEntry objects")
    _reject_duplicates("name", [entry.name for entry in entries])
    _reject_duplicates("file", [entry.file for entry in entries if entry.file is not None])
    _reject_duplicates("default model of kind", [e.kind for e in entries if e.default])


def _reject_duplicates(what: str, values: list[str]) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"duplicate {what} {value!r}")
        seen.add(value)


def _require_known_kind(kind: str) -> None:
    if kind not in KINDS:
        raise InvalidOptionError(
            f"Unknown model kind {kind!r}.", hint=f"Valid kinds: {', '.join(KINDS)}."
        )


def _is_nonempty_text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_plain_file_name(name: str) -> bool:
    return (
        Path(name).name == name
        and "/" not in name
        and "\\" not in name
        and not name.startswith(".")
    )


# --------------------------------------------------------------------------- locations


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


def _resolve_dir(directory: Path | None) -> Path:
    return Path(directory) if directory is not None else weights_dir()


# --------------------------------------------------------------------------- status


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
    folder = _resolve_dir(directory)
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
    folder = _resolve_dir(directory)
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
        detail = f"{_format_bytes(size)}, unverified ({note})"
        return WeightStatus(entry, WeightState.UNVERIFIED, path, detail)
    actual = _cached_sha256(folder, path.name, stat)
    if actual != entry.sha256:
        actual = _sha256_file(path)
        if actual == entry.sha256:
            _remember_verified(folder, path.name, stat, actual)
    if actual != entry.sha256:
        detail = f"sha256 mismatch: expected {_short_hash(entry.sha256)}, got {_short_hash(actual)}"
        return WeightStatus(entry, WeightState.CORRUPT, path, detail)
    return WeightStatus(entry, WeightState.PRESENT, path, f"{_format_bytes(size)}, sha256 verified")


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


def _format_bytes(size: int) -> str:
    """Decimal units, as the release pages and the reference quote them (348.6 MB)."""
    if size < 1000:
        return f"{size} B"
    value = float(size)
    for unit in ("kB", "MB", "GB", "TB"):
        value /= 1000
        if value < 1000 or unit == "TB":
            break
    return f"{value:.1f} {unit}"


# --------------------------------------------------------------------------- hash cache


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


def _cached_sha256(folder: Path, file_name: str, stat: os.stat_result) -> str | None:
    record = _read_verified_cache(folder).get(file_name)
    if not isinstance(record, dict):
        return None
    if record.get("size") != stat.st_size or record.get("mtime_ns") != stat.st_mtime_ns:
        return None
    sha256 = record.get("sha256")
    return sha256 if isinstance(sha256, str) else None


def _remember_verified(folder: Path, file_name: str, stat: os.stat_result, sha256: str) -> None:
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
        _remove_if_present(Path(temp_name))


def _warn_cache_unwritable(folder: Path, error: OSError) -> None:
    """A read-only weights folder works, only slower: say so once, not on every check."""
    if folder not in _warned_unwritable_caches:
        _warned_unwritable_caches.add(folder)
        _log.warning("cannot write %s (files will be re-hashed): %s", _cache_path(folder), error)


def _remove_if_present(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as error:
        _log.warning("could not remove %s: %s", path, error)


# --------------------------------------------------------------------------- require


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
    folder = _resolve_dir(directory)
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


# --------------------------------------------------------------------------- fetch


class _AttemptFailed(Exception):
    """One download attempt failed; ``retryable`` says whether trying again can help.

    ``cause`` picks the hint: "network", "content" (server sent the wrong file),
    "server" (an HTTP error that will not go away) or "local" (disk/permissions).
    """

    def __init__(self, reason: str, *, retryable: bool, cause: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.cause = cause


def fetch(
    entry: ModelEntry,
    directory: Path | None = None,
    *,
    retries: int = 3,
    timeout: float = 60.0,
    progress: bool = True,
    backoff: float = 1.0,
    url: str | None = None,
) -> Path:
    """Download ``entry``'s file if it is not already there, and return its path.

    The download streams into a hidden ``.part`` temp file while hashing; only a
    transfer of the right size and sha256 is renamed onto the final name, so a failure
    never leaves a file behind nor clobbers an existing one. Network errors and
    truncated transfers are retried ``retries`` more times (sleeping
    ``backoff * 2**attempt``); a complete transfer with the wrong content is not.
    The source is ``url``, else ``$PORTRAIT_LAB_WEIGHTS_MIRROR/<file>``, else the
    manifest URL.
    """
    if entry.is_bundled:
        raise InvalidOptionError(
            f"{entry.display_name} ships inside {entry.bundled_in}, nothing to fetch.",
            hint=f"Install {entry.bundled_in} instead.",
        )
    if retries < 0:
        raise ValueError("retries must be >= 0")
    folder = _resolve_dir(directory)
    _create_directory(folder)
    status = check(entry, folder)
    if status.state in (WeightState.PRESENT, WeightState.UNVERIFIED):
        return folder / str(entry.file)
    source = _source_url(entry, url)
    _reject_unsupported_scheme(entry, source)
    return _download_with_retries(
        entry, folder, source, retries=retries, timeout=timeout, progress=progress, backoff=backoff
    )


def _create_directory(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise WeightsDownloadError(
            f"Cannot create the weights directory {folder} ({os_reason(error)}).",
            hint=f"Set {ENV_WEIGHTS_DIR} to a writable folder.",
        ) from error


def _source_url(entry: ModelEntry, override: str | None) -> str:
    if override:
        return override
    mirror = os.environ.get(ENV_WEIGHTS_MIRROR, "").strip()
    if mirror:
        return f"{mirror.rstrip('/')}/{urllib.parse.quote(str(entry.file))}"
    return str(entry.url)


def _plain_reason(reason: object) -> str:
    """A network or file failure without errno numbers and repr noise."""
    if isinstance(reason, OSError):
        return os_reason(reason)
    return str(reason) or type(reason).__name__


def _reject_unsupported_scheme(entry: ModelEntry, source: str) -> None:
    """A typo in ``url=`` or the mirror variable should fail at once, not after retries."""
    try:
        scheme = urllib.parse.urlsplit(source).scheme.lower()
    except ValueError:  # e.g. an unclosed IPv6 bracket
        raise WeightsDownloadError(f"Cannot download {entry.file}: {source} is not a valid URL.",
                                   hint=f"Check {ENV_WEIGHTS_MIRROR}.") from None
    if scheme not in _SUPPORTED_SCHEMES:
        raise WeightsDownloadError(
            f"Cannot download {entry.file} from {source}: unsupported URL scheme {scheme!r}.",
            hint=f"Use an http(s):// or file:// URL (check {ENV_WEIGHTS_MIRROR}).",
        )


def _download_with_retries(
    entry: ModelEntry,
    folder: Path,
    source: str,
    *,
    retries: int,
    timeout: float,
    progress: bool,
    backoff: float,
) -> Path:
    attempts = retries + 1
    attempts_made = 0
    while True:
        try:
            return _download_once(entry, folder, source, timeout=timeout, progress=progress)
        except _AttemptFailed as failure:
            last_failure = failure
        attempts_made += 1
        if not last_failure.retryable or attempts_made == attempts:
            break
        _log.info("download of %s failed (%s); retrying", entry.file, last_failure.reason)
        time.sleep(backoff * 2 ** (attempts_made - 1))
    plural = "" if attempts_made == 1 else "s"
    raise WeightsDownloadError(
        f"Could not download {entry.file} from {source}: {last_failure.reason} "
        f"({attempts_made} attempt{plural}).",
        hint=_download_hint(entry, folder, last_failure.cause),
    )


def _download_hint(entry: ModelEntry, folder: Path, cause: str) -> str:
    if cause == "local":
        return f"Check free disk space and write permission in {folder}, or set {ENV_WEIGHTS_DIR}."
    if cause == "content":
        return (
            f"The server sent a different file than the manifest expects; use a trusted "
            f"mirror ({ENV_WEIGHTS_MIRROR}) or copy the verified {entry.file} into {folder}."
        )
    return (
        f"Check the network, set {ENV_WEIGHTS_MIRROR} to a mirror that has {entry.file}, "
        f"or copy the file into {folder} by hand."
    )


def _download_once(
    entry: ModelEntry, folder: Path, source: str, *, timeout: float, progress: bool
) -> Path:
    """One attempt: stream into a temp file, verify, atomically rename; returns the final path."""
    final = folder / str(entry.file)
    with _open_url(source, timeout) as response:
        announced = _content_length(response)
        _reject_announced_size(entry, announced)
        part = _new_part_file(folder, str(entry.file))
        try:
            received, digest = _stream_to_file(
                response, part, total=announced or entry.bytes, label=str(entry.file),
                progress=progress, timeout=timeout,
            )
            _verify_transfer(entry, received, announced, digest)
            _publish(part, final)
        finally:
            _remove_if_present(part)
    if entry.sha256 is not None:
        _remember_verified(folder, final.name, final.stat(), digest)
    return final


def _open_url(source: str, timeout: float) -> http.client.HTTPResponse:
    request = urllib.request.Request(source, headers={"User-Agent": _USER_AGENT})
    try:
        return urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        error.close()
        retryable = error.code >= 500 or error.code in _RETRYABLE_HTTP_CODES
        cause = "network" if retryable else "server"
        raise _AttemptFailed(
            f"HTTP {error.code} {error.reason}", retryable=retryable, cause=cause
        ) from error
    except urllib.error.URLError as error:
        raise _AttemptFailed(
            f"could not connect: {_plain_reason(error.reason)}", retryable=True, cause="network"
        ) from error
    except TimeoutError as error:
        raise _AttemptFailed(
            f"could not connect: no answer within {timeout:g} s", retryable=True, cause="network"
        ) from error
    except (http.client.HTTPException, OSError) as error:
        raise _AttemptFailed(
            f"could not connect: {_plain_reason(error)}", retryable=True, cause="network"
        ) from error
    except ValueError as error:
        raise _AttemptFailed(f"invalid URL: {error}", retryable=False, cause="server") from error


def _content_length(response: http.client.HTTPResponse) -> int | None:
    value = response.headers.get("Content-Length")
    if value is None:
        return None
    try:
        length = int(value)
    except ValueError:
        return None
    return length if length >= 0 else None


def _reject_announced_size(entry: ModelEntry, announced: int | None) -> None:
    """Do not spend minutes downloading a file the server already says is the wrong size."""
    if entry.bytes is not None and announced is not None and announced != entry.bytes:
        raise _AttemptFailed(
            f"size mismatch: server announces {announced} bytes, manifest expects {entry.bytes}",
            retryable=False, cause="content",
        )


def _new_part_file(folder: Path, file_name: str) -> Path:
    """A unique hidden temp file next to the target, so concurrent fetches never collide."""
    try:
        handle, name = tempfile.mkstemp(dir=folder, prefix=f".{file_name}.", suffix=".part")
    except OSError as error:
        raise _AttemptFailed(
            f"could not create a temp file in {folder} ({os_reason(error)})", retryable=False, cause="local"
        ) from error
    os.close(handle)
    return Path(name)


def _stream_to_file(
    response: http.client.HTTPResponse,
    part: Path,
    *,
    total: int | None,
    label: str,
    progress: bool,
    timeout: float,
) -> tuple[int, str]:
    """Copy the body to ``part`` while hashing; returns (bytes received, hex sha256)."""
    digest = hashlib.sha256()
    received = 0
    try:
        with part.open("wb") as sink, tqdm(
            total=total, unit="B", unit_scale=True, unit_divisor=1000,
            desc=label, disable=not progress,
        ) as bar:
            while chunk := _read_chunk(response, received, timeout):
                sink.write(chunk)
                digest.update(chunk)
                received += len(chunk)
                bar.update(len(chunk))
            sink.flush()
            os.fsync(sink.fileno())
    except OSError as error:
        raise _AttemptFailed(f"could not write {part} ({os_reason(error)})", retryable=False, cause="local") from error
    return received, digest.hexdigest()


def _read_chunk(response: http.client.HTTPResponse, received: int, timeout: float) -> bytes:
    """Next chunk of the body; network failures become retryable attempt failures."""
    try:
        return response.read(_CHUNK_BYTES)
    except TimeoutError as error:
        raise _AttemptFailed(
            f"timed out after {timeout:g} s with {received} bytes received",
            retryable=True, cause="network",
        ) from error
    except (http.client.HTTPException, OSError) as error:
        raise _AttemptFailed(
            f"connection lost after {received} bytes: {_plain_reason(error)}", retryable=True, cause="network"
        ) from error


def _verify_transfer(entry: ModelEntry, received: int, announced: int | None, digest: str) -> None:
    """Truncation is retryable; a complete transfer of the wrong content is not."""
    expected = announced if announced is not None else entry.bytes
    if expected is not None and received < expected:
        raise _AttemptFailed(
            f"truncated: got {received} of {expected} bytes", retryable=True, cause="network"
        )
    if entry.bytes is not None and received != entry.bytes:
        raise _AttemptFailed(
            f"size mismatch: expected {entry.bytes} bytes, got {received}",
            retryable=False, cause="content",
        )
    if received == 0:
        raise _AttemptFailed("the server sent an empty file", retryable=False, cause="content")
    if entry.sha256 is not None and digest != entry.sha256:
        raise _AttemptFailed(
            f"sha256 mismatch: expected {entry.sha256}, got {digest}",
            retryable=False, cause="content",
        )


def _publish(part: Path, final: Path) -> None:
    """Atomic rename onto the final name: readers see the old file or the new one, never half."""
    try:
        os.chmod(part, 0o644)
        os.replace(part, final)
    except OSError as error:
        raise _AttemptFailed(
            f"could not move the download to {final} ({os_reason(error)})", retryable=False, cause="local"
        ) from error


# --------------------------------------------------------------------------- listing

_TABLE_HEADERS = ("NAME", "STATE", "FILE", "SIZE", "DETAIL")


def format_status_table(statuses: list[WeightStatus]) -> str:
    """Aligned plain-text table for ``python -m pipeline weights list``.

    SIZE is the size the manifest expects ("~" when only approximate), so users see
    what a fetch will download; DETAIL says what was found on disk.
    """
    rows = [_TABLE_HEADERS, *(_status_row(status) for status in statuses)]
    widths = [max(len(row[column]) for row in rows) for column in range(len(_TABLE_HEADERS) - 1)]
    lines = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)


def _status_row(status: WeightStatus) -> tuple[str, str, str, str, str]:
    entry = status.entry
    file_text = entry.file if entry.file is not None else f"(in {entry.bundled_in})"
    return (entry.name, status.state.value, file_text, _expected_size_text(entry), status.detail)


def _expected_size_text(entry: ModelEntry) -> str:
    if entry.bytes is not None:
        return _format_bytes(entry.bytes)
    if entry.approx_bytes is not None:
        return f"~{_format_bytes(entry.approx_bytes)}"
    return "-"
