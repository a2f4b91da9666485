"""The background fetcher (pipeline/models/fetcher.py): missing default weights arrive by
themselves, with per-model progress, backoff, a cross-process lock per file and a hook
when each model is ready.

No test touches the internet: a mirror server on 127.0.0.1 serves small random files
(``PORTRAIT_LAB_WEIGHTS_MIRROR`` points ``download.fetch`` at it), and a manifest whose
entries describe those files stands in for the published one.
"""
from __future__ import annotations

import dataclasses
import hashlib
import multiprocessing
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock

from pipeline.core import settings
from pipeline.core.errors import InvalidOptionError, WeightsDownloadError
from pipeline.models.fetcher import (
    Backoff,
    BackgroundFetcher,
    FetchState,
    ModelProgress,
    default_models,
    download_order,
    fetch_with_lock,
    lock_path,
    plain_reason,
    should_fetch_in_background,
)
from pipeline.models.manifest import Manifest, load_manifest

DEFAULTS = ("modnet", "parsenet", "arcface", "retinaface-r50", "gfpgan-v1.4")  # smallest first, as published
SIZES = {"modnet": 20_000, "parsenet": 30_000, "arcface": 35_000, "retinaface-r50": 40_000, "gfpgan-v1.4": 60_000}
QUICK = Backoff(first_s=0.01, cap_s=0.05)
WAIT_S = 20.0

Reply = Callable[[BaseHTTPRequestHandler], None]


# --------------------------------------------------------------------------- the mirror


def payload(name: str, salt: str = "") -> bytes:
    return random.Random(name + salt).randbytes(SIZES.get(name, 10_000))


def small_manifest() -> Manifest:
    """The published manifest with the default models pointed at small random files."""
    manifest = load_manifest()
    for name in DEFAULTS:
        data = payload(name)
        entry = dataclasses.replace(manifest.get(name), bytes=len(data), approx_bytes=None,
                                    sha256=hashlib.sha256(data).hexdigest())
        manifest = manifest.replace_entry(entry)
    return manifest


def ok(body: bytes, delay: float = 0.0) -> Reply:
    def reply(handler: BaseHTTPRequestHandler) -> None:
        time.sleep(delay)
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
    return reply


def status(code: int) -> Reply:
    def reply(handler: BaseHTTPRequestHandler) -> None:
        handler.send_error(code)
    return reply


def stall(body: bytes, keep: int, release: threading.Event) -> Reply:
    """Send ``keep`` bytes, wait for ``release``, then the rest."""
    def reply(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body[:keep])
        handler.wfile.flush()
        release.wait(timeout=10)
        handler.wfile.write(body[keep:])
    return reply


class Mirror:
    """A weights mirror on 127.0.0.1: each file has a list of replies, the last one repeats."""

    def __init__(self) -> None:
        self.plans: dict[str, list[Reply]] = {}
        self.gets: Counter[str] = Counter()
        self._lock = threading.Lock()
        mirror = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                name = self.path.lstrip("/")
                with mirror._lock:
                    mirror.gets[name] += 1
                    plan = mirror.plans.get(name, [status(404)])
                    reply = plan[min(mirror.gets[name], len(plan)) - 1]
                reply(self)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                """Quiet: requests are counted in ``gets``."""

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01},
                                        daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def serve_defaults(self, manifest: Manifest, delay: float = 0.0) -> None:
        for name in DEFAULTS:
            self.plans[str(manifest.get(name).file)] = [ok(payload(name), delay)]

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture
def mirror(monkeypatch: pytest.MonkeyPatch) -> Iterator[Mirror]:
    local = Mirror()
    monkeypatch.setenv(settings.WEIGHTS_MIRROR, local.base_url)
    monkeypatch.delenv(settings.WEIGHTS_DIR, raising=False)
    yield local
    local.close()


@pytest.fixture
def manifest() -> Manifest:
    return small_manifest()


class Recorder:
    """Collects every row change and every ``on_ready`` call, from the fetch thread."""

    def __init__(self) -> None:
        self.rows: list[ModelProgress] = []
        self.ready: Counter[str] = Counter()
        self.at_change: list[Callable[[ModelProgress], None]] = []

    def on_change(self, row: ModelProgress) -> None:
        self.rows.append(row)
        for check in self.at_change:
            check(row)

    def on_ready(self, name: str) -> None:
        self.ready[name] += 1

    def states(self, name: str) -> list[FetchState]:
        return [row.state for row in self.rows if row.name == name]

    def index(self, name: str, state: FetchState, occurrence: int = 1) -> int:
        hits = [i for i, row in enumerate(self.rows) if row.name == name and row.state is state]
        return hits[occurrence - 1]


def fetcher_for(
    manifest: Manifest, folder: Path, recorder: Recorder | None = None, **options: Any
) -> BackgroundFetcher:
    recorder = recorder or Recorder()
    options.setdefault("backoff", QUICK)
    options.setdefault("busy_poll_s", 0.02)
    return BackgroundFetcher(manifest, folder, on_ready=recorder.on_ready, on_change=recorder.on_change, **options)


def part_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


# --------------------------------------------------------------------------- what and when
def test_the_background_upsampler_is_fetched_only_where_it_is_on_by_default() -> None:
    """A CUDA server uses Real-ESRGAN x2plus by default, so it fetches it; a CPU server does not
    use it unless asked and is spared the download."""
    from pipeline.models.fetcher import app_kinds

    published = load_manifest()
    assert "realesrgan-x2" in default_models(published, app_kinds("cuda"))
    assert "realesrgan-x2" not in default_models(published, app_kinds("cpu"))
    assert sorted(default_models(published, app_kinds("cpu"))) == sorted(DEFAULTS)



def test_the_defaults_of_the_app_are_fetched_smallest_first() -> None:
    published = load_manifest()
    assert sorted(default_models(published)) == sorted(DEFAULTS)  # mtcnn ships in a package
    ordered = download_order(published.get(name) for name in default_models(published))
    assert [entry.name for entry in ordered] == list(DEFAULTS)
    assert BackgroundFetcher(published, Path("unused"), names=["mtcnn", "gfpgan-v1.4", "parsenet"]).names == [
        "parsenet", "gfpgan-v1.4"]


@pytest.mark.parametrize(("env", "flag", "expected"), [
    ({}, None, False),
    ({"SPACE_ID": "someone/portrait-lab"}, None, True),
    ({"SPACE_ID": "someone/portrait-lab", settings.FETCH_WEIGHTS: "0"}, None, False),
    ({settings.FETCH_WEIGHTS: "1"}, None, True),
    ({settings.FETCH_WEIGHTS: " Yes "}, None, True),
    ({settings.FETCH_WEIGHTS: "off", "SPACE_ID": "x/y"}, None, False),
    ({}, True, True),
    ({settings.FETCH_WEIGHTS: "0"}, True, True),
    ({"SPACE_ID": "x/y"}, False, False),
])
def test_should_fetch_in_background(env: dict[str, str], flag: bool | None, expected: bool) -> None:
    assert should_fetch_in_background(env, flag=flag) is expected


def test_should_fetch_reads_the_environment_and_refuses_a_bad_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(settings.FETCH_WEIGHTS, raising=False)
    monkeypatch.setenv("SPACE_ID", "someone/portrait-lab")
    assert should_fetch_in_background() is True
    monkeypatch.setenv(settings.FETCH_WEIGHTS, "maybe")
    with pytest.raises(InvalidOptionError, match=settings.FETCH_WEIGHTS):
        should_fetch_in_background()


def test_backoff_doubles_up_to_its_cap() -> None:
    assert [Backoff().delay(n) for n in range(1, 9)] == [5, 10, 20, 40, 80, 160, 300, 300]
    assert Backoff().delay(10_000) == 300


@pytest.mark.parametrize(("message", "sentence"), [
    ("Could not download a.pth from http://h/a.pth: HTTP 404 Not Found (1 attempt).",
     "does not give out this file (HTTP 404)"),
    ("Could not download a.pth from http://h/a.pth: HTTP 503 Service Unavailable (1 attempt).",
     "having trouble (HTTP 503)"),
    ("Could not download a.pth from http://h/a.pth: sha256 mismatch: expected 1, got 2 (1 attempt).", "different file"),
    ("Could not download a.pth from http://h/a.pth: could not connect: refused (1 attempt).", "could not be reached"),
    ("Could not download a.pth from http://h/a.pth: truncated: got 1 of 2 bytes (1 attempt).", "interrupted"),
    ("Cannot create the weights directory /srv/w (permission denied).", "could not be written"),
    ("a.pth is not in the weights folder, and downloads are switched off because HF_HUB_OFFLINE is set.",
     "switched off"),
    ("Could not download a.pth from https://x/a.pth: HTTP 404 Not Found (1 attempt). The Hugging Face Hub "
     "copy failed before it: the repository o/r is gated (access must be requested).", "(HTTP 404)"),
    ("Could not download a.pth from https://x/a.pth: could not connect: refused (1 attempt). The Hugging Face "
     "Hub copy failed before it: the transfer from the Hub broke off or had the wrong size.", "could not be reached"),
])
def test_failure_reasons_are_plain_sentences_without_paths(message: str, sentence: str) -> None:
    reason = plain_reason(WeightsDownloadError(message, hint="Check /srv/w or set a mirror."))
    assert sentence in reason
    assert "/" not in reason and "http" not in reason and reason.endswith(".")
    assert "could not be written" in plain_reason(PermissionError(13, "denied", "/srv/w/.locks"))


# --------------------------------------------------------------------------- progress


def test_each_model_goes_waiting_downloading_verified(mirror: Mirror, manifest: Manifest, tmp_path: Path) -> None:
    mirror.serve_defaults(manifest)
    recorder = Recorder()
    fetcher = fetcher_for(manifest, tmp_path, recorder)
    assert [(row.name, row.state) for row in fetcher.snapshot()] == [(n, FetchState.WAITING) for n in DEFAULTS]
    assert fetcher.start().wait(WAIT_S)
    for name in DEFAULTS:
        assert recorder.states(name) == [FetchState.DOWNLOADING, FetchState.VERIFIED]
        entry = manifest.get(name)
        assert (tmp_path / str(entry.file)).read_bytes() == payload(name)
        assert mirror.gets[str(entry.file)] == 1
    assert [row.name for row in recorder.rows if row.state is FetchState.DOWNLOADING] == list(DEFAULTS)
    final = fetcher.snapshot()
    assert all(row.state is FetchState.VERIFIED and row.bytes_done == row.bytes_total == SIZES[row.name]
               and row.fraction == 1.0 for row in final)
    assert part_files(tmp_path) == []


def test_bytes_done_grow_while_a_file_downloads(mirror: Mirror, tmp_path: Path) -> None:
    body = random.Random(7).randbytes(1_500_000)  # fetch reads 1 MiB chunks: one lands before the stall
    entry = dataclasses.replace(load_manifest().get("parsenet"), bytes=len(body),
                                sha256=hashlib.sha256(body).hexdigest())
    manifest = load_manifest().replace_entry(entry)
    release = threading.Event()
    mirror.plans[str(entry.file)] = [stall(body, 1_200_000, release)]
    fetcher = fetcher_for(manifest, tmp_path, names=["parsenet"]).start()
    try:
        deadline = time.monotonic() + 10
        row = fetcher.snapshot()[0]
        while not (row.bytes_done or 0) >= 1 << 20 and time.monotonic() < deadline:
            time.sleep(0.02)
            row = fetcher.snapshot()[0]
        assert row.state is FetchState.DOWNLOADING and row.bytes_total == len(body)
        assert 1 << 20 <= row.bytes_done < len(body) and 0 < row.fraction < 1
    finally:
        release.set()
    assert fetcher.wait(WAIT_S)
    assert fetcher.snapshot()[0].state is FetchState.VERIFIED


# --------------------------------------------------------------------------- failures


def test_a_failing_model_is_retried_with_backoff_without_holding_up_the_others(
    mirror: Mirror, manifest: Manifest, tmp_path: Path
) -> None:
    mirror.serve_defaults(manifest)
    first = str(manifest.get("modnet").file)
    mirror.plans[first] = [status(500), status(500), ok(payload("modnet"))]
    recorder = Recorder()
    started = time.time()
    fetcher = fetcher_for(manifest, tmp_path, recorder, backoff=Backoff(first_s=0.3, cap_s=0.6)).start()
    assert fetcher.wait(WAIT_S)
    assert recorder.states("modnet") == [FetchState.DOWNLOADING, FetchState.FAILED] * 2 + [
        FetchState.DOWNLOADING, FetchState.VERIFIED]
    failed = [row for row in recorder.rows if row.name == "modnet" and row.state is FetchState.FAILED]
    assert [row.reason for row in failed] == ["The download server is having trouble (HTTP 500)."] * 2
    assert all(row.next_retry_at is not None and row.next_retry_at > started for row in failed)
    assert failed[1].next_retry_at - failed[0].next_retry_at > 0.5  # 0.3 s, then 0.6 s
    second_try = recorder.index("modnet", FetchState.DOWNLOADING, 2)
    assert all(recorder.index(name, FetchState.VERIFIED) < second_try for name in DEFAULTS[1:])
    assert mirror.gets[first] == 3 and recorder.ready["modnet"] == 1
    assert fetcher.snapshot()[0].attempts == 3


def test_a_wrong_file_is_refused_and_retried_and_never_published(
    mirror: Mirror, manifest: Manifest, tmp_path: Path
) -> None:
    entry = manifest.get("parsenet")
    target = tmp_path / str(entry.file)
    mirror.plans[str(entry.file)] = [ok(payload("parsenet", salt="evil"))] * 2 + [ok(payload("parsenet"))]
    recorder = Recorder()
    seen: list[bool] = []
    recorder.at_change.append(
        lambda row: seen.append(not target.exists() or target.read_bytes() == payload("parsenet")))
    fetcher = fetcher_for(manifest, tmp_path, recorder, names=["parsenet"]).start()
    assert fetcher.wait(WAIT_S)
    assert seen and all(seen)
    assert recorder.states("parsenet")[-1] is FetchState.VERIFIED
    reasons = [row.reason for row in recorder.rows if row.state is FetchState.FAILED]
    assert reasons == ["The server sent a different file than expected, so it was not used."] * 2
    assert mirror.gets[str(entry.file)] == 3 and target.read_bytes() == payload("parsenet")
    assert part_files(tmp_path) == []


def test_giving_up_leaves_nothing_and_says_why(mirror: Mirror, manifest: Manifest, tmp_path: Path) -> None:
    entry = manifest.get("parsenet")
    mirror.plans[str(entry.file)] = [ok(payload("parsenet", salt="evil"))]
    recorder = Recorder()
    fetcher = fetcher_for(manifest, tmp_path, recorder, names=["parsenet"], give_up_after=2).start()
    assert fetcher.wait(WAIT_S)
    row = fetcher.snapshot()[0]
    assert row.state is FetchState.FAILED and row.next_retry_at is None and "different file" in row.reason
    assert mirror.gets[str(entry.file)] == 2 and recorder.ready == Counter()
    assert not (tmp_path / str(entry.file)).exists() and part_files(tmp_path) == []


# --------------------------------------------------------------------------- hooks and the store


def test_on_ready_fires_once_per_model(mirror: Mirror, manifest: Manifest, tmp_path: Path) -> None:
    mirror.serve_defaults(manifest)
    (tmp_path / str(manifest.get("gfpgan-v1.4").file)).write_bytes(payload("gfpgan-v1.4"))  # already there
    mirror.plans[str(manifest.get("parsenet").file)] = [status(503), ok(payload("parsenet"))]
    recorder = Recorder()
    fetcher = fetcher_for(manifest, tmp_path, recorder).start()
    assert fetcher.wait(WAIT_S)
    fetcher.stop(timeout=5)
    assert recorder.ready == Counter({name: 1 for name in DEFAULTS})
    assert mirror.gets[str(manifest.get("gfpgan-v1.4").file)] == 0


def test_the_store_sees_fetched_weights_without_a_restart(
    mirror: Mirror, manifest: Manifest, tmp_path: Path, cpu_compute: Any
) -> None:
    from pipeline.models.store import ModelStore

    mirror.serve_defaults(manifest)
    (tmp_path / str(manifest.get("parsenet").file)).write_bytes(payload("parsenet", salt="old"))  # damaged
    store = ModelStore(manifest=manifest, directory=tmp_path, compute=cpu_compute)
    assert [store.is_available(name) for name in DEFAULTS] == [False] * len(DEFAULTS)
    fetcher = fetcher_for(manifest, tmp_path).start()
    assert fetcher.wait(WAIT_S)
    assert [store.is_available(name) for name in DEFAULTS] == [True] * len(DEFAULTS)


def test_fetched_random_weights_load_in_the_same_store(
    mirror: Mirror, tmp_path: Path, cpu_compute: Any
) -> None:
    from pipeline.models.store import ModelStore, save_random_weights

    source = tmp_path / "source"
    manifest = save_random_weights(load_manifest(), source, names=["modnet"])
    file = str(manifest.get("modnet").file)
    mirror.plans[file] = [ok((source / file).read_bytes())]
    store = ModelStore(manifest=manifest, directory=tmp_path / "weights", compute=cpu_compute)
    ready: list[str] = []
    fetcher = BackgroundFetcher(manifest, tmp_path / "weights", names=["modnet"], on_ready=ready.append).start()
    assert fetcher.wait(WAIT_S) and ready == ["modnet"]
    assert store.is_available("modnet") and store.get("modnet") is store.get("modnet")


# --------------------------------------------------------------------------- the file lock


def test_a_file_locked_by_another_process_is_not_downloaded_again(
    mirror: Mirror, manifest: Manifest, tmp_path: Path
) -> None:
    """While another holder has the lock the fetcher waits; it keeps what the holder published."""
    mirror.serve_defaults(manifest)
    entry = manifest.get("parsenet")
    holder = FileLock(str(lock_path(tmp_path, entry)))
    lock_path(tmp_path, entry).parent.mkdir(parents=True)
    holder.acquire()
    (tmp_path / f".{entry.file}.x1y2.part").write_bytes(b"\0" * 5000)  # the holder's download so far
    recorder = Recorder()
    fetcher = fetcher_for(manifest, tmp_path, recorder, names=["parsenet"]).start()
    deadline = time.monotonic() + 10
    while not fetcher.snapshot()[0].elsewhere and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)
    row = fetcher.snapshot()[0]
    assert row.state is FetchState.DOWNLOADING and row.elsewhere and row.attempts == 0
    assert row.bytes_done == 5000 and row.bytes_total == SIZES["parsenet"]
    (tmp_path / f".{entry.file}.x1y2.part").unlink()
    (tmp_path / str(entry.file)).write_bytes(payload("parsenet"))  # the holder publishes it
    holder.release()
    assert fetcher.wait(WAIT_S)
    assert fetcher.snapshot()[0].state is FetchState.VERIFIED and recorder.ready["parsenet"] == 1
    assert mirror.gets[str(entry.file)] == 0


def test_two_fetchers_in_one_folder_download_each_file_once(
    mirror: Mirror, manifest: Manifest, tmp_path: Path
) -> None:
    mirror.serve_defaults(manifest, delay=0.15)
    recorders = [Recorder(), Recorder()]
    fetchers = [fetcher_for(manifest, tmp_path, recorder).start() for recorder in recorders]
    assert all(fetcher.wait(WAIT_S) for fetcher in fetchers)
    assert mirror.gets == Counter({str(manifest.get(name).file): 1 for name in DEFAULTS})
    for recorder in recorders:
        assert recorder.ready == Counter({name: 1 for name in DEFAULTS})
    assert any(row.elsewhere for recorder in recorders for row in recorder.rows)  # they did meet


def test_fetch_with_lock_waits_for_the_other_download(mirror: Mirror, manifest: Manifest, tmp_path: Path) -> None:
    """The foreground path (``weights fetch``) shares the lock: two at once download once."""
    entry = manifest.get("parsenet")
    mirror.plans[str(entry.file)] = [ok(payload("parsenet"), delay=0.2)]
    results: list[Path] = []
    threads = [threading.Thread(target=lambda: results.append(fetch_with_lock(entry, tmp_path, progress=False)))
               for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_S)
    assert len(results) == 2 and results[0].read_bytes() == payload("parsenet")
    assert mirror.gets[str(entry.file)] == 1


def _fetch_in_child(folder: str) -> None:
    """Run in a spawned process: fetch the defaults of the small manifest into ``folder``."""
    fetcher = BackgroundFetcher(small_manifest(), Path(folder), backoff=QUICK, busy_poll_s=0.02).start()
    if not fetcher.wait(WAIT_S) or any(row.state is not FetchState.VERIFIED for row in fetcher.snapshot()):
        raise SystemExit(1)


def test_two_processes_download_each_file_once(mirror: Mirror, manifest: Manifest, tmp_path: Path) -> None:
    mirror.serve_defaults(manifest, delay=0.3)
    context = multiprocessing.get_context("spawn")
    children = [context.Process(target=_fetch_in_child, args=(str(tmp_path),)) for _ in range(2)]
    for child in children:
        child.start()
    for child in children:
        child.join(60)
    assert [child.exitcode for child in children] == [0, 0]
    assert mirror.gets == Counter({str(manifest.get(name).file): 1 for name in DEFAULTS})
