"""Detection, alignment and paste-back geometry on a real photo (the astronaut)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from pipeline.core.errors import InvalidOptionError
from pipeline.core.metrics import psnr
from pipeline.faces.align import FFHQ_TEMPLATE_512, alignment_matrix, similarity_transform
from pipeline.faces.detect import Face, MTCNNDetector, detect_faces, select_faces
from pipeline.restore.engine import RestorationPipeline, RestoreOptions
from pipeline.restore.restorers import IdentityRestorer


@pytest.fixture(scope="module")
def mtcnn() -> MTCNNDetector:
    return MTCNNDetector(torch.device("cpu"))


@pytest.fixture(scope="module")
def identity_pipeline(cpu_compute) -> RestorationPipeline:
    """Detect-align-paste with the restorer replaced by identity (no weights needed)."""
    return RestorationPipeline(compute=cpu_compute, restorer_factory=lambda name: IdentityRestorer())


def _face_region(face: Face, shape: tuple[int, ...], scale: float = 1.0) -> tuple[slice, slice]:
    x1, y1, x2, y2 = (v * scale for v in face.box)
    return slice(max(int(y1), 0), min(int(y2), shape[0])), slice(max(int(x1), 0), min(int(x2), shape[1]))


def test_offline_detector_finds_the_astronaut(mtcnn, astronaut_rgb):
    faces = detect_faces(mtcnn, astronaut_rgb)
    assert len(faces) == 1
    face = faces[0]
    assert face.score > 0.99
    left_eye, right_eye, nose, mouth_left, mouth_right = face.landmarks
    assert left_eye[0] < right_eye[0] and mouth_left[0] < mouth_right[0]
    assert left_eye[1] < nose[1] < mouth_left[1]
    x1, y1, x2, y2 = face.box
    assert all(x1 < x < x2 and y1 < y < y2 for x, y in face.landmarks)
    assert 150 < face.centre[0] < 300 and 60 < face.centre[1] < 180  # her face, not the flag or suit


def test_detection_on_a_bounded_copy_maps_back_to_full_resolution(mtcnn, astronaut_rgb):
    big = cv2.resize(astronaut_rgb, (2048, 2048), interpolation=cv2.INTER_CUBIC)
    small_faces = detect_faces(mtcnn, astronaut_rgb, max_side=1280)
    big_faces = detect_faces(mtcnn, big, max_side=512)  # detected at 512, reported at 2048
    assert len(big_faces) == 1
    expected = (small_faces[0].landmarks + 0.5) * 4 - 0.5
    error = np.linalg.norm(big_faces[0].landmarks - expected, axis=1).max()
    assert error < 0.05 * big_faces[0].eye_distance


def test_similarity_transform_recovers_a_known_transform():
    angle, scale, shift = np.deg2rad(17), 1.7, np.array([12.5, -40.0])
    rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    source = FFHQ_TEMPLATE_512 / 3 + 20
    target = source @ rotation.T + shift
    matrix = similarity_transform(source, target)
    assert np.allclose(matrix[:, :2], rotation, atol=1e-9)
    assert np.allclose(matrix[:, 2], shift, atol=1e-7)


def test_alignment_puts_landmarks_on_the_template(mtcnn, astronaut_rgb):
    face = detect_faces(mtcnn, astronaut_rgb)[0]
    matrix = alignment_matrix(face.landmarks)
    mapped = np.hstack([face.landmarks, np.ones((5, 1))]) @ matrix.T
    assert np.abs(mapped - FFHQ_TEMPLATE_512).max() < 25  # 5 real landmarks vs the mean template


def test_detect_align_paste_with_identity_reproduces_the_input(identity_pipeline, astronaut_rgb):
    result = identity_pipeline.restore(astronaut_rgb, RestoreOptions(detector="mtcnn"))
    assert result.image.shape == astronaut_rgb.shape
    assert [report.restored for report in result.faces] == [True]
    rows, cols = _face_region(result.faces[0].face, astronaut_rgb.shape)
    assert psnr(result.image[rows, cols], astronaut_rgb[rows, cols]) > 40
    assert psnr(result.image, astronaut_rgb) > 40


def test_identity_paste_with_upscale_matches_the_resized_photo(identity_pipeline, astronaut_rgb):
    result = identity_pipeline.restore(astronaut_rgb, RestoreOptions(detector="mtcnn", upscale=2))
    assert result.image.shape == (1024, 1024, 3)
    resized = cv2.resize(astronaut_rgb, (1024, 1024), interpolation=cv2.INTER_CUBIC)
    rows, cols = _face_region(result.faces[0].face, resized.shape, scale=2)
    assert psnr(result.image[rows, cols], resized[rows, cols]) > 35


def test_strength_zero_returns_the_input_unchanged(random_pipeline, astronaut_rgb):
    result = random_pipeline.restore(astronaut_rgb, RestoreOptions(detector="mtcnn", strength=0.0))
    assert np.array_equal(result.image, astronaut_rgb)
    assert len(result.faces) == 1 and not result.faces[0].restored


def test_strength_is_a_real_blend(random_pipeline, astronaut_rgb):
    full = random_pipeline.restore(astronaut_rgb, RestoreOptions(detector="mtcnn", strength=1.0)).image
    half = random_pipeline.restore(astronaut_rgb, RestoreOptions(detector="mtcnn", strength=0.5)).image
    changed = np.abs(full.astype(int) - astronaut_rgb.astype(int)).max(axis=2) > 20
    assert changed.sum() > 2000, "full strength should visibly change the face"
    midpoint = (full.astype(float) + astronaut_rgb.astype(float)) / 2
    # a 50 % blend lies between: within a few levels of the midpoint where the mask is ~1,
    # and never outside the range spanned by original and full restoration
    low = np.minimum(full, astronaut_rgb).astype(int) - 1
    high = np.maximum(full, astronaut_rgb).astype(int) + 1
    assert np.all((half >= low) & (half <= high))
    assert psnr(half, astronaut_rgb) > psnr(full, astronaut_rgb) + 3
    assert np.abs(half[changed] - midpoint[changed]).mean() < np.abs(full[changed] - midpoint[changed]).mean()


def test_no_face_returns_the_original_with_a_warning(identity_pipeline):
    blank = np.full((300, 400, 3), 200, np.uint8)
    result = identity_pipeline.restore(blank, RestoreOptions(detector="mtcnn"))
    assert np.array_equal(result.image, blank)
    assert result.faces == []
    assert any("No face found" in str(warning) for warning in result.warnings)


def test_group_photo_all_faces_one_batch_and_face_limit(identity_pipeline, astronaut_rgb):
    group = np.hstack([astronaut_rgb, astronaut_rgb[:, ::-1]])
    result = identity_pipeline.restore(group, RestoreOptions(detector="mtcnn"))
    assert sum(report.restored for report in result.faces) == 2
    limited = identity_pipeline.restore(group, RestoreOptions(detector="mtcnn", max_faces=1))
    assert sum(report.restored for report in limited.faces) == 1
    assert any("restored the 1 largest" in str(warning) for warning in limited.warnings)
    centre = identity_pipeline.restore(group, RestoreOptions(detector="mtcnn", only_centre_face=True))
    assert sum(report.restored for report in centre.faces) == 1


def test_select_faces_prefers_the_centre_and_drops_tiny_faces():
    def face(cx: float, cy: float, size: float, eye: float = 30.0) -> Face:
        landmarks = np.array([[cx - eye / 2, cy], [cx + eye / 2, cy], [cx, cy + 5], [cx - 8, cy + 12], [cx + 8, cy + 12]],
                             np.float32)
        return Face((cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2), landmarks, 0.99)

    faces = [face(100, 100, 80), face(500, 400, 60), face(300, 300, 10, eye=2)]
    chosen, warnings = select_faces(faces, (1000, 800), only_centre_face=True)
    assert [f.centre for f in chosen] == [(500.0, 400.0)]
    assert any("too small" in str(w) for w in warnings)


@pytest.mark.parametrize(
    "options",
    [RestoreOptions(strength=1.5), RestoreOptions(upscale=8), RestoreOptions(model="gfpgan-v9"),
     RestoreOptions(detector="nope"), RestoreOptions(max_faces=0)],
)
def test_bad_options_are_refused_clearly(identity_pipeline, astronaut_rgb, options):
    with pytest.raises(InvalidOptionError) as error:
        identity_pipeline.restore(astronaut_rgb, options)
    assert error.value.user_message
