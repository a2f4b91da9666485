"""Downloading weights files: streamed, verified, retried, and renamed into place atomically.

Why this module exists: a download is the one place the pipeline touches the network, and
it must never leave a half or wrong file where a loader would find it. Nothing here runs
unless :func:`fetch` is called explicitly (``python -m pipeline weights fetch``, the
Docker build, the Space's start-up script).
"""
from __future__ import annotations

import hashlib
import http.client
import logging
import os
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from tqdm import tqdm

from pipeline.core import settings
from pipeline.core.errors import InvalidOptionError, WeightsDownloadError, os_reason
from pipeline.models.hash_cache import remember_verified
from pipeline.models.locations import ENV_WEIGHTS_DIR, remove_if_present, resolve_dir
from pipeline.models.manifest import ModelEntry
from pipeline.models.weight_status import WeightState, check

ENV_WEIGHTS_MIRROR = settings.WEIGHTS_MIRROR
_CHUNK_BYTES = 1 << 20
_USER_AGENT = "portrait-lab-weights/1"
_RETRYABLE_HTTP_CODES = frozenset({408, 425, 429})
_SUPPORTED_SCHEMES = frozenset({"http", "https", "file"})

_log = logging.getLogger(__name__)


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
    folder = resolve_dir(directory)
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
            remove_if_present(part)
    if entry.sha256 is not None:
        remember_verified(folder, final.name, final.stat(), digest)
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
