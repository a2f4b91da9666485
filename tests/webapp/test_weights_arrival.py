"""A fresh server with no weights: it serves at once, downloads its models in the background,
shows their progress, and switches restoration on with no restart and no reload."""
from __future__ import annotations

import threading
import time
from dataclasses import replace
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import torch
from gradio_client import Client, handle_file
from PIL import Image

from appserver import running_app
from pipeline.core import settings
from pipeline.models.device import ComputeSettings
from pipeline.restore.engine import RestorationPipeline, RestoreOptions
from webapp import weights_banner
from webapp.studio import Studio

SLOW_FIRST_BYTE_S = 1.5  # each file waits this long, so the page is up long before they all arrive


def _slow_mirror(folder: Path) -> ThreadingHTTPServer:
    class Handler(SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
            super().__init__(*args, directory=str(folder), **kwargs)

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            time.sleep(SLOW_FIRST_BYTE_S)
            super().do_GET()

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def fresh_server(random_weights, tmp_path, monkeypatch):
    served, manifest = random_weights
    mirror = _slow_mirror(served)
    monkeypatch.setenv(settings.WEIGHTS_MIRROR, f"http://127.0.0.1:{mirror.server_address[1]}")
    empty = tmp_path / "weights"
    empty.mkdir()
    compute = ComputeSettings(device=torch.device("cpu"), dtype=torch.float32)
    studio = Studio(RestorationPipeline(manifest=manifest, weights_directory=empty, compute=compute))
    started = time.perf_counter()
    with running_app(tmp_path / "root", studio, fetch_weights=True) as (app, url):
        yield app, url, started, empty
    mirror.shutdown()
    mirror.server_close()


def test_a_fresh_server_serves_first_then_switches_restoration_on_by_itself(fresh_server, astronaut_rgb, tmp_path):
    app, url, started, weights = fresh_server
    assert httpx.get(url).status_code == 200
    up_after = time.perf_counter() - started
    first = app.fetcher.snapshot()
    assert any(row.state.value != "verified" for row in first), "the downloads ended before the page was up"
    assert not app.studio.availability().restore_ready
    view = weights_banner.server_view(app.studio.availability(), first)
    assert "downloading" in view.note and view.restore_label == "Restore (soon)"
    assert "/" not in view.note + view.restore_reason and "GFPGAN" not in view.note  # no paths or model ids
    assert view.details.startswith(weights_banner.DOWNLOADS_HEADER) and "`gfpgan-v1.4`" in view.details

    assert app.fetcher.wait(timeout=120), [row for row in app.fetcher.snapshot()]
    ready_after = time.perf_counter() - started
    expected = {str(app.studio.manifest.get(name).file) for name in app.fetcher.names}
    assert expected <= {p.name for p in weights.iterdir()}
    updates = weights_banner.WeightsView(app.studio, app.fetcher).updates(gated=[object()] * 4)
    assert updates[0]["visible"] is False  # the note is gone
    assert updates[5]["interactive"] is True  # the Restore button is on, on the same page
    assert updates[7]["label"] == "Restore"  # and its tab says nothing more

    photo = tmp_path / "astronaut.png"
    Image.fromarray(astronaut_rgb).save(photo)
    client = Client(url, verbose=False, download_files=str(tmp_path / "downloads"))
    _, _, summary = client.predict(handle_file(str(photo)), "gfpgan-v1.4", 1.0, 1, False, "mtcnn", "png",
                                   api_name="/restore")
    assert "Restored 1 of 1 face(s);" in summary, summary
    print(f"HTTP 200 after {up_after:.1f} s; every default model verified after {ready_after:.1f} s")


def test_the_server_details_say_why_a_download_failed_and_when_it_tries_again():
    """The administrator's accordion has each model's state; the visitor's sentence only says
    whether restoration is coming."""
    from pipeline.models.fetcher import FetchState, ModelProgress
    from webapp.studio import Availability

    availability = Availability(False, ("gfpgan-v1.4", "modnet", "parsenet"), "admin details")
    rows = (
        ModelProgress("gfpgan-v1.4", "GFPGAN v1.4", "restorer", FetchState.FAILED, attempts=2,
                      reason="The download server could not be reached.", next_retry_at=time.time() + 40),
        ModelProgress("modnet", "MODNet", "matting", FetchState.DOWNLOADING, bytes_done=5, bytes_total=20),
        ModelProgress("parsenet", "ParseNet", "parser", FetchState.FAILED, attempts=9,
                      reason="The server sent a different file than expected, so it was not used."),
        ModelProgress("retinaface-r50", "RetinaFace", "detector", FetchState.VERIFIED),
    )
    view = weights_banner.server_view(availability, rows)
    lines = view.details.splitlines()
    assert lines[0] == weights_banner.DOWNLOADS_HEADER
    assert lines[1].startswith("- GFPGAN v1.4 (`gfpgan-v1.4`): the download failed (The download server could not "
                               "be reached.); trying again in ") and lines[1].endswith(" s.")
    assert 38 <= int(lines[1].split("trying again in ")[1].split(" ")[0]) <= 40
    assert lines[2] == "- MODNet (`modnet`): downloading, 25%."
    assert lines[3] == ("- ParseNet (`parsenet`): the download failed (The server sent a different file than "
                        "expected, so it was not used.).")
    assert lines[4:] == ["", "admin details"]  # a verified model is not news
    assert view.note == weights_banner.RESTORE_COMING[0].format(done="")  # retried: still coming
    given_up = (replace(rows[0], next_retry_at=None), *rows[1:])
    assert weights_banner.server_view(availability, given_up).note == weights_banner.RESTORE_MISSING[0]
    without_fetcher = weights_banner.server_view(availability, ())
    assert (without_fetcher.note, without_fetcher.details) == (weights_banner.RESTORE_MISSING[0], "admin details")


def test_polling_checks_the_disk_only_when_a_download_changes_state():
    """Anyone can send the page's poll (it is a Gradio event): a poll must not re-check, let alone
    re-hash, the weights on disk unless a download has changed state since the last one."""
    from pipeline.models.fetcher import FetchState, ModelProgress
    from webapp.studio import Availability

    class CountingStudio:
        calls = 0

        def availability(self) -> Availability:
            CountingStudio.calls += 1
            return Availability(False, ("gfpgan-v1.4",), "admin details")

        def restorer_choices(self) -> list:
            return [("GFPGAN v1.4", "gfpgan-v1.4")]

    class FixedFetcher:
        rows = (ModelProgress("gfpgan-v1.4", "GFPGAN v1.4", "restorer", FetchState.DOWNLOADING, 5, 20),)

        def snapshot(self) -> tuple:
            return self.rows

    fetcher = FixedFetcher()
    view = weights_banner.WeightsView(CountingStudio(), fetcher)
    for _ in range(50):
        updates = view.updates(gated=[object()] * 4)
    assert CountingStudio.calls == 1
    assert updates[6]["value"] == weights_banner.RESTORE_COMING[2]  # not the administrator's command
    assert updates[7]["label"] == weights_banner.RESTORE_COMING[1]
    fetcher.rows = (ModelProgress("gfpgan-v1.4", "GFPGAN v1.4", "restorer", FetchState.VERIFIED),)
    view.updates(gated=[])
    assert CountingStudio.calls == 2
