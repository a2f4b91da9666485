"""Encoding: every image Portrait Lab writes is built from pixels alone.

Why this module exists: ``encode_image`` / ``save_image`` build the output from the numpy
array alone, so no EXIF (GPS, camera, orientation), XMP, comment or ICC profile of the
input can leak into a file we write (privacy). Outputs are untagged, which viewers treat
as sRGB. The output formats, their options and the colour under transparent pixels are
decided here once.
"""
from __future__ import annotations

import io
import math
import numbers
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from pipeline.core.atomic_write import write_atomically
from pipeline.core.errors import InvalidOptionError
from pipeline.core.pixels import validate_pixel_arrays

_OUTPUT_FORMAT_BY_SUFFIX: Mapping[str, str] = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".webp": "WEBP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".bmp": "BMP",
}
_OUTPUT_FORMAT_ALIASES: Mapping[str, str] = {"JPG": "JPEG", "TIF": "TIFF"}
_OUTPUT_FORMATS = frozenset(_OUTPUT_FORMAT_BY_SUFFIX.values())
# These formats have no alpha that viewers reliably honour, so transparency is flattened.
_FORMATS_WITHOUT_ALPHA = frozenset({"JPEG", "BMP"})
# The output formats a user can choose, by the name the CLI and the app offer.
OUTPUT_FORMATS: Mapping[str, str] = {"png": ".png", "jpg": ".jpg", "webp": ".webp"}
# Below this JPEG quality, file size matters more than fine colour detail (see _jpeg_options).
_FULL_CHROMA_MIN_QUALITY = 90


def output_format(fmt: str) -> str:
    """The key of :data:`OUTPUT_FORMATS` that ``fmt`` names ("JPEG", ".jpg", "jpg" -> "jpg"),
    else the user's error that lists them."""
    key = str(fmt).strip().lower().lstrip(".")
    key = "jpg" if key == "jpeg" else key
    if key not in OUTPUT_FORMATS:
        raise InvalidOptionError(f"Unknown output format '{fmt}'.", hint=f"Choose one of: {', '.join(OUTPUT_FORMATS)}.")
    return key


def keeps_alpha(fmt: str) -> bool:
    """Whether an output of format ``fmt`` (a key of :data:`OUTPUT_FORMATS`) keeps transparency."""
    return format_for_suffix(OUTPUT_FORMATS[output_format(fmt)]) not in _FORMATS_WITHOUT_ALPHA


def format_for_suffix(suffix: str) -> str:
    """Pillow format name for an output suffix (``".jpg"`` or ``"jpg"``, any case).

    Raises ``InvalidOptionError`` for anything else, since the suffix usually comes from a
    user's output path or ``--format`` option.
    """
    normalised = suffix.strip().lower()
    if normalised and not normalised.startswith("."):
        normalised = "." + normalised
    try:
        return _OUTPUT_FORMAT_BY_SUFFIX[normalised]
    except KeyError:
        choices = ", ".join(_OUTPUT_FORMAT_BY_SUFFIX)
        what = f"'{suffix}' files" if normalised else "a file name without an extension"
        raise InvalidOptionError(f"Cannot save images as {what}.", hint=f"Use one of: {choices}.") from None


def _normalise_output_format(format_name: str) -> str:
    """Accept Pillow names and common aliases ("jpg", "tif") for encode_image's format."""
    upper = str(format_name).strip().upper()
    normalised = _OUTPUT_FORMAT_ALIASES.get(upper, upper)
    if normalised not in _OUTPUT_FORMATS:
        raise InvalidOptionError(
            f"Cannot write images in the format '{format_name}'.",
            hint="Use one of: PNG, JPEG, WEBP, TIFF, BMP.",
        )
    return normalised


def _validated_quality(quality: int) -> int:
    """JPEG/WebP quality must be a whole number 1..100 (Pillow's scale)."""
    if isinstance(quality, bool) or not isinstance(quality, numbers.Integral) or not 1 <= quality <= 100:
        raise InvalidOptionError(f"Quality must be a whole number from 1 to 100; got {quality!r}.")
    return int(quality)


def positive_pair(value: Any) -> tuple[float, float] | None:
    """``value`` as two positive, finite numbers, or None if it is not that (callers word the error)."""
    try:
        first, second = (float(part) for part in value)
    except (TypeError, ValueError):
        return None
    if not (math.isfinite(first) and math.isfinite(second) and first > 0 and second > 0):
        return None
    return first, second


def _validated_dpi(dpi: tuple[float, float] | None) -> tuple[float, float] | None:
    """Resolution must be two positive numbers (horizontal, vertical dots per inch)."""
    if dpi is None:
        return None
    pair = positive_pair(dpi)
    if pair is None:
        raise InvalidOptionError(f"dpi must be two positive numbers (horizontal, vertical); got {dpi!r}.")
    return pair


def _flatten_onto_white(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Composite onto white for formats without alpha.

    White rather than black because a transparent background is most often shown on white
    (documents, web pages, ID photos); black would make soft edges look dirty.
    """
    weight = alpha.astype(np.uint32)[..., None]
    blended = (rgb.astype(np.uint32) * weight + 255 * (255 - weight) + 127) // 255
    return blended.astype(np.uint8)


# The colour written under fully transparent pixels: white, like the flattening above, so an
# alpha-blind viewer shows a plain white background and nothing of what alpha hides.
HIDDEN_RGB = (255, 255, 255)


def _image_from_arrays(rgb: np.ndarray, alpha: np.ndarray | None, keep_alpha: bool) -> Image.Image:
    """A brand-new Pillow image made from numbers only, so it carries no input metadata."""
    if alpha is None:
        return Image.fromarray(np.ascontiguousarray(rgb))
    if not keep_alpha:
        return Image.fromarray(np.ascontiguousarray(_flatten_onto_white(rgb, alpha)))
    # What alpha hides must not be in the file either: dropping the alpha channel would show it.
    visible = np.where((alpha == 0)[..., None], np.array(HIDDEN_RGB, np.uint8), rgb)
    return Image.fromarray(np.ascontiguousarray(np.dstack((visible, alpha))))


def _jpeg_options(quality: int) -> dict[str, Any]:
    """Baseline JPEG tuned for faces.

    At quality >= 90 the user asked for fidelity, and 4:2:0 chroma subsampling visibly
    smears colour edges (lips, eyes, skin against background), so chroma is kept at full
    resolution (4:4:4). Below 90 the user asked for small files, and 4:2:0 is the standard
    trade-off. Not progressive: baseline decodes everywhere and streaming is not a goal.
    """
    return {
        "quality": quality,
        "optimize": True,
        "progressive": False,
        "subsampling": "4:4:4" if quality >= _FULL_CHROMA_MIN_QUALITY else "4:2:0",
    }


def _save_options(format_name: str, quality: int, dpi: tuple[float, float] | None) -> dict[str, Any]:
    """Per-format encoder options; metadata fields are passed empty on purpose."""
    options: dict[str, Any]
    if format_name == "JPEG":
        options = {**_jpeg_options(quality), "exif": b""}
    elif format_name == "PNG":
        options = {"exif": b""}
    elif format_name == "WEBP":
        # WebP has no resolution field except inside EXIF, which we never write: dpi is dropped.
        # `exact` keeps the neutral colour under alpha 0: without it libwebp fills transparent
        # blocks with colour smeared from the subject (7-40 % of them, by up to 255 levels).
        return {"quality": quality, "method": 4, "lossless": False, "exact": True, "exif": b"", "xmp": b"",
                "icc_profile": b""}
    elif format_name == "TIFF":
        options = {"compression": "tiff_lzw", "exif": b""}
    else:  # BMP
        options = {}
    if dpi is not None:
        options["dpi"] = dpi
    return options


def encode_image(
    rgb: np.ndarray,
    alpha: np.ndarray | None = None,
    *,
    format: str = "PNG",
    quality: int = 95,
    dpi: tuple[float, float] | None = None,
) -> bytes:
    """Encode sRGB pixels (and optional alpha) to the bytes of an image file.

    The file is built from the arrays alone, so nothing of the input's EXIF, GPS, XMP,
    comments or ICC profile can ride along (privacy). No ICC profile is written: untagged
    files are read as sRGB. PNG, WebP and TIFF keep alpha; JPEG and BMP flatten it onto
    white. ``dpi`` is written for JPEG, PNG, TIFF and BMP (WebP has no field for it).
    Raises ``ValueError`` for malformed arrays and ``InvalidOptionError`` for a bad format,
    quality or dpi.
    """
    validate_pixel_arrays(rgb, alpha)
    format_name = _normalise_output_format(format)
    options = _save_options(format_name, _validated_quality(quality), _validated_dpi(dpi))
    image = _image_from_arrays(rgb, alpha, keep_alpha=format_name not in _FORMATS_WITHOUT_ALPHA)
    buffer = io.BytesIO()
    image.save(buffer, format=format_name, **options)
    return buffer.getvalue()


def save_image(
    path: str | os.PathLike[str],
    rgb: np.ndarray,
    alpha: np.ndarray | None = None,
    *,
    quality: int = 95,
    dpi: tuple[float, float] | None = None,
) -> Path:
    """Encode (format from the suffix) and write atomically; return the path written.

    Atomic (temporary file in the same folder, then ``os.replace``) so that a crash or a
    full disk never leaves a half-written image that looks like a result, and a reader
    never sees one.
    """
    target = Path(path)
    format_name = format_for_suffix(target.suffix)
    data = encode_image(rgb, alpha, format=format_name, quality=quality, dpi=dpi)
    write_atomically(target, data)
    return target
