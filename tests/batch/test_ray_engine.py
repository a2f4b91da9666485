"""``batch --engine ray``: the same photos through the local loop and through Ray Data (a local
Ray started by the command, two actors, random-weight models of the real architectures) give
the same result files, pixel for pixel, and the same report; a re-run skips everything (the
ledger). An actor that cannot start (missing weights) stops the batch with the local engine's
typed error; a photo lost with its worker is its row's failure; without Ray the engine says
how to install it, and plain installs (the app, the Space) never get Ray."""
from __future__ import annotations

import ast
import contextlib
import csv
import importlib.metadata
import importlib.util
import json
import re
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline import cli
from pipeline.batch import ray_runner
from pipeline.batch.inputs import BatchItem
from pipeline.batch.jobs import BatchJob
from pipeline.batch.ledger import BatchLedger
from pipeline.core import settings
from pipeline.core.errors import InvalidOptionError, WeightsMissingError
from pipeline.models.manifest import MANIFEST_PATH
from pipeline.restore.engine import RestoreOptions

ROOT = Path(__file__).resolve().parents[2]
needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                               reason="needs Ray: pip install -r requirements-ray.txt (scripts/setup.sh --dev does)")
TIMES: dict[str, float] = {}


@pytest.fixture(scope="module")
def weights_env(random_weights, tmp_path_factory) -> dict[str, str]:
    """The session's random weights and a manifest file naming their sizes and hashes: an
    actor is another process, so it finds them through the settings, as on a cluster."""
    directory, manifest = random_weights
    raw = json.loads(MANIFEST_PATH.read_text(encoding="utf-8"))
    for item in raw["models"]:
        entry = manifest.get(item["name"])
        if not entry.is_bundled:
            item.update(bytes=entry.bytes, sha256=entry.sha256, approx_bytes=None)
    path = tmp_path_factory.mktemp("ray-manifest") / "manifest.json"
    path.write_text(json.dumps(raw), encoding="utf-8")
    return {settings.WEIGHTS_DIR: str(directory), settings.MANIFEST: str(path)}


@pytest.fixture(scope="module")
def photos(tmp_path_factory, astronaut_rgb) -> Path:
    """Two small astronaut crops (one face each: one per actor), a wall (no face) and a broken file."""
    folder = tmp_path_factory.mktemp("ray-photos")
    face = astronaut_rgb[0:300, 80:380]
    Image.fromarray(face).save(folder / "a_face.png")
    Image.fromarray(np.ascontiguousarray(face[:, ::-1])).save(folder / "b_mirrored.jpg", quality=92)
    Image.fromarray(np.full((120, 160, 3), 180, np.uint8)).save(folder / "c_wall.png")
    (folder / "d_broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return folder


def _batch(label: str, photos: Path, out: Path, *extra: str) -> int:
    """One ``python -m pipeline batch restore`` run in this process, timed under ``label``."""
    started = time.perf_counter()
    code = cli.main(["batch", "restore", str(photos), "-o", str(out), "--detector", "mtcnn", "--device", "cpu",
                     "--workers", "2", *extra])
    TIMES[label] = time.perf_counter() - started
    return code


def _report(out: Path) -> list[dict[str, str]]:
    """report.csv's rows, without the seconds each photo took."""
    with (out / "report.csv").open(encoding="utf-8-sig", newline="") as stream:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(stream)]


def _results(out: Path) -> dict[str, np.ndarray]:
    return {path.name: np.asarray(Image.open(path)) for path in sorted((out / "results").iterdir())}


@needs_ray
def test_ray_gives_the_local_engines_results_and_report(photos, weights_env, tmp_path, monkeypatch, capsys):
    for name, value in weights_env.items():
        monkeypatch.setenv(name, value)
    local, on_ray = tmp_path / "local", tmp_path / "ray"
    # one photo in flight locally, as in each Ray actor: two in flight may share one network call
    # when they arrive together (the micro-batcher), and a batch of two rounds a few pixels
    # differently on a CPU than two of one (seen on a loaded 2-core machine)
    assert _batch("local", photos, local, "--workers", "1") == 1  # the broken file failed, the rest went on
    assert _batch("ray", photos, on_ray, "--engine", "ray") == 1
    report = _report(on_ray)
    assert report == _report(local)
    assert [(Path(row["name"]).name, row["status"]) for row in report] == [
        ("a_face.png", "warning"), ("b_mirrored.jpg", "warning"),  # random weights: the identity warning
        ("c_wall.png", "warning"), ("d_broken.jpg", "error")]  # no face: returned unchanged
    expected = _results(local)
    assert len(expected) == 3
    got = _results(on_ray)
    assert list(got) == list(expected)
    differences = []  # printed at the end: capsys reads (and so swallows) what is printed before
    for name, pixels in expected.items():  # the same, up to the rounding of a CPU's other thread count
        difference = np.abs(got[name].astype(np.int16) - pixels.astype(np.int16))  # (Ray's actors run 1 thread)
        differences.append(f"Ray against local, {name}: largest difference {int(difference.max())} levels, "
                           f"{np.count_nonzero(difference)} of {difference.size} values differ, mean {float(difference.mean()):.4f}")
        assert difference.max() <= 3 and difference.mean() < 0.5, (name, int(difference.max()), float(difference.mean()))
    ledger = (on_ray / "batch-ledger.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(ledger) == 4
    written = {path.name: path.stat().st_mtime_ns for path in (on_ray / "results").iterdir()}

    assert _batch("ray again", photos, on_ray, "--engine", "ray") == 1  # again: nothing runs, the same report
    assert "Resuming: 4 of 4 photo(s)" in capsys.readouterr().err
    assert _report(on_ray) == report
    assert {path.name: path.stat().st_mtime_ns for path in (on_ray / "results").iterdir()} == written
    assert (on_ray / "batch-ledger.jsonl").read_text(encoding="utf-8").splitlines() == ledger
    print("\n" + "\n".join(differences))
    print("wall time, 4 inputs: " + ", ".join(f"{label} {seconds:.1f} s" for label, seconds in TIMES.items()))


def test_an_actor_that_cannot_start_stops_the_batch_with_the_typed_error(tmp_path, monkeypatch, astronaut_rgb):
    """Missing weights stop the batch before any photo, as on the local engine (here without
    Ray: the actor class and the driver's collecting are plain Python)."""
    monkeypatch.setenv(settings.WEIGHTS_DIR, str(tmp_path / "no-weights"))
    monkeypatch.delenv(settings.MANIFEST, raising=False)
    job = BatchJob("restore", RestoreOptions(detector="mtcnn"))
    worker = ray_runner.PhotoWorker(job, "cpu", None)
    Image.fromarray(astronaut_rgb[0:300, 80:380]).save(tmp_path / "face.png")
    batch = {"index": np.array([0]), "name": np.array(["face.png"], dtype=object),
             "path": np.array([str(tmp_path / "face.png")], dtype=object)}
    answer = worker(batch)
    results = iter([{key: column[0] for key, column in answer.items()}])
    writer = ray_runner.BatchWriter(tmp_path / "out", "restore")
    with pytest.raises(WeightsMissingError) as stopped:
        ray_runner.collect(results, [BatchItem("face.png", tmp_path / "face.png")], writer, {})
    assert "weights fetch" in stopped.value.user_message
    assert not list((tmp_path / "out" / "results").iterdir())


def test_without_ray_the_engine_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now fails as where it is not installed
    with pytest.raises(InvalidOptionError) as refused:
        ray_runner.import_ray()
    assert "pip install -r requirements-ray.txt" in refused.value.user_message


@needs_ray
def test_a_photo_lost_with_its_worker_is_its_rows_failure_and_the_batch_goes_on(tmp_path, monkeypatch, astronaut_rgb):
    """What the driver does with Ray's answers (here a stand-in dataset, without Ray): a photo
    whose worker died on every try sent no answer, and becomes a failed row in its place; an
    answer Ray delivered twice (a retried photo) is written once."""
    names = ["a.png", "b.png", "c.png"]
    for name in names:
        Image.fromarray(astronaut_rgb[:64, :64]).save(tmp_path / name)
    items = [BatchItem(name, tmp_path / name) for name in names]

    def answer(index: int) -> dict[str, object]:
        row = ray_runner.BatchRow(names[index], "ok", seconds=0.1)
        return {"index": index, "record": json.dumps(ray_runner.row_record(row)), "suffix": ".png",
                "data": (tmp_path / names[index]).read_bytes(), "fatal": ""}

    class Answers:
        def iter_rows(self):
            return iter([answer(2), answer(0), answer(2)])  # b's worker died: no answer

    monkeypatch.setattr(ray_runner, "ray_session", lambda ray, address: contextlib.nullcontext())
    asked = {}
    monkeypatch.setattr(ray_runner, "photo_dataset",
                        lambda ray, todo, job, **options: asked.update(options) or Answers())
    ledger = BatchLedger.open(tmp_path / "out", "job")
    summary = ray_runner.run_batch_on_ray(items, BatchJob("restore", RestoreOptions()), tmp_path / "out",
                                          ledger=ledger, make_zip=False, lang="ja")
    ledger.close()
    assert [(row.name, row.status, row.output) for row in summary.rows] == [
        ("a.png", "ok", "results/a_restore.png"), ("b.png", "error", ""), ("c.png", "ok", "results/c_restore.png")]
    assert summary.rows[1].message == ray_runner.LOST_MESSAGE.text("ja") != str(ray_runner.LOST_MESSAGE)
    assert asked["lang"] == "ja"  # the actors make their rows' sentences in the batch's language
    assert sorted(path.name for path in (tmp_path / "out" / "results").iterdir()) == ["a_restore.png", "c_restore.png"]
    assert len((tmp_path / "out" / "batch-ledger.jsonl").read_text().splitlines()) == 3


@needs_ray
def test_requirements_ray_txt_pins_what_is_installed():
    for line in (ROOT / "requirements-ray.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            name, version = (part.strip() for part in line.split("=="))
            assert importlib.metadata.version(name.split("[")[0]) == version, name


def test_plain_installs_do_not_pay_for_ray():
    """Ray is only in requirements-ray.txt (the test setup's, never the app's or the Space's),
    and only ray_runner imports it, inside its functions."""
    assert not re.search(r"^\s*ray\b", (ROOT / "requirements.txt").read_text(), re.MULTILINE)
    assert "requirements-ray" not in (ROOT / "Dockerfile").read_text()
    assert "-r requirements-ray.txt" in (ROOT / "requirements-dev.txt").read_text()
    importers = []
    for path in [*sorted((ROOT / "pipeline").rglob("*.py")), *sorted((ROOT / "webapp").rglob("*.py")), ROOT / "app.py"]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top_level = {id(node) for node in tree.body}
        for node in ast.walk(tree):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(name == "ray" or name.startswith("ray.") for name in names):
                importers.append((path.name, id(node) in top_level))
    assert importers and set(importers) == {("ray_runner.py", False)}


def test_a_secret_setting_never_reaches_the_actors(monkeypatch):
    """The driver's settings travel to every actor, except secrets (the metrics token)."""
    from types import SimpleNamespace

    from pipeline.batch import ray_runner
    from pipeline.core import settings

    calls = {}
    context = SimpleNamespace()
    fake = SimpleNamespace(is_initialized=lambda: False, shutdown=lambda: None,
                           init=lambda **kwargs: calls.update(kwargs),
                           data=SimpleNamespace(DataContext=SimpleNamespace(get_current=lambda: context)))
    monkeypatch.setenv(settings.METRICS_TOKEN, "a-very-secret-metrics-token-0123456789")
    monkeypatch.setenv(settings.WEIGHTS_DIR, "/shared/weights")
    with ray_runner.ray_session(fake, None):
        pass
    forwarded = calls["runtime_env"]["env_vars"]
    assert forwarded[settings.WEIGHTS_DIR] == "/shared/weights" and settings.METRICS_TOKEN not in forwarded
