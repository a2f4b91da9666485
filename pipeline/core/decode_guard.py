"""The pixel limit, checked from the header before any pixel is decoded.

Why this module exists: a hostile or absurd file must fail fast with
``ImageTooLargeError`` instead of exhausting memory, and our limit, not Pillow's global
one, must decide. Everything that enforces the limit while an image is opened and decoded
is here; ``pipeline.core.decode`` calls it.

Pillow's own decompression-bomb guard and thread safety
-------------------------------------------------------
Pillow checks ``Image.MAX_IMAGE_PIXELS`` (global; about 89.5 MP by default): above it
``Image.open`` *warns* (``DecompressionBombWarning``), above twice it *raises*
(``DecompressionBombError``). Our own limit (``max_pixels``) is the authority, and it may
be lower *or higher* than Pillow's. We never change ``Image.MAX_IMAGE_PIXELS``, because that
would silently weaken or strengthen the guard for every other user of Pillow in the
process. Instead:

1. ``Image.open`` runs with the warning turned into an error. If Pillow refuses the header
   (warning or error), we identify the file again with Pillow's registered format
   factories directly (``Image.OPEN``), which parse only the header and skip Pillow's
   size check. Then *our* check decides: too large -> ``ImageTooLargeError`` with the
   exact size; within the caller's limit -> decoding goes on. No pixel has been decoded at
   that point in either branch.
2. While pixels are decoded, some plugins check again (GIF frames that grow the canvas,
   TIFF tiles). If the caller's limit is at most Pillow's, the warning is an error there
   too; if the caller explicitly allowed more, the warning is ignored (our own check before
   and after loading still holds). A ``DecompressionBombError`` during decoding (more than
   twice Pillow's limit inside one tile or frame) cannot be bypassed and is reported as
   ``ImageTooLargeError``.

``warnings.catch_warnings`` swaps process-global state and is not thread-safe on Python
3.11, so every use is serialised by one module lock (``_PILLOW_WARNING_FILTER_LOCK``). The
cost is that header parsing and pixel decoding of concurrent ``decode_image`` calls run one
at a time; colour conversion, EXIF rotation and encoding still run in parallel. For this
product (GPU-bound restoration after a sub-second decode) correctness is worth more than
parallel decoding. While one of our decodes holds the filter, another thread's Pillow call
in the same process would also see ``DecompressionBombWarning`` as an error; that is the
strictest possible effect and lasts only for the decode.
"""
from __future__ import annotations

import math
import numbers
import struct
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO, Literal

from PIL import Image, UnidentifiedImageError

from pipeline.core.errors import ImageTooLargeError
from pipeline.core.limits import max_pixels_from_env
from pipeline.i18n import Message

# How many leading bytes identify a format (and explain a failure to recognise one).
HEADER_PREFIX_BYTES = 16


def resolve_max_pixels(max_pixels: int | None) -> int:
    """Use the caller's limit when given (validated), else the environment/default one."""
    if max_pixels is None:
        return max_pixels_from_env()
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, numbers.Integral) or max_pixels <= 0:
        raise ValueError(f"max_pixels must be a positive whole number of pixels; got {max_pixels!r}.")
    return int(max_pixels)


def _describe_pixel_count(pixels: int) -> str:
    """Write a pixel count the way people talk about photos ("108 MP")."""
    megapixels = pixels / 1_000_000
    if megapixels >= 100:
        return f"{megapixels:,.0f} MP"
    if megapixels >= 0.001:
        return f"{megapixels:.3g} MP"
    return f"{pixels} pixels"


def _largest_size_within(width: int, height: int, max_pixels: int) -> tuple[int, int]:
    """Largest (width, height) with the same aspect ratio whose product fits the limit."""
    scale = math.sqrt(max_pixels / (width * height))
    return max(1, math.floor(width * scale)), max(1, math.floor(height * scale))


def ensure_within_limit(size: tuple[int, int], max_pixels: int) -> None:
    """Refuse images with more pixels than allowed, with the numbers a user needs to fix it."""
    width, height = size
    pixels = width * height
    if pixels <= max_pixels:
        return
    fit_width, fit_height = _largest_size_within(width, height, max_pixels)
    raise ImageTooLargeError(
        Message("error.too_large.pixels", {"width": width, "height": height, "pixels": _describe_pixel_count(pixels),
                                           "limit": _describe_pixel_count(max_pixels)}),
        hint=Message("error.too_large.resize_hint", {"width": fit_width, "height": fit_height}),
    )


def pillow_limit_error(max_pixels: int) -> ImageTooLargeError:
    """Error for when Pillow's own guard fired where we could not read the exact size.

    That happens while pixels are decoded (a frame or tile over the limit) or, for WebP,
    already in the header parser, which enforces Pillow's hard limit (twice
    ``Image.MAX_IMAGE_PIXELS``) itself. The message states the limit that really applied.
    """
    pillow_limit = Image.MAX_IMAGE_PIXELS
    effective = max_pixels if pillow_limit is None else min(max_pixels, 2 * pillow_limit)
    return ImageTooLargeError(
        Message("error.too_large.decode", {"limit": _describe_pixel_count(effective)}),
        hint=Message("error.too_large.resize_below_hint", {"limit": _describe_pixel_count(effective)}),
    )


_PILLOW_WARNING_FILTER_LOCK = threading.RLock()


@contextmanager
def pillow_pixel_limit_warning(action: Literal["error", "ignore"]) -> Iterator[None]:
    """Decide what Pillow's ``DecompressionBombWarning`` does inside the block.

    ``catch_warnings`` restores the filters on exit, so nothing global is left changed;
    the lock keeps two threads from interleaving their save/restore (see module docstring).
    """
    with _PILLOW_WARNING_FILTER_LOCK, warnings.catch_warnings():
        warnings.simplefilter(action, Image.DecompressionBombWarning)
        yield


def decoding_warning_action(max_pixels: int) -> Literal["error", "ignore"]:
    """While decoding pixels, obey Pillow's warning unless the caller allowed more pixels."""
    pillow_limit = Image.MAX_IMAGE_PIXELS
    if pillow_limit is not None and max_pixels > pillow_limit:
        return "ignore"
    return "error"


def open_header(stream: BinaryIO) -> Image.Image:
    """Identify the file and read its header only (Pillow's open is lazy).

    If Pillow's global size guard refuses it, read the header again without that guard so
    our own ``max_pixels`` decides (see the module docstring).
    """
    try:
        with pillow_pixel_limit_warning("error"):
            return Image.open(stream)
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        return _open_header_without_pillow_limit(stream)


def _open_header_without_pillow_limit(stream: BinaryIO) -> Image.Image:
    """Same identification loop as ``Image.open`` but without its size check.

    Uses Pillow's public plugin registry (``Image.ID`` / ``Image.OPEN``, what
    ``Image.register_open`` fills). Only headers are parsed here; our own limit is checked
    right after, before any pixel is decoded.
    """
    stream.seek(0)
    prefix = stream.read(HEADER_PREFIX_BYTES)
    Image.init()
    for format_id in list(Image.ID):
        factory, accept = Image.OPEN[format_id]
        verdict = accept(prefix) if accept is not None else True
        if not verdict or isinstance(verdict, str):
            continue
        stream.seek(0)
        try:
            return factory(stream, "")
        except (SyntaxError, IndexError, TypeError, struct.error):
            continue  # not this format after all: try the next one, as Image.open does
    raise UnidentifiedImageError("cannot identify image file")
