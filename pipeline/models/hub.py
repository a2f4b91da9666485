"""The Hugging Face Hub as a weights source: the local Hugging Face cache, then a pinned download.

Why this module exists: a Space can have its weights put into the Hugging Face cache at
build time (``preload_from_hub``), and the Hub is a second home for files whose release
page is slow or gone. Everything that knows about ``huggingface_hub`` sits here, so that
:mod:`pipeline.models.download` only sees a local file to verify or a plain reason why
there is none. ``huggingface_hub`` is imported only when a Hub source is used: the CLI
starts without it, and the pipeline works where it is not installed.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tqdm import tqdm

from pipeline.core.errors import os_reason
from pipeline.models.manifest import HubFile

# Where ``preload_from_hub`` puts files at Space build time; the Hub documentation says it
# does not follow a changed HF_HOME, so this folder is searched as well as HF_HUB_CACHE.
PRELOAD_CACHE_DIR = Path("~/.cache/huggingface/hub")
OFFLINE_VARIABLE = "HF_HUB_OFFLINE"


class HubUnavailable(Exception):
    """The Hub could not provide the file; ``reason`` is a plain clause for the error message.

    ``cause`` picks the hint as in :mod:`pipeline.models.download`: "network", "server"
    (the repo, commit or file is not there) or "local" (disk, permissions).
    """

    def __init__(self, reason: str, *, cause: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.cause = cause


class _SilentBar(tqdm):  # type: ignore[type-arg]
    """A progress bar that never draws: huggingface_hub takes a bar class, not a switch."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["disable"] = True
        super().__init__(*args, **kwargs)


def describe(hub: HubFile) -> str:
    """The Hub file in one short phrase for logs and error messages."""
    return f"{hub.file} in {hub.repo} at commit {hub.revision[:12]}"


def offline() -> bool:
    """True when HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) says to stay off the network.

    huggingface_hub reads the variables once, at its import, and tests change its
    constant; without the package the variables are read the same way here.
    """
    try:
        from huggingface_hub import constants
    except ImportError:
        values = (os.environ.get(OFFLINE_VARIABLE), os.environ.get("TRANSFORMERS_OFFLINE"))
        return any((value or "").strip().upper() in {"1", "ON", "YES", "TRUE"} for value in values)
    return bool(constants.HF_HUB_OFFLINE)


def cached_copy(hub: HubFile, cache_dir: Path | None = None) -> Path | None:
    """The file at the pinned commit in a local Hugging Face cache, or None; never uses the network.

    With ``cache_dir`` only that folder is searched; otherwise HF_HUB_CACHE and the
    folder ``preload_from_hub`` fills, when they differ.
    """
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    for folder in _cache_dirs(cache_dir):
        found = try_to_load_from_cache(hub.repo, hub.file, cache_dir=folder, revision=hub.revision)
        if isinstance(found, str) and os.path.isfile(found):
            return Path(found)
    return None


def _cache_dirs(cache_dir: Path | None) -> list[Path]:
    """The cache folders to search, the caller's alone when it names one."""
    if cache_dir is not None:
        return [Path(cache_dir)]
    from huggingface_hub import constants

    folders = [Path(constants.HF_HUB_CACHE).expanduser(), PRELOAD_CACHE_DIR.expanduser()]
    return folders if folders[0] != folders[1] else folders[:1]


def download(
    hub: HubFile,
    *,
    cache_dir: Path | None = None,
    endpoint: str | None = None,
    timeout: float = 60.0,
    bar_class: type[tqdm] | None = None,  # type: ignore[type-arg]
    progress: bool = True,
) -> Path:
    """Put the pinned file into the Hugging Face cache (download it if needed); its cached path.

    huggingface_hub checks the size it announced, writes to a temp file and renames it,
    and sends HF_TOKEN for private repos. The caller still checks sha256: the Hub's own
    check is not the manifest's.
    """
    try:
        from huggingface_hub import hf_hub_download
    except ImportError as error:
        raise HubUnavailable("the huggingface_hub package is not installed", cause="local") from error
    chosen_bar = bar_class if bar_class is not None else (None if progress else _SilentBar)
    try:
        path = hf_hub_download(
            hub.repo, hub.file, revision=hub.revision, cache_dir=cache_dir, endpoint=endpoint,
            etag_timeout=timeout, tqdm_class=chosen_bar,
        )
    except Exception as error:  # mapped below; anything unknown is re-raised as the bug it is
        mapped = _unavailable(hub, error)
        if mapped is error:
            raise
        raise mapped from error
    return Path(path)


def _unavailable(hub: HubFile, error: Exception) -> Exception:
    """A plain reason for what huggingface_hub raised; unknown exceptions are returned unchanged."""
    from huggingface_hub import errors

    try:  # huggingface_hub 2.x speaks HTTP through httpx2; its transport errors mean "unreachable"
        from httpx2 import HTTPError as transport_error
    except ImportError:
        transport_error = errors.OfflineModeIsEnabled

    if isinstance(error, errors.GatedRepoError):
        return HubUnavailable(f"the repository {hub.repo} is gated (access must be requested)", cause="server")
    if isinstance(error, errors.RepositoryNotFoundError):
        return HubUnavailable(f"the repository {hub.repo} was not found or is private", cause="server")
    if isinstance(error, errors.RevisionNotFoundError):
        return HubUnavailable(f"commit {hub.revision[:12]} is not in {hub.repo}", cause="server")
    if isinstance(error, errors.RemoteEntryNotFoundError):
        return HubUnavailable(f"{hub.file} is not in {hub.repo} at commit {hub.revision[:12]}", cause="server")
    if isinstance(error, errors.HfHubHTTPError):
        status = error.response.status_code if error.response is not None else None
        retryable = status is None or status >= 500 or status in (408, 425, 429)
        return HubUnavailable(f"the Hub answered HTTP {status}", cause="network" if retryable else "server")
    if isinstance(error, (errors.LocalEntryNotFoundError, errors.OfflineModeIsEnabled, transport_error)):
        return HubUnavailable("the Hub could not be reached", cause="network")
    if isinstance(error, errors.FileMetadataError):
        return HubUnavailable("the server did not answer like the Hugging Face Hub", cause="server")
    if isinstance(error, OSError) and error.errno is not None:
        return HubUnavailable(f"the file could not be stored in the cache ({os_reason(error)})", cause="local")
    if isinstance(error, OSError):  # huggingface_hub's "Consistency check failed" has no errno
        return HubUnavailable("the transfer from the Hub broke off or had the wrong size", cause="network")
    return error
