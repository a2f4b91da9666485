"""Downloading weights files: from the best source, verified, retried, renamed into place atomically.

Why this module exists: a download is the one place the pipeline touches the network, and
it must never leave a half or wrong file where a loader would find it. Nothing here runs
unless :func:`fetch` is called explicitly (``python -m pipeline weights fetch``, the
Docker build, the app's background fetcher).

Sources, in this order (the first that gives a file of the manifest's size and sha256 wins):

1. the weights folder, when the file is already there and verified;
2. the local Hugging Face cache at the entry's pinned ``hub`` commit (filled at Space build
   time by ``preload_from_hub``), hard-linked or copied in; no network;
3. ``url=`` or ``$PORTRAIT_LAB_WEIGHTS_MIRROR``, when set: the operator's explicit choice
   replaces 4 and 5 (and still works with HF_HUB_OFFLINE, since a mirror may be local);
4. the Hugging Face Hub at the pinned commit, for entries with ``hub``;
5. the manifest URL (GitHub releases), also after the Hub failed.

With HF_HUB_OFFLINE set, 4 and 5 are skipped: a file that is not local is a plain error.
"""
from __future__ import annotations

import logging
import os
import urllib.parse
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from tqdm import tqdm

from pipeline.core import settings
from pipeline.core.errors import InvalidOptionError, WeightsDownloadError, os_reason
from pipeline.models import hub, transfer
from pipeline.models.locations import ENV_WEIGHTS_DIR, resolve_dir
from pipeline.models.manifest import ModelEntry
from pipeline.models.weight_status import WeightState, check

ENV_WEIGHTS_MIRROR = settings.WEIGHTS_MIRROR

_log = logging.getLogger(__name__)


class Source(str, Enum):
    """Where :func:`fetch_with_source` found the file (shown in logs and the app's banner)."""

    FOLDER = "weights folder"
    HUB_CACHE = "Hugging Face cache"
    MIRROR = "mirror"
    HUB = "Hugging Face Hub"
    URL = "manifest URL"


@dataclass(frozen=True)
class Fetched:
    """A verified file in the weights folder and the source it came from."""

    path: Path
    source: Source


@dataclass(frozen=True)
class _HubPlace:
    """Where the Hub and its cache are: None means huggingface_hub's defaults."""

    cache_dir: Path | None
    endpoint: str | None


def fetch(entry: ModelEntry, directory: Path | None = None, **options: Any) -> Path:
    """Make sure ``entry``'s verified file is in the weights folder, and return its path.

    The options are :func:`fetch_with_source`'s, which also says where the file came from.
    """
    return fetch_with_source(entry, directory, **options).path


def fetch_with_source(
    entry: ModelEntry,
    directory: Path | None = None,
    *,
    retries: int = 3,
    timeout: float = 60.0,
    progress: bool = True,
    backoff: float = 1.0,
    url: str | None = None,
    hub_cache_dir: Path | None = None,
    hub_endpoint: str | None = None,
    bar_class: type[tqdm] | None = None,  # type: ignore[type-arg]
) -> Fetched:
    """Try the sources in the module's order; the file and the source that gave it.

    Every file, whatever its source, reaches the final name only through a hidden
    ``.part`` temp file whose size and sha256 matched, then an atomic rename: a failure
    never leaves a file behind nor clobbers an existing one. Network errors and truncated
    transfers from a URL are retried ``retries`` more times (sleeping
    ``backoff * 2**attempt``); a complete transfer with the wrong content is not.
    ``hub_cache_dir`` and ``hub_endpoint`` replace huggingface_hub's defaults (tests);
    ``bar_class`` is the tqdm class of the progress bars (for a caller that shows progress
    elsewhere).
    """
    if entry.is_bundled:
        raise InvalidOptionError(
            f"{entry.display_name} ships inside {entry.bundled_in}, nothing to fetch.",
            hint=f"Install {entry.bundled_in} instead.",
        )
    if retries < 0:
        raise ValueError("retries must be >= 0")
    options = transfer.Options(retries, timeout, progress, backoff, bar_class)
    place = _HubPlace(hub_cache_dir, hub_endpoint)
    folder = resolve_dir(directory)
    create_directory(folder)
    status = check(entry, folder)
    if status.state in (WeightState.PRESENT, WeightState.UNVERIFIED):
        return Fetched(folder / str(entry.file), Source.FOLDER)
    fetched = _from_hub_cache(entry, folder, place) or _from_network(entry, folder, url, options, place)
    _log.info("%s: verified, from the %s", entry.file, fetched.source.value)
    return fetched


def _from_hub_cache(entry: ModelEntry, folder: Path, place: _HubPlace) -> Fetched | None:
    """The file from the local Hugging Face cache, verified and linked in; None when absent or wrong."""
    if entry.hub is None:
        return None
    cached = hub.cached_copy(entry.hub, place.cache_dir)
    if cached is None:
        return None
    try:
        return Fetched(transfer.adopt(entry, folder, cached), Source.HUB_CACHE)
    except transfer.AttemptFailed as failure:
        _log.warning("ignoring the cached copy of %s: %s", hub.describe(entry.hub), failure.reason)
        return None


def _from_network(
    entry: ModelEntry, folder: Path, override: str | None, options: transfer.Options, place: _HubPlace
) -> Fetched:
    """The mirror when one is set; else the Hub, then the manifest URL; nothing when offline."""
    mirror = _mirror_url(entry, override)
    if mirror is not None:
        return Fetched(transfer.download_url(entry, folder, mirror, options), Source.MIRROR)
    if hub.offline():
        raise _offline_error(entry, folder)
    if entry.hub is None:
        return Fetched(transfer.download_url(entry, folder, str(entry.url), options), Source.URL)
    try:
        return Fetched(_from_hub(entry, folder, options, place), Source.HUB)
    except transfer.AttemptFailed as failure:
        hub_failure = failure
    _log.warning("Hub download of %s failed (%s); trying %s", hub.describe(entry.hub),
                 hub_failure.reason, entry.url)
    try:
        return Fetched(transfer.download_url(entry, folder, str(entry.url), options), Source.URL)
    except WeightsDownloadError as error:
        raise WeightsDownloadError(
            f"{error.message} The Hugging Face Hub copy failed before it: {hub_failure.reason}.",
            hint=error.hint,
        ) from error


def _from_hub(entry: ModelEntry, folder: Path, options: transfer.Options, place: _HubPlace) -> Path:
    """Download into the Hugging Face cache at the pinned commit, then verify and link it in."""
    assert entry.hub is not None
    try:
        cached = hub.download(
            entry.hub, cache_dir=place.cache_dir, endpoint=place.endpoint,
            timeout=options.timeout, bar_class=options.bar_class, progress=options.progress,
        )
    except hub.HubUnavailable as error:
        raise transfer.AttemptFailed(error.reason, retryable=False, cause=error.cause) from error
    return transfer.adopt(entry, folder, cached)


def _offline_error(entry: ModelEntry, folder: Path) -> WeightsDownloadError:
    """HF_HUB_OFFLINE says no network, and no local copy exists: say so, and the three ways out."""
    where = "the weights folder or the Hugging Face cache" if entry.hub else "the weights folder"
    return WeightsDownloadError(
        f"{entry.file} is not in {where}, and downloads are switched off "
        f"because {hub.OFFLINE_VARIABLE} is set.",
        hint=f"Unset {hub.OFFLINE_VARIABLE}, set {ENV_WEIGHTS_MIRROR} to a local mirror, "
             f"or copy the verified {entry.file} into {folder}.",
    )


def create_directory(folder: Path) -> None:
    """The weights folder, made if needed; a folder that cannot be made is the typed error."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise WeightsDownloadError(
            f"Cannot create the weights directory {folder} ({os_reason(error)}).",
            hint=f"Set {ENV_WEIGHTS_DIR} to a writable folder.",
        ) from error


def _mirror_url(entry: ModelEntry, override: str | None) -> str | None:
    """``url=``, else ``$PORTRAIT_LAB_WEIGHTS_MIRROR/<file>``, else None (the sources decide)."""
    if override:
        return override
    mirror = os.environ.get(ENV_WEIGHTS_MIRROR, "").strip()
    if mirror:
        return f"{mirror.rstrip('/')}/{urllib.parse.quote(str(entry.file))}"
    return None
