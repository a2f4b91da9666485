"""New backgrounds behind a matted person: colours, gradients, an image, transparency, blur.

Everything here is a pure function of the photo, its matte and the options, so it is
safe to share between requests. The compositing rule is the matting equation
``out = a*F + (1-a)*B_new``; ``F`` is the person's own colour, recovered from the photo
by :func:`despill` so that semi-transparent hair edges lose the old wall's tint instead
of carrying it onto the new background.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import cv2
import numpy as np

from pipeline.core.encode import HIDDEN_RGB
from pipeline.core.errors import InvalidOptionError
from pipeline.core.pixels import describe_array, is_rgb_array, require_rgb
from pipeline.i18n import Message

Colour = tuple[int, int, int]

# Background colours offered by name. White/off-white/light grey/light blue are the usual
# passport and visa backgrounds. "blue" (#438EDB) is the ID-photo blue common in
# open-source ID-photo apps; "red" (#D74532) is the ID-photo red of HivisionIDPhotos.
COLOUR_PRESETS: dict[str, str] = {
    "white": "#FFFFFF",
    "off-white": "#F5F5F0",
    "light-grey": "#D9D9D9",
    "light-blue": "#B9D7F0",
    "blue": "#438EDB",
    "red": "#D74532",
}

BACKGROUND_MODES = ("transparent", "colour", "vertical-gradient", "radial-gradient", "image", "blur")

# Alpha below/above these is treated as pure background/foreground by despill: there,
# solving the matting equation for F would divide by ~0 or change nothing.
DESPILL_ALPHA_MIN = 0.02
DESPILL_ALPHA_MAX = 0.98
# blur_strength 1.0 blurs with a Gaussian sigma of this share of the image's long side
# (20 px on a 512 px photo): a strong "portrait mode"; 0.5 is a moderate default.
BLUR_SIGMA_PER_LONG_SIDE = 0.04
MIN_BLUR_SIGMA = 0.5
MAX_FEATHER_PX = 50.0

_HEX_PATTERN = re.compile(r"#?([0-9a-fA-F]{6})|#([0-9a-fA-F]{3})")


# --------------------------------------------------------------------------- colours


def parse_colour(value: str) -> Colour:
    """A preset name (case-insensitive) or ``#RRGGBB`` / ``RRGGBB`` / ``#RGB`` as (r, g, b)."""
    if not isinstance(value, str):
        raise InvalidOptionError(
            f"Background colour must be text, not {type(value).__name__}.", hint=_colour_hint()
        )
    text = value.strip()
    preset = COLOUR_PRESETS.get(text.lower())
    if preset is not None:
        text = preset
    match = _HEX_PATTERN.fullmatch(text)
    if match is None:
        raise InvalidOptionError(f"Unknown background colour {value!r}.", hint=_colour_hint())
    digits = match.group(1) or "".join(character * 2 for character in match.group(2))
    return (int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16))


def _colour_hint() -> str:
    return f"Use a preset ({', '.join(COLOUR_PRESETS)}) or a hex colour such as #RRGGBB or #RGB."


def colour_to_hex(colour: Colour) -> str:
    return "#{:02X}{:02X}{:02X}".format(*colour)


# --------------------------------------------------------------------------- options


@dataclass(frozen=True)
class BackgroundOptions:
    """What to put behind the person.

    Gradients go from ``colour`` (top / centre) to ``colour2`` (bottom / corners).
    ``image`` (RGB uint8) is scaled to cover the frame and centre-cropped, never
    distorted. ``blur_strength`` 0..1 is the "portrait mode" blur of the photo's own
    background. ``feather_px`` softens the matte's edge (Gaussian sigma, 0 = off).
    ``strokes`` corrects the matte by hand before anything is composed.
    """

    mode: str = "colour"
    colour: str = "white"
    colour2: str = "light-blue"
    image: np.ndarray | None = field(default=None, compare=False, repr=False)
    blur_strength: float = 0.5
    feather_px: float = 1.0
    despill: bool = True
    # the user's stroke mask (RGBA, white keep, black remove; pipeline.cutout.strokes), applied
    # right after matting; None = the automatic matte as it is
    strokes: np.ndarray | None = field(default=None, compare=False, repr=False)

    def validated(self) -> BackgroundOptions:
        """The same options, checked; InvalidOptionError says which one is wrong and why."""
        if self.mode not in BACKGROUND_MODES:
            raise InvalidOptionError(
                f"Unknown background mode {self.mode!r}.", hint=f"Choose one of: {', '.join(BACKGROUND_MODES)}."
            )
        parse_colour(self.colour)
        parse_colour(self.colour2)
        if self.mode == "image":
            _require_background_image(self.image)
        elif self.image is not None:
            _require_background_image(self.image)
        if not _is_real(self.blur_strength) or not 0.0 <= float(self.blur_strength) <= 1.0:
            raise InvalidOptionError(
                f"Blur strength must be a number from 0 to 1, not {self.blur_strength!r}.",
                hint="0 keeps the background almost sharp, 1 blurs it strongly.",
            )
        if not _is_real(self.feather_px) or not 0.0 <= float(self.feather_px) <= MAX_FEATHER_PX:
            raise InvalidOptionError(
                f"Edge feathering must be a number of pixels from 0 to {MAX_FEATHER_PX:g}, not {self.feather_px!r}.",
                hint="1 (the default) softens the edge slightly; 0 turns it off.",
            )
        if not isinstance(self.despill, (bool, np.bool_)):
            raise InvalidOptionError(f"despill must be true or false, not {self.despill!r}.")
        return self


def _is_real(value: object) -> bool:
    return (
        isinstance(value, (int, float, np.integer, np.floating))
        and not isinstance(value, (bool, np.bool_))
        and math.isfinite(float(value))
    )


def _require_background_image(image: object) -> None:
    if image is None:
        raise InvalidOptionError(Message("error.background.image_missing"),
                                 hint=Message("error.background.image_missing_hint"))
    if not is_rgb_array(image):
        raise InvalidOptionError(
            "The background image must be an RGB picture.",
            hint=f"Got a {describe_array(image)}; decode it as RGB (H, W, 3) uint8.",
        )


# --------------------------------------------------------------------------- backgrounds


def solid_background(colour: Colour, size: tuple[int, int]) -> np.ndarray:
    """(height, width) = size, filled with ``colour``."""
    height, width = size
    background = np.empty((height, width, 3), dtype=np.uint8)
    background[:] = colour
    return background


def _blend(start: Colour, end: Colour, t: np.ndarray) -> np.ndarray:
    """Colours from ``start`` (t=0) to ``end`` (t=1), rounded to uint8, t of any shape."""
    start_array = np.asarray(start, dtype=np.float32)
    end_array = np.asarray(end, dtype=np.float32)
    mixed = start_array + t[..., None].astype(np.float32) * (end_array - start_array)
    return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)


def vertical_gradient(top: Colour, bottom: Colour, size: tuple[int, int]) -> np.ndarray:
    """Top row exactly ``top``, bottom row exactly ``bottom``, linear in between."""
    height, width = size
    t = np.linspace(0.0, 1.0, height, dtype=np.float32) if height > 1 else np.zeros(1, np.float32)
    column = _blend(top, bottom, t)  # (height, 3)
    return np.ascontiguousarray(np.broadcast_to(column[:, None, :], (height, width, 3)))


def radial_gradient(centre: Colour, edge: Colour, size: tuple[int, int]) -> np.ndarray:
    """``centre`` at the image centre, ``edge`` exactly at the four corners.

    Distances are normalised per axis, so the falloff follows the frame's aspect (an
    ellipse on a portrait-format photo) like a studio backdrop light.
    """
    height, width = size
    ys = (np.arange(height, dtype=np.float32) - (height - 1) / 2) / max((height - 1) / 2, 1e-6)
    xs = (np.arange(width, dtype=np.float32) - (width - 1) / 2) / max((width - 1) / 2, 1e-6)
    t = np.sqrt((ys[:, None] ** 2 + xs[None, :] ** 2) / 2.0)
    return _blend(centre, edge, np.clip(t, 0.0, 1.0))


def cover_fit(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Scale ``image`` (keeping its aspect) until it covers ``size``, then centre-crop."""
    _require_background_image(image)
    height, width = size
    source_height, source_width = image.shape[:2]
    scale = max(height / source_height, width / source_width)
    scaled_width = max(width, int(round(source_width * scale)))
    scaled_height = max(height, int(round(source_height * scale)))
    interpolation = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_CUBIC
    scaled = cv2.resize(image, (scaled_width, scaled_height), interpolation=interpolation)
    top = (scaled_height - height) // 2
    left = (scaled_width - width) // 2
    return np.ascontiguousarray(scaled[top:top + height, left:left + width])


def blur_sigma(size: tuple[int, int], strength: float) -> float:
    """Gaussian sigma in pixels for ``blur_strength``, relative to the image's long side."""
    return max(MIN_BLUR_SIGMA, float(strength) * BLUR_SIGMA_PER_LONG_SIDE * max(size))


def _gaussian_blur(values: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur whose cost does not grow with sigma.

    A large blur is computed on a copy shrunk so the sigma there is ~4 px and brought back
    with bilinear interpolation, which loses nothing a blur of that size would keep.
    """
    height, width = values.shape[:2]
    factor = max(1, int(sigma // 4))
    if factor == 1:
        return cv2.GaussianBlur(values, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    small_size = (max(1, round(width / factor)), max(1, round(height / factor)))
    small = cv2.resize(values, small_size, interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), sigma / factor, borderType=cv2.BORDER_REFLECT)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)


def blurred_background(rgb: np.ndarray, alpha: np.ndarray, strength: float) -> np.ndarray:
    """The photo's own background, person removed, blurred ("portrait mode"). uint8 RGB.

    A plain blur would smear the person's colours into a halo around them. Instead this
    is a normalised convolution: ``blur(I*w) / blur(w)`` with ``w = (1-a)^2`` the
    "is background" weight, so every output pixel is a weighted mean of background pixels
    only, which also fills the area behind the person. Where no background lies within
    reach of the blur (deep inside a large subject), the blur is widened until it does.
    """
    _require_rgb_and_alpha(rgb, alpha)
    size = rgb.shape[:2]
    sigma = blur_sigma(size, strength)
    weight = np.square(1.0 - np.clip(alpha.astype(np.float32), 0.0, 1.0))
    values = rgb.astype(np.float32) * weight[..., None]

    result = np.zeros(rgb.shape, dtype=np.float32)
    missing = np.ones(size, dtype=bool)
    current_sigma = sigma
    while True:
        numerator = _gaussian_blur(values, current_sigma)
        denominator = _gaussian_blur(weight, current_sigma)
        reliable = missing & (denominator > 1e-3)
        result[reliable] = numerator[reliable] / denominator[reliable, None]
        missing &= ~reliable
        if not missing.any() or current_sigma >= max(size):
            break
        current_sigma *= 2.0
    if missing.any():  # no background at all: the mean colour is the only honest fill
        total = float(weight.sum())
        fill = values.reshape(-1, 3).sum(axis=0) / total if total > 0 else rgb.reshape(-1, 3).mean(axis=0)
        result[missing] = fill
    return np.clip(np.rint(result), 0, 255).astype(np.uint8)


def render_background(options: BackgroundOptions, rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray | None:
    """The new background for ``options.mode`` at the photo's size (None for transparent)."""
    size = rgb.shape[:2]
    if options.mode == "transparent":
        return None
    if options.mode == "colour":
        return solid_background(parse_colour(options.colour), size)
    if options.mode == "vertical-gradient":
        return vertical_gradient(parse_colour(options.colour), parse_colour(options.colour2), size)
    if options.mode == "radial-gradient":
        return radial_gradient(parse_colour(options.colour), parse_colour(options.colour2), size)
    if options.mode == "image":
        assert options.image is not None  # validated() guarantees it
        return cover_fit(options.image, size)
    if options.mode == "blur":
        return blurred_background(rgb, alpha, options.blur_strength)
    raise InvalidOptionError(f"Unknown background mode {options.mode!r}.")


# --------------------------------------------------------------------------- despill


def estimate_background_colour(rgb: np.ndarray, alpha: np.ndarray) -> Colour:
    """Median colour of clearly-background pixels in a band around the person.

    The band, not the whole frame, because the wall right behind the hair is what spilled
    into it, and walls are often unevenly lit. Falls back to all background pixels when
    the band is nearly empty, and to the frame's border when there is no background.
    """
    _require_rgb_and_alpha(rgb, alpha)
    height, width = alpha.shape
    not_subject = (alpha < 0.5).astype(np.uint8)
    clear_background = alpha <= DESPILL_ALPHA_MIN
    band = max(3, round(0.05 * min(height, width)))
    # distance to the person in O(pixels), whatever the band's width
    near_subject = cv2.distanceTransform(not_subject, cv2.DIST_L2, 3) <= band
    candidates = clear_background & near_subject
    if candidates.sum() < 50:
        candidates = clear_background
    if not candidates.any():
        candidates = np.zeros_like(clear_background)
        candidates[0, :] = candidates[-1, :] = candidates[:, 0] = candidates[:, -1] = True
    median = np.median(rgb[candidates], axis=0)
    return (int(round(median[0])), int(round(median[1])), int(round(median[2])))


def despill(rgb: np.ndarray, alpha: np.ndarray, old_background: Colour) -> np.ndarray:
    """The person's own colour ``F`` at semi-transparent edge pixels. uint8 RGB.

    A hair-edge pixel is a mix ``I = a*F + (1-a)*B`` of the person and the old wall ``B``;
    compositing ``I`` itself onto a new background would keep a fringe of the old wall's
    colour. Solving for ``F = (I - (1-a)*B) / a`` (clipped to the valid range) removes it.
    Only where DESPILL_ALPHA_MIN < a < DESPILL_ALPHA_MAX: elsewhere the pixel is pure
    person or pure wall and is returned unchanged.
    """
    _require_rgb_and_alpha(rgb, alpha)
    a = np.clip(alpha.astype(np.float32), 0.0, 1.0)
    edge = (a > DESPILL_ALPHA_MIN) & (a < DESPILL_ALPHA_MAX)
    result = rgb.copy()
    if not edge.any():
        return result
    background = np.asarray(old_background, dtype=np.float32)
    a_edge = a[edge][:, None]
    recovered = (rgb[edge].astype(np.float32) - (1.0 - a_edge) * background) / a_edge
    result[edge] = np.clip(np.rint(recovered), 0, 255).astype(np.uint8)
    return result


def _extend_foreground(foreground: np.ndarray, alpha: np.ndarray, reach_px: float) -> tuple[np.ndarray, np.ndarray]:
    """Continue the person's colours a few pixels outwards, over the old background; also
    the mask of pixels that now hold the person's colour (inside, or reached).

    Feathering gives pixels just outside the matte a little alpha; their ``F`` must be the
    person's colour, not the old wall, or a faint outline of the wall would come back.
    """
    inside = (alpha > DESPILL_ALPHA_MIN).astype(np.float32)
    sigma = max(1.0, reach_px)
    numerator = cv2.GaussianBlur(foreground.astype(np.float32) * inside[..., None], (0, 0), sigma)
    denominator = cv2.GaussianBlur(inside, (0, 0), sigma)
    outside = (inside == 0) & (denominator > 1e-4)
    extended = foreground.copy()
    extended[outside] = np.clip(np.rint(numerator[outside] / denominator[outside, None]), 0, 255).astype(np.uint8)
    return extended, (inside > 0) | outside


# --------------------------------------------------------------------------- composite


@dataclass(frozen=True)
class Composite:
    """The result: ``rgb`` uint8 (H, W, 3); ``alpha`` uint8 (H, W) only for "transparent"."""

    rgb: np.ndarray
    alpha: np.ndarray | None


def feather_alpha(alpha: np.ndarray, feather_px: float) -> np.ndarray:
    """Soften the matte's edge with a Gaussian of ``feather_px`` sigma (0: unchanged)."""
    a = np.clip(alpha.astype(np.float32), 0.0, 1.0)
    if feather_px <= 0:
        return a
    return np.clip(cv2.GaussianBlur(a, (0, 0), float(feather_px), borderType=cv2.BORDER_REFLECT), 0.0, 1.0)


def composite(rgb: np.ndarray, alpha: np.ndarray, options: BackgroundOptions,
              wall_alpha: np.ndarray | None = None) -> Composite:
    """Put the person on the new background: ``out = a*F + (1-a)*B_new``.

    The old wall's colour that spilled into the edges is estimated where ``wall_alpha`` (by
    default the matte itself) sees background: after a hand fix, what the user removed (a
    chair) is no wall (``pipeline.cutout.cutter.wall_alpha``).

    ``a`` is the feathered matte; ``F`` is the despilled photo (``options.despill``) or
    the photo itself. "transparent" returns ``F`` with ``alpha = round(255*a)`` (straight,
    not premultiplied, as PNG expects) and nothing of the removed background
    (:func:`_transparent`). "blur" uses the photo's own background with the
    person removed and blurred (:func:`blurred_background`).
    """
    options = options.validated()
    _require_rgb_and_alpha(rgb, alpha)
    matte = np.clip(alpha.astype(np.float32), 0.0, 1.0)
    a = feather_alpha(matte, options.feather_px)
    old_wall = estimate_background_colour(rgb, matte if wall_alpha is None else np.clip(wall_alpha, 0.0, 1.0))
    if options.despill:
        foreground = despill(rgb, matte, old_wall)
        if options.feather_px > 0:
            foreground, _ = _extend_foreground(foreground, matte, 2.0 * options.feather_px + 1.0)
    else:
        foreground = rgb
    if options.mode == "transparent":
        return _transparent(rgb, matte, a, options.feather_px, old_wall)

    background = render_background(options, rgb, matte)
    assert background is not None
    a3 = a[..., None]
    mixed = a3 * foreground.astype(np.float32) + (1.0 - a3) * background.astype(np.float32)
    return Composite(rgb=np.clip(np.rint(mixed), 0, 255).astype(np.uint8), alpha=None)


def _transparent(rgb: np.ndarray, matte: np.ndarray, a: np.ndarray, feather_px: float, wall: Colour) -> Composite:
    """A cut-out whose colours are the person's only. A user removed the background, so
    nothing of it may stay in the file, not even under alpha (anyone who drops the alpha
    channel would see it): edge pixels hold the estimated foreground ``F`` (despilled,
    whatever ``options.despill`` says), feathered pixels the person's colours continued
    outwards, and every other pixel ``HIDDEN_RGB``."""
    despilled = despill(rgb, matte, wall)
    foreground, reached = _extend_foreground(despilled, matte, 2.0 * feather_px + 1.0)
    alpha = np.rint(a * 255.0).astype(np.uint8)
    foreground[~(reached & (alpha > 0))] = HIDDEN_RGB
    return Composite(rgb=np.ascontiguousarray(foreground), alpha=alpha)


# --------------------------------------------------------------------------- helpers


def _require_rgb_and_alpha(rgb: np.ndarray, alpha: np.ndarray) -> None:
    """Callers hand over a decoded image and its matte; anything else is a programming error."""
    require_rgb(rgb)
    if not isinstance(alpha, np.ndarray) or alpha.shape != rgb.shape[:2]:
        raise ValueError(f"alpha must be an (H, W) array matching rgb {rgb.shape[:2]}, got {getattr(alpha, 'shape', None)}")
    if not np.issubdtype(alpha.dtype, np.floating):
        raise ValueError(f"alpha must be float in [0, 1], got {alpha.dtype}")


__all__ = [
    "BACKGROUND_MODES",
    "COLOUR_PRESETS",
    "BackgroundOptions",
    "Composite",
    "blurred_background",
    "colour_to_hex",
    "composite",
    "cover_fit",
    "despill",
    "estimate_background_colour",
    "feather_alpha",
    "parse_colour",
    "radial_gradient",
    "render_background",
    "solid_background",
    "vertical_gradient",
]
