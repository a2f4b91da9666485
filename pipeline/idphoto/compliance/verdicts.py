"""How one measurement becomes a ``CheckResult``: the grading rules and the report's wording.

Shared by every check, so a pass, a warning and a failure mean the same thing in each, and
numbers, ranges and sources are written the same way throughout the report.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pipeline.cutout.background import colour_to_hex
from pipeline.faces.evidence import FaceEvidence
from pipeline.faces.mesh import mesh_available
from pipeline.idphoto.specs import IdPhotoSpec

Status = Literal["pass", "warn", "fail", "not_assessed"]

# How bad each verdict is; also the order of the report's counts.
SEVERITY: dict[str, int] = {"pass": 0, "not_assessed": 1, "warn": 2, "fail": 3}

CHECK_TITLES: dict[str, str] = {
    "single_face": "Single face",
    "head_height": "Head height (chin to crown)",
    "eye_line": "Eye line (from the bottom)",
    "crown_margin": "Space above the head",
    "face_centring": "Face centred",
    "roll": "Head tilt (roll)",
    "yaw": "Head turn (yaw)",
    "pitch": "Head tilt up or down (pitch)",
    "inter_eye_distance": "Inter-eye distance",
    "background_uniformity": "Background plain",
    "background_colour": "Background colour",
    "exposure": "Face exposure",
    "sharpness": "Face sharpness",
    "illumination_balance": "Light even on the face, no shadows",
    "eyes_open": "Eyes open",
    "mouth_closed": "Mouth closed",
    "gaze": "Looking at the camera",
    "glasses": "No glasses",
    "head_covering": "No head covering",
    "resolution": "Pixel size",
    "file_size": "File size",
    "compression": "JPEG compression",
}


@dataclass(frozen=True)
class CheckResult:
    """One rule, measured: what was found, the limit, where the limit comes from, the verdict."""

    id: str
    title: str
    measured: str
    threshold: str
    source: str
    status: Status
    advice: str  # what a person can do for a retake; empty on pass
    value: float | None = None  # the raw number, for machines


def make_result(check_id: str, measured: str, threshold: str, source: str, status: Status, advice: str,
                value: float | None) -> CheckResult:
    """A CheckResult whose advice is dropped on pass and whose value is a plain float."""
    return CheckResult(
        id=check_id, title=CHECK_TITLES[check_id], measured=measured, threshold=threshold, source=source,
        status=status, advice="" if status == "pass" else advice,
        value=None if value is None or not math.isfinite(value) else float(value),
    )


# --------------------------------------------------------------------------------------
# Grading
# --------------------------------------------------------------------------------------
def worst_status(*statuses: Status) -> Status:
    """The most severe verdict, for checks made of several measurements."""
    return max(statuses, key=lambda status: SEVERITY[status])


def cap_status(status: Status, ceiling: Status) -> Status:
    """``status`` but no worse than ``ceiling`` (for verdicts that rest on an estimate)."""
    return ceiling if SEVERITY[status] > SEVERITY[ceiling] else status


def grade_in_range(value: float, allowed: tuple[float, float], tolerance: float) -> tuple[Status, int]:
    """pass inside ``allowed``; warn up to ``tolerance`` outside; fail beyond.

    Also returns the direction of a miss (-1 below, +1 above, 0 inside) for the advice."""
    low, high = allowed
    if value < low:
        return ("warn" if value >= low - tolerance else "fail"), -1
    if value > high:
        return ("warn" if value <= high + tolerance else "fail"), 1
    return "pass", 0


def grade_at_most(value: float, pass_max: float, warn_max: float) -> Status:
    return "pass" if value <= pass_max else "warn" if value <= warn_max else "fail"


def grade_at_least(value: float, pass_min: float, warn_min: float) -> Status:
    return "pass" if value >= pass_min else "warn" if value >= warn_min else "fail"


# --------------------------------------------------------------------------------------
# Wording
# --------------------------------------------------------------------------------------
def spec_source(spec: IdPhotoSpec) -> str:
    """How the report names the document's own rules, e.g. 'Germany Reisepass spec'."""
    if spec.custom:
        return "your custom size"
    return f"{spec.country} {spec.document} spec"


def percent(fraction: float, digits: int = 1) -> str:
    """'75.8 %' (the report writes a space before %)."""
    return f"{fraction * 100:.{digits}f} %"


def range_text(allowed: tuple[float, float], unit: str, scale: float = 1.0) -> str:
    """'32-36 mm', or a ratio range as '50-69 %' with ``scale=100``."""
    low, high = allowed[0] * scale, allowed[1] * scale
    return f"{low:.4g}-{high:.4g} {unit}"


def rgb_to_hex(rgb: Sequence[float]) -> str:
    """Hex text of a measured (float) colour, via the one colour formatter."""
    return colour_to_hex(tuple(int(round(min(max(c, 0), 255))) for c in rgb))  # type: ignore[arg-type]


def dense_missing_reason(evidence: FaceEvidence | None) -> str:
    """Why a check that needs the dense face landmarks could not run, in plain words."""
    if evidence is None:
        return "The face's landmarks were not measured on this photo, so this was not checked"
    if not mesh_available():
        return "The detailed face-landmark model is not installed on this server, so this was not checked"
    return ("The face's landmarks could not be traced on this photo, so this was not checked: "
            "retake facing the camera with your whole face in view")


def parsing_missing_reason(evidence: FaceEvidence | None) -> str:
    """Why a check that needs face parsing could not run (the parser needs downloaded weights)."""
    if evidence is None:
        return "The face was not parsed on this photo, so this was not checked"
    return "The face-parsing model is not installed on this server, so this was not checked"


def not_measured(check_id: str, threshold: str, source: str, reason: str) -> CheckResult:
    """A check whose evidence (dense landmarks, face parsing) this photo or server lacks."""
    return make_result(check_id, "not measured", threshold, source, "not_assessed", reason, None)
