"""The identity score: ArcFace (facexlib's IR-SE50, random weights of the real architecture,
saved in the published layout and loaded strictly through ModelStore) on real aligned faces.

What is checked: the 512 -> 112 template map (against an independent least-squares fit, the
published ArcFace template, ArcFace's own alignment of real faces, and the pixels the warp
produces); the preprocessing against the weights' own project's (facexlib's network and
loader, TreB1eN's transforms on a BGR image); the score's properties (1 for identical crops,
symmetric, batch-independent, unit embeddings); the bands against their published sources.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from pipeline.core.metrics import psnr
from pipeline.faces.align import FFHQ_TEMPLATE_512, alignment_matrix, compose, similarity_transform, warp_to_template
from pipeline.faces.detect import MTCNNDetector, detect_faces
from pipeline.models.store import ModelStore
from pipeline.restore import identity
from pipeline.restore.identity import ARCFACE_TEMPLATE_112, TEMPLATE_512_TO_112, IdentityScorer, arcface_crops
from pipeline.restore.identity_bands import (
    IDENTITY_BANDS,
    IDENTITY_THRESHOLD,
    SAME_PERSON_SCORE,
    describe_score,
    identity_band,
    identity_legend,
)


def _apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return np.hstack([points, np.ones((len(points), 1))]) @ matrix.T


@pytest.fixture(scope="module")
def faces(portraits) -> list[tuple[np.ndarray, np.ndarray]]:
    """(photo, landmarks) of the three shared portraits (a child, a young adult, the astronaut)."""
    detector = MTCNNDetector(torch.device("cpu"))
    return [(p.rgb, detect_faces(detector, p.rgb)[0].landmarks) for p in portraits]


@pytest.fixture(scope="module")
def aligned(faces) -> np.ndarray:
    """The three faces as the restore job aligns them: (3, 512, 512, 3) uint8."""
    return np.stack([warp_to_template(rgb, alignment_matrix(landmarks)) for rgb, landmarks in faces])


@pytest.fixture(scope="module")
def store(random_weights, cpu_compute) -> ModelStore:
    directory, manifest = random_weights
    return ModelStore(manifest, directory, cpu_compute)


@pytest.fixture(scope="module")
def scorer(store) -> IdentityScorer:
    return IdentityScorer(store)


@pytest.fixture(scope="module")
def embedded(scorer, aligned) -> np.ndarray:
    return scorer.embeddings(aligned)


# --- the 512 -> 112 map -------------------------------------------------------------------

def test_the_arcface_template_is_the_published_one():
    # insightface's arcface_dst (python-package/insightface/utils/face_align.py), the same points
    # TreB1eN's get_reference_facial_points(default_square=True) gives for 112x112.
    arcface_dst = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                            [41.5493, 92.3655], [70.7299, 92.2041]])
    assert np.abs(ARCFACE_TEMPLATE_112 - arcface_dst).max() < 1e-4


def test_the_template_map_is_the_least_squares_similarity_between_the_templates():
    """An independent fit, written the way cp2tform's 'similarity' solves it (one linear least
    squares in a, b, tx, ty), must give the same matrix. The templates are different shapes:
    the best similarity leaves each point 1.0 to 2.5 px (at 112) off ArcFace's, and no other
    similarity does better (a nudge of any parameter raises the squared error)."""
    rows, targets = [], []
    for (x, y), (u, v) in zip(FFHQ_TEMPLATE_512, ARCFACE_TEMPLATE_112):
        rows += [[x, y, 1.0, 0.0], [y, -x, 0.0, 1.0]]
        targets += [u, v]
    (a, b, tx, ty), *_ = np.linalg.lstsq(np.array(rows), np.array(targets), rcond=None)
    independent = np.array([[a, b, tx], [-b, a, ty]])
    assert np.abs(TEMPLATE_512_TO_112 - independent).max() < 1e-9

    residual = np.linalg.norm(_apply(TEMPLATE_512_TO_112, FFHQ_TEMPLATE_512) - ARCFACE_TEMPLATE_112, axis=1)
    assert 0.9 < residual.min() and residual.max() < 2.5
    error = (residual ** 2).sum()
    for step in np.vstack([np.eye(4), -np.eye(4)]) * [1e-4, 1e-4, 1e-2, 1e-2]:  # nudge a, b, tx, ty
        a2, b2, tx2, ty2 = np.array([a, b, tx, ty]) + step
        nudged = np.array([[a2, b2, tx2], [-b2, a2, ty2]])
        assert ((_apply(nudged, FFHQ_TEMPLATE_512) - ARCFACE_TEMPLATE_112) ** 2).sum() > error


def test_on_real_faces_the_crop_is_arcfaces_own_alignment(faces):
    """Photo -> 512 crop -> 112 crop puts each face's five landmarks within 0.5 px of where
    ArcFace's own alignment (a similarity fit of the landmarks to its template, straight from
    the photo) puts them; the two crops show the same pixels up to resampling."""
    import cv2

    for rgb, landmarks in faces:
        ours = compose(TEMPLATE_512_TO_112, alignment_matrix(landmarks))
        direct = similarity_transform(landmarks, ARCFACE_TEMPLATE_112)
        assert np.linalg.norm(_apply(ours, landmarks) - _apply(direct, landmarks), axis=1).max() < 0.5
        crop = arcface_crops(warp_to_template(rgb, alignment_matrix(landmarks))[None])[0]
        assert psnr(crop, cv2.warpAffine(rgb, direct, (112, 112))) > 26


def test_the_warp_puts_pixels_where_the_map_says():
    """Bright dots drawn at the 512 template's points land, in the 112 crop, within 0.1 px of
    where the map sends them (0.01 px measured): checks the area shrink and the pixel-centre
    conventions (a half-pixel slip in the shrink would move them 0.35 px)."""
    ys, xs = np.mgrid[0:512, 0:512].astype(np.float64)
    image = np.zeros((512, 512), dtype=np.float64)
    for x, y in FFHQ_TEMPLATE_512:
        image += np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * 5.0 ** 2))
    crop = np.repeat((image / image.max() * 255).round().astype(np.uint8)[..., None], 3, axis=2)
    small = arcface_crops(crop[None])[0, ..., 0].astype(np.float64)
    expected = _apply(TEMPLATE_512_TO_112, FFHQ_TEMPLATE_512)
    grid_y, grid_x = np.mgrid[0:112, 0:112].astype(np.float64)
    for x, y in expected:
        window = (np.abs(grid_x - x) < 5) & (np.abs(grid_y - y) < 5)
        weights = small * window
        centroid = np.array([(weights * grid_x).sum(), (weights * grid_y).sum()]) / weights.sum()
        assert np.linalg.norm(centroid - [x, y]) < 0.1


# --- preprocessing and network --------------------------------------------------------------

def test_preprocessing_matches_the_weights_own_pipeline(random_weights, aligned, embedded):
    """One crop: facexlib's Backbone loaded as facexlib's init_recognition_model loads it
    (strict state dict; it also moves the net to CUDA, which this test does not need), fed the
    way the weights' project feeds it: a BGR PIL image, ToTensor(), Normalize([0.5]*3, [0.5]*3)."""
    from facexlib.recognition import Backbone
    from PIL import Image
    from torchvision import transforms

    directory, manifest = random_weights
    reference = Backbone(num_layers=50, drop_ratio=0.6, mode="ir_se")
    reference.load_state_dict(torch.load(directory / manifest.get("arcface").file), strict=True)
    reference.eval()
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize([0.5] * 3, [0.5] * 3)])
    crop = arcface_crops(aligned[:1])[0]
    with torch.inference_mode():
        expected = reference(transform(Image.fromarray(np.ascontiguousarray(crop[..., ::-1])))[None])[0].numpy()
    assert np.abs(embedded[0] - expected).max() < 1e-5


def test_embeddings_are_unit_vectors_from_the_shared_network(store, scorer, embedded):
    assert embedded.shape == (3, 512) and embedded.dtype == np.float32
    assert np.abs(np.linalg.norm(embedded, axis=1) - 1.0).max() < 1e-5
    assert scorer.model == "arcface" and store.loaded_names() == ["arcface"]
    assert store.get("arcface") is store.get(scorer.model)  # loaded once, shared


def test_identical_crops_score_one_and_scores_are_symmetric(scorer, aligned, embedded):
    assert abs(scorer.scores(aligned[:1], aligned[:1])[0] - 1.0) < 1e-4
    forward, backward = scorer.scores(aligned[:1], aligned[1:2]), scorer.scores(aligned[1:2], aligned[:1])
    assert abs(forward[0] - backward[0]) < 1e-6
    between_people = embedded @ embedded.T
    assert between_people[~np.eye(3, dtype=bool)].max() < 0.99, "the network is degenerate: it tells no faces apart"


def test_a_batch_scores_like_one_face_at_a_time(scorer, aligned, embedded):
    """``embedded`` is the three faces in one call; each face alone must give the same."""
    singles = np.concatenate([scorer.embeddings(aligned[i:i + 1]) for i in (0, 2)])
    assert np.abs(singles - embedded[[0, 2]]).max() < 1e-5


def test_no_faces_need_no_network(random_weights, cpu_compute):
    directory, manifest = random_weights
    fresh = ModelStore(manifest, directory, cpu_compute)
    empty = np.zeros((0, 512, 512, 3), dtype=np.uint8)
    assert IdentityScorer(fresh).scores(empty, empty).shape == (0,)
    assert fresh.loaded_names() == []


def test_crops_of_another_size_are_refused(scorer):
    with pytest.raises(ValueError):
        scorer.embeddings(np.zeros((1, 256, 256, 3), dtype=np.uint8))


# --- bands ------------------------------------------------------------------------------------

def test_the_bands_come_from_the_published_thresholds():
    """Squared L2 distance d2 of unit embeddings -> cosine 1 - d2 / 2: TreB1eN's LFW threshold
    for these weights (1.392) and insightface's deploy threshold (1.24)."""
    assert IDENTITY_THRESHOLD == round(1 - 1.392 / 2, 2) == 0.30
    assert SAME_PERSON_SCORE == pytest.approx(1 - 1.24 / 2)
    floors = [band.floor for band in IDENTITY_BANDS]
    assert floors == sorted(floors, reverse=True) and floors[-1] == -1.0
    assert identity_band(0.62).verdict == "same person"
    assert identity_band(0.33).verdict == "probably the same person"
    assert identity_band(0.29).verdict == "identity changed"
    assert identity_legend() == ("0.38 or more: same person; 0.30 to 0.38: probably the same person; "
                                 "below 0.30: identity changed.")


def test_describe_score_is_one_plain_line_that_never_shows_another_band():
    line = describe_score(0.62)
    assert line.startswith("0.62: same person. ") and "\n" not in line
    assert describe_score(0.2).startswith("0.20: identity changed. ")
    for score in np.linspace(-1.0, 1.0, 4001):
        shown = float(describe_score(float(score)).split(":")[0])
        assert identity_band(shown) == identity_band(float(score)), score
    for band in IDENTITY_BANDS:  # visitor text: no model ids, paths or commands
        assert not any(word in band.meaning.lower() for word in ("arcface", "/", "python", ".pth"))


def test_the_scorer_follows_the_stores_device_and_precision(scorer, store):
    network = store.get(scorer.model)
    assert next(network.parameters()).device == store.compute.device
    assert identity.MAX_FACES_PER_CALL >= 16  # every face of an ordinary photo in one call
