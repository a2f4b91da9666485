"""How one measurement becomes a ``CheckResult``: the grading rules and the report's wording.

Shared by every check, so a pass, a warning and a failure mean the same thing in each, and
numbers, ranges and sources are written the same way throughout the report.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pipeline.cutout.background import COLOUR_PRESETS, colour_to_hex
from pipeline.faces.evidence import FaceEvidence
from pipeline.faces.mesh import mesh_available
from pipeline.i18n import Message, Text
from pipeline.idphoto.specs import IdPhotoSpec

Status = Literal["pass", "warn", "fail", "not_assessed"]

# How bad each verdict is; also the order of the report's counts.
SEVERITY: dict[str, int] = {"pass": 0, "not_assessed": 1, "warn": 2, "fail": 3}

# Every check's id, in no particular order; its title is the catalogue's ``check.title.<id>``.
CHECK_IDS: tuple[str, ...] = (
    "single_face", "head_height", "eye_line", "crown_margin", "face_centring", "roll", "yaw", "pitch",
    "inter_eye_distance", "background_uniformity", "background_colour", "exposure", "sharpness",
    "illumination_balance", "eyes_open", "mouth_closed", "gaze", "glasses", "head_covering", "resolution",
    "file_size", "compression",
)
CHECK_TITLES: dict[str, Message] = {check_id: Message(f"check.title.{check_id}") for check_id in CHECK_IDS}


@dataclass(frozen=True)
class CheckResult:
    """One rule, measured: what was found, the limit, where the limit comes from, the verdict."""

    id: str
    title: Text
    measured: Text
    threshold: Text
    source: Text  # a citation ("ICAO Doc 9303") stays a plain str; words of ours are a Message
    status: Status
    advice: Text  # what a person can do for a retake; empty on pass
    value: float | None = None  # the raw number, for machines


def make_result(check_id: str, measured: Text, threshold: Text, source: Text, status: Status, advice: Text,
                value: float | None) -> CheckResult:
    """A CheckResult whose advice is dropped on pass and whose value is a plain float. Its words
    are messages (``pipeline.i18n``), rendered in the reader's language by the report."""
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
def spec_source(spec: IdPhotoSpec) -> Message:
    """How the report names the document's own rules, e.g. 'Germany Reisepass spec'."""
    if spec.custom:
        return Message("check.source.custom")
    return Message("check.source.spec", {"country": spec.country, "document": spec.document})


def percent(fraction: float, digits: int = 1) -> str:
    """'75.8 %' (the report writes a space before %)."""
    return f"{fraction * 100:.{digits}f} %"


def range_text(allowed: tuple[float, float], unit: str, scale: float = 1.0) -> str:
    """'32-36 mm', or a ratio range as '50-69 %' with ``scale=100``."""
    low, high = allowed[0] * scale, allowed[1] * scale
    return f"{low:.4g}-{high:.4g} {unit}"


def colour_name(name: str) -> Text:
    """A named background colour ('light-grey') in the reader's language; a hex code as it is."""
    return Message("check.colour." + name.replace("-", "_")) if name in COLOUR_PRESETS else name


def rgb_to_hex(rgb: Sequence[float]) -> str:
    """Hex text of a measured (float) colour, via the one colour formatter."""
    return colour_to_hex(tuple(int(round(min(max(c, 0), 255))) for c in rgb))  # type: ignore[arg-type]


def dense_missing_reason(evidence: FaceEvidence | None) -> Message:
    """Why a check that needs the dense face landmarks could not run, in plain words."""
    if evidence is None:
        return Message("check.reason.no_landmarks")
    if not mesh_available():
        return Message("check.reason.no_mesh_model")
    return Message("check.reason.mesh_not_traced")


def parsing_missing_reason(evidence: FaceEvidence | None) -> Message:
    """Why a check that needs face parsing could not run (the parser needs downloaded weights)."""
    if evidence is None:
        return Message("check.reason.not_parsed")
    return Message("check.reason.no_parsing_model")


def not_measured(check_id: str, threshold: Text, source: Text, reason: Text) -> CheckResult:
    """A check whose evidence (dense landmarks, face parsing) this photo or server lacks."""
    return make_result(check_id, Message("check.measured.not_measured"), threshold, source, "not_assessed", reason,
                       None)
