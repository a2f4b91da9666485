"""Head measurements from the 5 landmarks and the person matte.

Shared by the ID-photo cropper (to place the head) and the compliance report (to measure
the result independently on the output). Coordinates are image pixels, y down.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from pipeline.faces.detect import Face
from pipeline.faces.evidence import FaceEvidence
from pipeline.faces.methods import DENSE, DETECTOR, ESTIMATE, MATTE, METHODS, PARSING
from pipeline.faces.pose import head_pose

# Chin below the mouth corners, as a fraction of the eye-to-mouth distance. About 0.8 on
# the neutral FFHQ template (eyes y=240, mouth corners y=371, chin about y=475 at 512 px)
# and 0.93 on the smiling astronaut photo (a smile lifts the mouth corners); ID photos
# ask for a neutral face, so the value sits between, nearer neutral.
CHIN_BELOW_MOUTH = 0.85
# Without a usable matte: the top of the hair above the eyes, as a fraction of the
# eye-to-chin distance. The skull alone is about 0.95; hair adds more than was once assumed:
# 1.12, 1.24 and 1.40 on the hand-checked portraits (astronaut, young adult, child), so
# their mean. Still an estimate (about 6 % of the head either way), and labelled one.
CROWN_ABOVE_EYES = 1.25
# Nose depth as a fraction of the inter-eye distance, for the yaw estimate.
NOSE_DEPTH = 0.55
MATTE_THRESHOLD = 0.5
# A row of the face column belongs to the head where at least this share of it is person:
# low enough that spiky or thin hair on top counts, high enough that single stray hairs do not.
CROWN_ROW_SHARE = 0.2  # about 0.12 of the eye distance: a tuft, not a single hair
# What a document measures the head to (its spec's ``head_top``, idphoto.specs.HEAD_TOPS):
# the top of the hair, or the top of the head with the hair excluded.
HEAD_TOP_HAIR, HEAD_TOP_NO_HAIR = "crown", "forehead"
# The top of the skull without hair above the eyes, as a fraction of the eye-to-chin
# distance: about 0.95 for adults (anthropometric vertex-to-eye over eye-to-menton). It is
# kept between the top of the hair and the top of the forehead on the mesh, used only for
# documents that measure without hair, and labelled an estimate.
SKULL_ABOVE_EYES = 0.95
# Parsing and mesh chins further apart than this share of the eye-to-chin distance: one of
# them is wrong (a beard, a shadow under the jaw), so the chin is treated as uncertain.
CHIN_DISAGREEMENT_MAX = 0.06


@dataclass(frozen=True)
class HeadGeometry:
    eye_left: tuple[float, float]
    eye_right: tuple[float, float]
    eye_mid: tuple[float, float]
    chin: tuple[float, float]
    crown_y: float
    roll_deg: float  # positive: the right-hand eye (in the image) is lower
    yaw_deg: float  # sign: nose towards image right; from the 3-D mesh when there is one
    eye_distance: float
    # position ("eyes", "chin", "crown") -> method key (faces.methods.METHODS)
    methods: dict[str, str] = field(default_factory=lambda: {"eyes": DETECTOR, "chin": ESTIMATE, "crown": ESTIMATE})
    pitch_deg: float | None = None  # only the 3-D mesh measures it; positive: looking down
    head_top: str = HEAD_TOP_HAIR  # what crown_y is: the top of the hair, or of the head without it
    chin_disagreement: float | None = None  # |parsing chin - mesh chin| in px, when both exist

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

    def with_estimated_crown(self, crown_y: float) -> HeadGeometry:
        """The same head with the top placed at ``crown_y`` by an estimate (and labelled one)."""
        return replace(self, crown_y=float(crown_y), methods={**self.methods, "crown": ESTIMATE})

    @property
    def crown_from_matte(self) -> bool:
        """Whether the top of the head was seen in the matte (else it is an estimate)."""
        return self.methods["crown"] == MATTE

    def is_estimated(self, *positions: str) -> bool:
        """Whether any of these positions is only a proportional guess."""
        return any(METHODS[self.methods[position]].estimated for position in positions)


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
    rows = np.flatnonzero(band.mean(axis=1) >= CROWN_ROW_SHARE)
    if rows.size == 0:
        return None
    # walk up from the eyes through the contiguous head region
    top = bottom - 1
    row_set = set(rows.tolist())
    while top - 1 in row_set:
        top -= 1
    if top not in row_set or top == 0:
        return None
    # sub-pixel: where the band's mean matte crosses the row share just above ``top``
    above = float(matte[top - 1, x0:x1].mean())
    at = float(matte[top, x0:x1].mean())
    fraction = (CROWN_ROW_SHARE - above) / (at - above) if at != above else 0.0
    return top - 1 + min(max(fraction, 0.0), 1.0)


def _crown(evidence: FaceEvidence, matte: np.ndarray | None, eye_mid: np.ndarray, eye_distance: float,
           chin_y: float, head_top: str) -> tuple[float, str]:
    """The top of the head as the document defines it, and the method behind it."""
    hair_top = None
    if matte is not None:
        hair_top = crown_from_matte(matte, float(eye_mid[0]), float(eye_mid[1]), eye_distance)
    eye_to_chin = chin_y - float(eye_mid[1])
    if head_top == HEAD_TOP_NO_HAIR:
        skull = float(eye_mid[1] - SKULL_ABOVE_EYES * eye_to_chin)
        if hair_top is not None:
            skull = max(skull, hair_top)
        if evidence.dense is not None:
            skull = min(skull, float(evidence.dense.point("forehead_top")[1]))
        return skull, ESTIMATE
    if hair_top is not None:
        return hair_top, MATTE
    return float(eye_mid[1] - CROWN_ABOVE_EYES * eye_to_chin), ESTIMATE


def _chin(evidence: FaceEvidence, landmarks: np.ndarray) -> tuple[tuple[float, float], str, float | None]:
    """The chin from the best evidence, its method, and how far parsing disagrees (px)."""
    parsed = evidence.parsing.chin() if evidence.parsing is not None else None
    if evidence.dense is not None:
        chin = evidence.dense.point("chin")
        disagreement = None if parsed is None else float(abs(parsed[1] - chin[1]))
        return (float(chin[0]), float(chin[1])), DENSE, disagreement
    if parsed is not None:
        return (float(parsed[0]), float(parsed[1])), PARSING, None
    return estimate_chin(landmarks), ESTIMATE, None


def measure_head(evidence: FaceEvidence | Face, matte: np.ndarray | None, head_top: str = HEAD_TOP_HAIR
                 ) -> HeadGeometry:
    """Eyes, chin and the top of the head of one face, each from the best evidence there is:
    dense landmarks, then face parsing, then the 5-point estimate (labelled as one)."""
    evidence = evidence if isinstance(evidence, FaceEvidence) else FaceEvidence(evidence)
    dense = evidence.dense
    landmarks = (dense.five_points() if dense is not None else evidence.face.landmarks).astype(np.float64)
    eye_left, eye_right = landmarks[0], landmarks[1]
    eye_mid = (eye_left + eye_right) / 2
    eye_distance = float(np.linalg.norm(eye_right - eye_left))
    chin, chin_method, disagreement = _chin(evidence, landmarks)
    crown, crown_method = _crown(evidence, matte, eye_mid, eye_distance, chin[1], head_top)
    if disagreement is not None and disagreement > CHIN_DISAGREEMENT_MAX * (chin[1] - eye_mid[1]):
        chin_method = ESTIMATE  # two measurements that disagree are no better than a guess
    pose = head_pose(dense) if dense is not None else None
    return HeadGeometry(
        eye_left=(float(eye_left[0]), float(eye_left[1])), eye_right=(float(eye_right[0]), float(eye_right[1])),
        eye_mid=(float(eye_mid[0]), float(eye_mid[1])), chin=chin, crown_y=float(crown),
        roll_deg=roll_degrees(landmarks),
        yaw_deg=pose.yaw_deg if pose else yaw_degrees(landmarks), eye_distance=eye_distance,
        methods={"eyes": DENSE if dense is not None else DETECTOR, "chin": chin_method, "crown": crown_method},
        pitch_deg=pose.pitch_deg if pose else None, head_top=head_top, chin_disagreement=disagreement,
    )
