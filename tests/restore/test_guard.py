"""The identity guard, and the per-face strengths it hands to the paste.

The search is checked twice: with a stub scorer whose score is a known function of the
strength (so the right answer is known), and with random-weight GFPGAN and ArcFace of the real
architectures on the real astronaut face, where a random restorer destroys the identity.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from pipeline.core.metrics import psnr
from pipeline.faces.align import alignment_matrix, compose, warp_to_template
from pipeline.faces.detect import MTCNNDetector, detect_faces
from pipeline.models.store import ModelStore, load_network
from pipeline.restore.guard import GUARD_STEPS, GuardedStrength, blend_crops, guard_strengths, scores_at
from pipeline.restore.identity import IdentityScorer
from pipeline.restore.identity_bands import IDENTITY_THRESHOLD
from pipeline.restore.paste import paste_faces, paste_faces_on_device
from pipeline.restore.restorers import GFPGANRestorer

# --- a stub scorer whose score is a known function of the strength --------------------------


class CurveScorer:
    """Face k's original crop is black, its restored crop white, and pixel (0, 0) holds the tag
    k in both, so a blend at strength s reads 255 * s everywhere else (rounded) and still
    names its face. Embeddings are 2-D unit vectors at an angle whose cosine with the
    original's is ``curves[k](s)``; every call is recorded (its batch size)."""

    def __init__(self, curves: list) -> None:
        self.curves = curves
        self.calls: list[int] = []

    def embeddings(self, aligned: np.ndarray) -> np.ndarray:
        self.calls.append(len(aligned))
        rows = []
        for crop in aligned:
            strength = crop[256, 256, 0] / 255.0
            score = float(np.clip(self.curves[int(crop[0, 0, 0])](strength), -1.0, 1.0))
            rows.append([score, np.sqrt(1.0 - score ** 2)])
        return np.array(rows, dtype=np.float32)


def stub_crops(count: int) -> tuple[np.ndarray, np.ndarray]:
    original = np.zeros((count, 512, 512, 3), dtype=np.uint8)
    restored = np.full((count, 512, 512, 3), 255, dtype=np.uint8)
    for k in range(count):
        original[k, 0, 0], restored[k, 0, 0] = k, k
    return original, restored


def test_the_bisection_finds_where_each_score_crosses_the_threshold():
    curves = [lambda s: 1.0 - s, lambda s: 1.0 - 2.0 * s, lambda s: 1.0 - 0.9 * s ** 2]
    crossings = [0.70, 0.35, np.sqrt(0.7 / 0.9)]  # where each curve meets 0.30
    scorer = CurveScorer(curves)
    original, restored = stub_crops(3)
    results = guard_strengths(original, restored, 1.0, scorer)

    for result, curve, crossing in zip(results, curves, crossings):
        assert result.acted and result.asked == 1.0
        assert result.score_asked == pytest.approx(curve(1.0), abs=1e-6)
        # the highest passing strength, to within the bisection's step (plus the uint8 blend)
        assert crossing - 1.0 / 2 ** GUARD_STEPS - 1 / 255 <= result.used <= crossing + 1 / 255
        assert result.score_used >= IDENTITY_THRESHOLD
        assert result.score_used == pytest.approx(curve(round(255 * result.used) / 255), abs=1e-6)
    assert scorer.calls == [6] + [3] * GUARD_STEPS  # originals + asked blends, then one batch per step


def test_faces_that_pass_keep_the_asked_strength_exactly():
    scorer = CurveScorer([lambda s: 1.0 - 0.1 * s, lambda s: 1.0 - s, lambda s: 1.0 - s])
    original, restored = stub_crops(3)
    results = guard_strengths(original, restored, [0.8, 0.5, 1.0], scorer)
    assert results[0] == GuardedStrength(0.8, 0.8, results[0].score_asked, results[0].score_asked, False)
    assert results[1].used == 0.5 and not results[1].acted  # 1 - 0.5 clears 0.30 at the asked 0.5
    assert results[2].acted and results[2].used < 0.71
    assert scorer.calls == [6] + [1] * GUARD_STEPS  # only the failing face is searched

    passing = CurveScorer([lambda s: 1.0 - 0.1 * s])
    assert not guard_strengths(*stub_crops(1), 0.6, passing)[0].acted
    assert passing.calls == [2]  # one network call when every face passes


def test_strength_zero_scores_one_without_the_network():
    scorer = CurveScorer([lambda s: 1.0 - s, lambda s: 1.0 - s])
    original, restored = stub_crops(2)
    assert guard_strengths(original, restored, 0.0, scorer) == [GuardedStrength(0.0, 0.0, 1.0, 1.0, False)] * 2
    assert scores_at(original, restored, [0.0, 0.0], scorer).tolist() == [1.0, 1.0]
    assert scorer.calls == []
    mixed = scores_at(original, restored, [0.0, 0.5], scorer)
    assert mixed[0] == 1.0 and mixed[1] == pytest.approx(1.0 - 128 / 255) and scorer.calls == [2]


def test_a_face_that_never_passes_gets_strength_zero():
    results = guard_strengths(*stub_crops(1), 1.0, CurveScorer([lambda s: 0.1 if s > 0 else 1.0]))
    assert results[0].used == 0.0 and results[0].score_used == 1.0 and results[0].acted


def test_bad_arguments_are_refused():
    original, restored = stub_crops(2)
    scorer = CurveScorer([lambda s: 1.0] * 2)
    for strength in (1.5, -0.1, [1.0], [0.5, 0.5, 0.5]):
        with pytest.raises(ValueError):
            guard_strengths(original, restored, strength, scorer)
    with pytest.raises(ValueError):
        guard_strengths(original, restored[:1], 1.0, scorer)


def test_the_blend_is_the_pastes_inside_the_face():
    original, restored = stub_crops(2)
    blended = blend_crops(original, restored, [0.25, 1.0])
    assert blended[0, 256, 256, 0] == round(0.25 * 255) and np.array_equal(blended[1], restored[1])
    assert GuardedStrength(1.0, 0.5, 0.1, 0.4, True).to_dict() == {
        "asked_strength": 1.0, "used_strength": 0.5, "identity_asked": 0.1, "identity_used": 0.4,
        "guard_acted": True}


# --- the real networks: random GFPGAN on the astronaut destroys the identity ------------------


@pytest.fixture(scope="module")
def astronaut_face(astronaut_rgb) -> tuple[np.ndarray, np.ndarray]:
    """The astronaut's landmarks and aligned 512 crop."""
    landmarks = detect_faces(MTCNNDetector(torch.device("cpu")), astronaut_rgb)[0].landmarks
    return landmarks, warp_to_template(astronaut_rgb, alignment_matrix(landmarks))


@pytest.fixture(scope="module")
def restored_astronaut(random_weights, cpu_compute, astronaut_face) -> tuple[np.ndarray, np.ndarray]:
    directory, manifest = random_weights
    entry = manifest.get("gfpgan-v1.4")
    restorer = GFPGANRestorer(entry.name, load_network(entry, directory, cpu_compute), cpu_compute)
    original = astronaut_face[1][None]
    return original, restorer.restore_batch(original)


@pytest.fixture(scope="module")
def scorer(random_weights, cpu_compute) -> IdentityScorer:
    directory, manifest = random_weights
    return IdentityScorer(ModelStore(manifest, directory, cpu_compute))


def test_random_gfpgan_loses_the_identity_and_the_guard_finds_a_strength_that_keeps_it(
        restored_astronaut, scorer):
    """With random weights the restored face is noise (about 7 dB from the input) and even a
    random ArcFace scores it far under the real threshold (0.02 measured), so the real
    threshold is used. The guard lowers the strength to one whose score, measured again, clears
    it, while one bisection step higher does not."""
    original, restored = restored_astronaut
    assert psnr(original[0], restored[0]) < 15
    results = guard_strengths(original, restored, 1.0, scorer)
    result = results[0]
    assert result.score_asked < IDENTITY_THRESHOLD and result.acted
    assert 0.0 < result.used < 1.0 and result.score_used >= IDENTITY_THRESHOLD
    step = 1.0 / 2 ** GUARD_STEPS
    again, above = scores_at(np.repeat(original, 2, axis=0), np.repeat(restored, 2, axis=0),
                             [result.used, result.used + step], scorer)
    assert again == pytest.approx(result.score_used, abs=1e-5)
    assert above < IDENTITY_THRESHOLD


# --- per-face strengths in the paste ----------------------------------------------------------


@pytest.fixture(scope="module")
def two_faces(astronaut_rgb, astronaut_face):
    """The astronaut twice, side by side; restored crops inverted so any paste shows; a mask
    over the middle of each crop."""
    landmarks, crop = astronaut_face
    canvas = np.ascontiguousarray(np.hstack([astronaut_rgb, astronaut_rgb]))
    first = alignment_matrix(landmarks)
    second = compose(first, np.array([[1.0, 0.0, -astronaut_rgb.shape[1]], [0.0, 1.0, 0.0]]))
    faces = np.stack([255 - crop, 255 - crop])
    masks = np.zeros((2, 512, 512), dtype=np.float32)
    masks[:, 90:430, 110:400] = 1.0
    return canvas, faces, masks, [first, second]


def _pastes(two_faces, strength):
    canvas, faces, masks, matrices = two_faces
    return (paste_faces(canvas, faces, masks, matrices, 1, strength),
            paste_faces_on_device(canvas, faces, masks, matrices, 1, strength, torch.device("cpu")))


def test_a_face_at_strength_zero_is_left_as_it_was(two_faces):
    canvas = two_faces[0]
    half = canvas.shape[1] // 2
    for strengths, kept, changed in (([1.0, 0.0], slice(half, None), slice(0, half)),
                                     ([0.0, 1.0], slice(0, half), slice(half, None))):
        for pasted in _pastes(two_faces, strengths):
            assert np.array_equal(pasted[:, kept], canvas[:, kept])
            assert psnr(pasted[:, changed], canvas[:, changed]) < 30


def test_one_float_pastes_exactly_like_that_float_for_every_face(two_faces):
    canvas = two_faces[0]
    for strength in (0.0, 0.6, 1.0):
        for single, per_face in zip(_pastes(two_faces, strength), _pastes(two_faces, [strength, strength])):
            assert np.array_equal(single, per_face)
            assert np.array_equal(single, canvas) == (strength == 0.0)
    with pytest.raises(ValueError):
        _pastes(two_faces, [1.0])
