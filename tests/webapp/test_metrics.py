"""Operational metrics (webapp/metrics.py): the promised families in parseable Prometheus text,
counters that move with real jobs through the served app, nothing personal in a scrape, the
bearer token on the app's port, 127.0.0.1 only without one, off by default (and then no
/metrics at all), and the Privacy tab saying which.

One served app for the module (no restorer installed, so restore is refused; the background
job runs for real with the bundled MTCNN and the offline matting), with one small random-weight
model (the 4.9 MB upsampler) so a model load time can be read.
"""
from __future__ import annotations

import asyncio
import os
import re
import socket
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import httpx
import numpy as np
import pytest
import torch
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from appserver import free_port, running_app
from pipeline.core import settings
from pipeline.core.encode import save_image
from pipeline.core.errors import InvalidOptionError
from pipeline.core.samples import astronaut
from pipeline.models.device import ComputeSettings
from pipeline.models.manifest import load_manifest
from pipeline.models.store import ModelStore, save_random_weights
from pipeline.restore.engine import RestorationPipeline
from webapp import metrics
from webapp.config import AppConfig, load_config
from webapp.cookies import OWNER_COOKIE
from webapp.middleware import PrivacyGuard
from webapp.server import queue_depth, start_metrics
from webapp.sessions import SessionStorage
from webapp.studio import Studio
from webapp.tabs.privacy import privacy_text

REPO = Path(__file__).resolve().parents[2]
TOKEN = "metrics-test-token-0123456789abcdef"
SMALL_MODEL = "realesr-general-x4"
# A file name and folder a careless label would carry into the text.
SECRET_STEM = "Jane-Doe-passport-scan-7731"
FAMILIES = ("portrait_lab_jobs", "portrait_lab_job_seconds", "portrait_lab_stage_seconds",
            "portrait_lab_faces_per_call", "portrait_lab_queue_depth", "portrait_lab_live_sessions",
            "portrait_lab_temp_root_bytes", "portrait_lab_model_load_seconds")


def families(text: str) -> dict[str, object]:
    return {family.name: family for family in text_string_to_metric_families(text)}


def sample(text: str, name: str, **labels: str) -> float:
    """One sample's value (0 when it is not there yet)."""
    for family in text_string_to_metric_families(text):
        for entry in family.samples:
            if entry.name == name and entry.labels == labels:
                return entry.value
    return 0.0


def small_studio(directory: Path) -> Studio:
    manifest = save_random_weights(load_manifest(), directory, [SMALL_MODEL])
    compute = ComputeSettings(device=torch.device("cpu"), dtype=torch.float32)
    return Studio(RestorationPipeline(manifest=manifest, weights_directory=directory, compute=compute))


@pytest.fixture(scope="module")
def studio(tmp_path_factory) -> Studio:
    return small_studio(tmp_path_factory.mktemp("metrics-weights"))


@pytest.fixture(scope="module")
def served(tmp_path_factory, studio):
    """The app with metrics on its own port, behind the token."""
    saved = os.environ.get("GRADIO_TEMP_DIR")
    with running_app(tmp_path_factory.mktemp("metrics-root"), studio, metrics=True, metrics_token=TOKEN) as (app, url):
        yield app, url
    if saved is not None:  # build_app points Gradio's upload folder at its own root
        os.environ["GRADIO_TEMP_DIR"] = saved


def scrape(url: str, token: str | None = TOKEN, **headers: str) -> httpx.Response:
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    return httpx.get(f"{url}metrics", headers=headers)


@pytest.fixture(scope="module")
def after_jobs(served, tmp_path_factory):
    """Jobs run through the app by one client with a distinctive upload: what it leaves behind
    and the metric text before and after."""
    app, url = served
    photo = tmp_path_factory.mktemp("metrics-uploads") / f"{SECRET_STEM}.png"
    save_image(photo, np.ascontiguousarray(astronaut()[10:266, 110:366]))
    before = scrape(url).text
    client = Client(url, verbose=False)
    client.predict(handle_file(str(photo)), "colour", "white", "light-blue", None, 0.5, 1.0, "png",
                   api_name="/replace_background")
    with pytest.raises(AppError):  # no restorer installed here: refused, and counted as such
        client.predict(handle_file(str(photo)), "gfpgan-v1.4", 0.5, 1, False, "auto", "png", api_name="/restore")
    app.studio.engine.store.get(SMALL_MODEL)  # a model loaded while serving
    private = {"file name": SECRET_STEM, "session hash": client.session_hash,
               "session key": app.storage.session_key(client.session_hash),
               "owner cookie": client.cookies.get(OWNER_COOKIE, ""), "temporary root": str(app.config.temp_root),
               "token": TOKEN}
    private |= {f"stored path {i}": str(path) for i, path in enumerate(app.storage.session_files(client.session_hash))}
    after = scrape(url).text
    yield before, after, private
    client.close()


# -- the text --------------------------------------------------------------------------------
def test_the_text_parses_and_holds_every_promised_family(after_jobs):
    _, text, _ = after_jobs
    found = families(text)
    assert set(FAMILIES) <= set(found), set(FAMILIES) - set(found)
    assert all(name.startswith("portrait_lab_") for name in found)  # our registry only: no process_*, no python_*


def test_counters_move_with_real_jobs(after_jobs):
    before, after, _ = after_jobs

    def moved(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert moved("portrait_lab_jobs_total", kind="background", status="ok") == 1
    assert moved("portrait_lab_jobs_total", kind="restore", status="refused") == 1
    assert moved("portrait_lab_job_seconds_count", kind="background") == 1
    for stage in ("decode", "cutout", "encode", "total"):
        assert moved("portrait_lab_stage_seconds_count", kind="background", stage=stage) == 1, stage
    assert moved("portrait_lab_faces_per_call_count", kind="background") == 1
    assert moved("portrait_lab_faces_per_call_sum", kind="background") == 1  # the astronaut's one face
    assert sample(after, "portrait_lab_live_sessions") >= 1
    assert sample(after, "portrait_lab_temp_root_bytes") > sample(before, "portrait_lab_temp_root_bytes")
    assert sample(after, "portrait_lab_queue_depth") == 0  # nothing waiting now
    assert sample(after, "portrait_lab_model_load_seconds", model=SMALL_MODEL) > 0


def test_the_queue_depth_is_read_from_gradios_queue(served):
    """Gradio keeps its queue private (``Blocks._queue``): a Gradio that moves it fails here,
    not silently at 0."""
    from gradio.queueing import Queue

    app, _ = served
    assert isinstance(app.demo._queue, Queue) and queue_depth(app.demo) == len(app.demo._queue)
    assert queue_depth(SimpleNamespace(_queue=[1, 2, 3])) == 3


def test_nothing_personal_reaches_the_text(after_jobs):
    """The upload's file name, the session hash and its keyed hash, the owner cookie, the
    temporary root and every stored path, and the token itself: none is anywhere in a scrape."""
    _, text, private = after_jobs
    assert private["owner cookie"] and private["session hash"] and len(private) > 7  # real values were found
    leaked = [what for what, value in private.items() if value and value in text]
    assert leaked == []
    labels = {key for family in text_string_to_metric_families(text) for s in family.samples for key in s.labels}
    assert labels <= {"kind", "status", "stage", "model", "le"}


def test_labels_are_a_closed_set():
    """Free text cannot become a label: an unknown stage, kind or status is dropped."""
    metrics.set_recording(True)
    metrics.record_work("background", {SECRET_STEM: 1.0, "detect": 0.1}, faces=1)
    metrics.record_work(SECRET_STEM, {"detect": 0.1})
    metrics.record_job(SECRET_STEM, "ok", 1.0)
    metrics.record_job("restore", SECRET_STEM, 1.0)
    text = generate_latest(metrics.REGISTRY).decode()
    assert SECRET_STEM not in text
    assert 'stage="detect"' in text


def test_every_stage_a_job_times_is_a_known_stage():
    """A new ``timed("...")`` stage in a job must be added to STAGES, or it would not be seen."""
    sources = ["pipeline/restore/engine.py", "pipeline/idphoto/maker.py", "webapp/studio.py"]
    named = {stage for source in sources
             for stage in re.findall(r"timed\((?:timings, )?\"(\w+)\"\)", (REPO / source).read_text(encoding="utf-8"))}
    assert {"detect", "restore", "verify", "cutout"} <= named  # the pattern still finds them
    assert named <= set(metrics.STAGES)


def test_nothing_is_counted_while_metrics_are_off():
    metrics.set_recording(False)
    try:
        before = metrics.JOBS.labels("batch", "ok")._value.get()
        metrics.record_job("batch", "ok", 1.0)
        assert metrics.JOBS.labels("batch", "ok")._value.get() == before
    finally:
        metrics.set_recording(True)


def test_model_load_times_are_plain_numbers_in_the_store(tmp_path):
    manifest = save_random_weights(load_manifest(), tmp_path, [SMALL_MODEL])
    store = ModelStore(manifest, tmp_path, ComputeSettings(device=torch.device("cpu"), dtype=torch.float32))
    assert store.load_seconds() == {}
    store.get(SMALL_MODEL)
    assert set(store.load_seconds()) == {SMALL_MODEL} and store.load_seconds()[SMALL_MODEL] > 0


# -- who may read it ---------------------------------------------------------------------------
def test_the_app_port_asks_for_the_bearer_token(served):
    _, url = served
    missing, wrong, right = scrape(url, None), scrape(url, TOKEN[:-1] + "X"), scrape(url)
    assert missing.status_code == 401 and wrong.status_code == 401
    assert missing.text == wrong.text == "Unauthorized."  # no detail, and the same for both
    assert "set-cookie" not in missing.headers and "set-cookie" not in right.headers
    assert scrape(url, None, authorization=f"Basic {TOKEN}").status_code == 401
    assert right.status_code == 200 and right.headers["content-type"].startswith("text/plain")
    assert "portrait_lab_jobs_total" in right.text
    assert httpx.post(f"{url}metrics", headers={"authorization": f"Bearer {TOKEN}"}).status_code == 404


def guard_status(route: metrics.MetricsRoute | None, tmp_path: Path, headers: dict[str, str]) -> int:
    """What the guard answers for GET /metrics, in front of an app that answers 200 to anything."""
    async def anything(scope, receive, send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"the app"})

    storage = SessionStorage(tmp_path / "root", 60, secret=b"k" * 32)
    storage.prepare()

    async def get() -> int:
        transport = httpx.ASGITransport(app=PrivacyGuard(anything, storage, metrics_route=route))
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            return (await client.get("/metrics", headers=headers)).status_code

    return asyncio.run(get())


def test_without_metrics_on_the_app_port_there_is_no_route(tmp_path):
    """Off (or on their own port): /metrics is 404 at the guard, whatever is behind it."""
    assert guard_status(None, tmp_path, {}) == 404
    assert guard_status(None, tmp_path, {"authorization": f"Bearer {TOKEN}"}) == 404
    route = metrics.MetricsRoute(CollectorRegistry(), TOKEN)
    assert guard_status(route, tmp_path, {}) == 401
    assert guard_status(route, tmp_path, {"authorization": f"bearer {TOKEN}"}) == 200


def own_addresses() -> list[str]:
    """This machine's addresses other than loopback (a UDP socket's connect sends nothing)."""
    found = set(socket.gethostbyname_ex(socket.gethostname())[2])
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: only picks the outgoing interface
            found.add(probe.getsockname()[0])
    except OSError:
        pass
    return sorted(ip for ip in found if not ip.startswith("127."))


def test_without_a_token_the_metrics_have_their_own_port_on_127_0_0_1(tmp_path, studio):
    storage = SessionStorage(tmp_path / "root", 60)
    storage.prepare()
    port = free_port()
    config = replace(AppConfig(), temp_root=tmp_path / "root", metrics=True, metrics_port=port)
    served = start_metrics(config, None, studio, storage)
    try:
        assert served.route is None and served.local.address == ("127.0.0.1", port)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
            assert set(FAMILIES) <= set(families(answer.read().decode()))
        assert served.local.httpd.socket.getsockname()[0] == "127.0.0.1"  # bound there, not to 0.0.0.0
        for host, path in ((f"attacker.example:{port}", "/metrics"), (f"127.0.0.1:{port}", "/anything")):
            request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Host": host})
            with pytest.raises(urllib.error.HTTPError) as refused:  # a rebound DNS name, another path: nothing
                urllib.request.urlopen(request, timeout=10)
            assert refused.value.code == 404 and b"portrait_lab" not in refused.value.read()
        for ip in own_addresses():  # another interface of this machine: nothing listens there
            with pytest.raises(OSError), socket.create_connection((ip, port), timeout=2):
                pass
    finally:
        served.local.stop()
    assert start_metrics(replace(config, metrics=False), None, studio, storage) is None


# -- the settings ------------------------------------------------------------------------------
def test_metrics_are_off_by_default_and_need_a_token_on_a_space():
    assert load_config([], {}).metrics is False
    assert load_config([], {"SPACE_ID": "someone/portrait-lab"}).metrics is False
    local = load_config(["--metrics"], {})
    assert (local.metrics, local.metrics_token, local.metrics_port, local.metrics_on_app_port) == (True, None, 9860, False)
    on_space = {"SPACE_ID": "someone/portrait-lab", settings.METRICS: "1"}
    with pytest.raises(InvalidOptionError, match="need a token"):
        load_config([], on_space)
    with_token = load_config([], {**on_space, settings.METRICS_TOKEN: TOKEN})
    assert with_token.metrics_on_app_port and TOKEN not in repr(with_token)
    assert load_config(["--no-metrics"], {**on_space, settings.METRICS_TOKEN: TOKEN}).metrics is False


def test_bad_metrics_settings_are_refused_without_repeating_the_token():
    with pytest.raises(InvalidOptionError) as short:
        load_config(["--metrics"], {settings.METRICS_TOKEN: "short-secret"})
    assert "short-secret" not in short.value.user_message
    for weak in ("a" * 40, "abcd" * 10):  # long enough, yet guessed at once
        with pytest.raises(InvalidOptionError):
            load_config(["--metrics"], {settings.METRICS_TOKEN: weak})
    with pytest.raises(InvalidOptionError):
        load_config([], {settings.METRICS: "maybe"})
    with pytest.raises(InvalidOptionError):
        load_config(["--metrics", "--metrics-port", "7860"], {})  # the app's own port
    assert load_config(["--metrics-port", "9999"], {settings.METRICS: "on"}).metrics_port == 9999


# -- the Privacy tab ---------------------------------------------------------------------------
def test_the_privacy_tab_says_whether_metrics_are_on(served):
    _, url = served
    page = httpx.get(f"{url}config").text
    assert "Usage metrics: on." in page and TOKEN not in page
    off = privacy_text(AppConfig())
    assert "Usage metrics: off." in off and "Usage metrics: on." not in off
    local = privacy_text(replace(AppConfig(), metrics=True, metrics_port=45678))
    assert "Usage metrics: on." in local and "45678" not in local and "127.0.0.1" not in local
