"""How each head position was measured, and how far off that method is expected to be.

The ID-photo placement and the compliance report rest on three positions: the eye line,
the chin and the top of the head. Each can come from stronger or weaker evidence; the report
names the method behind every position and its expected error, and a position that was only
estimated from proportions never lets a check pass on its own. The errors are data: what
``bench/head_accuracy.py`` measured against hand-checked positions (tests/data/portraits),
as a share of the head height (chin to the top of the hair); None where it could not be
measured here (face parsing needs downloaded weights).
"""
from __future__ import annotations

from dataclasses import dataclass

from pipeline.i18n import Message

DENSE, PARSING, MATTE, DETECTOR, ESTIMATE = "dense", "parsing", "matte", "detector", "estimate"
POSITIONS = ("eyes", "chin", "crown")


@dataclass(frozen=True)
class PositionMethod:
    key: str
    label: Message  # plain words for the report (``check.method.<key>``, in the reader's language)
    estimated: bool  # a guess from average proportions, not a measurement of this face


METHODS: dict[str, PositionMethod] = {
    DENSE: PositionMethod(DENSE, Message("check.method.dense"), False),
    PARSING: PositionMethod(PARSING, Message("check.method.parsing"), False),
    MATTE: PositionMethod(MATTE, Message("check.method.matte"), False),
    # the detector's own eye points: found on this face, but coarse (a few pixels of a
    # 5-point model); the rule: the eye line does not pass on them alone
    DETECTOR: PositionMethod(DETECTOR, Message("check.method.detector"), True),
    ESTIMATE: PositionMethod(ESTIMATE, Message("check.method.estimate"), True),
}

# Worst error seen on the three test portraits, % of the head height, rounded up
# (bench/head_accuracy.py, 2026-12-01): dense eyes 0.51, detector eyes 0.75, dense chin 0.30,
# 5-point chin 5.96, crown from the Selfie Segmentation matte 0.62 (GrabCut's 0.70), crown
# estimated without a matte 5.5 (geometry.CROWN_ABOVE_EYES, with the dense chin).
EXPECTED_ERROR_PCT: dict[tuple[str, str], float | None] = {
    ("eyes", DENSE): 0.6,
    ("eyes", DETECTOR): 0.8,
    ("chin", DENSE): 0.4,
    ("chin", PARSING): None,
    ("chin", ESTIMATE): 6.0,
    ("crown", MATTE): 1.0,
    ("crown", ESTIMATE): 6.0,
}


def expected_error_text(position: str, method: str) -> Message:
    """'within about 0.4 % of the head height', or that it was not measured."""
    error = EXPECTED_ERROR_PCT.get((position, method))
    if error is None:
        return Message("check.method.error_unknown")
    return Message("check.method.error_within", {"pct": error})
