"""Head measurements from the 5 landmarks and the person matte.

Shared by the ID-photo cropper (to place the head) and the compliance report (to measure
the result independently on the output). Coordinates are image pixels, y down.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pipeline.faces.detect import Face

# Chin below the mouth corners, as a fraction of the eye-to-mouth distance. About 0.8 on
# the neutral FFHQ template (eyes y=240, mouth corners y=371, chin about y=475 at 512 px)
# and 0.93 on the smiling astronaut photo (a smile lifts the mouth corners); ID photos
# ask for a neutral face, so the value sits between, nearer neutral.
CHIN_BELOW_MOUTH = 0.85
# Without a usable matte: crown above the eyes, as a fraction of the eye-to-chin distance
# (skull without hair is about 0.95; typical hair adds a little).
CROWN_ABOVE_EYES = 1.05
# Nose depth as a fraction of the inter-eye distance, for the yaw estimate.
NOSE_DEPTH = 0.55
MATTE_THRESHOLD = 0.5


@dataclass(frozen=True)
class HeadGeometry:
    eye_left: tuple[float, float]
    eye_right: tuple[float, float]
    eye_mid: tuple[float, float]
    chin: tuple[float, float]
    crown_y: float
    crown_from_matte: bool  # False: the matte did not show the top of the head (estimated)
    roll_deg: float  # positive: the right-hand eye (in the image) is lower
    yaw_deg: float  # estimate from the nose offset; sign: nose towards image right
    eye_distance: float

    @property
    def eye_y(self) -> float:
        return self.eye_mid[1]

    @property
    def chin_y(self) -> float:
        return self.chin[1]

    @property
    def head_height(self) -> float:
        return self.chin_y - self.crown_y

    @property
    def axis_x(self) -> float:
        """Horizontal centre of the face (between the eyes)."""
        return self.eye_mid[0]


def roll_degrees(landmarks: np.ndarray) -> float:
    (lx, ly), (rx, ry) = landmarks[0], landmarks[1]
    return math.degrees(math.atan2(ry - ly, rx - lx))


def yaw_degrees(landmarks: np.ndarray) -> float:
    """Rough yaw from how far the nose tip sits off the eye/mouth midline (0 = frontal)."""
    eye_mid = (landmarks[0] + landmarks[1]) / 2
    mouth_mid = (landmarks[3] + landmarks[4]) / 2
    eye_distance = float(np.linalg.norm(landmarks[1] - landmarks[0])) or 1.0
    axis = eye_mid + (mouth_mid - eye_mid) * 0.5
    direction = landmarks[1] - landmarks[0]
    direction = direction / (np.linalg.norm(direction) or 1.0)
    offset = float(np.dot(landmarks[2] - axis, direction)) / eye_distance
    return math.degrees(math.asin(max(-1.0, min(1.0, offset / NOSE_DEPTH))))


def estimate_chin(landmarks: np.ndarray) -> tuple[float, float]:
    eye_mid = (landmarks[0] + landmarks[1]) / 2
    mouth_mid = (landmarks[3] + landmarks[4]) / 2
    chin = mouth_mid + (mouth_mid - eye_mid) * CHIN_BELOW_MOUTH
    return (float(chin[0]), float(chin[1]))


def crown_from_matte(matte: np.ndarray, axis_x: float, eye_y: float, eye_distance: float) -> float | None:
    """Topmost person row above the eyes in a band around the face axis, or None if the
    head reaches the top edge (cut off) or the matte shows no head there."""
    height, width = matte.shape
    half_band = max(1, int(round(eye_distance * 0.3)))
    x0, x1 = max(0, int(axis_x) - half_band), min(width, int(axis_x) + half_band + 1)
    bottom = min(height, max(0, int(eye_y)))
    if x0 >= x1 or bottom <= 0:
        return None
    band = matte[:bottom, x0:x1] >= MATTE_THRESHOLD
    rows = np.flatnonzero(band.mean(axis=1) >= 0.5)
    if rows.size == 0:
        return None
    # walk up from the eyes through the contiguous head region
    top = bottom - 1
    row_set = set(rows.tolist())
    while top - 1 in row_set:
        top -= 1
    if top not in row_set or top == 0:
        return None
    # sub-pixel: where the band's mean matte crosses the threshold just above ``top``
    above = float(matte[top - 1, x0:x1].mean())
    at = float(matte[top, x0:x1].mean())
    fraction = (MATTE_THRESHOLD - above) / (at - above) if at != above else 0.0
    return top - 1 + min(max(fraction, 0.0), 1.0)


def measure_head(face: Face, matte: np.ndarray | None) -> HeadGeometry:
    """Eyes, chin (landmarks) and crown (matte, else an estimate) of one face."""
    landmarks = face.landmarks.astype(np.float64)
    eye_left, eye_right = landmarks[0], landmarks[1]
    eye_mid = (eye_left + eye_right) / 2
    eye_distance = float(np.linalg.norm(eye_right - eye_left))
    chin = estimate_chin(landmarks)
    crown = None
    if matte is not None:
        crown = crown_from_matte(matte, float(eye_mid[0]), float(eye_mid[1]), eye_distance)
    from_matte = crown is not None
    if crown is None:
        crown = float(eye_mid[1] - CROWN_ABOVE_EYES * (chin[1] - eye_mid[1]))
    return HeadGeometry(
        eye_left=(float(eye_left[0]), float(eye_left[1])), eye_right=(float(eye_right[0]), float(eye_right[1])),
        eye_mid=(float(eye_mid[0]), float(eye_mid[1])), chin=chin, crown_y=float(crown), crown_from_matte=from_matte,
        roll_deg=roll_degrees(landmarks), yaw_deg=yaw_degrees(landmarks), eye_distance=eye_distance,
    )
