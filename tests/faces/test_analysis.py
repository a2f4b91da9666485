"""The face-analysis hub: detectors and parsers come from tables keyed by the manifest's
``arch``, are built once, and are shared by the restoration, cut-out and ID-photo jobs."""
from __future__ import annotations

import dataclasses
import threading
import time

import numpy as np
import pytest

from pipeline.core.errors import InvalidOptionError
from pipeline.cutout.cutter import CutoutPipeline
from pipeline.cutout.matting import MATTING_NETWORKS
from pipeline.faces import registry
from pipeline.faces.analysis import FALLBACK_MASKER, OFFLINE_DETECTOR_NOTE, PASTE_FALLBACK_NOTE, FaceAnalysis
from pipeline.faces.detect import Face
from pipeline.idphoto.maker import IdPhotoPipeline
from pipeline.models.manifest import Manifest, load_manifest
from pipeline.models.store import ModelStore
from pipeline.restore.engine import RestorationPipeline

A_FACE = Face(box=(100.0, 80.0, 300.0, 330.0), score=0.99,
              landmarks=np.array([[160, 180], [240, 180], [200, 230], [170, 280], [230, 280]], np.float32))


class _OneFaceDetector:
    name = "one-face"

    def detect(self, rgb: np.ndarray) -> list[Face]:
        return [A_FACE]


def _with_detector(manifest: Manifest, name: str, arch: str) -> Manifest:
    """The manifest plus a bundled detector (no file to fetch) of architecture ``arch``."""
    template = manifest.get("mtcnn")
    return Manifest((*manifest.entries, dataclasses.replace(template, name=name, arch=arch)))


def test_every_detector_and_the_default_parser_and_matting_model_have_a_runner():
    manifest = load_manifest()
    detectors = [manifest.get(name).arch for name in manifest.names("detector")]
    assert [arch for arch in detectors if arch not in registry.DETECTORS] == []
    assert manifest.default("parser").arch in registry.PARSERS
    assert manifest.default("matting").arch in MATTING_NETWORKS


def test_a_new_detector_is_a_manifest_entry_plus_a_table_row(cpu_compute, tmp_path, monkeypatch):
    hub = FaceAnalysis(ModelStore(_with_detector(load_manifest(), "one-face", "one_face_arch"), tmp_path, cpu_compute))
    with pytest.raises(InvalidOptionError, match="Detector 'one-face' is not supported"):
        hub.detector("one-face")  # no row yet: a clear error, not a crash or a silent MTCNN
    monkeypatch.setitem(registry.DETECTORS, "one_face_arch", lambda store, entry: _OneFaceDetector())
    faces, used, notes = hub.detect(np.zeros((400, 400, 3), np.uint8), "one-face")
    assert [face.box for face in faces] == [A_FACE.box]
    assert (used, notes) == ("one-face", [])


def test_a_model_of_another_kind_is_not_a_detector(cpu_compute, tmp_path):
    hub = FaceAnalysis(ModelStore(directory=tmp_path, compute=cpu_compute))
    with pytest.raises(InvalidOptionError, match="not supported"):
        hub.detector("parsenet")


def test_auto_falls_back_to_the_bundled_detector_with_a_plain_note(cpu_compute, tmp_path):
    hub = FaceAnalysis(ModelStore(directory=tmp_path, compute=cpu_compute))  # no weights at all
    name, notes = hub.resolve_detector("auto")
    assert name == "mtcnn"
    assert notes == [OFFLINE_DETECTOR_NOTE]  # plain words: no model id, no command
    assert "retinaface" not in str(notes[0]).lower() and "python" not in str(notes[0])
    assert hub.resolve_detector("mtcnn") == ("mtcnn", [])


def test_auto_uses_the_default_detector_when_its_weights_are_there(random_weights, cpu_compute):
    directory, manifest = random_weights
    hub = FaceAnalysis(ModelStore(manifest, directory, cpu_compute))
    assert hub.resolve_detector("auto") == ("retinaface-r50", [])
    assert type(hub.detector("retinaface-r50")).__name__ == "RetinaFaceDetector"


def test_paste_masks_come_from_the_parser_or_a_labelled_fallback(random_weights, cpu_compute, tmp_path):
    faces = np.full((2, 512, 512, 3), 128, np.uint8)
    directory, manifest = random_weights
    parsed = FaceAnalysis(ModelStore(manifest, directory, cpu_compute)).paste_masks(faces)
    assert parsed.masker == "parsenet" and parsed.warning is None
    assert parsed.masks.shape == (2, 512, 512)
    fallback = FaceAnalysis(ModelStore(directory=tmp_path, compute=cpu_compute)).paste_masks(faces)
    assert fallback.masker == FALLBACK_MASKER and fallback.masks.shape == (2, 512, 512)
    assert fallback.warning == PASTE_FALLBACK_NOTE and "parsenet" not in str(fallback.warning).lower()


def test_one_hub_serves_every_job(cpu_compute, tmp_path):
    hub = FaceAnalysis(ModelStore(directory=tmp_path, compute=cpu_compute))
    assert RestorationPipeline(faces=hub).faces is hub
    assert CutoutPipeline(hub).faces is hub
    assert IdPhotoPipeline(hub).cutter.faces is hub
    with pytest.raises(ValueError, match="not both"):
        RestorationPipeline(compute=cpu_compute, faces=hub)


def test_concurrent_first_requests_build_a_detector_once(cpu_compute, tmp_path, monkeypatch):
    built: list[object] = []

    def slow_factory(store, entry):  # noqa: ANN001, ANN202
        time.sleep(0.05)  # wide window for a second thread to race in
        built.append(object())
        return _OneFaceDetector()

    monkeypatch.setitem(registry.DETECTORS, "one_face_arch", slow_factory)
    hub = FaceAnalysis(ModelStore(_with_detector(load_manifest(), "one-face", "one_face_arch"), tmp_path, cpu_compute))
    got: list[object] = []
    threads = [threading.Thread(target=lambda: got.append(hub.detector("one-face"))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(built) == 1 and len(got) == 8 and all(d is got[0] for d in got)
