"""Differential test: our GFPGAN stage against gfpgan's own GFPGANer (the reference).

Same random weights (real architecture), same aligned 512x512 face, same noise draws:
the outputs must agree to within one grey level (float rounding only)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline.core.metrics import psnr
from pipeline.faces.align import alignment_matrix, warp_to_template
from pipeline.faces.analysis import FaceAnalysis
from pipeline.faces.detect import Face, MTCNNDetector, detect_faces
from pipeline.models.accelerate import SpeedSettings
from pipeline.models.compat_basicsr import install_functional_tensor_alias
from pipeline.models.device import ComputeSettings
from pipeline.models.store import ModelStore, load_network
from pipeline.restore.engine import RestorationPipeline, RestoreOptions
from pipeline.restore.restorers import GFPGANRestorer


@pytest.fixture(scope="module")
def aligned_face(astronaut_rgb) -> np.ndarray:
    face = detect_faces(MTCNNDetector(torch.device("cpu")), astronaut_rgb)[0]
    return warp_to_template(astronaut_rgb, alignment_matrix(face.landmarks))


@pytest.fixture(scope="module")
def gfpgan_restorer(random_weights, cpu_compute) -> GFPGANRestorer:
    directory, manifest = random_weights
    entry = manifest.get("gfpgan-v1.4")
    return GFPGANRestorer(entry.name, load_network(entry, directory, cpu_compute), cpu_compute)


@pytest.fixture(scope="module")
def gfpganer(random_weights, tmp_path_factory):
    """gfpgan's GFPGANer on the same random weights. It also builds facexlib's detector and
    parser from ./gfpgan/weights; random weights of those real architectures go there so it
    never tries to download."""
    directory, manifest = random_weights
    root = tmp_path_factory.mktemp("gfpganer")
    reference_dir = root / "gfpgan" / "weights"
    reference_dir.mkdir(parents=True)
    for name in ("retinaface-r50", "parsenet"):
        shutil.copy(directory / manifest.get(name).file, reference_dir / manifest.get(name).file)
    install_functional_tensor_alias()
    from gfpgan import GFPGANer

    previous = Path.cwd()
    os.chdir(root)
    try:
        return GFPGANer(model_path=str(directory / manifest.get("gfpgan-v1.4").file), upscale=1, arch="clean",
                        channel_multiplier=2, device=torch.device("cpu"))
    finally:
        os.chdir(previous)


def test_matches_gfpganer_on_an_aligned_face(gfpganer, gfpgan_restorer, aligned_face):
    reference = gfpganer
    torch.manual_seed(2024)
    _, reference_faces, _ = reference.enhance(np.ascontiguousarray(aligned_face[..., ::-1]), has_aligned=True)
    expected = reference_faces[0][..., ::-1]

    torch.manual_seed(2024)  # same noise draws as the reference
    ours = gfpgan_restorer.restore_batch(aligned_face[None], noise="random")[0]

    assert ours.shape == expected.shape == (512, 512, 3)
    assert expected.std() > 5, "reference output is flat; the comparison would prove nothing"
    assert psnr(ours, aligned_face) < 30, "output equals the input: the model did not run"
    difference = np.abs(ours.astype(int) - expected.astype(int))
    assert difference.max() <= 1
    assert (difference > 0).mean() < 0.01
    assert psnr(ours, expected) > 55


def test_fixed_noise_is_deterministic_and_batching_changes_nothing(gfpgan_restorer, aligned_face):
    mirrored = np.ascontiguousarray(aligned_face[:, ::-1])
    batch = gfpgan_restorer.restore_batch(np.stack([aligned_face, mirrored]))
    single = gfpgan_restorer.restore_batch(aligned_face[None])[0]
    again = gfpgan_restorer.restore_batch(aligned_face[None])[0]
    assert np.array_equal(single, again)
    assert np.abs(batch[0].astype(int) - single.astype(int)).max() <= 1
    assert not np.array_equal(batch[0], batch[1])


class _GivenFaces(FaceAnalysis):
    """Our face hub with detection replaced by given faces (so only the implementations differ)."""

    given: list[Face] = []

    def detect(self, rgb, requested="auto", max_side=0):  # noqa: ANN001, ANN201
        return list(self.given), "given", []


def _reference_photo(gfpganer, rgb: np.ndarray, faces: list[Face]) -> np.ndarray:
    """GFPGANer.enhance on the whole photo with our landmarks and the checkpoint's fixed noise."""
    helper = gfpganer.face_helper
    network = gfpganer.gfpgan

    def given_landmarks(only_center_face=False, eye_dist_threshold=None, **_):  # noqa: ANN001, ANN202
        for face in faces:
            helper.all_landmarks_5.append(np.asarray(face.landmarks, dtype=np.float32))
            helper.det_faces.append(np.array([*face.box, face.score], dtype=np.float32))
        return len(faces)

    helper.get_face_landmarks_5 = given_landmarks
    gfpganer.gfpgan = lambda *args, **kwargs: network(*args, **{**kwargs, "randomize_noise": False})
    try:
        _, _, restored = gfpganer.enhance(np.ascontiguousarray(rgb[..., ::-1]), paste_back=True)
    finally:
        gfpganer.gfpgan = network
        del helper.get_face_landmarks_5
    return np.ascontiguousarray(restored[..., ::-1])


@pytest.fixture(scope="module")
def reference_photo(gfpganer, astronaut_rgb):
    faces = detect_faces(MTCNNDetector(torch.device("cpu")), astronaut_rgb)
    return faces, _reference_photo(gfpganer, astronaut_rgb, faces)


@pytest.mark.parametrize("dtype, speed, bound_db", [
    (torch.float32, SpeedSettings.plain(), 40.0),
    (torch.float32, SpeedSettings(), 40.0),  # CPU defaults: channels-last, folded batch-norm
    # what "auto" runs on a CPU with native bf16 (where it is emulated, "auto" stays in float32)
    pytest.param(torch.bfloat16, SpeedSettings(), 35.0, marks=pytest.mark.native_bf16),
    (torch.float32, SpeedSettings(device_paste=True, max_batch=4), 40.0),
])
def test_whole_photo_matches_gfpganer_given_the_same_detections(random_weights, reference_photo, astronaut_rgb,
                                                                 dtype, speed, bound_db):
    """Issue 5's output bound: same detections, weights and noise maps; only the implementation differs
    (our mask is GFPGAN's ParseNet mask computed on the device, our paste warps only the face's rectangle)."""
    directory, manifest = random_weights
    faces, expected = reference_photo
    hub = _GivenFaces(ModelStore(manifest, directory, ComputeSettings(torch.device("cpu"), dtype), speed=speed))
    hub.given = faces
    pipeline = RestorationPipeline(faces=hub)
    result = pipeline.restore(astronaut_rgb, RestoreOptions())
    assert result.masker == "parsenet"
    assert psnr(expected, astronaut_rgb) < 30, "the reference changed nothing: the comparison would prove nothing"
    assert psnr(result.image, expected) > bound_db
