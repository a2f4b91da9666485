"""Fix the photo, not only judge it: the face's exposure and colour cast corrected when the
report would complain, then the user's brightness, contrast and sharpness.

Everything is measured on the face region the exposure check grades (``face_region_mask`` and
``luma``), so the before/after numbers here are the report's numbers. The automatic step acts
only on a clear problem and by a bounded amount, so a photo that is already right is returned
untouched (the very same array):
- exposure: a face dimmer than ``DIM_MEAN`` whose brightest skin is dim too (a dark complexion
  in good light keeps its brightest skin bright, so it is left alone), or brighter than the
  check's band, or clipped, is moved toward ``TARGET_MEAN`` by a tone curve (never beyond
  ``GAMMA_RANGE``). A face too dark to recognise (the check's tonal-range rule) is left as it
  is: brightening cannot bring back detail, and the report must still say so;
- colour: skin alone cannot tell a warm light from a darker or warmer complexion, so a cast is
  corrected only where the face and the whole frame agree on it: the face's channel ratios are
  off typical skin (``SKIN_REFERENCE``) and the frame's grey-edge estimate of the light (edges
  are grey on average, whatever the wall's colour) is off neutral in the same direction. The
  smaller of the two is removed, each channel gain within ``WB_GAIN_RANGE``.
The maker applies this to the placed person before it paints the background, so the painted
colour stays exact.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

import cv2
import numpy as np
from skimage.color import rgb2lab

from pipeline.core.errors import InvalidOptionError
from pipeline.i18n import DEFAULT_LANGUAGE, translate
from pipeline.idphoto.compliance.measurements import face_region_mask, luma, luma_entropy
from pipeline.idphoto.compliance.thresholds import (
    FACE_DYNAMIC_RANGE_MIN_BITS,
    MEAN_LUMA_RANGE,
    OVER_EXPOSED_LUMA,
    OVER_SHARE_PASS,
    UNDER_EXPOSED_LUMA,
)

# The sliders: name -> (lowest, highest); 0 leaves the photo as it is.
SLIDER_RANGES: dict[str, tuple[float, float]] = {"brightness": (-1.0, 1.0), "contrast": (-1.0, 1.0),
                                                 "sharpness": (0.0, 1.0)}
BRIGHTNESS_STOPS = 1.0  # brightness +-1: the tone curve's exponent 2**-+1 (mid-grey 0.5 -> 0.71 / 0.25)
CONTRAST_REACH = 0.6  # contrast +-1: tones stretched 1.6x / squeezed to 0.4x about mid-grey
SHARPEN_AMOUNT = 1.5  # sharpness 1: unsharp mask of this strength ...
SHARPEN_SIGMA_PX = 1.2  # ... at this radius on the finished photo

# Exposure (face luma 0-1, the exposure check's own measure)
DIM_MEAN = 0.40  # a face mean below this is dim for an ID photo (the check warns only below 0.2) ...
DIM_TOP = 0.70  # ... when its brightest skin (TOP_PERCENTILE) is below this too: the whole face is dim
TOP_PERCENTILE = 98
TARGET_MEAN = 0.50  # where a dim face is brought (the middle of the check's 0.2-0.8 band)
BRIGHT_TARGET_MEAN = 0.72  # where a washed-out face is brought, below the band's top
GAMMA_RANGE = (0.5, 1.6)  # the tone curve's exponent never goes beyond these

# Colour (ratios of mean linear-light channels; deviations as natural logs)
# Typical skin's green/red and blue/red, from the three test portraits (tests/data/portraits):
# a reference for the direction of a cast, never a target a face is pulled all the way to.
SKIN_REFERENCE = {"green_red": 0.723, "blue_red": 0.591}
SKIN_TOLERANCE = {"green_red": 0.10, "blue_red": 0.20}  # the face must be off typical skin by more
SCENE_TOLERANCE = 0.10  # and the frame's light off neutral by more (untouched portraits: <= 0.04)
WB_GAIN_RANGE = (0.66, 1.5)  # each channel's gain, after keeping the face's luminance
GREY_EDGE_POWER = 6  # the grey-edge estimate: Minkowski norm of the edges ...
GREY_EDGE_SIGMA_PX = 1.5  # ... after this much smoothing
REC709 = np.array([0.2126, 0.7152, 0.0722])


@dataclass(frozen=True)
class ToneOptions:
    """What the user asked for: the automatic correction (on by default for ID photos) and
    the three sliders, applied after it."""

    auto: bool = True
    brightness: float = 0.0
    contrast: float = 0.0
    sharpness: float = 0.0

    def validated(self) -> ToneOptions:
        """Refuse a slider outside its range (or not a number) with a plain sentence."""
        if not isinstance(self.auto, bool):
            raise InvalidOptionError(f"The automatic correction is on or off; got {self.auto!r}.")
        for name, (low, high) in SLIDER_RANGES.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or not low <= value <= high:
                raise InvalidOptionError(f"The {name} must be a number from {low:g} to {high:g}; got {value!r}.",
                                         hint=f"0 leaves the {name} as it is.")
        return self

    @property
    def sliders_neutral(self) -> bool:
        return all(getattr(self, name) == 0 for name in SLIDER_RANGES)


@dataclass(frozen=True)
class FaceTone:
    """The face's light and colour, as the exposure check measures the light."""

    mean: float  # luma 0-1
    dark: float  # share of face pixels at or below the check's dark line
    clipped: float  # share at or above its clipped line
    top: float  # the TOP_PERCENTILE luma, 0-1
    tonal_bits: float
    green_red: float  # mean linear-light channel ratios
    blue_red: float
    lab_a: float  # CIELAB a*, b* of the face's mean colour
    lab_b: float

    def to_dict(self) -> dict[str, float]:
        return {f.name: round(float(getattr(self, f.name)), 4) for f in fields(self)}


def _linear(encoded: np.ndarray) -> np.ndarray:
    values = np.asarray(encoded, dtype=np.float64) / 255.0
    return np.where(values <= 0.04045, values / 12.92, ((values + 0.055) / 1.055) ** 2.4)


def _encoded(linear: np.ndarray) -> np.ndarray:
    values = np.clip(linear, 0.0, 1.0)
    return 255.0 * np.where(values <= 0.0031308, values * 12.92, 1.055 * values ** (1 / 2.4) - 0.055)


def measure_face_tone(rgb: np.ndarray, region: np.ndarray) -> FaceTone | None:
    """The face's numbers (None without face pixels)."""
    if not region.any():
        return None
    values = luma(rgb)[region]
    pixels = rgb[region].astype(np.float64)
    linear = _linear(pixels).mean(axis=0)
    red = max(float(linear[0]), 1e-6)
    lab = rgb2lab(pixels.mean(axis=0)[None, None] / 255.0)[0, 0]
    return FaceTone(mean=float(values.mean()) / 255.0, dark=float((values <= UNDER_EXPOSED_LUMA).mean()),
                    clipped=float((values >= OVER_EXPOSED_LUMA).mean()),
                    top=float(np.percentile(values, TOP_PERCENTILE)) / 255.0, tonal_bits=luma_entropy(values),
                    green_red=float(linear[1]) / red, blue_red=float(linear[2]) / red,
                    lab_a=float(lab[1]), lab_b=float(lab[2]))


ALREADY_FINE = "The face's light and colour were already within range, so they were left as they were."
TOO_DARK = ("The face is too dark or washed out to be corrected: brightening cannot bring back detail "
            "the camera did not record, so retake the photo in better light.")
FULL_WIDTH = frozenset({"zh-CN", "zh-TW", "ja"})  # sentences follow each other without a space
# (axis, sign of the deviation) -> the cast's name in plain words
CAST_NAMES = {("blue_red", -1): "warm", ("blue_red", 1): "cool blue", ("green_red", 1): "green",
              ("green_red", -1): "magenta"}


@dataclass(frozen=True)
class ToneChange:
    """What the correction did, with the face's numbers before and after (for the report)."""

    options: ToneOptions
    before: FaceTone | None
    after: FaceTone | None
    curve_exponent: float = 1.0  # the automatic exposure curve (1: none)
    channel_gains: tuple[float, float, float] = (1.0, 1.0, 1.0)  # the automatic white balance (1: none)
    cast: str | None = None  # the cast corrected, in words
    reasons: tuple[str, ...] = field(default_factory=tuple)  # why something was (or was not) done

    @property
    def changed(self) -> bool:
        return self.curve_exponent != 1.0 or self.cast is not None or not self.options.sliders_neutral

    def summary(self, lang: str | None = DEFAULT_LANGUAGE) -> str:
        """One plain sentence for the visitor in ``lang``; empty when nothing was done or worth saying."""
        sentence = ""
        cast = translate(f"doc.tone.cast.{self.cast.replace(' ', '_')}", lang) if self.cast else ""
        if self.before and self.after and self.curve_exponent != 1.0:
            key = "doc.tone.brightened" if self.curve_exponent < 1 else "doc.tone.toned_down"
            sentence = translate(key + ("_and_cast" if cast else ""), lang, before=f"{self.before.mean:.2f}",
                                 after=f"{self.after.mean:.2f}", cast=cast)
        elif cast:
            sentence = translate("doc.tone.cast", lang, cast=cast)
        sliders = [translate(f"doc.tone.slider.{name}", lang, value=f"{getattr(self.options, name):+.2f}")
                   for name in SLIDER_RANGES if getattr(self.options, name)]
        if sliders:
            applied = translate("doc.tone.sliders", lang,
                                sliders=translate("doc.tone.list_separator", lang).join(sliders))
            sentence += f"{' ' if sentence and lang not in FULL_WIDTH else ''}{applied}"
        if not sentence and self.reasons and self.reasons[0] != ALREADY_FINE:
            # why a face that needed it was not corrected
            sentence = translate("doc.tone.too_dark", lang) if self.reasons[0] == TOO_DARK else self.reasons[0]
        return sentence

    def to_dict(self, lang: str | None = DEFAULT_LANGUAGE) -> dict[str, Any]:
        return {"automatic": self.options.auto, "changed": self.changed, "summary": self.summary(lang),
                "reasons": list(self.reasons),
                "before": self.before.to_dict() if self.before else None,
                "after": self.after.to_dict() if self.after else None,
                "tone_curve_exponent": round(self.curve_exponent, 4),
                "channel_gains": [round(g, 4) for g in self.channel_gains], "cast": self.cast,
                "sliders": {name: getattr(self.options, name) for name in SLIDER_RANGES}}


def grey_edge_deviation(rgb: np.ndarray) -> dict[str, float]:
    """The frame's light as the grey-edge hypothesis estimates it (edges are grey on average):
    log green/red and blue/red of the edge energy in linear light; 0 is neutral."""
    smooth = cv2.GaussianBlur(_linear(rgb).astype(np.float32), (0, 0), GREY_EDGE_SIGMA_PX)
    energy = []
    for channel in range(3):
        plane = smooth[..., channel]
        magnitude = np.hypot(cv2.Sobel(plane, cv2.CV_32F, 1, 0), cv2.Sobel(plane, cv2.CV_32F, 0, 1))
        energy.append(max(float((magnitude.astype(np.float64) ** GREY_EDGE_POWER).mean()) ** (1 / GREY_EDGE_POWER),
                          1e-9))
    return {"green_red": math.log(energy[1] / energy[0]), "blue_red": math.log(energy[2] / energy[0])}


def _agreed_shift(face: FaceTone, scene: dict[str, float]) -> dict[str, float]:
    """Per ratio, the log shift the face and the frame agree on (0 where they do not)."""
    shifts = {}
    for axis, reference in SKIN_REFERENCE.items():
        off_skin = math.log(max(getattr(face, axis), 1e-6) / reference)
        off_scene = scene[axis]
        agree = off_skin * off_scene > 0 and abs(off_skin) > SKIN_TOLERANCE[axis] and abs(off_scene) > SCENE_TOLERANCE
        shifts[axis] = math.copysign(min(abs(off_skin), abs(off_scene)), off_skin) if agree else 0.0
    return shifts


def white_balance(face: FaceTone, frame: np.ndarray) -> tuple[tuple[float, float, float], str | None]:
    """Channel gains (linear light) that remove the cast the face and the frame agree on,
    keeping the face's luminance; (1, 1, 1) and None when there is no such cast."""
    shifts = _agreed_shift(face, grey_edge_deviation(frame))
    if not any(shifts.values()):
        return (1.0, 1.0, 1.0), None
    # new green/red = green/red / red gain; new blue/red = blue/red * blue gain / red gain
    red = math.exp(shifts["green_red"])
    blue = red * math.exp(-shifts["blue_red"])
    means = np.array([1.0, face.green_red, face.blue_red])
    keep = float(REC709 @ means) / float(REC709 @ (means * [red, 1.0, blue]))
    low, high = WB_GAIN_RANGE
    gains = tuple(float(np.clip(g * keep, low, high)) for g in (red, 1.0, blue))
    # a shift of blue against red is a warm or cool light (it moves green/red too); green or
    # magenta only when blue/red stays
    axis = "blue_red" if shifts["blue_red"] else "green_red"
    return gains, CAST_NAMES[axis, 1 if shifts[axis] > 0 else -1]  # type: ignore[return-value]


def _channel_curves(gains: tuple[float, float, float], exponent: float) -> np.ndarray:
    """256 x 3 float curves 0-1: white balance in linear light, then the exposure curve."""
    levels = _linear(np.arange(256, dtype=np.float64))
    curves = np.stack([_encoded(levels * gain) / 255.0 for gain in gains], axis=1)
    return curves ** exponent


def exposure_exponent(face_pixels: np.ndarray, face: FaceTone) -> tuple[float, str | None]:
    """The tone curve's exponent that brings a dim or washed-out face toward its target (1.0
    when the face needs none), and why, in a sentence."""
    dim = face.mean < DIM_MEAN and face.top < DIM_TOP
    bright = face.mean > MEAN_LUMA_RANGE[1] or face.clipped > OVER_SHARE_PASS
    if not (dim or bright):
        return 1.0, None
    if face.tonal_bits < FACE_DYNAMIC_RANGE_MIN_BITS:
        return 1.0, TOO_DARK
    target = TARGET_MEAN if dim else min(BRIGHT_TARGET_MEAN, face.mean - 0.02)
    low, high = (GAMMA_RANGE[0], 1.0) if dim else (1.0, GAMMA_RANGE[1])
    encoded = face_pixels.astype(np.float64).reshape(-1, 1, 3) / 255.0
    for _ in range(24):  # the mean falls as the exponent grows: bisect
        middle = (low + high) / 2
        mean = float(luma(np.clip(np.rint(255.0 * encoded ** middle), 0, 255).astype(np.uint8)).mean()) / 255.0
        low, high = (middle, high) if mean > target else (low, middle)
    exponent = (low + high) / 2
    reason = "The face was dim" if dim else "The face was washed out"
    return exponent, f"{reason} (mean {face.mean:.2f}), so its light was corrected toward {target:.2f}."


def _slider_curve(curves: np.ndarray, options: ToneOptions) -> np.ndarray:
    """Brightness (a tone curve: mid-tones move, black and white stay), then contrast about mid-grey."""
    if options.brightness:
        curves = np.clip(curves, 0.0, 1.0) ** (2.0 ** (-BRIGHTNESS_STOPS * options.brightness))
    if options.contrast:
        curves = 0.5 + (curves - 0.5) * (1.0 + CONTRAST_REACH * options.contrast)
    return curves


def sharpened(rgb: np.ndarray, amount: float) -> np.ndarray:
    """An unsharp mask of ``amount`` (0: the same array)."""
    if amount <= 0:
        return rgb
    blurred = cv2.GaussianBlur(rgb, (0, 0), SHARPEN_SIGMA_PX)
    return cv2.addWeighted(rgb, 1.0 + amount, blurred, -amount, 0)


@dataclass(frozen=True)
class _Automatic:
    """The automatic step's decision: identity curves and no reasons when the face needs none."""

    curves: np.ndarray
    exponent: float = 1.0
    gains: tuple[float, float, float] = (1.0, 1.0, 1.0)
    cast: str | None = None
    reasons: tuple[str, ...] = ()


def _automatic(rgb: np.ndarray, region: np.ndarray, before: FaceTone) -> _Automatic:
    """White balance first (measured on the frame and the face), then the exposure curve,
    measured on the white-balanced face."""
    gains, cast = white_balance(before, rgb)
    face = rgb[region]
    reasons = [f"The face and the light around it had a {cast} colour cast, so it was corrected."] if cast else []
    if cast:
        lut = np.clip(np.rint(255.0 * _channel_curves(gains, 1.0)), 0, 255).astype(np.uint8)
        face = np.stack([lut[face[:, c], c] for c in range(3)], axis=1)
    exponent, why = exposure_exponent(face, before)
    if why:
        reasons.append(why)
    if not reasons:
        reasons = [ALREADY_FINE]
    return _Automatic(_channel_curves(gains, exponent), exponent, gains, cast, tuple(reasons))


def correct_tone(rgb: np.ndarray, alpha: np.ndarray | None, landmarks: np.ndarray, options: ToneOptions
                 ) -> tuple[np.ndarray, ToneChange]:
    """The photo with the face's light and colour corrected (when ``options.auto`` and needed),
    then the sliders; ``landmarks`` are the face's five points on ``rgb``, ``alpha`` its matte.
    Nothing to do returns ``rgb`` itself."""
    region = face_region_mask(rgb.shape[:2], landmarks, alpha)
    before = measure_face_tone(rgb, region)
    auto = _Automatic(_channel_curves((1.0, 1.0, 1.0), 1.0))
    if options.auto and before is not None:
        auto = _automatic(rgb, region, before)
    result = rgb
    if auto.exponent != 1.0 or auto.cast is not None or options.brightness or options.contrast:
        lut = np.clip(np.rint(255.0 * _slider_curve(auto.curves, options)), 0, 255).astype(np.uint8)
        result = cv2.LUT(np.ascontiguousarray(rgb), lut.reshape(256, 1, 3))
    result = sharpened(result, SHARPEN_AMOUNT * options.sharpness)
    after = before if result is rgb else measure_face_tone(result, region)
    return result, ToneChange(options, before, after, auto.exponent, auto.gains, auto.cast, auto.reasons)
