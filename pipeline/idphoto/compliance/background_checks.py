"""Checks on the background: plain (few edges, little spread of colour) and of the colour
the document asks for.

Both grade a background region and say "not assessed" when there is none or almost no
background in view: where the ID-photo maker painted its colour, when it says so
(``measurements.painted_region``), else what the matte leaves (``background_region``).

The colour is always judged by what the document states (``background_rule``), never by the
colour the user chose: a choice that the document does not allow is reported with its reason.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from pipeline.cutout.background import Colour, parse_colour
from pipeline.idphoto.compliance.measurements import background_gradient, delta_e_2000, lab_lightness
from pipeline.idphoto.compliance.thresholds import (
    BACKGROUND_DELTA_E_PASS,
    BACKGROUND_DELTA_E_WARN,
    BACKGROUND_GRADIENT_PASS,
    BACKGROUND_GRADIENT_WARN,
    BACKGROUND_MIN_SHARE,
    BACKGROUND_STD_PASS,
    BACKGROUND_STD_WARN,
    DEFAULT_BACKGROUND_RGB,
    LIGHT_BACKGROUND_MIN_L,
    LIGHT_BACKGROUND_WORDS,
    WHITE_FORBIDDEN_WORDS,
    WHITE_RGB,
    SOURCE_CALIBRATION,
    SOURCE_ICAO_9303,
    SOURCE_OFIQ_BACKGROUND,
)
from pipeline.idphoto.compliance.verdicts import (
    SEVERITY,
    CheckResult,
    Status,
    cap_status,
    grade_at_most,
    make_result,
    rgb_to_hex,
    spec_source,
    worst_status,
)
from pipeline.idphoto.specs import IdPhotoSpec

# How a document's words about the colour are checked (see thresholds.LIGHT_BACKGROUND_*).
RULE_NAMED = "named"  # one exact colour: graded against it
RULE_LIGHT = "light"  # "a light colour": any light colour at most warns, a dark one fails
RULE_OPEN = "open"  # no colour we can check: graded against the chosen colour, at most a warning

SAFE_CHOICE = "make it again with the document's own background colour"


@dataclass(frozen=True)
class BackgroundRule:
    """What the document asks of the background's colour, as the check reads it."""

    kind: str  # RULE_NAMED, RULE_LIGHT or RULE_OPEN
    target: Colour  # the colour the background is compared with
    source: str  # what the report cites for the target
    words: str  # the document's own words about the background ('' where it has none)
    assumed: bool  # the target is our choice, not a colour the document names
    white_forbidden: bool = False  # the document's words rule white out (a white background fails)


def _forbids_white(words: str) -> bool:
    return any(phrase in words.lower() for phrase in WHITE_FORBIDDEN_WORDS)


def _asks_for_light(words: str) -> bool:
    return any(re.search(rf"\b{word}\b", words.lower()) for word in LIGHT_BACKGROUND_WORDS)


def background_rule(spec: IdPhotoSpec, chosen: Colour | None = None) -> BackgroundRule:
    """The document's colour rule. ``chosen`` (the user's colour, if any) becomes the target
    only where the document names no colour we can check."""
    words = spec.background.strip()
    if spec.background_hex:
        return BackgroundRule(RULE_NAMED, parse_colour(spec.background_hex), spec_source(spec), words, False)
    if spec.default_background:
        target = parse_colour(spec.default_background)
        source = (f"{spec_source(spec)} (no exact colour named; {spec.default_background} is our choice "
                  "among the allowed ones)")
    else:
        target, source = DEFAULT_BACKGROUND_RGB, f"{SOURCE_ICAO_9303} (plain, light; white assumed)"
    if _asks_for_light(words):
        return BackgroundRule(RULE_LIGHT, target, source, words, True, _forbids_white(words))
    if chosen is not None:
        red, green, blue = (int(c) for c in chosen)
        return BackgroundRule(RULE_OPEN, (red, green, blue), "your chosen colour (the document names none we can "
                              "check)", words, False)
    return BackgroundRule(RULE_OPEN, target, source, words, True)


def _background_available(region: np.ndarray | None) -> str | None:
    """Why the background cannot be assessed, or None if it can."""
    if region is None:
        return "The background could not be checked without a person matte"
    if region.sum() < BACKGROUND_MIN_SHARE * region.size:
        return "Almost no background is visible: retake with space around your head and shoulders"
    return None


def check_background_uniformity(photo: np.ndarray, region: np.ndarray | None, painted: bool = False) -> CheckResult:
    """Plain background [9303]: few edges (OFIQ gradient) and little spread of colour.
    ``painted``: ``region`` is where the maker painted its own colour (only that is judged)."""
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
    if painted:
        advice = ("The painted background came out uneven: make the photo again, with a larger file-size limit "
                  "if you set one")
    elif SEVERITY[status_gradient] >= SEVERITY[status_spread]:
        advice = "The background is not plain: stand in front of a plain wall, away from furniture and patterns"
    else:
        advice = "The background is unevenly lit: stand a step away from a plain, evenly lit wall"
    measured = f"gradient {gradient:.1f}, channel sigma {spread:.1f}" + (" (where the new background was painted)"
                                                                          if painted else "")
    return make_result("background_uniformity", measured, threshold, source,
                       worst_status(status_gradient, status_spread), advice, gradient)


def _colour_status(rule: BackgroundRule, difference: float, lightness: float) -> Status:
    """The verdict by the document's rule: a named colour is graded by its distance; a light
    one accepts any light colour with a warning and fails a dark one; an open one only warns."""
    status = grade_at_most(difference, BACKGROUND_DELTA_E_PASS, BACKGROUND_DELTA_E_WARN)
    if rule.kind == RULE_LIGHT and status != "pass":
        return "warn" if lightness >= LIGHT_BACKGROUND_MIN_L else "fail"
    if rule.kind == RULE_OPEN:
        return cap_status(status, "warn")
    return status


def _colour_advice(rule: BackgroundRule, chosen: Colour | None, dark: bool) -> str:
    """What to do, naming the user's own choice when that is what the document does not allow."""
    target, asked = rgb_to_hex(rule.target), f" ('{rule.words}')" if rule.words else ""
    overridden = chosen is not None and delta_e_2000(chosen, rule.target) > BACKGROUND_DELTA_E_PASS
    mine = rgb_to_hex(chosen) if chosen is not None else ""
    if overridden and rule.kind == RULE_NAMED:
        return f"You chose the background {mine}, but this document asks for {target}{asked}: {SAFE_CHOICE}"
    if overridden and rule.kind == RULE_LIGHT:
        if dark:
            return (f"This document asks for a light background{asked}, and the {mine} you chose is dark: "
                    f"{SAFE_CHOICE}, or a light one")
        return (f"This document asks for a light background{asked}: the {mine} you chose is light but not the "
                f"{target} used for it, so an office may still refuse it; the safe choice is to {SAFE_CHOICE}")
    if rule.kind == RULE_LIGHT and dark:
        return (f"This document asks for a light background{asked}: stand in front of a plain, light wall, or let "
                "Portrait Lab replace the background")
    return (f"The background is not the required colour ({target}): stand in front of a plain wall of that colour, "
            "or let Portrait Lab replace the background")


def check_background_colour(photo: np.ndarray, region: np.ndarray | None, rule: BackgroundRule,
                            chosen: Colour | None = None) -> CheckResult:
    """Background colour as the document asks (``rule``): CIEDE2000 of the median background
    colour from the rule's target, and its lightness where the document asks for a light one.
    ``chosen`` is the colour the user picked, if any: named in the verdict, never the target of
    a document that states a colour.

    The median ignores the odd hair strand; CIEDE2000 (not CIE76) because it weights
    lightness differences of light colours less, as the eye does, so a photographed white
    wall that came out light grey is not judged as harshly as a coloured one."""
    threshold = (f"CIEDE2000 <= {BACKGROUND_DELTA_E_PASS:g} (warn <= {BACKGROUND_DELTA_E_WARN:g}) "
                 f"from {rgb_to_hex(rule.target)}")
    if rule.kind == RULE_LIGHT:
        threshold += f"; any light colour (lightness >= {LIGHT_BACKGROUND_MIN_L:g}) at worst warns"
    missing = _background_available(region)
    if missing is not None:
        return make_result("background_colour", "no background region", threshold, rule.source, "not_assessed",
                           missing, None)
    assert region is not None
    median = np.median(photo[region], axis=0)
    difference = delta_e_2000(median, rule.target)
    lightness = lab_lightness(median)
    status = _colour_status(rule, difference, lightness)
    measured = f"{rgb_to_hex(median)}, CIEDE2000 {difference:.1f}"
    if rule.kind == RULE_LIGHT:
        measured += f", lightness {lightness:.0f}"
    if rule.assumed:
        measured += f" ({rgb_to_hex(rule.target)} assumed: the document names no exact colour)"
    if chosen is not None and status != "pass":
        measured += f"; you chose {rgb_to_hex(chosen)}"
    advice = _colour_advice(rule, chosen, dark=lightness < LIGHT_BACKGROUND_MIN_L)
    if rule.white_forbidden and delta_e_2000(median, WHITE_RGB) <= BACKGROUND_DELTA_E_PASS:
        status, measured = "fail", measured + "; white, which this document forbids"
        advice = f"This document does not accept a white background ('{rule.words}'): {SAFE_CHOICE}"
    return make_result("background_colour", measured, threshold, rule.source, status, advice, difference)
