"""Checks on the face's expression and gaze: eyes open, mouth closed, looking at the camera.

They rest on the dense mesh's eyelids, inner lips and irises (``face_measures``); the five
detector points cannot see any of these, so without the mesh they are not assessed.
"""
from __future__ import annotations

from pipeline.faces.evidence import FaceEvidence
from pipeline.i18n import Message
from pipeline.idphoto.compliance.face_measures import measure_eyes, mouth_opening
from pipeline.idphoto.compliance.thresholds import (
    EYES_OPEN_PASS,
    EYES_OPEN_WARN,
    GAZE_PASS,
    GAZE_WARN,
    MOUTH_OPEN_PASS,
    MOUTH_OPEN_WARN,
    OFIQ_MOUTH_CLOSED_CENTRE,
    SOURCE_CALIBRATION,
    SOURCE_ICAO_9303,
    SOURCE_OFIQ_EYES_OPEN,
    SOURCE_OFIQ_MOUTH_CLOSED,
)
from pipeline.idphoto.compliance.verdicts import (
    CheckResult,
    dense_missing_reason,
    grade_at_least,
    grade_at_most,
    make_result,
    not_measured,
)

def check_eyes_open(evidence: FaceEvidence | None) -> CheckResult:
    """Both eyes open [9303], measured as OFIQ EyesOpen: the less open eye's lid gap over the
    eye-to-chin distance."""
    threshold = Message("check.eyes_open.threshold", {"pass": EYES_OPEN_PASS, "warn": EYES_OPEN_WARN})
    source = f"{SOURCE_ICAO_9303}; {SOURCE_OFIQ_EYES_OPEN}; {SOURCE_CALIBRATION}"
    if evidence is None or evidence.dense is None:
        return not_measured("eyes_open", threshold, source, dense_missing_reason(evidence))
    eyes = measure_eyes(evidence.dense)
    opening = eyes.smaller_opening
    side = min(eyes.openings, key=lambda name: eyes.openings[name])
    measured = Message(f"check.eyes_open.measured_{side}", {"gap": opening})
    return make_result("eyes_open", measured, threshold, source,
                       grade_at_least(opening, EYES_OPEN_PASS, EYES_OPEN_WARN), Message("check.eyes_open.advice"),
                       opening)


def check_mouth_closed(evidence: FaceEvidence | None) -> CheckResult:
    """Lips together [9303: neutral expression, mouth closed], measured as OFIQ MouthClosed:
    the largest inner-lip gap over the eye-to-chin distance. Stricter than OFIQ's scoring
    centre, which would pass a smile with teeth showing (see MOUTH_OPEN_*)."""
    threshold = Message("check.mouth_closed.threshold", {"pass": MOUTH_OPEN_PASS, "warn": MOUTH_OPEN_WARN,
                                                         "ofiq": OFIQ_MOUTH_CLOSED_CENTRE})
    source = f"{SOURCE_ICAO_9303}; {SOURCE_OFIQ_MOUTH_CLOSED}; {SOURCE_CALIBRATION}"
    if evidence is None or evidence.dense is None:
        return not_measured("mouth_closed", threshold, source, dense_missing_reason(evidence))
    opening = mouth_opening(evidence.dense)
    return make_result("mouth_closed", Message("check.mouth_closed.measured", {"gap": opening}), threshold, source,
                       grade_at_most(opening, MOUTH_OPEN_PASS, MOUTH_OPEN_WARN), Message("check.mouth_closed.advice"),
                       opening)


def check_gaze(evidence: FaceEvidence | None) -> CheckResult:
    """Looking into the camera [9303]: the irises centred between the eye corners (both eyes'
    mean offset, as a share of the eye's width). No source gives a number: calibrated."""
    threshold = Message("check.gaze.threshold", {"pass_pct": GAZE_PASS * 100, "warn_pct": GAZE_WARN * 100})
    source = f"{SOURCE_ICAO_9303}; {SOURCE_CALIBRATION}"
    if evidence is None or evidence.dense is None:
        return not_measured("gaze", threshold, source, dense_missing_reason(evidence))
    offset = measure_eyes(evidence.dense).mean_gaze
    measured = Message("check.gaze.measured_right" if offset > 0 else "check.gaze.measured_left",
                       {"pct": abs(offset) * 100})
    return make_result("gaze", measured, threshold, source, grade_at_most(abs(offset), GAZE_PASS, GAZE_WARN),
                       Message("check.gaze.advice"), offset)
