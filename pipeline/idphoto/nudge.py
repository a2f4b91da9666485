"""The placements a document allows, and a manual nudge of head size and height inside them.

For one head (its eyes ``eye_offset`` of its height below the crown), every head size in the
document's range has an interval of crown positions that keeps the eye line, the crown margin
and the whole head inside their ranges (``crown_interval``). The maker chooses the placement
with the most slack on every rule; a :class:`PlacementNudge` moves from there toward the
smallest or largest head, and the highest or lowest position, that the rules still allow, so
no nudge can take the photo outside the document's ranges.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.core.errors import InvalidOptionError
from pipeline.idphoto.specs import IdPhotoSpec

# +-1 reaches this share of the way from the automatic placement to the edge of what the
# rules allow: the rest is margin, so that measuring the delivered photo again (a few pixels
# of error) still lands inside the ranges.
NUDGE_REACH = 0.85
HEAD_SIZE_STEPS = 161  # head sizes tried across the document's range

# (head ratio, lowest crown position, highest crown position), fractions of the photo's height
Placement = tuple[float, float, float]


@dataclass(frozen=True)
class PlacementNudge:
    """A manual change to the automatic placement: 0 keeps it; ``head_size`` -1/+1 is the
    smallest/largest head the document allows, ``vertical`` -1/+1 the highest/lowest position
    allowed for that head."""

    head_size: float = 0.0
    vertical: float = 0.0

    def validated(self) -> PlacementNudge:
        for name, words in (("head_size", "head size"), ("vertical", "head position")):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or not -1.0 <= value <= 1.0:
                raise InvalidOptionError(f"The {words} nudge must be a number from -1 to 1; got {value!r}.",
                                         hint="0 keeps the automatic placement; -1 and 1 reach what the document allows.")
        return self

    @property
    def neutral(self) -> bool:
        return self.head_size == 0 and self.vertical == 0


def crown_interval(spec: IdPhotoSpec, head_ratio: float, eye_offset: float) -> tuple[float, float]:
    """Allowed crown positions (fraction of height from the top) for one head size."""
    eye_low, eye_high = spec.eye_ratio_range()
    lows = [1 - eye_high - eye_offset * head_ratio, 0.0]
    highs = [1 - eye_low - eye_offset * head_ratio, 1 - head_ratio]
    margin = spec.crown_margin_ratio_range()
    if margin:
        lows.append(margin[0])
        highs.append(margin[1])
    return max(lows), min(highs)


def feasible_placements(spec: IdPhotoSpec, eye_offset: float) -> list[Placement]:
    """Every head size in the document's range that some crown position makes legal, with
    the crown positions it allows; empty when the face's proportions allow none."""
    low, high = spec.head_ratio_range()
    placements = []
    for head_ratio in (float(h) for h in np.linspace(low, high, HEAD_SIZE_STEPS)):
        top_low, top_high = crown_interval(spec, head_ratio, eye_offset)
        if top_low <= top_high:
            placements.append((head_ratio, float(top_low), float(top_high)))
    return placements


def nudged(placements: Sequence[Placement], chosen: Placement, nudge: PlacementNudge) -> tuple[float, float]:
    """(head ratio, crown position): ``chosen``'s head moved by ``nudge.head_size`` toward the
    smallest or largest allowed one, then the crown by ``nudge.vertical`` from the middle of the
    positions that head allows toward their top or bottom."""
    head_ratio, top_low, top_high = chosen
    if nudge.head_size:
        ratios = [placement[0] for placement in placements]
        edge = max(ratios) if nudge.head_size > 0 else min(ratios)
        wanted = head_ratio + abs(nudge.head_size) * NUDGE_REACH * (edge - head_ratio)
        head_ratio, top_low, top_high = min(placements, key=lambda placement: abs(placement[0] - wanted))
    middle, half = (top_low + top_high) / 2, (top_high - top_low) / 2
    return head_ratio, middle + nudge.vertical * NUDGE_REACH * half
