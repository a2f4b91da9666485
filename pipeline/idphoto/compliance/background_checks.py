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
from pipeline.i18n import Message, Text
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
    colour_name,
    grade_at_most,
    make_result,
    rgb_to_hex,
    spec_source,
    worst_status,
)
from pipeline.idphoto.search import BackgroundWords
from pipeline.idphoto.specs import IdPhotoSpec

# How a document's words about the colour are checked (see thresholds.LIGHT_BACKGROUND_*).
RULE_NAMED = "named"  # one exact colour: graded against it
RULE_LIGHT = "light"  # "a light colour": any light colour at most warns, a dark one fails
RULE_OPEN = "open"  # no colour we can check: graded against the chosen colour, at most a warning



@dataclass(frozen=True)
class BackgroundRule:
    """What the document asks of the background's colour, as the check reads it."""

    kind: str  # RULE_NAMED, RULE_LIGHT or RULE_OPEN
    target: Colour  # the colour the background is compared with
    source: Text  # what the report cites for the target
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
        source: Text = Message("check.background_colour.source_our_choice",
                               {"spec": spec_source(spec), "colour": colour_name(spec.default_background)})
    else:
        target = DEFAULT_BACKGROUND_RGB
        source = Message("check.background_colour.source_icao", {"icao": SOURCE_ICAO_9303})
    if _asks_for_light(words):
        return BackgroundRule(RULE_LIGHT, target, source, words, True, _forbids_white(words))
    if chosen is not None:
        red, green, blue = (int(c) for c in chosen)
        return BackgroundRule(RULE_OPEN, (red, green, blue), Message("check.background_colour.source_chosen"), words,
                              False)
    return BackgroundRule(RULE_OPEN, target, source, words, True)


def _background_available(region: np.ndarray | None) -> Message | None:
    """Why the background cannot be assessed, or None if it can."""
    if region is None:
        return Message("check.background.no_matte")
    if region.sum() < BACKGROUND_MIN_SHARE * region.size:
        return Message("check.background.too_little")
    return None


def check_background_uniformity(photo: np.ndarray, region: np.ndarray | None, painted: bool = False) -> CheckResult:
    """Plain background [9303]: few edges (OFIQ gradient) and little spread of colour.
    ``painted``: ``region`` is where the maker painted its own colour (only that is judged)."""
    threshold = Message("check.background_uniformity.threshold", {
        "gradient_pass": BACKGROUND_GRADIENT_PASS, "gradient_warn": BACKGROUND_GRADIENT_WARN,
        "sigma_pass": BACKGROUND_STD_PASS, "sigma_warn": BACKGROUND_STD_WARN})
    source = f"{SOURCE_OFIQ_BACKGROUND}; {SOURCE_CALIBRATION}"
    missing = _background_available(region)
    if missing is not None:
        return make_result("background_uniformity", Message("check.background.no_region"), threshold, source,
                           "not_assessed", missing, None)
    assert region is not None
    gradient = background_gradient(photo, region)
    spread = float(photo[region].astype(np.float32).std(axis=0).max())
    status_gradient = grade_at_most(gradient, BACKGROUND_GRADIENT_PASS, BACKGROUND_GRADIENT_WARN)
    status_spread = grade_at_most(spread, BACKGROUND_STD_PASS, BACKGROUND_STD_WARN)
    if painted:
        advice = Message("check.background_uniformity.advice_painted")
    elif SEVERITY[status_gradient] >= SEVERITY[status_spread]:
        advice = Message("check.background_uniformity.advice_busy")
    else:
        advice = Message("check.background_uniformity.advice_uneven")
    measured = Message("check.background_uniformity.measured_painted" if painted
                       else "check.background_uniformity.measured", {"gradient": gradient, "sigma": spread})
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


def _colour_advice(rule: BackgroundRule, chosen: Colour | None, dark: bool) -> Message:
    """What to do, naming the user's own choice when that is what the document does not allow.
    The document's own words (``asked``, quoted data) are shown as they are written."""
    asked: Text = Message("check.background_colour.asked", {"words": BackgroundWords(rule.words)}) if rule.words else ""
    values = {"target": rgb_to_hex(rule.target), "asked": asked,
              "mine": rgb_to_hex(chosen) if chosen is not None else ""}
    overridden = chosen is not None and delta_e_2000(chosen, rule.target) > BACKGROUND_DELTA_E_PASS
    if overridden and rule.kind == RULE_NAMED:
        return Message("check.background_colour.advice_chosen_other", values)
    if overridden and rule.kind == RULE_LIGHT:
        key = "check.background_colour.advice_chosen_dark" if dark else "check.background_colour.advice_chosen_light"
        return Message(key, values)
    if rule.kind == RULE_LIGHT and dark:
        return Message("check.background_colour.advice_light_wall", values)
    return Message("check.background_colour.advice_wrong_colour", values)


def check_background_colour(photo: np.ndarray, region: np.ndarray | None, rule: BackgroundRule,
                            chosen: Colour | None = None) -> CheckResult:
    """Background colour as the document asks (``rule``): CIEDE2000 of the median background
    colour from the rule's target, and its lightness where the document asks for a light one.
    ``chosen`` is the colour the user picked, if any: named in the verdict, never the target of
    a document that states a colour.

    The median ignores the odd hair strand; CIEDE2000 (not CIE76) because it weights
    lightness differences of light colours less, as the eye does, so a photographed white
    wall that came out light grey is not judged as harshly as a coloured one."""
    threshold = Message("check.background_colour.threshold_light" if rule.kind == RULE_LIGHT
                        else "check.background_colour.threshold",
                        {"pass": BACKGROUND_DELTA_E_PASS, "warn": BACKGROUND_DELTA_E_WARN,
                         "target": rgb_to_hex(rule.target), "lightness": LIGHT_BACKGROUND_MIN_L})
    missing = _background_available(region)
    if missing is not None:
        return make_result("background_colour", Message("check.background.no_region"), threshold, rule.source,
                           "not_assessed", missing, None)
    assert region is not None
    median = np.median(photo[region], axis=0)
    difference = delta_e_2000(median, rule.target)
    lightness = lab_lightness(median)
    status = _colour_status(rule, difference, lightness)
    white_forbidden = rule.white_forbidden and delta_e_2000(median, WHITE_RGB) <= BACKGROUND_DELTA_E_PASS
    measured = _colour_measured(rule, median, difference, lightness, chosen if status != "pass" else None,
                                white_forbidden)
    advice = _colour_advice(rule, chosen, dark=lightness < LIGHT_BACKGROUND_MIN_L)
    if white_forbidden:
        status = "fail"
        advice = Message("check.background_colour.advice_no_white", {"words": BackgroundWords(rule.words)})
    return make_result("background_colour", measured, threshold, rule.source, status, advice, difference)


def _colour_measured(rule: BackgroundRule, median: np.ndarray, difference: float, lightness: float,
                     chosen: Colour | None, white_forbidden: bool) -> Message:
    """'#F4F4F4, CIEDE2000 1.2', with the lightness, the assumed target, the user's choice and a
    forbidden white where they matter; each addition is its own message, so each language
    joins them in its own way."""
    values = {"colour": rgb_to_hex(median), "difference": difference, "lightness": lightness}
    measured = Message("check.background_colour.measured_light" if rule.kind == RULE_LIGHT
                       else "check.background_colour.measured", values)
    if rule.assumed:
        measured = Message("check.background_colour.measured_assumed",
                           {"measured": measured, "target": rgb_to_hex(rule.target)})
    if chosen is not None:
        measured = Message("check.background_colour.measured_chosen",
                           {"measured": measured, "mine": rgb_to_hex(chosen)})
    if white_forbidden:
        measured = Message("check.background_colour.measured_white", {"measured": measured})
    return measured
