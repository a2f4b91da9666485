"""Missing default weights fetched in the background while the app already serves.

Why this module exists: a fresh Space has no weights and nobody to run the fetch command,
yet the app must answer at once and switch each feature on when its model arrives. One
daemon thread downloads the missing files one by one through :func:`download.fetch` (the
one way to download and verify a file), retries each failure with capped exponential
backoff without holding up the other models, and keeps a thread-safe per-model progress
record a banner can show. A per-file lock under ``<weights dir>/.locks`` makes sure that
two processes that take it (two app workers; the ``weights fetch`` command, through
:func:`fetch_with_lock`) never download the same file at once: the second sees the
first's verified file and keeps it.

Order: smallest file first. The three helper models (matting, parser, detector: about
220 MB together) switch on three features while the restorer alone is 349 MB; shortest
first gives the lowest average wait per feature, and the time until everything is there
is the same either way. Restoration itself works as soon as the restorer arrives (the
detector and parser have offline fallbacks).
"""
from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout
from tqdm import tqdm

from pipeline.core import settings
from pipeline.core.errors import InvalidOptionError, PortraitLabError, WeightsDownloadError, os_reason
from pipeline.models import download
from pipeline.models.locations import resolve_dir
from pipeline.models.manifest import Manifest, ModelEntry
from pipeline.models.weight_status import WeightState, check

ENV_FETCH_WEIGHTS = settings.FETCH_WEIGHTS
APP_KINDS: tuple[str, ...] = ("restorer", "detector", "parser", "matting", "recognition")
# The background upsampler is on by default only with CUDA (pipeline/restore/upsampler.py): a
# CPU server would download 67 MB it does not use unless a visitor asks for the slow path.
CUDA_KINDS: tuple[str, ...] = ("upsampler",)


def app_kinds(device_type: str) -> tuple[str, ...]:
    """The kinds of model whose default the app needs on a device of ``device_type``."""
    return APP_KINDS + (CUDA_KINDS if device_type == "cuda" else ())
LOCKS_DIR_NAME = ".locks"

_log = logging.getLogger(__name__)


class FetchState(str, Enum):
    """Where one model's background download stands."""

    WAITING = "waiting"  # not tried yet
    DOWNLOADING = "downloading"  # by this process, or by another one holding the file's lock
    VERIFIED = "verified"  # usable: accepted by fetch (size and sha256 where the manifest has them)
    FAILED = "failed"  # the last try failed; ``next_retry_at`` says when the next one starts


@dataclass(frozen=True)
class ModelProgress:
    """One model's row of a snapshot: plain data, safe to hand to any thread or template.

    ``reason`` is a plain sentence for visitors (no paths, no URLs); the full error is in
    the log. ``next_retry_at`` is wall-clock time (``time.time()``), None when no retry is
    planned. ``bytes_done`` comes from ``fetch``'s progress bar (or, for a file another
    process is downloading, from its temp file); None when it cannot be seen.
    """

    name: str
    display_name: str
    kind: str
    state: FetchState
    bytes_done: int | None = None
    bytes_total: int | None = None
    attempts: int = 0
    reason: str = ""
    next_retry_at: float | None = None
    elsewhere: bool = False  # another process holds the file's lock and is downloading it

    @property
    def fraction(self) -> float | None:
        """Share downloaded, 0..1, when both sizes are known."""
        if self.bytes_done is None or not self.bytes_total:
            return None
        return min(1.0, self.bytes_done / self.bytes_total)


@dataclass(frozen=True)
class Backoff:
    """Seconds to wait after the n-th failure in a row: first, 2x first, 4x ... up to cap."""

    first_s: float = 5.0
    cap_s: float = 300.0

    def delay(self, failures: int) -> float:
        return min(self.cap_s, self.first_s * 2.0 ** min(max(failures - 1, 0), 60))


def should_fetch_in_background(
    environ: Mapping[str, str] | None = None, *, flag: bool | None = None
) -> bool:
    """Whether the app should download missing default weights while it serves.

    A command-line flag (``--fetch-weights``; None when not given) wins; then the setting
    (1/0, true/false, yes/no, on/off); unset means yes on a Hugging Face Space (``SPACE_ID``
    set), where nobody can run the fetch command, and no elsewhere, where nothing should
    touch the network unasked. A bad value is refused at start-up, not ignored.
    """
    if flag is not None:
        return bool(flag)
    env = os.environ if environ is None else environ
    raw = env.get(ENV_FETCH_WEIGHTS, "").strip().lower()
    if raw in settings.TRUE_WORDS:
        return True
    if raw in settings.FALSE_WORDS:
        return False
    if raw:
        raise InvalidOptionError(
            f"{ENV_FETCH_WEIGHTS} must be 1 or 0, not {raw!r}.",
            hint=f"Set {ENV_FETCH_WEIGHTS}=1 to download missing weights in the background, 0 never to.",
        )
    return bool(env.get("SPACE_ID", "").strip())


def default_models(manifest: Manifest, kinds: tuple[str, ...] = APP_KINDS) -> list[str]:
    """The default model of each of ``kinds``, without those bundled in a package."""
    names: list[str] = []
    for kind in kinds:
        try:
            entry = manifest.default(kind)
        except InvalidOptionError:
            continue
        if not entry.is_bundled and entry.name not in names:
            names.append(entry.name)
    return names


def download_order(entries: Iterable[ModelEntry]) -> list[ModelEntry]:
    """Smallest file first (see the module docstring); unknown sizes last, ties in manifest order."""
    listed = list(entries)

    def key(item: tuple[int, ModelEntry]) -> tuple[float, int]:
        index, entry = item
        size = entry.bytes if entry.bytes is not None else entry.approx_bytes
        return (float(size) if size is not None else float("inf"), index)

    return [entry for _, entry in sorted(enumerate(listed), key=key)]


def lock_path(folder: Path, entry: ModelEntry) -> Path:
    """The lock file every process takes before downloading ``entry``'s file into ``folder``."""
    return folder / LOCKS_DIR_NAME / f"{entry.file}.lock"


def _new_lock(folder: Path, entry: ModelEntry) -> FileLock:
    """A fresh lock object, built by the thread that uses it (instances must not cross a fork)."""
    download.create_directory(folder)  # an unusable folder is the typed error, as for fetch itself
    path = lock_path(folder, entry)
    try:
        path.parent.mkdir(exist_ok=True)
    except OSError as error:
        raise WeightsDownloadError(f"Cannot create the lock folder in {folder} ({os_reason(error)}).",
                                   hint=f"Set {settings.WEIGHTS_DIR} to a writable folder.") from error
    return FileLock(str(path))


def fetch_with_lock(entry: ModelEntry, directory: Path | None = None, **options: Any) -> Path:
    """:func:`download.fetch` under the file's cross-process lock, waiting for a holder.

    For foreground callers (the ``weights fetch`` command): if the app is downloading the
    same file, this waits, and ``fetch`` then finds the verified file and returns it.
    """
    folder = resolve_dir(directory)
    lock = _new_lock(folder, entry)
    try:
        lock.acquire(blocking=False)
    except Timeout:
        _log.info("waiting for another process that is downloading %s", entry.file)
        lock.acquire()
    try:
        return download.fetch(entry, folder, **options)
    finally:
        lock.release()


# Plain sentences for the banner, from the typed error's message; the first match wins.
_REASONS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"sha256 mismatch|size mismatch|empty file"),
     "The server sent a different file than expected, so it was not used."),
    (re.compile(r"downloads are switched off"), "Downloads are switched off on this server (offline mode)."),
    (re.compile(r"is gated|not found or is private|is not in \S+ at commit|commit \S+ is not in"),
     "The download source does not give out this file."),
    (re.compile(r"could not connect|invalid URL|unsupported URL|not a valid URL|could not be reached"
                r"|did not answer like"), "The download server could not be reached."),
    (re.compile(r"timed out|connection lost|truncated|broke off"), "The download was interrupted."),
    (re.compile(r"temp file|could not write|could not move|could not copy|could not read"
                r"|could not be stored|weights directory"),
     "The weights folder could not be written (full disk or no permission)."),
)
_HTTP_STATUS = re.compile(r"HTTP (\d{3})")
_LOCAL_REASON = _REASONS[-1][1]
_UNKNOWN_REASON = "The download failed for an unexpected reason."


def plain_reason(error: BaseException) -> str:
    """A visitor-safe sentence for a failed try; the full error (paths, URLs) goes to the log."""
    if not isinstance(error, PortraitLabError):
        return _LOCAL_REASON if isinstance(error, OSError) else _UNKNOWN_REASON
    status = _HTTP_STATUS.search(error.message)
    if status and not _REASONS[0][0].search(error.message):
        code = int(status.group(1))
        if 400 <= code < 500 and code not in (408, 425, 429):
            return f"The download server does not give out this file (HTTP {code})."
        return f"The download server is having trouble (HTTP {code})."
    for pattern, sentence in _REASONS:
        if pattern.search(error.message):
            return sentence
    return _UNKNOWN_REASON


class _Job:
    """The fetch thread's own record of one model (only touched under the fetcher's mutex)."""

    def __init__(self, entry: ModelEntry) -> None:
        self.entry = entry
        self.row = ModelProgress(entry.name, entry.display_name, entry.kind, FetchState.WAITING,
                                 bytes_total=entry.bytes or entry.approx_bytes)
        self.due = 0.0  # time.monotonic() of the next try
        self.failures = 0  # in a row; reset by success
        self.settled = False  # verified, or failed with no retry left


def _part_bytes(folder: Path, entry: ModelEntry) -> int | None:
    """Bytes another process has written so far into ``entry``'s hidden temp file.

    Its progress bar is in that process, so the size of ``.<file>.<random>.part`` (see
    ``transfer._new_part_file``) is what this one can see; None when there is none (e.g.
    it downloads into the Hugging Face cache first).
    """
    prefix, biggest = f".{entry.file}.", None
    try:
        with os.scandir(folder) as listing:
            for item in listing:
                if item.name.startswith(prefix) and item.name.endswith(".part"):
                    size = item.stat().st_size
                    biggest = size if biggest is None else max(biggest, size)
    except OSError:
        return None
    return biggest


class BackgroundFetcher:
    """Downloads missing models one at a time in a daemon thread; see the module docstring.

    ``on_ready(name)`` runs once per model, in the fetch thread, when the model is usable
    (already there, downloaded here, or downloaded by another process); ``on_change(row)``
    runs on every change of a row's state (not on every chunk: :meth:`snapshot` has the
    bytes). Both must return quickly; their errors are logged.
    The object holds no per-request state. A forked child (ZeroGPU's worker) gets a copy
    without the thread and must not use it.
    """

    def __init__(
        self,
        manifest: Manifest,
        directory: Path | None = None,
        names: Iterable[str] | None = None,
        *,
        on_ready: Callable[[str], None] | None = None,
        on_change: Callable[[ModelProgress], None] | None = None,
        backoff: Backoff = Backoff(),
        give_up_after: int | None = None,
        busy_poll_s: float = 2.0,
        timeout_s: float = 60.0,
    ) -> None:
        self.folder = resolve_dir(directory)
        chosen = dict.fromkeys(default_models(manifest) if names is None else names)
        entries = [manifest.get(name) for name in chosen]
        self._jobs = [_Job(entry) for entry in download_order(e for e in entries if not e.is_bundled)]
        self._on_ready, self._on_change = on_ready, on_change
        self._backoff, self._give_up_after = backoff, give_up_after
        self._busy_poll_s, self._timeout_s = busy_poll_s, timeout_s
        self._mutex = threading.Lock()
        self._stop = threading.Event()
        self._settled = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def names(self) -> list[str]:
        """The models this fetcher looks after, in download order."""
        return [job.entry.name for job in self._jobs]

    def start(self) -> BackgroundFetcher:
        """Start the thread (once); returns self so ``BackgroundFetcher(...).start()`` reads well."""
        with self._mutex:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="weights-fetch", daemon=True)
                self._thread.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        """Ask the thread to stop after the current try, and wait up to ``timeout`` for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def wait(self, timeout: float | None = None) -> bool:
        """True once every model is verified or given up (False on timeout or after stop)."""
        return self._settled.wait(timeout)

    def snapshot(self) -> tuple[ModelProgress, ...]:
        """Every model's row, in download order; downloading rows carry the bytes so far."""
        with self._mutex:
            rows = [job.row for job in self._jobs]
        return tuple(
            replace(row, bytes_done=_part_bytes(self.folder, job.entry)) if row.elsewhere else row
            for row, job in zip(rows, self._jobs)
        )

    # -- the fetch thread ---------------------------------------------------------------
    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                pending = [job for job in self._jobs if not job.settled]
                if not pending:
                    self._settled.set()
                    return
                job = min(pending, key=lambda item: item.due)  # ties: download order
                wait = job.due - time.monotonic()
                if wait > 0:
                    self._stop.wait(wait)
                    continue
                self._attempt(job)
        except Exception:  # a bug here must not pass silently, nor kill the app
            _log.exception("the background weights download stopped")

    def _attempt(self, job: _Job) -> None:
        """One turn for ``job``: done if usable, else download under the file's lock."""
        try:
            if self._usable(job.entry):
                self._ready(job)
                return
            lock = _new_lock(self.folder, job.entry)
            lock.acquire(blocking=False)
        except Timeout:
            job.due = time.monotonic() + self._busy_poll_s
            self._update(job, state=FetchState.DOWNLOADING, elsewhere=True, reason="", next_retry_at=None)
            return
        except Exception as error:  # e.g. the folder cannot be written: retried like any failure
            self._failed(job, error)
            return
        try:
            self._download(job)
        finally:
            lock.release()

    def _download(self, job: _Job) -> None:
        """Fetch once (no inner retries: the backoff here lets other models go first)."""
        attempts = job.row.attempts + 1
        self._update(job, state=FetchState.DOWNLOADING, elsewhere=False, attempts=attempts,
                     reason="", next_retry_at=None, bytes_done=0)
        try:
            download.fetch(job.entry, self.folder, retries=0, timeout=self._timeout_s, progress=False,
                           bar_class=self._bar_class(job))
            if not self._usable(job.entry):
                raise RuntimeError("the downloaded file does not pass the weights check")
        except Exception as error:
            self._failed(job, error)
        else:
            self._ready(job)

    def _bar_class(self, job: _Job) -> type[tqdm]:  # type: ignore[type-arg]
        """A progress-bar class for ``fetch`` (URL and Hub alike) that draws nothing and
        records the bytes received in ``job``'s row."""
        fetcher = self

        class _SnapshotBar(tqdm):  # type: ignore[type-arg]
            def __init__(self, *args: object, **kwargs: object) -> None:
                kwargs["disable"] = True
                super().__init__(*args, **kwargs)  # type: ignore[arg-type]
                self.received = int(kwargs.get("initial") or 0)  # type: ignore[call-overload]
                total = kwargs.get("total")
                fetcher._progress(job, self.received, total if isinstance(total, int) else None)

            def update(self, n: float | None = 1) -> bool | None:
                self.received += int(n or 0)  # negative when huggingface_hub restarts a transfer
                fetcher._progress(job, self.received, None)
                return None

        return _SnapshotBar

    def _progress(self, job: _Job, received: int, total: int | None) -> None:
        with self._mutex:
            job.row = replace(job.row, bytes_done=max(received, 0), bytes_total=total or job.row.bytes_total)

    def _usable(self, entry: ModelEntry) -> bool:
        """The store's own test (``ModelStore.is_available``): present, or unverifiable but whole."""
        return check(entry, self.folder).state in (WeightState.PRESENT, WeightState.UNVERIFIED)

    def _failed(self, job: _Job, error: Exception) -> None:
        job.failures += 1
        give_up = self._give_up_after is not None and job.failures >= self._give_up_after
        delay = self._backoff.delay(job.failures)
        detail = str(error)
        _log.warning("background download of %s failed (%d in a row)%s: %s", job.entry.name, job.failures,
                     "; giving up" if give_up else f"; next try in {delay:g} s", detail)
        job.settled = give_up
        job.due = time.monotonic() + delay
        self._update(job, state=FetchState.FAILED, elsewhere=False, reason=plain_reason(error), bytes_done=None,
                     next_retry_at=None if give_up else time.time() + delay)

    def _ready(self, job: _Job) -> None:
        job.settled = True
        size = _file_size(self.folder / str(job.entry.file))
        self._update(job, state=FetchState.VERIFIED, elsewhere=False, reason="", next_retry_at=None,
                     bytes_done=size, bytes_total=size if size is not None else job.row.bytes_total)
        _log.info("weights for %s are ready", job.entry.name)
        self._call(self._on_ready, job.entry.name)

    def _update(self, job: _Job, **changes: object) -> None:
        with self._mutex:
            job.row = replace(job.row, **changes)  # type: ignore[arg-type]
            row = job.row
        self._call(self._on_change, row)

    @staticmethod
    def _call(hook: Callable[..., None] | None, argument: object) -> None:
        if hook is None:
            return
        try:
            hook(argument)
        except Exception:
            _log.exception("a weights-fetch callback failed")


def _file_size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None
