"""What the expression, gaze and shadow checks measure on the dense face mesh.

Pure numbers from the 478 landmarks (``faces.mesh.DenseLandmarks``), no verdicts, so each
measure can be tested and recalibrated on its own. Eye and mouth openings follow OFIQ (the
reference implementation of ISO/IEC 29794-5): the largest lid-to-lid (or inner lip-to-lip)
distance over the eye-midpoint-to-chin distance T, so they do not depend on the face's size
in pixels.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.faces.mesh import DenseLandmarks

# Mesh indices (MediaPipe's canonical face mesh topology). "left" and "right" are image
# sides, as in faces.mesh.MESH_POINTS: the person's right eye is on the image's left.
# Upper and lower lid points of each eye, paired from the outer to the inner corner.
EYE_LIDS: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "left": ((246, 161, 160, 159, 158, 157, 173), (7, 163, 144, 145, 153, 154, 155)),
    "right": ((466, 388, 387, 386, 385, 384, 398), (249, 390, 373, 374, 380, 381, 382)),
}
# Each eye's image-left corner, image-right corner and iris centre (faces.mesh.MESH_POINTS names).
EYE_POINTS: dict[str, tuple[str, str, str]] = {
    "left": ("eye_left_outer", "eye_left_inner", "iris_left"),
    "right": ("eye_right_inner", "eye_right_outer", "iris_right"),
}
# Inner lip contour, upper and lower, paired from the left mouth corner to the right one.
INNER_LIPS: tuple[tuple[int, ...], tuple[int, ...]] = (
    (191, 80, 81, 82, 13, 312, 311, 310, 415),
    (95, 88, 178, 87, 14, 317, 402, 318, 324),
)
# Centres of the illumination zones. ICAO's Portrait Quality TR compares the forehead, both
# cheeks and the chin; the forehead is often under a fringe (the child's test portrait has
# none of it visible), and hair is not a shadow, so the upper zone sits on the nose bridge
# between the eyes. Cheeks: on the cheekbone below each eye, clear of the nose and of the
# smile lines; chin: its middle, above the shadow under the jaw.
SHADOW_ZONES: dict[str, int] = {"upper face": 168, "left cheek": 101, "right cheek": 330, "chin": 199}


@dataclass(frozen=True)
class EyeMeasures:
    """Per eye, image sides. ``openings``: largest lid gap / T. ``gaze``: the iris centre's
    position along the line between the eye's corners, from its middle, as a share of the
    eye's width (positive towards the image's right; 0 is centred, +-0.5 a corner)."""

    openings: dict[str, float]
    gaze: dict[str, float]

    @property
    def smaller_opening(self) -> float:
        """OFIQ EyesOpen raw value: the less open eye decides."""
        return min(self.openings.values())

    @property
    def mean_gaze(self) -> float:
        """Both eyes turn together, so their mean is the gaze and their noise partly cancels."""
        return float(np.mean(list(self.gaze.values())))


def eye_to_chin(dense: DenseLandmarks) -> float:
    """T: the distance from the midpoint between the irises to the chin (OFIQ's face scale)."""
    eye_mid = (dense.point("iris_left") + dense.point("iris_right")) / 2
    return float(np.linalg.norm(dense.point("chin") - eye_mid)) or 1.0


def _max_gap(points: np.ndarray, upper: tuple[int, ...], lower: tuple[int, ...]) -> float:
    return float(np.linalg.norm(points[list(upper)] - points[list(lower)], axis=1).max())


def iris_offset(dense: DenseLandmarks, side: str) -> float:
    """Where the iris centre sits between the corners of one eye (see ``EyeMeasures.gaze``)."""
    left_name, right_name, iris_name = EYE_POINTS[side]
    left, right, iris = dense.point(left_name), dense.point(right_name), dense.point(iris_name)
    width = float(np.linalg.norm(right - left)) or 1.0
    along = float((iris - left) @ (right - left)) / (width * width)
    return along - 0.5


def measure_eyes(dense: DenseLandmarks) -> EyeMeasures:
    points = dense.points[:, :2]
    scale = eye_to_chin(dense)
    openings = {side: _max_gap(points, *lids) / scale for side, lids in EYE_LIDS.items()}
    return EyeMeasures(openings, {side: iris_offset(dense, side) for side in EYE_POINTS})


def mouth_opening(dense: DenseLandmarks) -> float:
    """OFIQ MouthClosed raw value: the largest inner-lip gap / T (0 for closed lips)."""
    return _max_gap(dense.points[:, :2], *INNER_LIPS) / eye_to_chin(dense)


def shadow_zone_boxes(dense: DenseLandmarks, half_size_ied: float) -> dict[str, tuple[int, int, int, int]]:
    """Zone name -> (x0, y0, x1, y1) square around its mesh point, ``half_size_ied`` inter-eye
    distances from the centre to each side."""
    half = half_size_ied * float(np.linalg.norm(dense.point("iris_right") - dense.point("iris_left")))
    boxes = {}
    for name, index in SHADOW_ZONES.items():
        x, y = dense.points[index, :2]
        boxes[name] = (int(round(x - half)), int(round(y - half)), int(round(x + half)) + 1, int(round(y + half)) + 1)
    return boxes
