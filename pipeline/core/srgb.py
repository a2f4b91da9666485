"""Any Pillow pixel mode and embedded ICC profile to sRGB ``uint8`` colour plus alpha.

Why this module exists: inputs come as grey, palette, 16-bit, float, CMYK, Lab, with or
without transparency and colour profiles, while every model is trained on 8-bit sRGB.
Reducing all of them to one form, with a note for each conversion, happens here, right
after decoding.
"""
from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import numpy as np
from PIL import Image

from pipeline.core.errors import InvalidImageError
from pipeline.i18n import Message

INVISIBLE_ALPHA = 2  # an input whose alpha is this low everywhere shows nothing: refused

_MODE_NOTES: Mapping[str, str] = {
    "1": "converted from 1-bit black and white",
    "L": "converted from grayscale",
    "LA": "converted from grayscale with alpha",
    "La": "converted from grayscale with alpha",
    "P": "converted from palette colours",
    "PA": "converted from palette colours",
    "YCbCr": "converted from YCbCr",
    "LAB": "converted from CIE L*a*b*",
    "HSV": "converted from HSV",
    "RGBa": "converted from premultiplied alpha",
}
SIXTEEN_BIT_NOTE = "16-bit reduced to 8-bit"
_ICC_CONVERSION_NOTES: Mapping[str, str] = {
    "RGB": "embedded ICC profile {label} converted to sRGB",
    "L": "embedded grey ICC profile {label} converted to sRGB",
    "CMYK": "converted from CMYK to sRGB with the embedded ICC profile {label}",
}


def split_colour_and_alpha(image: Image.Image) -> tuple[Image.Image, np.ndarray | None, list[str]]:
    """Reduce any Pillow mode to colour in ``L``, ``RGB`` or ``CMYK`` plus an optional alpha.

    ``L`` and ``CMYK`` are kept so an embedded grey or CMYK ICC profile can still be applied
    by ``to_srgb``. Alpha is returned only when some pixel is not fully opaque.
    """
    mode = image.mode
    notes = [_MODE_NOTES[mode]] if mode in _MODE_NOTES else []
    if mode.startswith("I;16") or mode == "I":
        colour, alpha = _sixteen_bit_grey(image)
        return colour, alpha, [*notes, SIXTEEN_BIT_NOTE]
    if mode == "F":
        colour, note = _float_grey(image)
        return colour, None, [*notes, note]
    if mode in ("L", "RGB", "CMYK") and "transparency" not in image.info:
        return image, None, notes
    if mode == "1":
        return image.convert("L"), None, notes
    if mode in ("LA", "La"):
        grey_alpha = image if mode == "LA" else image.convert("LA")
        return grey_alpha.getchannel("L"), _alpha_if_transparent(grey_alpha.getchannel("A")), notes
    if mode in ("YCbCr", "LAB", "HSV", "RGBX"):
        return image.convert("RGB"), None, notes
    # RGBA, RGBa, P, PA, L/RGB with a transparency key, and anything exotic.
    try:
        rgba = image if mode == "RGBA" else image.convert("RGBA")
    except ValueError as error:
        raise InvalidImageError(Message("error.decode.pixel_format", {"mode": mode}),
                                hint=Message("error.decode.resave_hint")) from error
    if mode not in _MODE_NOTES and mode not in ("RGBA", "L", "RGB"):
        notes.append(f"converted from mode {mode}")
    return rgba.convert("RGB"), _alpha_if_transparent(rgba.getchannel("A")), notes


def _sixteen_bit_grey(image: Image.Image) -> tuple[Image.Image, np.ndarray | None]:
    """16-bit grey to 8-bit by rounding ``value / 257`` (0->0, 32896->128, 65535->255).

    Pillow's ``convert("L")`` clips instead (everything above 255 becomes white), which
    would turn a normal 16-bit photo into a white page. Mode ``I`` (32-bit) is treated as
    holding 16-bit samples, as Pillow uses it for 16-bit data, and clipped to 0..65535.
    A PNG ``tRNS`` grey key becomes an alpha plane.
    """
    samples = np.asarray(image)
    if image.mode == "I":
        samples = np.clip(samples, 0, 65535)
    grey = ((samples.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    alpha = None
    key = image.info.get("transparency")
    if isinstance(key, int):
        alpha = _alpha_if_transparent(Image.fromarray(np.where(samples == key, 0, 255).astype(np.uint8)))
    return Image.fromarray(np.ascontiguousarray(grey)), alpha


def _float_grey(image: Image.Image) -> tuple[Image.Image, str]:
    """Float grey to 8-bit.

    A float file cannot say its range, so: values all within 0..1 are taken as normalised
    (the usual float convention) and scaled by 255; anything larger is taken as 0..255.
    NaN becomes 0 and everything is clipped to 0..255.
    """
    samples = np.asarray(image, dtype=np.float64)
    samples = np.where(np.isnan(samples), 0.0, samples)
    finite = samples[np.isfinite(samples)]
    normalised = finite.size == 0 or float(finite.max()) <= 1.0
    scaled = samples * 255.0 if normalised else samples
    grey = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
    note = "float samples scaled from 0..1" if normalised else "float samples clipped to 0..255"
    return Image.fromarray(np.ascontiguousarray(grey)), note


def _alpha_if_transparent(alpha_channel: Image.Image) -> np.ndarray | None:
    """Alpha as a fresh array, or None when every pixel is opaque (nothing to keep).
    A fully transparent image shows nothing, so there is nothing to work on: refused."""
    alpha = fresh_uint8_array(alpha_channel)
    if alpha.size and int(alpha.max()) <= INVISIBLE_ALPHA:
        raise InvalidImageError(Message("error.decode.transparent"), hint=Message("error.decode.transparent_hint"))
    return None if alpha.size == 0 or int(alpha.min()) == 255 else alpha


def to_srgb(colour: Image.Image, icc_profile: bytes | None) -> tuple[Image.Image, list[str]]:
    """Turn ``L``/``RGB``/``CMYK`` pixels into sRGB ``RGB``, using the embedded profile if any.

    Models are trained on sRGB, so a Display-P3 or Adobe-RGB photo used as-is would look
    dull or shifted. If the profile cannot be used, the pixels are kept and a note says so.
    """
    notes: list[str] = []
    if icc_profile:
        converted, note = _apply_icc_profile(colour, icc_profile)
        if note:
            notes.append(note)
        if converted is not None:
            return converted, notes
    if colour.mode == "CMYK":
        notes.append("converted from CMYK without an ICC profile (colours approximate)")
    return (colour if colour.mode == "RGB" else colour.convert("RGB")), notes


def _apply_icc_profile(colour: Image.Image, icc_profile: bytes) -> tuple[Image.Image | None, str | None]:
    """Convert with the embedded profile to sRGB (perceptual intent).

    Returns ``(image, note)``: the converted image, or None when the caller should fall
    back to a plain conversion. sRGB-tagged pixels are returned untouched, with no note.
    """
    try:
        from PIL import ImageCms
    except ImportError:
        return None, "embedded ICC profile ignored (colour management is not available)"
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
        description = (profile.profile.profile_description or "").strip()
        colour_space = (profile.profile.xcolor_space or "").strip()
    except (OSError, ValueError, TypeError, ImageCms.PyCMSError) as error:
        return None, f"embedded ICC profile could not be read ({error}); colours used as stored"
    label = f"'{description}'" if description else "(unnamed)"
    if colour_space == "RGB" and "srgb" in description.lower():
        return (colour if colour.mode == "RGB" else None), None
    expected_space = {"L": "GRAY", "RGB": "RGB", "CMYK": "CMYK"}.get(colour.mode)
    if colour_space != expected_space:
        return None, (
            f"embedded ICC profile {label} is for {colour_space or 'unknown'} data, not {colour.mode}; "
            "colours used as stored"
        )
    try:
        converted = ImageCms.profileToProfile(
            colour,
            profile,
            _srgb_profile(),
            renderingIntent=ImageCms.Intent.PERCEPTUAL,
            outputMode="RGB",
        )
    except (OSError, ValueError, TypeError, ImageCms.PyCMSError) as error:
        return None, f"embedded ICC profile {label} could not be applied ({error}); colours used as stored"
    if converted is None:
        return None, f"embedded ICC profile {label} could not be applied; colours used as stored"
    return converted, _ICC_CONVERSION_NOTES[colour.mode].format(label=label)


def _srgb_profile() -> Any:
    """lcms's built-in sRGB profile.

    Made per conversion (it takes microseconds) rather than cached, so that no lcms profile
    handle is ever shared between threads.
    """
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def fresh_uint8_array(image: Image.Image) -> np.ndarray:
    """Copy the pixels into a new C-contiguous array that owns its memory (no Pillow view)."""
    array = np.array(image, dtype=np.uint8, copy=True, order="C")
    return array if array.flags.owndata else array.copy(order="C")
