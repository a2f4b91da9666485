"""Differential test: our GFPGAN stage against gfpgan's own GFPGANer (the reference).

Same random weights (real architecture), same aligned 512x512 face, same noise draws:
the outputs must agree to within one grey level (float rounding only)."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from pipeline.align import alignment_matrix, warp_to_template
from pipeline.compat_basicsr import install_functional_tensor_alias
from pipeline.detect import MTCNNDetector, detect_faces
from pipeline.metrics import psnr
from pipeline.models import load_network
from pipeline.restore import GFPGANRestorer


@pytest.fixture(scope="module")
def aligned_face(astronaut_rgb) -> np.ndarray:
    face = detect_faces(MTCNNDetector(torch.device("cpu")), astronaut_rgb)[0]
    return warp_to_template(astronaut_rgb, alignment_matrix(face.landmarks))


@pytest.fixture(scope="module")
def gfpgan_restorer(random_weights, cpu_compute) -> GFPGANRestorer:
    directory, manifest = random_weights
    entry = manifest.get("gfpgan-v1.4")
    return GFPGANRestorer(entry.name, load_network(entry, directory, cpu_compute), cpu_compute)


def test_matches_gfpganer_on_an_aligned_face(random_weights, gfpgan_restorer, aligned_face, tmp_path, monkeypatch):
    directory, manifest = random_weights
    # GFPGANer also builds facexlib's detector and parser from ./gfpgan/weights; give it
    # random weights of those real architectures there so it never tries to download.
    monkeypatch.chdir(tmp_path)
    reference_dir = tmp_path / "gfpgan" / "weights"
    reference_dir.mkdir(parents=True)
    for name in ("retinaface-r50", "parsenet"):
        shutil.copy(directory / manifest.get(name).file, reference_dir / manifest.get(name).file)
    install_functional_tensor_alias()
    from gfpgan import GFPGANer

    reference = GFPGANer(
        model_path=str(directory / manifest.get("gfpgan-v1.4").file), upscale=1, arch="clean",
        channel_multiplier=2, device=torch.device("cpu"),
    )
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
