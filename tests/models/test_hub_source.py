"""Hugging Face Hub sources for weights (pipeline/models/hub.py, download.py, manifest.py).

No test touches the internet. A fake Hub on 127.0.0.1 answers what huggingface_hub 2.4
asks of ``/{repo}/resolve/{revision}/{file}`` (HEAD and GET with ``X-Repo-Commit``,
``ETag`` and ``Content-Length``, no Xet headers) and counts every request. Each test has
its own Hugging Face cache (``hub_cache_dir``) and passes ``hub_endpoint``, because
huggingface_hub reads HF_ENDPOINT and HF_HUB_OFFLINE once, at import;
offline mode is switched through ``huggingface_hub.constants.HF_HUB_OFFLINE``.
"""
from __future__ import annotations

import dataclasses
import errno
import hashlib
import json
import os
import random
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import huggingface_hub
import pytest
from huggingface_hub import constants as hf_constants
from huggingface_hub import errors as hf_errors
from huggingface_hub import hf_hub_download

from pipeline.core.errors import WeightsDownloadError
from pipeline.models import hub as hub_source
from pipeline.models.download import ENV_WEIGHTS_MIRROR, Source, fetch, fetch_with_source
from pipeline.models.locations import ENV_WEIGHTS_DIR
from pipeline.models.manifest import MANIFEST_PATH, HubFile, ModelEntry, load_manifest
from pipeline.models.weight_status import WeightState, check

REPO = "portrait-lab/weights-mirror"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
HUB_FILE = "facexlib/test-model.bin"
PAYLOAD_SIZE = 30_000


# --------------------------------------------------------------------------- fake Hub


class FakeHub:
    """A tiny Hub: ``files`` maps "repo/file" to bytes served at one pinned commit."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01},
                                        daemon=True)
        self._thread.start()

    @property
    def endpoint(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def answer(self, handler: BaseHTTPRequestHandler, with_body: bool) -> None:
        with self._lock:
            self.requests.append((handler.command, handler.path))
        prefix = f"/{REPO}/resolve/{COMMIT}/"
        body = self.files.get(handler.path[len(prefix):]) if handler.path.startswith(prefix) else None
        if body is None:
            handler.send_response(404)
            handler.send_header("X-Error-Code", "EntryNotFound")
            handler.send_header("X-Repo-Commit", COMMIT)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        handler.send_response(200)
        handler.send_header("X-Repo-Commit", COMMIT)
        handler.send_header("ETag", f'"{hashlib.sha256(body).hexdigest()}"')
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if with_body:
            handler.wfile.write(body)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def do_HEAD(self) -> None:  # noqa: N802 (http.server's naming)
                hub.answer(self, with_body=False)

            def do_GET(self) -> None:  # noqa: N802
                hub.answer(self, with_body=True)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                """Requests are counted in ``requests`` instead."""

        return Handler


class PlainServer:
    """Serves one file over plain HTTP at ``/model.bin`` (the manifest URL or a mirror)."""

    def __init__(self, body: bytes) -> None:
        self.hits = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                server.hits += 1
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                """Quiet."""

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01},
                                        daemon=True)
        self._thread.start()

    def url(self, path: str = "/model.bin") -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}{path}"

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def fake_hub() -> Iterator[FakeHub]:
    hub = FakeHub()
    yield hub
    hub.close()


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> None:
    """No developer settings, online unless a test says otherwise, and no token sent anywhere."""
    monkeypatch.delenv(ENV_WEIGHTS_DIR, raising=False)
    monkeypatch.delenv(ENV_WEIGHTS_MIRROR, raising=False)
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_TOKEN", "")
    monkeypatch.setattr(hf_constants, "HF_TOKEN_PATH", "/nonexistent/token")


# --------------------------------------------------------------------------- helpers


def make_payload(seed: int) -> bytes:
    return random.Random(seed).randbytes(PAYLOAD_SIZE)


def closed_https_url() -> str:
    """An https URL on a port nothing listens on: the manifest URL fails at once, offline."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"https://127.0.0.1:{port}/model.bin"


def hub_entry(payload: bytes, *, url: str | None = None, **changes: Any) -> ModelEntry:
    """A real manifest entry pointed at ``payload`` (true size and sha256) on the fake Hub."""
    base = load_manifest().get("parsenet")
    fields: dict[str, Any] = {
        "file": "test-model.bin", "bytes": len(payload), "sha256": hashlib.sha256(payload).hexdigest(),
        "url": url or closed_https_url(), "hub": HubFile(REPO, HUB_FILE, COMMIT),
    }
    fields.update(changes)
    return dataclasses.replace(base, **fields)


def with_plain_http_url(entry: ModelEntry, url: str) -> ModelEntry:
    """The manifest insists on https://; the local server speaks plain HTTP. Test-only bypass."""
    object.__setattr__(entry, "url", url)
    return entry


def files_in(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir()) if directory.exists() else []


def preload(hub: FakeHub, cache: Path) -> Path:
    """What ``preload_from_hub`` does at Space build time: the pinned file into the HF cache."""
    return Path(hf_hub_download(REPO, HUB_FILE, revision=COMMIT, cache_dir=cache, endpoint=hub.endpoint))


# --------------------------------------------------------------------------- the Hub source


def test_hub_source_downloads_verifies_and_links(fake_hub: FakeHub, tmp_path: Path) -> None:
    payload = make_payload(1)
    fake_hub.files[HUB_FILE] = payload
    entry = hub_entry(payload)
    cache, weights = tmp_path / "hf", tmp_path / "weights"
    fetched = fetch_with_source(entry, weights, hub_cache_dir=cache, hub_endpoint=fake_hub.endpoint,
                                progress=False)
    assert fetched.source is Source.HUB
    assert fetched.path == weights / entry.file and fetched.path.read_bytes() == payload
    assert check(entry, weights).state is WeightState.PRESENT
    assert files_in(weights) == [".verified.json", entry.file]  # no .part left
    cached = cache / "models--portrait-lab--weights-mirror" / "snapshots" / COMMIT / HUB_FILE
    assert os.path.samefile(fetched.path, cached)  # hard-linked: no second copy on disk
    assert ("GET", f"/{REPO}/resolve/{COMMIT}/{HUB_FILE}") in fake_hub.requests


def test_wrong_hash_on_the_hub_is_refused_and_nothing_published(fake_hub: FakeHub, tmp_path: Path) -> None:
    entry = hub_entry(make_payload(2))
    fake_hub.files[HUB_FILE] = make_payload(3)  # same size, other bytes
    weights = tmp_path / "weights"
    with pytest.raises(WeightsDownloadError) as caught:
        fetch(entry, weights, hub_cache_dir=tmp_path / "hf", hub_endpoint=fake_hub.endpoint,
              retries=0, backoff=0, progress=False)
    message = caught.value.message
    assert "The Hugging Face Hub copy failed before it: sha256 mismatch" in message
    assert entry.sha256 in message
    assert "could not connect" in message  # the manifest URL was tried after the Hub
    assert files_in(weights) == []


def test_hub_failure_falls_back_to_the_manifest_url(fake_hub: FakeHub, tmp_path: Path) -> None:
    payload = make_payload(4)
    github = PlainServer(payload)
    try:
        entry = with_plain_http_url(hub_entry(payload), github.url())  # the Hub lacks the file: 404
        fetched = fetch_with_source(entry, tmp_path / "w", hub_cache_dir=tmp_path / "hf",
                                    hub_endpoint=fake_hub.endpoint, backoff=0, progress=False)
    finally:
        github.close()
    assert fetched.source is Source.URL and fetched.path.read_bytes() == payload
    assert github.hits == 1 and fake_hub.requests  # the Hub was asked first


def test_url_source_still_works_without_a_hub_entry(fake_hub: FakeHub, tmp_path: Path) -> None:
    payload = make_payload(5)
    github = PlainServer(payload)
    try:
        entry = with_plain_http_url(hub_entry(payload, hub=None), github.url())
        fetched = fetch_with_source(entry, tmp_path / "w", hub_cache_dir=tmp_path / "hf",
                                    hub_endpoint=fake_hub.endpoint, backoff=0, progress=False)
    finally:
        github.close()
    assert fetched.source is Source.URL and fetched.path.read_bytes() == payload
    assert github.hits == 1 and fake_hub.requests == []


def test_the_mirror_setting_comes_before_the_hub(
    fake_hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = make_payload(6)
    fake_hub.files[HUB_FILE] = payload
    mirror = PlainServer(payload)
    try:
        monkeypatch.setenv(ENV_WEIGHTS_MIRROR, mirror.url("/"))
        entry = hub_entry(payload, file="model.bin")
        fetched = fetch_with_source(entry, tmp_path / "w", hub_cache_dir=tmp_path / "hf",
                                    hub_endpoint=fake_hub.endpoint, backoff=0, progress=False)
    finally:
        mirror.close()
    assert fetched.source is Source.MIRROR and mirror.hits == 1
    assert fake_hub.requests == []


# --------------------------------------------------------------------------- the cache


def test_preloaded_cache_is_used_without_a_request(fake_hub: FakeHub, tmp_path: Path) -> None:
    payload = make_payload(7)
    fake_hub.files[HUB_FILE] = payload
    cache = tmp_path / "hf"
    preload(fake_hub, cache)
    fake_hub.requests.clear()
    fetched = fetch_with_source(hub_entry(payload), tmp_path / "w", hub_cache_dir=cache,
                                hub_endpoint=fake_hub.endpoint, progress=False)
    assert fetched.source is Source.HUB_CACHE and fetched.path.read_bytes() == payload
    assert fake_hub.requests == []


def test_offline_with_a_cached_file_needs_no_network(
    fake_hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = make_payload(8)
    fake_hub.files[HUB_FILE] = payload
    cache = tmp_path / "hf"
    preload(fake_hub, cache)
    fake_hub.requests.clear()
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    path = fetch(hub_entry(payload), tmp_path / "w", hub_cache_dir=cache, hub_endpoint=fake_hub.endpoint,
                 progress=False)
    assert path.read_bytes() == payload
    assert fake_hub.requests == []


def test_offline_without_the_file_is_a_plain_error(
    fake_hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = make_payload(9)
    fake_hub.files[HUB_FILE] = payload
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    weights = tmp_path / "w"
    with pytest.raises(WeightsDownloadError) as caught:
        fetch(hub_entry(payload), weights, hub_cache_dir=tmp_path / "hf", hub_endpoint=fake_hub.endpoint,
              retries=0, backoff=0, progress=False)
    assert caught.value.message == (
        "test-model.bin is not in the weights folder or the Hugging Face cache, "
        "and downloads are switched off because HF_HUB_OFFLINE is set."
    )
    assert fake_hub.requests == []
    assert files_in(weights) == []


def test_offline_refuses_the_manifest_url_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = make_payload(12)
    github = PlainServer(payload)
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    try:
        entry = with_plain_http_url(hub_entry(payload, hub=None), github.url())
        with pytest.raises(WeightsDownloadError, match="is not in the weights folder, and downloads are switched off"):
            fetch(entry, tmp_path / "w", hub_cache_dir=tmp_path / "hf", progress=False)
    finally:
        github.close()
    assert github.hits == 0


def test_offline_still_uses_a_mirror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    payload = make_payload(13)
    mirror = PlainServer(payload)
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv(ENV_WEIGHTS_MIRROR, mirror.url("/"))
    try:
        fetched = fetch_with_source(hub_entry(payload, file="model.bin"), tmp_path / "w",
                                    hub_cache_dir=tmp_path / "hf", progress=False)
    finally:
        mirror.close()
    assert fetched.source is Source.MIRROR and mirror.hits == 1


def test_a_wrong_cached_file_is_not_published(fake_hub: FakeHub, tmp_path: Path) -> None:
    """The cache is checked like any source: a bad preloaded file never reaches the weights folder."""
    good, bad = make_payload(10), make_payload(11)
    fake_hub.files[HUB_FILE] = bad
    cache = tmp_path / "hf"
    preload(fake_hub, cache)
    github = PlainServer(good)
    try:
        entry = with_plain_http_url(hub_entry(good), github.url())
        fetched = fetch_with_source(entry, tmp_path / "w", hub_cache_dir=cache,
                                    hub_endpoint=fake_hub.endpoint, backoff=0, progress=False)
    finally:
        github.close()
    assert fetched.source is Source.URL and fetched.path.read_bytes() == good


@pytest.mark.parametrize(
    ("raised", "reason", "cause"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), "could not be stored in the cache (no space left on device)",
         "local"),
        (OSError("Consistency check failed: file should be of size 3 but has size 2"), "broke off", "network"),
        (hf_errors.FileMetadataError("no X-Repo-Commit"), "did not answer like the Hugging Face Hub", "server"),
        (hf_errors.LocalEntryNotFoundError("cannot reach"), "could not be reached", "network"),
    ],
)
def test_hub_failures_become_plain_reasons(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, raised: Exception, reason: str, cause: str
) -> None:
    def failing_download(*args: Any, **kwargs: Any) -> str:
        raise raised

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", failing_download)
    with pytest.raises(hub_source.HubUnavailable) as caught:
        hub_source.download(HubFile(REPO, HUB_FILE, COMMIT), cache_dir=tmp_path, progress=False)
    assert reason in caught.value.reason and caught.value.cause == cause


def test_an_unexpected_hub_exception_is_not_disguised(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def buggy_download(*args: Any, **kwargs: Any) -> str:
        raise TypeError("a bug, not a download failure")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", buggy_download)
    with pytest.raises(TypeError, match="a bug"):
        hub_source.download(HubFile(REPO, HUB_FILE, COMMIT), cache_dir=tmp_path, progress=False)


# --------------------------------------------------------------------------- the manifest


def _manifest_with_hub(tmp_path: Path, hub: Any, **entry_changes: Any) -> Path:
    raw = json.loads(MANIFEST_PATH.read_text(encoding="utf-8"))
    raw["models"][0]["hub"] = hub
    raw["models"][0].update(entry_changes)
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(raw), encoding="utf-8")
    return path


def test_manifest_reads_a_hub_source(tmp_path: Path) -> None:
    hub = {"repo": REPO, "file": "GFPGANv1.4.pth", "revision": COMMIT}
    entry = load_manifest(_manifest_with_hub(tmp_path, hub)).entries[0]
    assert entry.hub == HubFile(REPO, "GFPGANv1.4.pth", COMMIT)
    assert load_manifest().get("gfpgan-v1.4").hub is None  # absent means no Hub source


GOOD = {"repo": REPO, "file": "GFPGANv1.4.pth", "revision": COMMIT}


@pytest.mark.parametrize(
    ("hub", "changes", "message"),
    [
        ({**GOOD, "revision": "main"}, {}, "'revision' must be a full 40-character commit hash"),
        ({**GOOD, "revision": "v1.0"}, {}, "not a branch or tag"),
        ({**GOOD, "revision": COMMIT.upper()}, {}, "40-character commit"),
        ({**GOOD, "repo": "weights-mirror"}, {}, "'repo' must look like owner/name"),
        ({**GOOD, "repo": "a/b/c"}, {}, "'repo' must look like owner/name"),
        ({**GOOD, "repo": "owner/na--me"}, {}, "may not contain '--'"),
        ({**GOOD, "file": "../GFPGANv1.4.pth"}, {}, "'file' must be a relative path"),
        ({**GOOD, "file": "models/../../x.pth"}, {}, "'file' must be a relative path"),
        ({**GOOD, "file": "/abs/x.pth"}, {}, "'file' must be a relative path"),
        ({**GOOD, "file": "two words.pth"}, {}, "'file' must be a relative path"),
        ({**GOOD, "branch": "main"}, {}, "'hub' must have exactly"),
        ("owner/name", {}, "'hub' must be an object"),
        (GOOD, {"sha256": None, "sha256_note": "unknown"}, "'hub' needs an exact 'bytes' and a 'sha256'"),
        (GOOD, {"bytes": None, "approx_bytes": 348600000}, "'hub' needs an exact 'bytes' and a 'sha256'"),
    ],
)
def test_manifest_refuses_a_bad_hub_source(tmp_path: Path, hub: Any, changes: dict[str, Any],
                                           message: str) -> None:
    path = _manifest_with_hub(tmp_path, hub, **changes)
    with pytest.raises(ValueError) as caught:
        load_manifest(path)
    assert message in str(caught.value) and str(path) in str(caught.value)


def test_bundled_weights_have_no_hub_source() -> None:
    mtcnn = load_manifest().get("mtcnn")
    with pytest.raises(ValueError, match="'hub' must be null for weights bundled"):
        dataclasses.replace(mtcnn, hub=GOOD)
