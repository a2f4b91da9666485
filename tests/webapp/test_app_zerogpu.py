"""ZeroGPU support (webapp/space.py).

- With a `spaces` package present, the model calls go through `spaces.GPU`; without it the app
  builds unchanged (the rest of the suite runs that way). The micro-batcher is off on ZeroGPU.
- `app.py` imports `spaces` before anything imports torch.
- ZeroGPU runs a decorated function in a *forked* process: arguments pickled in, the result
  pickled back, every other change lost. With a stand-in `spaces.GPU` that does exactly that,
  the running app still keeps its promises, because storage, ownership, cleanup and logging
  stay in the main process: a tab's uploads go when the tab closes, nothing is swept under a
  running job, and the GPU lease asked for grows with the number of images.
"""
from __future__ import annotations

import functools
import json
import logging
import multiprocessing
import os
import pickle
import subprocess
import sys
import time
import types
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from appserver import random_weight_studio, running_app
from pipeline.core.samples import astronaut

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys, types
from pathlib import Path
wrapped = []
spaces = types.ModuleType("spaces")
def GPU(duration=60):
    def decorate(fn):
        wrapped.append(fn.__name__)
        return fn
    return decorate
spaces.GPU = GPU
if sys.argv[1] == "with":
    sys.modules["spaces"] = spaces
from webapp.config import AppConfig
from webapp.server import build_app
portrait_lab = build_app(AppConfig(temp_root=Path(sys.argv[2])))
portrait_lab.storage.stop_sweeper()
print(json.dumps([sorted(wrapped), portrait_lab.studio.engine.speed.micro_batch]))
"""


def _wrapped(mode: str, tmp_path: Path, zero_gpu: bool = True) -> tuple[list[str], bool]:
    # Micro-batching asked for everywhere (it is off by default on CPU): only ZeroGPU turns it off.
    environment = {**os.environ, "PORTRAIT_LAB_SPEED": "micro_batch=1"}
    environment.pop("SPACES_ZERO_GPU", None)
    if zero_gpu:
        environment["SPACES_ZERO_GPU"] = "true"
    done = subprocess.run([sys.executable, "-c", PROBE, mode, str(tmp_path / mode)], cwd=ROOT, capture_output=True,
                          text=True, timeout=180, env=environment)
    assert done.returncode == 0, done.stderr[-2000:]
    wrapped, micro_batch = json.loads(done.stdout.strip().splitlines()[-1])
    return wrapped, micro_batch


# One decorated function for every model call: spaces keeps a worker (and a copy of the models on
# the GPU) per decorated function.
WRAPPED = ["run_on_gpu"]


def test_the_model_calls_are_wrapped_by_spaces_gpu_when_present(tmp_path: Path) -> None:
    # ...and the micro-batcher is off: ZeroGPU lends the GPU to one decorated call at a time.
    assert _wrapped("with", tmp_path) == (WRAPPED, False)


def test_a_dedicated_gpu_space_with_the_spaces_package_keeps_micro_batching(tmp_path: Path) -> None:
    assert _wrapped("with", tmp_path, zero_gpu=False) == (WRAPPED, True)


def test_app_builds_without_the_spaces_package(tmp_path: Path) -> None:
    assert _wrapped("without", tmp_path) == ([], True)


@pytest.mark.parametrize("module", ["app", "webapp.space"])
def test_spaces_is_imported_before_torch(module: str, tmp_path: Path) -> None:
    """On ZeroGPU `spaces` patches torch as it loads and refuses to start after CUDA is set up:
    app.py (whose first project import is webapp.space) and webapp.space on its own import it
    before torch, whatever Gradio happens to import first."""
    (tmp_path / "spaces.py").write_text("import sys\nTORCH_FIRST = 'torch' in sys.modules\n"
                                        "def GPU(task=None, *, duration=None, size=None):\n"
                                        "    return (lambda fn: fn) if task is None else task\n", encoding="utf-8")
    check = f"import json, sys, {module}, spaces; print(json.dumps([spaces.TORCH_FIRST, 'torch' in sys.modules]))"
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    done = subprocess.run([sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, timeout=180,
                          env=environment)
    assert done.returncode == 0, done.stderr[-2000:]
    torch_first, torch_after = json.loads(done.stdout.strip().splitlines()[-1])
    assert not torch_first, "torch was imported before spaces"
    if module == "app":
        assert torch_after, "app.py no longer imports torch: this check proves nothing"


def test_the_lease_counts_images_and_stops_at_zerogpus_maximum(tmp_path: Path) -> None:
    from webapp.space import LEASE_MAX_S, GpuCall, count_images, lease_seconds

    photos = [tmp_path / f"{index}.jpg" for index in range(3)]
    archive = tmp_path / "photos.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        for name in ("a.jpg", "b.png", "sub/c.webp", "notes.txt", "sub/"):
            bundle.writestr(name, b"x")
    assert count_images(photos) == 3
    assert count_images([archive]) == 3  # read from the zip's directory: no text file, no folder
    assert count_images([tmp_path / "broken.zip"]) == 1  # unreadable: the batch reports it
    one, many = (lease_seconds(GpuCall(0, "batch", (), {}, "idphoto", images)) for images in (1, 10))
    assert one < many <= LEASE_MAX_S
    assert lease_seconds(GpuCall(0, "batch", (), {}, "idphoto", 10_000)) == LEASE_MAX_S


# -- a stand-in for ZeroGPU that really forks ------------------------------------------------------------
def run_forked(fn: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
    """What ZeroGPU's worker does: the arguments pickled into a forked child, the function run
    there, the result pickled back; any other change the child makes is lost with it, and an
    exception other than gr.Error comes back as its class name only."""
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    payload = pickle.dumps((args, kwargs))

    def child() -> None:
        try:
            child_args, child_kwargs = pickle.loads(payload)
            outcome = ("ok", fn(*child_args, **child_kwargs))
        except Exception as error:
            outcome = ("raised", error)
        send.send(outcome)

    process = context.Process(target=child, daemon=True)
    process.start()
    send.close()
    try:
        kind, value = receive.recv()
    except EOFError:
        raise RuntimeError("GPU task aborted") from None
    finally:
        process.join(timeout=30)
    if kind == "raised":  # as spaces does: only a gr.Error passes as it is
        if isinstance(value, gr.Error):
            raise value
        raise gr.Error(type(value).__name__, title="ZeroGPU worker error", print_exception=False)
    return value


def forking_spaces() -> types.ModuleType:
    """A `spaces` module whose GPU decorator forks as ZeroGPU does; ``leases`` records what each
    call asked for (a callable duration is called in the parent with the call's arguments)."""
    module = types.ModuleType("spaces")
    module.leases = []

    def GPU(task: Callable[..., Any] | None = None, *, duration: Any = None, size: str | None = None) -> Any:
        def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
            @functools.wraps(fn)
            def on_gpu(*args: Any, **kwargs: Any) -> Any:
                module.leases.append(duration(*args, **kwargs) if callable(duration) else duration)
                return run_forked(fn, args, kwargs)

            return on_gpu

        return decorate if task is None else decorate(task)

    module.GPU = GPU
    return module


@pytest.fixture(scope="module")
def zerogpu(tmp_path_factory):
    """The app as on a ZeroGPU Space: the forking `spaces` in place before the app is built, the
    models loaded in the main process first (as app.py does), the heartbeat fast enough for a
    closed client to end its session within a second or two (see test_app_privacy.py)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(sys.modules, "spaces", forking_spaces())
        patch.setenv("SPACES_ZERO_GPU", "true")
        patch.setenv("GRADIO_HEARTBEAT_INTERVAL", "0.5")
        if "GRADIO_TEMP_DIR" in os.environ:  # build_app points it at its own root: put it back afterwards
            patch.setenv("GRADIO_TEMP_DIR", os.environ["GRADIO_TEMP_DIR"])
        else:
            patch.delenv("GRADIO_TEMP_DIR", raising=False)
        studio = random_weight_studio(tmp_path_factory.mktemp("zerogpu-weights"))
        studio.warm_up()
        with running_app(tmp_path_factory.mktemp("zerogpu-root"), studio, max_age_s=1800) as (app, url):
            yield types.SimpleNamespace(app=app, url=url, studio=studio, spaces=sys.modules["spaces"])


def photo(path: Path, seed: int) -> Path:
    """A small crop of the astronaut with pixels of its own (uploads are stored by content)."""
    rgb = np.ascontiguousarray(astronaut()[10:266, 110:366])
    rgb[:3, :3] = np.random.default_rng(seed).integers(0, 256, (3, 3, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(path)
    return path


def uploads_named(app, name: str) -> list[Path]:
    """Where the server stored an upload of that name, found on disk (not in the app's records)."""
    storage = app.storage
    return [p for p in storage.root.rglob(name) if p.is_file() and not p.is_relative_to(storage.sessions_dir)
            and not p.is_relative_to(storage.examples_dir)]


def wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def background_inputs(path: Path) -> tuple:
    return handle_file(str(path)), "colour", "white", "light-blue", None, 0.5, 1.0, "png"


def test_a_tabs_uploads_are_deleted_when_it_closes(zerogpu, tmp_path):
    """The job ties its upload to the session in the main process, so closing the tab deletes it,
    even while another tab of the same browser (same owner cookie) stays open."""
    first = Client(zerogpu.url, verbose=False, download_files=False)
    second = Client(zerogpu.url, verbose=False, download_files=False, httpx_kwargs={"cookies": dict(first.cookies)})
    try:
        first.predict(*background_inputs(photo(tmp_path / "closing-tab.png", seed=21)), api_name="/replace_background")
        second.predict(*background_inputs(photo(tmp_path / "open-tab.png", seed=22)), api_name="/replace_background")
        closing, staying = uploads_named(zerogpu.app, "closing-tab.png"), uploads_named(zerogpu.app, "open-tab.png")
        assert len(closing) == 1 and len(staying) == 1

        first.close()
        assert wait_until(lambda: not closing[0].exists(), timeout=60), "the closed tab's upload is still stored"
        assert staying[0].is_file()
    finally:
        first.close()
        second.close()


def gated(method: Callable[..., Any], started: Path, release: Path) -> Callable[..., Any]:
    """``method`` that says when it starts, then waits for the test: a job held open."""
    def run(*args: Any, **kwargs: Any) -> Any:
        started.write_text(str(os.getpid()), encoding="utf-8")
        wait_until(release.exists, timeout=60)
        return method(*args, **kwargs)

    return run


def test_nothing_is_swept_under_a_running_gpu_job(zerogpu, tmp_path, monkeypatch):
    """The running-job count lives in the main process, where the sweeper runs: a sweep during
    the job (every file past its age) leaves the job's upload and folder alone."""
    app, studio = zerogpu.app, zerogpu.studio
    started, release = tmp_path / "started", tmp_path / "release"
    monkeypatch.setattr(studio, "replace_background", gated(studio.replace_background, started, release))
    client = Client(zerogpu.url, verbose=False, download_files=str(tmp_path / "downloads"))
    try:
        job = client.submit(*background_inputs(photo(tmp_path / "held.png", seed=23)), api_name="/replace_background")
        assert wait_until(lambda: started.exists() and started.read_text(encoding="utf-8"), timeout=60)
        assert int(started.read_text(encoding="utf-8")) != os.getpid()  # the model call runs in a child process
        upload = uploads_named(app, "held.png")
        folder = app.storage.sessions_dir / app.storage.session_key(client.session_hash)
        assert len(upload) == 1 and folder.is_dir()

        app.storage.sweep(now=time.time() + 2 * app.storage.max_age_s)
        survived = {"upload": upload[0].is_file(), "work folder": folder.is_dir()}
        release.touch()
        assert survived == {"upload": True, "work folder": True}
        image, _, summary = job.result(timeout=120)
        assert Path(image).is_file() and summary.startswith("Background: colour")
    finally:
        release.touch()
        client.close()


def test_the_gpu_lease_grows_with_the_batch(zerogpu, tmp_path, caplog):
    """The lease is asked per call: one photo, a batch of three files, a zip of three photos.
    Each job's log line is written by the main process, with the batch's count."""
    caplog.set_level(logging.INFO, logger="portrait_lab")
    leases = zerogpu.spaces.leases
    client = Client(zerogpu.url, verbose=False, download_files=False)
    photos = [photo(tmp_path / f"batch-{seed}.png", seed) for seed in (31, 32, 33)]
    archive = tmp_path / "three.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        for path in photos:
            bundle.write(path, path.name)
    asked = {}
    try:
        for name, call in (
            ("one photo", lambda: client.predict(*background_inputs(photos[0]), api_name="/replace_background")),
            ("batch of one", lambda: client.predict([handle_file(str(photos[0]))], "background", "icao_generic", 1.0,
                                                    "white", api_name="/batch")),
            ("batch of three", lambda: client.predict([handle_file(str(p)) for p in photos], "background",
                                                      "icao_generic", 1.0, "white", api_name="/batch")),
            ("zip of three", lambda: client.predict([handle_file(str(archive))], "background", "icao_generic", 1.0,
                                                    "white", api_name="/batch")),
        ):
            leases.clear()
            call()
            [asked[name]] = leases
    finally:
        client.close()
    assert asked["one photo"] == asked["batch of one"] < asked["batch of three"] == asked["zip of three"], asked
    assert caplog.text.count("job=batch status=ok") == 3 and caplog.text.count("images=3") == 2, caplog.text


def test_a_typed_error_in_the_gpu_worker_reaches_the_visitor_as_its_sentence(zerogpu, tmp_path, caplog):
    """The worker returns the error as a value; the main process raises it, the handler maps it
    to the visitor's sentence and logs the refusal."""
    caplog.set_level(logging.INFO, logger="portrait_lab")
    client = Client(zerogpu.url, verbose=False, download_files=False)
    inputs = list(background_inputs(photo(tmp_path / "transparent.png", seed=41)))
    inputs[1], inputs[-1] = "transparent", "jpg"
    try:
        with pytest.raises(AppError) as caught:
            client.predict(*inputs, api_name="/replace_background")
    finally:
        client.close()
    assert caught.value.message.startswith("JPEG cannot hold transparency."), caught.value.message
    assert "job=background status=refused" in caplog.text and "error=InvalidOptionError" in caplog.text
