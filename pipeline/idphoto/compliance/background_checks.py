"""Checks on the background: plain (few edges, little spread of colour) and of the colour
the document asks for.

Both grade the background region the matte leaves (``measurements.background_region``) and
say "not assessed" when there is no matte or almost no background in view.
"""
from __future__ import annotations

import numpy as np

from pipeline.idphoto.compliance.measurements import background_gradient, delta_e_2000
from pipeline.idphoto.compliance.thresholds import (
    BACKGROUND_DELTA_E_PASS,
    BACKGROUND_DELTA_E_WARN,
    BACKGROUND_GRADIENT_PASS,
    BACKGROUND_GRADIENT_WARN,
    BACKGROUND_MIN_SHARE,
    BACKGROUND_STD_PASS,
    BACKGROUND_STD_WARN,
    SOURCE_CALIBRATION,
    SOURCE_OFIQ_BACKGROUND,
)
from pipeline.idphoto.compliance.verdicts import (
    SEVERITY,
    CheckResult,
    cap_status,
    grade_at_most,
    make_result,
    rgb_to_hex,
    worst_status,
)


def _background_available(region: np.ndarray | None) -> str | None:
    """Why the background cannot be assessed, or None if it can."""
    if region is None:
        return "The background could not be checked without a person matte"
    if region.sum() < BACKGROUND_MIN_SHARE * region.size:
        return "Almost no background is visible: retake with space around your head and shoulders"
    return None


def check_background_uniformity(photo: np.ndarray, region: np.ndarray | None) -> CheckResult:
    """Plain background [9303]: few edges (OFIQ gradient) and little spread of colour."""
    threshold = (f"gradient <= {BACKGROUND_GRADIENT_PASS:g} (warn <= {BACKGROUND_GRADIENT_WARN:g}), "
                 f"channel sigma <= {BACKGROUND_STD_PASS:g} (warn <= {BACKGROUND_STD_WARN:g})")
    source = f"{SOURCE_OFIQ_BACKGROUND}; {SOURCE_CALIBRATION}"
    missing = _background_available(region)
    if missing is not None:
        return make_result("background_uniformity", "no background region", threshold, source, "not_assessed",
                           missing, None)
    assert region is not None
    gradient = background_gradient(photo, region)
    spread = float(photo[region].astype(np.float32).std(axis=0).max())
    status_gradient = grade_at_most(gradient, BACKGROUND_GRADIENT_PASS, BACKGROUND_GRADIENT_WARN)
    status_spread = grade_at_most(spread, BACKGROUND_STD_PASS, BACKGROUND_STD_WARN)
    if SEVERITY[status_gradient] >= SEVERITY[status_spread]:
        advice = "The background is not plain: stand in front of a plain wall, away from furniture and patterns"
    else:
        advice = "The background is unevenly lit: stand a step away from a plain, evenly lit wall"
    return make_result("background_uniformity", f"gradient {gradient:.1f}, channel sigma {spread:.1f}", threshold,
                       source, worst_status(status_gradient, status_spread), advice, gradient)


def check_background_colour(photo: np.ndarray, region: np.ndarray | None, target: tuple[int, int, int],
                            target_source: str, target_is_assumed: bool) -> CheckResult:
    """Background colour close to the required one: CIEDE2000 of the median background colour.

    The median ignores the odd hair strand; CIEDE2000 (not CIE76) because it weights
    lightness differences of light colours less, as the eye does, so a photographed white
    wall that came out light grey is not judged as harshly as a coloured one."""
    threshold = (f"CIEDE2000 <= {BACKGROUND_DELTA_E_PASS:g} (warn <= {BACKGROUND_DELTA_E_WARN:g}) "
                 f"from {rgb_to_hex(target)}")
    missing = _background_available(region)
    if missing is not None:
        return make_result("background_colour", "no background region", threshold, target_source, "not_assessed",
                           missing, None)
    assert region is not None
    median = np.median(photo[region], axis=0)
    difference = delta_e_2000(median, target)
    status = grade_at_most(difference, BACKGROUND_DELTA_E_PASS, BACKGROUND_DELTA_E_WARN)
    measured = f"{rgb_to_hex(median)}, CIEDE2000 {difference:.1f}"
    if target_is_assumed:
        measured += f" ({rgb_to_hex(target)} assumed: the document names no exact colour)"
        status = cap_status(status, "warn")
    return make_result("background_colour", measured, threshold, target_source, status,
                       f"The background is not the required colour ({rgb_to_hex(target)}): "
                       "stand in front of a plain wall of that colour, or let Portrait Lab replace the background",
                       difference)
