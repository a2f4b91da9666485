"""Tests for the weights modules of pipeline.models: the manifest, locations, verification
(weight_status), the hash cache, downloads and the listing.

No test touches the internet: downloads go to a throw-away HTTP server on 127.0.0.1
that serves small random payloads, and manifest entries are pointed at those payloads
with ``dataclasses.replace`` (real sizes and sha256 of the payload).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import random
import socket
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from pipeline.core.errors import (
    InvalidOptionError,
    WeightsCorruptError,
    WeightsDownloadError,
    WeightsMissingError,
)
from pipeline.models import locations, transfer, weight_status
from pipeline.models.download import ENV_WEIGHTS_MIRROR, fetch
from pipeline.models.hash_cache import VERIFIED_CACHE_NAME
from pipeline.models.listing import format_status_table
from pipeline.models.locations import ENV_WEIGHTS_DIR, fetch_command, weights_dir
from pipeline.models.manifest import MANIFEST_PATH, Manifest, ModelEntry, load_manifest
from pipeline.models.weight_status import WeightState, check, check_all, require

REPO_ROOT = Path(__file__).resolve().parents[2]
EXPECTED_NAMES = {
    "gfpgan-v1.4", "gfpgan-v1.3", "gfpgan-v1.2", "restoreformer", "retinaface-r50", "parsenet",
    "bisenet", "modnet", "arcface", "mtcnn", "realesrgan-x2", "realesr-general-x4",
}
# Values copied from shared/reference/weights.md: (file, exact bytes or None, sha256 or None).
REFERENCE = {
    "gfpgan-v1.4": ("GFPGANv1.4.pth", 348632874,
                    "e2cd4703ab14f4d01fd1383a8a8b266f9a5833dacee8e6a79d3bf21a1b6be5ad"),
    "gfpgan-v1.3": ("GFPGANv1.3.pth", None,
                    "c953a88f2727c85c3d9ae72e2bd4846bbaf59fe6972ad94130e23e7017524a70"),
    "retinaface-r50": ("detection_Resnet50_Final.pth", 109497761,
                       "6d1de9c2944f2ccddca5f5e010ea5ae64a39845a86311af6fdf30841b0a5a16d"),
    "parsenet": ("parsing_parsenet.pth", 85331193,
                 "3d558d8d0e42c20224f13cf5a29c79eba2d59913419f945545d8cf7b72920de2"),
    "bisenet": ("parsing_bisenet.pth", 53289463, None),
    "modnet": ("matting_modnet_portrait.pth", None, None),
    "arcface": ("recognition_arcface_ir_se50.pth", None,
                "a035c768259b98ab1ce0e646312f48b9e1e218197a0f80ac6765e88f8b6ddf28"),
    # Sources in weights/README.md ("Where the restorers' hashes come from"): Arch Linux AUR
    # PKGBUILDs that hash the release URL, and Hugging Face copies (Git LFS pointers: oid and size).
    "gfpgan-v1.2": ("GFPGANCleanv1-NoCE-C2.pth", 348632874,
                    "29e25ee90c170f4231163f4c83df6b59c968b73f3ce00cb884015ae005db083c"),
    "restoreformer": ("RestoreFormer.pth", 290785322,
                      "07404d446d62ca3d5ed38b1de09a947a1e77d46dbccec961a74d713a8f24ace0"),
    # no two public sources agreed on a hash: unverified, said so in `weights list`
    "realesrgan-x2": ("RealESRGAN_x2plus.pth", None, None),
    "realesr-general-x4": ("realesr-general-x4v3.pth", None, None),
}
PAYLOAD_SIZE = 40_000


# --------------------------------------------------------------------------- helpers


@pytest.fixture(autouse=True)
def _no_weights_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's own settings must not leak into the tests."""
    monkeypatch.delenv(ENV_WEIGHTS_DIR, raising=False)
    monkeypatch.delenv(ENV_WEIGHTS_MIRROR, raising=False)


@pytest.fixture(scope="module")
def manifest() -> Manifest:
    return load_manifest()


def make_payload(seed: int, size: int = PAYLOAD_SIZE) -> bytes:
    return random.Random(seed).randbytes(size)


def entry_for(payload: bytes, *, file: str = "test-model.bin", **changes: Any) -> ModelEntry:
    """A real manifest entry pointed at ``payload`` (its true size and sha256)."""
    base = load_manifest().get("parsenet")
    fields = {"file": file, "bytes": len(payload), "sha256": hashlib.sha256(payload).hexdigest()}
    fields.update(changes)
    return dataclasses.replace(base, **fields)


def files_in(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir()) if directory.exists() else []


def raw_manifest() -> dict[str, Any]:
    return json.loads(MANIFEST_PATH.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- local server

Route = Callable[[BaseHTTPRequestHandler, int], None]


class LocalServer:
    """An HTTP server on 127.0.0.1 whose paths are routed to small behaviour functions."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.hits: Counter[str] = Counter()
        self.release = threading.Event()
        self._lock = threading.Lock()
        handler = self._handler_class()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()

    def url(self, path: str) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}{path}"

    def close(self) -> None:
        self.release.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def dispatch(self, handler: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self.hits[handler.path] += 1
            count = self.hits[handler.path]
        route = self.routes.get(handler.path)
        if route is None:
            handler.send_error(404)
            return
        route(handler, count)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                server.dispatch(self)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                """Keep pytest output clean; requests are counted in ``hits`` instead."""

        return Handler


def serve(body: bytes) -> Route:
    def route(handler: BaseHTTPRequestHandler, count: int) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/octet-stream")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
    return route


def serve_truncated(body: bytes, keep: int) -> Route:
    """Announce the full length, send only ``keep`` bytes, then close the connection."""
    def route(handler: BaseHTTPRequestHandler, count: int) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body[:keep])
        handler.close_connection = True
    return route


def fail_with_500(handler: BaseHTTPRequestHandler, count: int) -> None:
    handler.send_error(500)


def drop_connection(handler: BaseHTTPRequestHandler, count: int) -> None:
    """Answer nothing: the server closes the socket, the client sees a dropped connection."""
    handler.close_connection = True


def first_fails_then(failure: Route, success: Route) -> Route:
    def route(handler: BaseHTTPRequestHandler, count: int) -> None:
        (failure if count == 1 else success)(handler, count)
    return route


def stall_after_headers(release: threading.Event) -> Route:
    def route(handler: BaseHTTPRequestHandler, count: int) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(PAYLOAD_SIZE))
        handler.end_headers()
        handler.wfile.flush()
        release.wait(timeout=5)
    return route


@pytest.fixture
def server() -> Iterator[LocalServer]:
    local = LocalServer()
    yield local
    local.close()


# --------------------------------------------------------------------------- manifest


def test_manifest_has_exactly_the_expected_models(manifest: Manifest) -> None:
    assert set(manifest.names()) == EXPECTED_NAMES
    assert len(manifest.entries) == len(EXPECTED_NAMES)


def test_every_downloadable_entry_has_https_url_file_and_licence(manifest: Manifest) -> None:
    for entry in manifest.entries:
        assert entry.licence.strip(), entry.name
        if entry.is_bundled:
            continue
        assert entry.url and entry.url.startswith("https://"), entry.name
        assert entry.file and entry.url.endswith("/" + entry.file), entry.name
        assert entry.bytes is not None or entry.approx_bytes is not None, entry.name


def test_sha256_is_hex_or_null_with_a_note(manifest: Manifest) -> None:
    for entry in manifest.entries:
        if entry.sha256 is None:
            assert entry.sha256_note, entry.name
        else:
            assert len(entry.sha256) == 64 and set(entry.sha256) <= set("0123456789abcdef")


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_reference_values_are_recorded(manifest: Manifest, name: str) -> None:
    file, size, sha256 = REFERENCE[name]
    entry = manifest.get(name)
    assert (entry.file, entry.bytes, entry.sha256) == (file, size, sha256)
    if size is None:
        assert entry.approx_bytes and entry.approx_bytes > 1_000_000


def test_hash_notes_follow_the_reference(manifest: Manifest) -> None:
    assert manifest.get("arcface").sha256_note == "one public source only"
    assert manifest.get("bisenet").sha256_note == "no published hash found"
    assert manifest.get("modnet").sha256_note == "no published hash found"


def test_architectures_and_options(manifest: Manifest) -> None:
    arches = {entry.name: entry.arch for entry in manifest.entries}
    assert arches == {
        "gfpgan-v1.4": "gfpgan_clean", "gfpgan-v1.3": "gfpgan_clean", "gfpgan-v1.2": "gfpgan_clean",
        "restoreformer": "restoreformer", "retinaface-r50": "retinaface_resnet50", "parsenet": "parsenet",
        "bisenet": "bisenet", "modnet": "modnet", "arcface": "arcface_ir_se50",
        "mtcnn": "mtcnn", "realesrgan-x2": "rrdbnet", "realesr-general-x4": "srvgg",
    }
    assert dict(manifest.get("gfpgan-v1.4").arch_options) == {"channel_multiplier": 2}
    assert dict(manifest.get("gfpgan-v1.3").arch_options) == {"channel_multiplier": 2}
    assert dict(manifest.get("gfpgan-v1.2").arch_options) == {"channel_multiplier": 2}  # GFPGANer: clean, C2
    assert dict(manifest.get("restoreformer").arch_options) == {}  # GFPGANer builds RestoreFormer()
    assert dict(manifest.get("parsenet").arch_options) == {}


def test_defaults_per_kind(manifest: Manifest) -> None:
    assert manifest.default("restorer").name == "gfpgan-v1.4"
    assert manifest.default("detector").name == "retinaface-r50"
    assert {entry.name for entry in manifest.entries if entry.default} == {
        "gfpgan-v1.4", "retinaface-r50", "parsenet", "realesrgan-x2", "arcface",
    }
    assert manifest.default("recognition").name == "arcface"  # the identity score (MIT)
    assert manifest.default("upsampler").name == "realesrgan-x2"  # x2plus, as GFPGAN's own tools use
    assert manifest.default("parser").name == "parsenet"  # paste-back mask; bisenet is for later stages
    assert manifest.default("matting").name == "modnet"  # only one of its kind
    assert manifest.names("restorer") == ["gfpgan-v1.4", "gfpgan-v1.3", "gfpgan-v1.2", "restoreformer"]


# (licence, commercial_use) of each restorer, from GFPGAN's README and LICENSE (Apache-2.0) and
# RestoreFormer's own repository (no licence stated for its weights): see weights/README.md.
RESTORER_LICENCES = {
    "gfpgan-v1.4": ("Apache-2.0", True),
    "gfpgan-v1.3": ("Apache-2.0", True),
    "gfpgan-v1.2": ("Apache-2.0", True),
}


def test_each_restorer_records_its_licence_and_whether_it_allows_commercial_use(manifest: Manifest) -> None:
    for name, (licence, commercial) in RESTORER_LICENCES.items():
        assert (manifest.get(name).licence, manifest.get(name).commercial_use) == (licence, commercial), name
    restoreformer = manifest.get("restoreformer")
    assert restoreformer.licence.startswith("unconfirmed")
    assert restoreformer.commercial_use is None and not restoreformer.default
    assert manifest.get("gfpgan-v1.2").url == (
        "https://github.com/TencentARC/GFPGAN/releases/download/v0.2.0/GFPGANCleanv1-NoCE-C2.pth")
    assert restoreformer.url == "https://github.com/TencentARC/GFPGAN/releases/download/v1.3.4/RestoreFormer.pth"


def test_every_default_model_allows_commercial_use(manifest: Manifest) -> None:
    assert [entry.name for entry in manifest.entries if entry.default and entry.commercial_use is not True] == []


def test_mtcnn_is_bundled_in_facenet_pytorch(manifest: Manifest) -> None:
    mtcnn = manifest.get("mtcnn")
    assert mtcnn.is_bundled and mtcnn.bundled_in == "facenet-pytorch==2.6.0"
    assert (mtcnn.file, mtcnn.url, mtcnn.bytes, mtcnn.sha256) == (None, None, None, None)
    assert mtcnn.licence == "MIT"
    assert not any(entry.is_bundled for entry in manifest.entries if entry.name != "mtcnn")


def test_unknown_name_lists_valid_names(manifest: Manifest) -> None:
    with pytest.raises(InvalidOptionError) as caught:
        manifest.get("gfpgan-v9")
    assert "gfpgan-v9" in caught.value.message
    assert "gfpgan-v1.4" in (caught.value.hint or "")


def test_entries_are_read_only(manifest: Manifest) -> None:
    entry = manifest.get("gfpgan-v1.4")
    with pytest.raises(TypeError):
        entry.arch_options["channel_multiplier"] = 1  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry.sha256 = None  # type: ignore[misc]


def test_replace_entry_returns_a_changed_copy(manifest: Manifest) -> None:
    changed = dataclasses.replace(manifest.get("parsenet"), bytes=123)
    copy = manifest.replace_entry(changed)
    assert copy.get("parsenet").bytes == 123
    assert manifest.get("parsenet").bytes == 85331193
    assert copy.names() == manifest.names()


def _break_first(field: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(raw: dict[str, Any]) -> None:
        raw["models"][0][field] = value
    return edit


def _delete_field(raw: dict[str, Any]) -> None:
    del raw["models"][0]["sha256"]


def _duplicate_name(raw: dict[str, Any]) -> None:
    raw["models"][1]["name"] = raw["models"][0]["name"]


def _second_default(raw: dict[str, Any]) -> None:
    raw["models"][1]["default"] = True


def _wrong_schema(raw: dict[str, Any]) -> None:
    raw["schema"] = 2


def _default_named(name: str) -> Callable[[dict[str, Any]], None]:
    """Make ``name`` the default of its kind (and no other model of that kind)."""
    def edit(raw: dict[str, Any]) -> None:
        kind = next(model["kind"] for model in raw["models"] if model["name"] == name)
        for model in raw["models"]:
            if model["kind"] == kind:
                model["default"] = model["name"] == name
    return edit


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_delete_field, "missing field(s): sha256"),
        (_break_first("sha256", "E2CD" * 16), "'sha256' must be 64 lowercase hex"),
        (_break_first("sha256", "abc123"), "'sha256' must be 64 lowercase hex"),
        (_duplicate_name, "duplicate name 'gfpgan-v1.4'"),
        (_break_first("kind", "upscaler"), "'kind' must be one of"),
        (_break_first("url", "http://example.com/GFPGANv1.4.pth"), "'url' must be an https://"),
        (_break_first("bytes", "348632874"), "'bytes' must be a positive integer"),
        (_break_first("file", "../GFPGANv1.4.pth"), "'file' must be a plain file name"),
        (_break_first("sha265", "typo"), "unknown field(s): sha265"),
        (_second_default, "duplicate default model of kind 'restorer'"),
        (_wrong_schema, "'schema' must be 1"),
        (_break_first("commercial_use", "yes"), "'commercial_use' must be true, false or null"),
        (_break_first("commercial_use", False), "a default model's licence must allow commercial use"),
        (_break_first("commercial_use", None), "a default model's licence must allow commercial use"),
        (_default_named("restoreformer"), "a default model's licence must allow commercial use"),
    ],
)
def test_malformed_manifest_raises_value_error(
    tmp_path: Path, edit: Callable[[dict[str, Any]], None], message: str
) -> None:
    raw = raw_manifest()
    edit(raw)
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(ValueError) as caught:
        load_manifest(path)
    assert message in str(caught.value)
    assert str(path) in str(caught.value)


def test_manifest_that_is_not_json_raises_value_error(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_manifest(path)


# --------------------------------------------------------------------------- locations


def test_weights_dir_honours_env_var(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(ENV_WEIGHTS_DIR, str(tmp_path / "elsewhere"))
    assert weights_dir() == tmp_path / "elsewhere"


def test_weights_dir_defaults_to_repo_folder() -> None:
    assert weights_dir() == REPO_ROOT / "weights"
    assert MANIFEST_PATH == REPO_ROOT / "weights" / "manifest.json"


def test_weights_dir_never_points_into_site_packages(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    installed = tmp_path / "lib" / "python3.11" / "site-packages" / "weights"
    monkeypatch.setattr(locations, "_DEFAULT_WEIGHTS_DIR", installed)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert weights_dir() == tmp_path / "home" / ".cache" / "portrait-lab" / "weights"


def test_fetch_command_is_the_cli_invocation() -> None:
    assert fetch_command(["gfpgan-v1.4"]) == "python -m pipeline weights fetch gfpgan-v1.4"
    assert fetch_command(["parsenet", "bisenet"]).endswith("fetch parsenet bisenet")


# --------------------------------------------------------------------------- check / require


def test_require_missing_file_names_file_and_fetch_command(tmp_path: Path) -> None:
    entry = entry_for(make_payload(1))
    assert check(entry, tmp_path).state is WeightState.MISSING
    with pytest.raises(WeightsMissingError) as caught:
        require(entry, tmp_path)
    error = caught.value
    assert entry.file in error.message and str(tmp_path) in error.message
    assert error.hint == f"Download them with: python -m pipeline weights fetch {entry.name}"
    assert f"python -m pipeline weights fetch {entry.name}" in error.user_message


def test_require_returns_verified_path(tmp_path: Path) -> None:
    payload = make_payload(2)
    entry = entry_for(payload)
    (tmp_path / entry.file).write_bytes(payload)
    status = check(entry, tmp_path)
    assert status.state is WeightState.PRESENT and "sha256 verified" in status.detail
    assert require(entry, tmp_path) == tmp_path / entry.file


def test_require_wrong_content_is_corrupt(tmp_path: Path) -> None:
    entry = entry_for(make_payload(3))
    (tmp_path / entry.file).write_bytes(make_payload(4))  # same size, other bytes
    status = check(entry, tmp_path)
    assert status.state is WeightState.CORRUPT and "sha256 mismatch" in status.detail
    with pytest.raises(WeightsCorruptError) as caught:
        require(entry, tmp_path)
    assert caught.value.hint == f"Download it again with: {fetch_command([entry.name])}"


def test_wrong_size_is_corrupt_without_hashing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = entry_for(make_payload(5))
    (tmp_path / entry.file).write_bytes(b"short")
    monkeypatch.setattr(weight_status, "_sha256_file", _must_not_hash)
    status = check(entry, tmp_path)
    assert status.state is WeightState.CORRUPT
    assert f"expected {entry.bytes} bytes, got 5" in status.detail


def _must_not_hash(path: Path) -> str:
    raise AssertionError(f"{path} should not have been hashed")


def test_entry_without_sha256_is_unverified(tmp_path: Path) -> None:
    payload = make_payload(6)
    entry = entry_for(payload, sha256=None, sha256_note="no published hash found")
    (tmp_path / entry.file).write_bytes(payload)
    status = check(entry, tmp_path)
    assert status.state is WeightState.UNVERIFIED
    assert "no published hash found" in status.detail
    assert require(entry, tmp_path) == tmp_path / entry.file


def test_bundled_entry_has_no_file(manifest: Manifest, tmp_path: Path) -> None:
    mtcnn = manifest.get("mtcnn")
    status = check(mtcnn, tmp_path)
    assert status.state is WeightState.BUNDLED and status.path is None
    assert "facenet-pytorch" in status.detail
    with pytest.raises(InvalidOptionError):
        require(mtcnn, tmp_path)
    with pytest.raises(InvalidOptionError, match="nothing to fetch"):
        fetch(mtcnn, tmp_path)


def test_check_all_and_status_table(manifest: Manifest, tmp_path: Path) -> None:
    statuses = check_all(manifest, tmp_path)
    assert [status.entry.name for status in statuses] == manifest.names()
    table = format_status_table(statuses)
    lines = table.splitlines()
    assert lines[0].split() == ["NAME", "STATE", "FILE", "SIZE", "DETAIL"]
    assert len(lines) == 1 + len(manifest.entries)
    state_column = lines[0].index("STATE")
    for line, status in zip(lines[1:], statuses):
        assert line.startswith(status.entry.name)
        assert line[state_column:].startswith(status.state.value)
    assert "348.6 MB" in table and "~26.0 MB" in table and "bundled" in table


# --------------------------------------------------------------------------- hash cache


class HashCounter:
    """Wraps the real hashing function and counts calls."""

    def __init__(self) -> None:
        self.calls = 0
        self._real = weight_status._sha256_file

    def __call__(self, path: Path) -> str:
        self.calls += 1
        return self._real(path)


@pytest.fixture
def hash_counter(monkeypatch: pytest.MonkeyPatch) -> HashCounter:
    counter = HashCounter()
    monkeypatch.setattr(weight_status, "_sha256_file", counter)
    return counter


def test_second_check_uses_the_cache(tmp_path: Path, hash_counter: HashCounter) -> None:
    payload = make_payload(7)
    entry = entry_for(payload)
    (tmp_path / entry.file).write_bytes(payload)
    assert check(entry, tmp_path).state is WeightState.PRESENT
    assert check(entry, tmp_path).state is WeightState.PRESENT
    require(entry, tmp_path)
    assert hash_counter.calls == 1
    assert (tmp_path / VERIFIED_CACHE_NAME).is_file()


def test_modified_file_is_rehashed_and_reported_corrupt(
    tmp_path: Path, hash_counter: HashCounter
) -> None:
    payload = make_payload(8)
    entry = entry_for(payload)
    target = tmp_path / entry.file
    target.write_bytes(payload)
    assert check(entry, tmp_path).state is WeightState.PRESENT
    before = target.stat().st_mtime_ns
    target.write_bytes(make_payload(9))  # same size, different content
    os.utime(target, ns=(before + 2_000_000_000, before + 2_000_000_000))
    status = check(entry, tmp_path)
    assert status.state is WeightState.CORRUPT and "sha256 mismatch" in status.detail
    assert hash_counter.calls == 2


def test_garbage_cache_is_ignored(tmp_path: Path, hash_counter: HashCounter) -> None:
    payload = make_payload(10)
    entry = entry_for(payload)
    (tmp_path / entry.file).write_bytes(payload)
    (tmp_path / VERIFIED_CACHE_NAME).write_text("[not a cache", encoding="utf-8")
    assert check(entry, tmp_path).state is WeightState.PRESENT
    assert hash_counter.calls == 1


def test_unwritable_cache_does_not_break_checks(
    tmp_path: Path, hash_counter: HashCounter
) -> None:
    payload = make_payload(11)
    entry = entry_for(payload)
    (tmp_path / entry.file).write_bytes(payload)
    (tmp_path / VERIFIED_CACHE_NAME).mkdir()  # a folder in the way: reads and writes fail
    assert check(entry, tmp_path).state is WeightState.PRESENT
    assert check(entry, tmp_path).state is WeightState.PRESENT
    assert hash_counter.calls == 2
    assert files_in(tmp_path) == sorted([entry.file, VERIFIED_CACHE_NAME])


def test_cache_of_another_file_version_is_ignored(
    tmp_path: Path, hash_counter: HashCounter
) -> None:
    payload = make_payload(12)
    entry = entry_for(payload)
    target = tmp_path / entry.file
    target.write_bytes(payload)
    stat = target.stat()
    stale = {entry.file: {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns - 1,
                          "sha256": entry.sha256}}
    (tmp_path / VERIFIED_CACHE_NAME).write_text(
        json.dumps({"schema": 1, "files": stale}), encoding="utf-8"
    )
    assert check(entry, tmp_path).state is WeightState.PRESENT
    assert hash_counter.calls == 1


# --------------------------------------------------------------------------- fetch


def test_fetch_downloads_verified_file(
    server: LocalServer, tmp_path: Path, hash_counter: HashCounter,
    capsys: pytest.CaptureFixture[str],
) -> None:
    payload = make_payload(20)
    entry = entry_for(payload)
    server.routes["/good.bin"] = serve(payload)
    target_dir = tmp_path / "new" / "weights"
    path = fetch(entry, target_dir, url=server.url("/good.bin"), backoff=0, progress=True)
    assert path == target_dir / entry.file
    assert path.read_bytes() == payload
    assert not [name for name in files_in(target_dir) if name.endswith(".part")]
    assert check(entry, target_dir).state is WeightState.PRESENT
    assert hash_counter.calls == 0  # hashed while streaming, then cached
    assert entry.file in capsys.readouterr().err  # tqdm progress bar


def test_fetch_wrong_hash_is_reported_not_retried_and_leaves_nothing(
    server: LocalServer, tmp_path: Path
) -> None:
    entry = entry_for(make_payload(21))
    server.routes["/bad.bin"] = serve(make_payload(22))
    with pytest.raises(WeightsDownloadError) as caught:
        fetch(entry, tmp_path, url=server.url("/bad.bin"), backoff=0, progress=False)
    message = caught.value.message
    assert "sha256 mismatch" in message and entry.sha256 in message
    assert server.url("/bad.bin") in message
    assert server.hits["/bad.bin"] == 1
    assert files_in(tmp_path) == []


def test_fetch_wrong_size_is_not_retried(server: LocalServer, tmp_path: Path) -> None:
    entry = entry_for(make_payload(23))
    server.routes["/small.bin"] = serve(make_payload(23, size=PAYLOAD_SIZE - 100))
    with pytest.raises(WeightsDownloadError, match="size mismatch"):
        fetch(entry, tmp_path, url=server.url("/small.bin"), backoff=0, progress=False)
    assert server.hits["/small.bin"] == 1
    assert files_in(tmp_path) == []


def test_fetch_truncated_transfer_is_retried_then_reported(
    server: LocalServer, tmp_path: Path
) -> None:
    payload = make_payload(24)
    entry = entry_for(payload)
    server.routes["/cut.bin"] = serve_truncated(payload, keep=1000)
    with pytest.raises(WeightsDownloadError) as caught:
        fetch(entry, tmp_path, url=server.url("/cut.bin"), retries=2, backoff=0, progress=False)
    assert f"truncated: got 1000 of {PAYLOAD_SIZE} bytes" in caught.value.message
    assert "3 attempts" in caught.value.message
    assert server.hits["/cut.bin"] == 3
    assert files_in(tmp_path) == []


@pytest.mark.parametrize("failure", [fail_with_500, drop_connection], ids=["http-500", "drop"])
def test_fetch_retries_after_a_failed_first_request(
    server: LocalServer, tmp_path: Path, failure: Route
) -> None:
    payload = make_payload(25)
    entry = entry_for(payload)
    server.routes["/flaky.bin"] = first_fails_then(failure, serve(payload))
    path = fetch(entry, tmp_path, url=server.url("/flaky.bin"), backoff=0, progress=False)
    assert path.read_bytes() == payload
    assert server.hits["/flaky.bin"] == 2
    assert not [name for name in files_in(tmp_path) if name.endswith(".part")]


def test_fetch_backs_off_exponentially(
    server: LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sleeps: list[float] = []
    monkeypatch.setattr(transfer.time, "sleep", sleeps.append)
    entry = entry_for(make_payload(26))
    server.routes["/down.bin"] = fail_with_500
    with pytest.raises(WeightsDownloadError, match="HTTP 500"):
        fetch(entry, tmp_path, url=server.url("/down.bin"), retries=3, backoff=0.5, progress=False)
    assert sleeps == [0.5, 1.0, 2.0]
    assert server.hits["/down.bin"] == 4


def test_fetch_http_404_is_not_retried(server: LocalServer, tmp_path: Path) -> None:
    entry = entry_for(make_payload(27))
    with pytest.raises(WeightsDownloadError, match="HTTP 404"):
        fetch(entry, tmp_path, url=server.url("/nowhere.bin"), backoff=0, progress=False)
    assert server.hits["/nowhere.bin"] == 1


def test_fetch_reports_connection_failure(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port that was just free: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/model.bin"
    entry = entry_for(make_payload(28))
    with pytest.raises(WeightsDownloadError) as caught:
        fetch(entry, tmp_path, url=url, retries=1, backoff=0, progress=False)
    assert "could not connect" in caught.value.message and url in caught.value.message
    assert files_in(tmp_path) == []


def test_fetch_rejects_an_unsupported_url_scheme(tmp_path: Path) -> None:
    entry = entry_for(make_payload(37))
    with pytest.raises(WeightsDownloadError, match="unsupported URL scheme 'htps'"):
        fetch(entry, tmp_path, url="htps://example.invalid/model.bin", progress=False)
    assert files_in(tmp_path) == []


def test_fetch_times_out_on_a_stalled_server(server: LocalServer, tmp_path: Path) -> None:
    entry = entry_for(make_payload(29))
    server.routes["/stall.bin"] = stall_after_headers(server.release)
    with pytest.raises(WeightsDownloadError, match="timed out"):
        fetch(entry, tmp_path, url=server.url("/stall.bin"), retries=0, timeout=0.3,
              backoff=0, progress=False)
    assert files_in(tmp_path) == []


def test_fetch_skips_download_when_file_is_present(server: LocalServer, tmp_path: Path) -> None:
    payload = make_payload(30)
    entry = entry_for(payload)
    (tmp_path / entry.file).write_bytes(payload)
    path = fetch(entry, tmp_path, url=server.url("/never.bin"), backoff=0, progress=False)
    assert path.read_bytes() == payload
    assert server.hits["/never.bin"] == 0


def test_existing_file_survives_a_failed_fetch(server: LocalServer, tmp_path: Path) -> None:
    old_release = make_payload(31)
    new_release = make_payload(32)
    entry = entry_for(new_release)  # the manifest moved on; the old file is now "corrupt"
    (tmp_path / entry.file).write_bytes(old_release)
    server.routes["/cut.bin"] = serve_truncated(new_release, keep=10)
    with pytest.raises(WeightsDownloadError, match="truncated"):
        fetch(entry, tmp_path, url=server.url("/cut.bin"), retries=1, backoff=0, progress=False)
    assert (tmp_path / entry.file).read_bytes() == old_release
    assert files_in(tmp_path) == [entry.file]


def test_fetch_replaces_a_corrupt_file(server: LocalServer, tmp_path: Path) -> None:
    payload = make_payload(33)
    entry = entry_for(payload)
    (tmp_path / entry.file).write_bytes(make_payload(34))
    server.routes["/good.bin"] = serve(payload)
    fetch(entry, tmp_path, url=server.url("/good.bin"), backoff=0, progress=False)
    assert require(entry, tmp_path).read_bytes() == payload


def test_fetch_uses_the_mirror_env_var(
    server: LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = make_payload(35)
    entry = entry_for(payload, file="mirrored.pth")
    server.routes["/mirror/mirrored.pth"] = serve(payload)
    monkeypatch.setenv(ENV_WEIGHTS_MIRROR, server.url("/mirror/"))
    assert fetch(entry, tmp_path, backoff=0, progress=False).read_bytes() == payload
    assert server.hits["/mirror/mirrored.pth"] == 1


def test_fetch_uses_weights_dir_by_default(
    server: LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = make_payload(36)
    entry = entry_for(payload)
    server.routes["/good.bin"] = serve(payload)
    monkeypatch.setenv(ENV_WEIGHTS_DIR, str(tmp_path / "env-dir"))
    path = fetch(entry, url=server.url("/good.bin"), backoff=0, progress=False)
    assert path == tmp_path / "env-dir" / entry.file
    assert require(entry) == path


def test_import_does_not_touch_the_network() -> None:
    code = (
        "import urllib.request\n"
        "def refuse(*args, **kwargs):\n"
        "    raise SystemExit('network used at import')\n"
        "urllib.request.urlopen = refuse\n"
        "urllib.request.OpenerDirector.open = refuse\n"
        "import pipeline.models.download, pipeline.models.listing\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_a_server_cannot_fill_the_disk_or_leak_a_signed_urls_token(server, tmp_path) -> None:
    """A body longer than the manifest says, sent without a length, is cut off at the limit
    instead of being written to the end; a signed URL's token never reaches a message."""
    from pipeline.models import transfer

    payload = make_payload(36)
    entry = entry_for(payload)
    sent: list[int] = []

    def endless(handler: BaseHTTPRequestHandler, count: int) -> None:
        handler.send_response(200)  # no Content-Length: the body ends when the connection does
        handler.end_headers()
        try:
            for _ in range(400):  # 400 x the expected size, if nobody stops reading
                handler.wfile.write(payload)
                sent.append(len(payload))
        except OSError:
            pass  # the client hung up: what this test wants
        handler.close_connection = True

    server.routes["/huge.bin?token=s3cret"] = endless
    with pytest.raises(WeightsDownloadError) as caught:
        fetch(entry, tmp_path, url=server.url("/huge.bin") + "?token=s3cret", retries=0, backoff=0, progress=False)
    assert "more than the expected" in caught.value.message
    assert "s3cret" not in caught.value.message + (caught.value.hint or "")
    assert [p.name for p in tmp_path.iterdir() if p.name != ".verified.json"] == []  # no file, no temp file
    assert transfer.byte_limit(entry) == len(payload)
    unsized = dataclasses.replace(entry, bytes=None, approx_bytes=1000, sha256=None, sha256_note="test: no hash")
    assert transfer.byte_limit(unsized) == 2000
    assert transfer.shown_url("https://user:pw@mirror.example:8443/w/f.pth?sig=abc") == "https://mirror.example:8443/w/f.pth"
