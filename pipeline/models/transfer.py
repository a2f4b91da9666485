"""One transfer into the weights folder: from a URL (streamed, hashed, retried) or from a local
file (hard-linked or copied), verified, then renamed into place atomically.

Why this module exists: whatever the source, a file reaches its final name only through a
hidden ``.part`` temp file whose size and sha256 matched the manifest, so a failure never
leaves a half or wrong file where a loader would find it. :mod:`pipeline.models.download`
decides which source to use; this module only moves and checks bytes.
"""
from __future__ import annotations

import hashlib
import http.client
import logging
import os
import shutil
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from pipeline.core import settings
from pipeline.core.errors import WeightsDownloadError, os_reason
from pipeline.models.hash_cache import remember_verified
from pipeline.models.locations import ENV_WEIGHTS_DIR, remove_if_present
from pipeline.models.manifest import ModelEntry

ENV_WEIGHTS_MIRROR = settings.WEIGHTS_MIRROR
_CHUNK_BYTES = 1 << 20
_USER_AGENT = "portrait-lab-weights/1"
# A server may not fill the disk or hold a download open for ever: at most the manifest's
# exact size (twice its estimate when only that is known, else 2 GiB), and at least this
# average speed over the whole body (a slow but honest link still gets its hours).
MAX_UNSIZED_BYTES = 2 * 1024**3
MIN_AVERAGE_BYTES_PER_S = 100 * 1024
_RETRYABLE_HTTP_CODES = frozenset({408, 425, 429})
_SUPPORTED_SCHEMES = frozenset({"http", "https", "file"})

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Options:
    """How to download, passed down as one value instead of five arguments."""

    retries: int
    timeout: float
    progress: bool
    backoff: float
    bar_class: type[tqdm] | None  # type: ignore[type-arg]


class AttemptFailed(Exception):
    """One download attempt failed; ``retryable`` says whether trying again can help.

    ``cause`` picks the hint: "network", "content" (server sent the wrong file),
    "server" (an HTTP error that will not go away) or "local" (disk/permissions).
    """

    def __init__(self, reason: str, *, retryable: bool, cause: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.cause = cause


def download_url(entry: ModelEntry, folder: Path, source: str, options: Options) -> Path:
    """Download from ``source`` with retries; the final path, or a WeightsDownloadError that
    says what failed, how often it was tried, and what the user can do."""
    _reject_unsupported_scheme(entry, source)
    attempts = options.retries + 1
    attempts_made = 0
    while True:
        try:
            return _download_once(entry, folder, source, options)
        except AttemptFailed as failure:
            last_failure = failure
        attempts_made += 1
        if not last_failure.retryable or attempts_made == attempts:
            break
        _log.info("download of %s failed (%s); retrying", entry.file, last_failure.reason)
        time.sleep(options.backoff * 2 ** (attempts_made - 1))
    plural = "" if attempts_made == 1 else "s"
    raise WeightsDownloadError(
        f"Could not download {entry.file} from {shown_url(source)}: {last_failure.reason} "
        f"({attempts_made} attempt{plural}).",
        hint=_download_hint(entry, folder, last_failure.cause),
    )


def adopt(entry: ModelEntry, folder: Path, source: Path) -> Path:
    """Hard-link (else copy) a local file into the weights folder; verified, then renamed in.

    The hash is taken of the temp file itself, so what is published is what was checked.
    A hard link costs no disk space; the cache's file is never changed.
    """
    final = folder / str(entry.file)
    part = _new_part_file(folder, str(entry.file))
    try:
        linked = _link_or_copy(source, part)
        size, digest = _hash_local(part)
        _verify_transfer(entry, size, size, digest)
        _publish(part, final, make_readable=not linked)
    finally:
        remove_if_present(part)
    remember_verified(folder, final.name, final.stat(), digest)
    return final


def _link_or_copy(source: Path, part: Path) -> bool:
    """Put ``source``'s bytes at ``part``; True when hard-linked (same disk, allowed), else copied."""
    try:
        part.unlink()
        os.link(source.resolve(), part)
        return True
    except OSError as error:
        _log.debug("cannot hard-link %s (%s); copying", source, error)
    try:
        shutil.copyfile(source, part)
    except OSError as error:
        raise AttemptFailed(f"could not copy {source} ({os_reason(error)})", retryable=False, cause="local") from error
    return False


def _hash_local(path: Path) -> tuple[int, str]:
    """(size, hex sha256) of a local file; a read failure is a local, non-retryable one."""
    try:
        with path.open("rb") as handle:
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
        return path.stat().st_size, digest
    except OSError as error:
        raise AttemptFailed(f"could not read {path} ({os_reason(error)})", retryable=False, cause="local") from error


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


def _download_once(entry: ModelEntry, folder: Path, source: str, options: Options) -> Path:
    """One attempt: stream into a temp file, verify, atomically rename; returns the final path."""
    final = folder / str(entry.file)
    with _open_url(source, options.timeout) as response:
        announced = _content_length(response)
        _reject_announced_size(entry, announced)
        part = _new_part_file(folder, str(entry.file))
        try:
            received, digest = _stream_to_file(
                response, part, total=announced or entry.bytes, label=str(entry.file), options=options,
                limit=byte_limit(entry),
            )
            _verify_transfer(entry, received, announced, digest)
            _publish(part, final)
        finally:
            remove_if_present(part)
    if entry.sha256 is not None:
        remember_verified(folder, final.name, final.stat(), digest)
    return final


class _WebOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects to http(s) only: a mirror may not send the download to ftp:// or elsewhere."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001, ANN201 (urllib's API)
        if urllib.parse.urlsplit(newurl).scheme not in ("http", "https"):
            raise urllib.error.HTTPError(newurl, code, "redirect to a non-web address refused", headers, fp)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_WebOnlyRedirects())


def shown_url(source: str) -> str:
    """``source`` without user info or query: signed mirror URLs carry tokens there."""
    try:
        parts = urllib.parse.urlsplit(source)
        netloc = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
    except ValueError:  # not a URL at all: the address is refused elsewhere with its reason
        return source.split("?", 1)[0].rsplit("@", 1)[-1]
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _open_url(source: str, timeout: float) -> http.client.HTTPResponse:
    request = urllib.request.Request(source, headers={"User-Agent": _USER_AGENT})
    try:
        return _OPENER.open(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        error.close()
        retryable = error.code >= 500 or error.code in _RETRYABLE_HTTP_CODES
        cause = "network" if retryable else "server"
        raise AttemptFailed(
            f"HTTP {error.code} {error.reason}", retryable=retryable, cause=cause
        ) from error
    except urllib.error.URLError as error:
        raise AttemptFailed(
            f"could not connect: {_plain_reason(error.reason)}", retryable=True, cause="network"
        ) from error
    except TimeoutError as error:
        raise AttemptFailed(
            f"could not connect: no answer within {timeout:g} s", retryable=True, cause="network"
        ) from error
    except (http.client.HTTPException, OSError) as error:
        raise AttemptFailed(
            f"could not connect: {_plain_reason(error)}", retryable=True, cause="network"
        ) from error
    except ValueError as error:
        raise AttemptFailed(f"invalid URL: {error}", retryable=False, cause="server") from error


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
        raise AttemptFailed(
            f"size mismatch: server announces {announced} bytes, manifest expects {entry.bytes}",
            retryable=False, cause="content",
        )


def _new_part_file(folder: Path, file_name: str) -> Path:
    """A unique hidden temp file next to the target, so concurrent fetches never collide."""
    try:
        handle, name = tempfile.mkstemp(dir=folder, prefix=f".{file_name}.", suffix=".part")
    except OSError as error:
        raise AttemptFailed(
            f"could not create a temp file in {folder} ({os_reason(error)})", retryable=False, cause="local"
        ) from error
    os.close(handle)
    return Path(name)


def byte_limit(entry: ModelEntry) -> int:
    """The most bytes a download of ``entry`` may bring."""
    if entry.bytes is not None:
        return entry.bytes
    return 2 * entry.approx_bytes if entry.approx_bytes else MAX_UNSIZED_BYTES


def _stream_to_file(
    response: http.client.HTTPResponse, part: Path, *, total: int | None, label: str, options: Options,
    limit: int,
) -> tuple[int, str]:
    """Copy the body to ``part`` while hashing; returns (bytes received, hex sha256). A body
    longer than ``limit``, or slower on average than the minimum speed, is cut off."""
    digest = hashlib.sha256()
    received = 0
    deadline = time.monotonic() + max(options.timeout, limit / MIN_AVERAGE_BYTES_PER_S)
    bar_class = options.bar_class or tqdm
    disable = not options.progress and options.bar_class is None
    try:
        with part.open("wb") as sink, bar_class(
            total=total, unit="B", unit_scale=True, unit_divisor=1000, desc=label, disable=disable,
        ) as bar:
            while chunk := _read_chunk(response, received, options.timeout):
                if received + len(chunk) > limit:
                    raise AttemptFailed(f"the server sent more than the expected {limit} bytes",
                                        retryable=False, cause="content")
                if time.monotonic() > deadline:
                    raise AttemptFailed(f"too slow: {received} bytes in the time allowed for {limit}",
                                        retryable=True, cause="network")
                sink.write(chunk)
                digest.update(chunk)
                received += len(chunk)
                bar.update(len(chunk))
            sink.flush()
            os.fsync(sink.fileno())
    except OSError as error:
        raise AttemptFailed(f"could not write {part} ({os_reason(error)})", retryable=False, cause="local") from error
    return received, digest.hexdigest()


def _read_chunk(response: http.client.HTTPResponse, received: int, timeout: float) -> bytes:
    """Next chunk of the body; network failures become retryable attempt failures."""
    try:
        return response.read(_CHUNK_BYTES)
    except TimeoutError as error:
        raise AttemptFailed(
            f"timed out after {timeout:g} s with {received} bytes received",
            retryable=True, cause="network",
        ) from error
    except (http.client.HTTPException, OSError) as error:
        raise AttemptFailed(
            f"connection lost after {received} bytes: {_plain_reason(error)}", retryable=True, cause="network"
        ) from error


def _verify_transfer(entry: ModelEntry, received: int, announced: int | None, digest: str) -> None:
    """Truncation is retryable; a complete transfer of the wrong content is not."""
    expected = announced if announced is not None else entry.bytes
    if expected is not None and received < expected:
        raise AttemptFailed(
            f"truncated: got {received} of {expected} bytes", retryable=True, cause="network"
        )
    if entry.bytes is not None and received != entry.bytes:
        raise AttemptFailed(
            f"size mismatch: expected {entry.bytes} bytes, got {received}",
            retryable=False, cause="content",
        )
    if received == 0:
        raise AttemptFailed("the server sent an empty file", retryable=False, cause="content")
    if entry.sha256 is not None and digest != entry.sha256:
        raise AttemptFailed(
            f"sha256 mismatch: expected {entry.sha256}, got {digest}",
            retryable=False, cause="content",
        )


def _publish(part: Path, final: Path, *, make_readable: bool = True) -> None:
    """Atomic rename onto the final name: readers see the old file or the new one, never half.

    A hard link shares its mode with the cache's file, so it is not chmod-ed.
    """
    try:
        if make_readable:
            os.chmod(part, 0o644)
        os.replace(part, final)
    except OSError as error:
        raise AttemptFailed(
            f"could not move the download to {final} ({os_reason(error)})", retryable=False, cause="local"
        ) from error
