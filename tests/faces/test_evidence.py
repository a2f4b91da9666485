"""Facial evidence beyond five points (issue 14): the dense mesh, face parsing as a second
opinion on the chin, the 3-D head pose, and how the head measurement chooses among them."""
from __future__ import annotations

import math
import threading

import cv2
import numpy as np
import pytest

from pipeline.faces.analysis import FaceAnalysis
from pipeline.faces.detect import Face
from pipeline.faces.evidence import FaceEvidence
from pipeline.faces.geometry import HEAD_TOP_NO_HAIR, measure_head
from pipeline.faces.mesh import MESH_POINTS, DenseLandmarks, FaceMeshLandmarker
from pipeline.faces.parsing import NECK, SKIN, UPPER_LIP, FaceParsing
from pipeline.faces.pose import head_pose
from pipeline.models.store import ModelStore


@pytest.fixture(scope="module")
def hub(cpu_compute, tmp_path_factory) -> FaceAnalysis:
    """No downloaded weights: MTCNN and the mesh (both inside their wheels), no parser."""
    return FaceAnalysis(ModelStore(directory=tmp_path_factory.mktemp("no-weights"), compute=cpu_compute))


@pytest.fixture(scope="module")
def astronaut_face(hub, astronaut_rgb) -> Face:
    faces, _, _ = hub.detect(astronaut_rgb)
    return max(faces, key=lambda f: f.area)


def _rotated(dense: DenseLandmarks, axis: str, degrees: float) -> DenseLandmarks:
    t = math.radians(degrees)
    c, s = math.cos(t), math.sin(t)
    matrix = {"x": [[1, 0, 0], [0, c, -s], [0, s, c]], "y": [[c, 0, s], [0, 1, 0], [-s, 0, c]]}[axis]
    centre = dense.points.mean(axis=0)
    return DenseLandmarks((dense.points - centre) @ np.array(matrix).T + centre)


@pytest.mark.mediapipe
def test_mesh_describes_the_detected_face(hub, astronaut_rgb, astronaut_face):
    dense = hub.dense_landmarks(astronaut_rgb, astronaut_face)
    assert dense is not None and dense.points.shape == (478, 3)
    # irises on the detector's eyes, chin below the mouth, forehead above the eyes
    assert np.linalg.norm(dense.eye_left - astronaut_face.landmarks[0]) < 0.2 * astronaut_face.eye_distance
    assert np.linalg.norm(dense.eye_right - astronaut_face.landmarks[1]) < 0.2 * astronaut_face.eye_distance
    assert dense.point("chin")[1] > dense.point("mouth_left")[1] > dense.eye_left[1] > dense.point("forehead_top")[1]


@pytest.mark.mediapipe
def test_mesh_follows_the_chosen_face_among_several(hub, astronaut_rgb):
    """Two copies side by side: each detection gets its own mesh, never the other face's."""
    pair = np.ascontiguousarray(np.hstack([astronaut_rgb, astronaut_rgb[:, ::-1]]))
    faces, _, _ = hub.detect(pair)
    big = sorted(faces, key=lambda f: f.area, reverse=True)[:2]
    assert len(big) == 2
    for face in big:
        dense = hub.dense_landmarks(pair, face)
        assert dense is not None
        assert face.box[0] - 5 < dense.point("nose_tip")[0] < face.box[2] + 5


@pytest.mark.mediapipe
def test_a_box_without_a_face_gives_no_mesh(astronaut_rgb):
    wall = np.full((400, 400, 3), 200, np.uint8)
    fake = Face((100.0, 100.0, 200.0, 220.0), np.array([[130, 150], [170, 150], [150, 170], [135, 195],
                                                        [165, 195]], np.float32), 0.9)
    assert FaceMeshLandmarker().landmarks(wall, fake) is None


@pytest.mark.mediapipe
def test_the_landmarker_is_safe_to_share_between_threads(astronaut_rgb, astronaut_face):
    landmarker = FaceMeshLandmarker()
    expected = landmarker.landmarks(astronaut_rgb, astronaut_face).points
    results: list[np.ndarray] = []

    def work() -> None:
        for _ in range(3):
            results.append(landmarker.landmarks(astronaut_rgb, astronaut_face).points)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 9 and all(np.allclose(r, expected) for r in results)


@pytest.mark.mediapipe
@pytest.mark.parametrize("axis, degrees", [("y", 12.0), ("y", -20.0), ("x", 10.0), ("x", -15.0)])
def test_pose_recovers_a_known_3d_rotation_of_a_real_mesh(hub, astronaut_rgb, astronaut_face, axis, degrees):
    dense = hub.dense_landmarks(astronaut_rgb, astronaut_face)
    before = head_pose(dense)
    after = head_pose(_rotated(dense, axis, degrees))
    turned = (after.yaw_deg - before.yaw_deg, after.pitch_deg - before.pitch_deg)
    expected = (-degrees, 0.0) if axis == "y" else (0.0, degrees)  # y-rotation by +t moves the nose left
    assert turned == pytest.approx(expected, abs=0.5)


@pytest.mark.mediapipe
def test_yaw_sign_follows_the_nose_and_a_mirror_flips_it(hub, portraits):
    man = next(p for p in portraits if p.name == "man_white.jpg")
    mirrored = np.ascontiguousarray(man.rgb[:, ::-1])
    yaws = []
    for rgb in (man.rgb, mirrored):
        faces, _, _ = hub.detect(rgb)
        yaws.append(head_pose(hub.dense_landmarks(rgb, faces[0])).yaw_deg)
    assert yaws[0] == pytest.approx(-yaws[1], abs=1.0) and abs(yaws[0]) > 1.0


def test_transformed_mesh_follows_the_photo():
    points = np.array([[10.0, 20.0, 3.0], [30.0, 40.0, -2.0]] + [[0.0, 0.0, 0.0]] * 476)
    matrix = cv2.getRotationMatrix2D((0.0, 0.0), 90.0, 2.0)  # rotate and double
    moved = DenseLandmarks(points).transformed(matrix)
    assert moved.points[0] == pytest.approx([2 * 20.0, -2 * 10.0, 6.0])
    assert moved.points[1, 2] == pytest.approx(-4.0)


def _parsing_with_chin(chin_row: int, size: int = 512) -> FaceParsing:
    """A face whose skin runs from the mouth down to ``chin_row``, the neck below it; the
    crop is the photo shifted by (+10, +20) pixels."""
    classes = np.zeros((size, size), np.int64)
    classes[200:chin_row + 1, 150:362] = SKIN
    classes[360:380, 200:312] = UPPER_LIP
    classes[chin_row + 1:, 180:332] = NECK
    return FaceParsing(classes, np.array([[1.0, 0.0, 10.0], [0.0, 1.0, 20.0]]))


def test_parsing_chin_is_the_lowest_face_row_on_the_axis():
    chin = _parsing_with_chin(470).chin()
    assert chin == pytest.approx([256 - 10, 470.5 - 20])
    no_face = FaceParsing(np.zeros((512, 512), np.int64), np.eye(2, 3))
    assert no_face.chin() is None


def _geometry_face() -> Face:
    return Face((100.0, 100.0, 300.0, 340.0), np.array([[160, 200], [240, 200], [200, 250], [170, 290],
                                                        [230, 290]], np.float32), 0.99)


def test_parsing_measures_the_chin_when_there_is_no_mesh():
    face = _geometry_face()
    parsing = FaceParsing(_parsing_with_chin(470).classes, np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))
    head = measure_head(FaceEvidence(face, parsing=parsing), None)
    assert head.methods["chin"] == "parsing" and head.chin_y == pytest.approx(470.5)
    assert measure_head(FaceEvidence(face), None).methods["chin"] == "estimate"


def _flat_mesh(chin_y: float) -> DenseLandmarks:
    points = np.zeros((478, 3))
    named = {"iris_left": (160, 200), "iris_right": (240, 200), "nose_tip": (200, 250), "mouth_left": (170, 290),
             "mouth_right": (230, 290), "chin": (200, chin_y), "forehead_top": (200, 120),
             "face_left": (110, 220), "face_right": (290, 220)}
    for name, (x, y) in named.items():
        points[MESH_POINTS[name]] = (x, y, 0.0)
    return DenseLandmarks(points)


def test_a_parsing_chin_far_from_the_mesh_chin_makes_the_chin_uncertain():
    face = _geometry_face()
    agreeing = FaceParsing(_parsing_with_chin(378).classes[:, :], np.eye(2, 3))
    # the parsing chin (row 378.5 -> photo y 378.5) against mesh chins 380 (agree) and 340 (disagree)
    assert measure_head(FaceEvidence(face, _flat_mesh(380.0), agreeing), None).methods["chin"] == "dense"
    disagreeing = measure_head(FaceEvidence(face, _flat_mesh(340.0), agreeing), None)
    assert disagreeing.methods["chin"] == "estimate" and disagreeing.chin_disagreement == pytest.approx(38.5)


def test_documents_without_hair_get_a_crown_between_the_hair_and_the_forehead():
    face = _geometry_face()
    matte = np.zeros((480, 400), np.float32)
    matte[10:, 100:300] = 1.0  # hair reaches y = 10
    dense = _flat_mesh(380.0)
    with_hair = measure_head(FaceEvidence(face, dense), matte)
    without = measure_head(FaceEvidence(face, dense), matte, HEAD_TOP_NO_HAIR)
    assert with_hair.methods["crown"] == "matte" and with_hair.crown_y == pytest.approx(10, abs=1)
    assert without.methods["crown"] == "estimate"
    assert with_hair.crown_y < without.crown_y <= dense.point("forehead_top")[1]


def test_evidence_from_a_hub_without_parser_weights_has_no_parsing(hub, astronaut_rgb, astronaut_face):
    assert hub.parse(astronaut_rgb, astronaut_face) is None


def test_a_parser_with_weights_gives_classes_on_the_aligned_crop(random_weights, cpu_compute, astronaut_rgb,
                                                                 astronaut_face):
    directory, manifest = random_weights
    parsed = FaceAnalysis(ModelStore(manifest, directory, cpu_compute)).parse(astronaut_rgb, astronaut_face)
    assert parsed is not None and parsed.classes.shape == (512, 512)
    # the crop's centre maps back onto the face
    centre = parsed.to_photo(np.array([[256.0, 256.0]]))[0]
    x0, y0, x1, y1 = astronaut_face.box
    assert x0 < centre[0] < x1 and y0 < centre[1] < y1


def test_square_crop_pads_outside_the_photo_and_shrinks_only_what_is_inside():
    from pipeline.faces.mesh import square_crop

    rgb = np.random.default_rng(0).integers(0, 255, (60, 80, 3), dtype=np.uint8)
    crop = square_crop(rgb, -10, -5, 50, 50)  # reaches past the top and left edges, no resize
    padded = cv2.copyMakeBorder(rgb, 5, 0, 10, 0, cv2.BORDER_REPLICATE)
    assert np.array_equal(crop, padded[:50, :50])
    big = np.zeros((4000, 6000, 3), np.uint8)
    small = square_crop(big, -2000, -3000, 10000, 640)  # a face box as large as the photo
    assert small.shape == (640, 640, 3)


@pytest.mark.parametrize("box", [(float("nan"), 10.0, 50.0, 60.0), (40.0, 10.0, 20.0, 60.0), (0.0, 0.0, float("inf"), 5.0)])
def test_a_broken_box_gives_no_mesh_instead_of_an_error(astronaut_rgb, box):
    face = Face(box, np.zeros((5, 2), np.float32), 0.9)
    assert FaceMeshLandmarker().landmarks(astronaut_rgb, face) is None
