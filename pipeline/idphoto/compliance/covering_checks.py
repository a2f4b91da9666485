"""Checks on what covers the face: glasses and head coverings.

Only face parsing tells glasses and hats from skin and hair; it needs downloaded weights,
so where the parser is not installed these checks say so ("not assessed") instead of
guessing from colours. The shares are taken on the parser's aligned crop (``faces.parsing``),
where the eyes and the mouth always sit at the same rows, whatever the photo's framing.
"""
from __future__ import annotations

from pipeline.faces.evidence import FaceEvidence
from pipeline.faces.parsing import CLOTH, GLASSES, HAT, MOUTH_LEVEL, FaceParsing
from pipeline.i18n import Message
from pipeline.idphoto.compliance.thresholds import (
    GLASSES_EYE_BAND,
    GLASSES_SHARE_WARN,
    HEAD_COVERING_MAX_SHARE,
    SOURCE_CALIBRATION,
    SOURCE_ICAO_9303,
    SOURCE_OFIQ_HEAD_COVERINGS,
)
from pipeline.idphoto.compliance.verdicts import (
    CheckResult,
    make_result,
    not_measured,
    parsing_missing_reason,
)

def glasses_share(parsing: FaceParsing) -> float:
    """Share of the eye band (GLASSES_EYE_BAND, fractions of the crop) parsed as glasses."""
    (top, bottom), (left, right) = GLASSES_EYE_BAND
    size = parsing.size
    region = (slice(int(top * size), int(bottom * size)), slice(int(left * size), int(right * size)))
    return parsing.share(GLASSES, region)


def head_covering_share(parsing: FaceParsing) -> float:
    """Share of the crop above the mouth parsed as a hat or cloth (OFIQ NoHeadCoverings' raw
    value, on the upper part of the face crop)."""
    upper = (slice(0, int(MOUTH_LEVEL * parsing.size)), slice(None))
    return parsing.share(HAT, upper) + parsing.share(CLOTH, upper)


def check_glasses(evidence: FaceEvidence | None) -> CheckResult:
    """No glasses: ICAO allows clear ones without glare, some documents none, so a warning."""
    threshold = Message("check.glasses.threshold", {"pct": GLASSES_SHARE_WARN * 100})
    source = f"{SOURCE_ICAO_9303}; {SOURCE_CALIBRATION}"
    if evidence is None or evidence.parsing is None:
        return not_measured("glasses", threshold, source, parsing_missing_reason(evidence))
    share = glasses_share(evidence.parsing)
    worn = share >= GLASSES_SHARE_WARN
    measured = Message("check.glasses.measured_worn" if worn else "check.glasses.measured", {"pct": share * 100})
    return make_result("glasses", measured, threshold, source, "warn" if worn else "pass",
                       Message("check.glasses.advice"), share)


def check_head_covering(evidence: FaceEvidence | None) -> CheckResult:
    """No hat, cap or scarf over the head [9303], measured as OFIQ NoHeadCoverings."""
    threshold = Message("check.head_covering.threshold", {"pct": HEAD_COVERING_MAX_SHARE * 100})
    source = f"{SOURCE_ICAO_9303}; {SOURCE_OFIQ_HEAD_COVERINGS}"
    if evidence is None or evidence.parsing is None:
        return not_measured("head_covering", threshold, source, parsing_missing_reason(evidence))
    share = head_covering_share(evidence.parsing)
    covered = share > HEAD_COVERING_MAX_SHARE
    return make_result("head_covering", Message("check.head_covering.measured", {"pct": share * 100}),
                       threshold, source, "fail" if covered else "pass", Message("check.head_covering.advice"), share)
