"""The single gate through which every image enters and leaves Portrait Lab.

Every later stage (detection, restoration, pasting, the CLI, the app, batch jobs) relies on
two promises made here:

* ``decode_image`` returns clean pixels: an ``(H, W, 3)`` ``uint8`` sRGB array that is the
  right way up, plus a separate alpha plane only when the input really is transparent. It
  checks the pixel count from the header *before* any pixel is decoded, so a hostile or
  absurd file fails fast with ``ImageTooLargeError`` instead of exhausting memory, and it
  turns every decoder failure into ``InvalidImageError`` so users see a sentence, not a
  traceback.
* ``encode_image`` / ``save_image`` build the output from the numpy array alone, so no
  EXIF (GPS, camera, orientation), XMP, comment or ICC profile of the input can leak into a
  file we write. Outputs are untagged, which viewers treat as sRGB.

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

import importlib.util
import io
import math
import numbers
import os
import stat
import struct
import threading
import uuid
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from pipeline.core.errors import ImageTooLargeError, InvalidImageError, InvalidOptionError, OutputWriteError, os_reason
from pipeline.core.limits import DEFAULT_MAX_PIXELS, ENV_MAX_PIXELS, max_pixels_from_env
from pipeline.core.publish import STAGING_PREFIX, STAGING_SUFFIX

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "ENV_MAX_PIXELS",
    "SUPPORTED_INPUT_SUFFIXES",
    "OUTPUT_FORMATS",
    "DecodedImage",
    "decode_image",
    "encode_image",
    "format_for_suffix",
    "heif_supported",
    "max_pixels_from_env",
    "save_image",
]


_BASE_INPUT_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif", ".avif"})
_HEIF_SUFFIXES = frozenset({".heic", ".heif"})
_HEIF_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1"})

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
INVISIBLE_ALPHA = 2  # an input whose alpha is this low everywhere shows nothing: refused
# Below this JPEG quality, file size matters more than fine colour detail (see _jpeg_options).
_FULL_CHROMA_MIN_QUALITY = 90

_EXIF_ORIENTATION_TAG = 0x0112
_HEADER_PREFIX_BYTES = 16

# What Pillow's decoders (and pillow-heif, which uses RuntimeError) raise on broken input.
# Kept explicit (not ``Exception``) so that a bug in this module is less easily disguised
# as "your file is damaged"; the original error is always chained as ``__cause__``.
_DECODER_FAILURES: tuple[type[BaseException], ...] = (
    OSError,
    SyntaxError,
    ValueError,
    TypeError,
    IndexError,
    KeyError,
    EOFError,
    struct.error,
    ZeroDivisionError,
    RuntimeError,
)

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
_SIXTEEN_BIT_NOTE = "16-bit reduced to 8-bit"
_ICC_CONVERSION_NOTES: Mapping[str, str] = {
    "RGB": "embedded ICC profile {label} converted to sRGB",
    "L": "embedded grey ICC profile {label} converted to sRGB",
    "CMYK": "converted from CMYK to sRGB with the embedded ICC profile {label}",
}


def _heif_plugin_installed() -> bool:
    """Tell whether pillow-heif can be found without importing it (keeps this import cheap)."""
    try:
        return importlib.util.find_spec("pillow_heif") is not None
    except (ImportError, ValueError):
        return False


#: Lowercase suffixes (with the dot) worth picking up when scanning folders. ``.heic`` and
#: ``.heif`` are listed when pillow-heif is installed; whether it actually loads is known
#: only on first use (``heif_supported``), and a failure then gives a clear error.
SUPPORTED_INPUT_SUFFIXES: frozenset[str] = _BASE_INPUT_SUFFIXES | (
    _HEIF_SUFFIXES if _heif_plugin_installed() else frozenset()
)


# --------------------------------------------------------------------------------------
# Limits
# --------------------------------------------------------------------------------------


def _resolve_max_pixels(max_pixels: int | None) -> int:
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


def _ensure_within_limit(size: tuple[int, int], max_pixels: int) -> None:
    """Refuse images with more pixels than allowed, with the numbers a user needs to fix it."""
    width, height = size
    pixels = width * height
    if pixels <= max_pixels:
        return
    fit_width, fit_height = _largest_size_within(width, height, max_pixels)
    raise ImageTooLargeError(
        f"The image is {width}×{height} = {_describe_pixel_count(pixels)}; "
        f"the limit is {_describe_pixel_count(max_pixels)}.",
        hint=f"Resize it to at most {fit_width}×{fit_height} pixels and try again.",
    )


def _pillow_limit_error(max_pixels: int) -> ImageTooLargeError:
    """Error for when Pillow's own guard fired where we could not read the exact size.

    That happens while pixels are decoded (a frame or tile over the limit) or, for WebP,
    already in the header parser, which enforces Pillow's hard limit (twice
    ``Image.MAX_IMAGE_PIXELS``) itself. The message states the limit that really applied.
    """
    pillow_limit = Image.MAX_IMAGE_PIXELS
    effective = max_pixels if pillow_limit is None else min(max_pixels, 2 * pillow_limit)
    return ImageTooLargeError(
        f"The image is too large to decode safely; the limit is {_describe_pixel_count(effective)}.",
        hint=f"Resize it below {_describe_pixel_count(effective)} and try again.",
    )


_PILLOW_WARNING_FILTER_LOCK = threading.RLock()


@contextmanager
def _pillow_pixel_limit_warning(action: Literal["error", "ignore"]) -> Iterator[None]:
    """Decide what Pillow's ``DecompressionBombWarning`` does inside the block.

    ``catch_warnings`` restores the filters on exit, so nothing global is left changed;
    the lock keeps two threads from interleaving their save/restore (see module docstring).
    """
    with _PILLOW_WARNING_FILTER_LOCK, warnings.catch_warnings():
        warnings.simplefilter(action, Image.DecompressionBombWarning)
        yield


def _decoding_warning_action(max_pixels: int) -> Literal["error", "ignore"]:
    """While decoding pixels, obey Pillow's warning unless the caller allowed more pixels."""
    pillow_limit = Image.MAX_IMAGE_PIXELS
    if pillow_limit is not None and max_pixels > pillow_limit:
        return "ignore"
    return "error"


# --------------------------------------------------------------------------------------
# HEIC / HEIF
# --------------------------------------------------------------------------------------

_HEIF_LOCK = threading.Lock()
_heif_registered: bool | None = None  # None: not tried yet
_heif_failure_reason = "is not available"  # completes "pillow-heif ..." in error messages


def heif_supported() -> bool:
    """Register pillow-heif with Pillow on first call; tell whether HEIC/HEIF can be read.

    Done lazily because importing pillow-heif loads libheif, which most runs never need,
    and guarded so that a missing or broken plugin only means "no HEIC", never a crash.
    """
    global _heif_registered, _heif_failure_reason
    with _HEIF_LOCK:
        if _heif_registered is None:
            try:
                import pillow_heif

                pillow_heif.register_heif_opener()
            except ModuleNotFoundError:
                _heif_registered = False
                _heif_failure_reason = "is not installed"
            except (ImportError, OSError) as error:
                _heif_registered = False
                _heif_failure_reason = f"could not be loaded ({error})"
            else:
                _heif_registered = True
        return _heif_registered


def _looks_like_heif(prefix: bytes) -> bool:
    """Recognise an ISO-BMFF ``ftyp`` box with a HEIF brand, to explain a missing plugin."""
    return len(prefix) >= 12 and prefix[4:8] == b"ftyp" and prefix[8:12] in _HEIF_BRANDS


# --------------------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class DecodedImage:
    """Pixels ready for the pipeline, plus what was done to get them (for logs and reports).

    ``eq=False``: comparing numpy arrays field by field has no single truth value, so
    instances compare (and hash) by identity. The arrays are fresh copies owned by the
    caller; frozen means the fields cannot be rebound, not that the pixels are read-only.
    """

    rgb: np.ndarray
    alpha: np.ndarray | None
    source_format: str
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _validate_pixel_arrays(self.rgb, self.alpha)

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)``, Pillow's order, which is what people and file headers use."""
        return int(self.rgb.shape[1]), int(self.rgb.shape[0])


def decode_image(
    source: str | os.PathLike[str] | bytes | BinaryIO,
    *,
    max_pixels: int | None = None,
) -> DecodedImage:
    """Read any image Pillow (and pillow-heif) can read into clean sRGB ``uint8`` pixels.

    ``source`` is a path, the file's bytes, or a binary file object (read from its start;
    not closed). ``max_pixels`` defaults to ``max_pixels_from_env()``; the check uses the
    header, before any pixel is decoded. Raises ``InvalidImageError`` for anything that is
    not a readable image and ``ImageTooLargeError`` above the limit; no Pillow exception
    escapes. Animated files give their first frame.
    """
    limit = _resolve_max_pixels(max_pixels)
    heif_available = heif_supported()
    with _binary_stream(source) as (stream, suffix):
        prefix = _read_prefix(stream)
        try:
            return _decode_stream(stream, limit)
        except UnidentifiedImageError as error:
            raise _unrecognised_format_error(prefix, suffix, heif_available) from error
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
            raise _pillow_limit_error(limit) from error
        except _DECODER_FAILURES as error:
            raise _damaged_file_error(error) from error


@contextmanager
def _binary_stream(source: str | os.PathLike[str] | bytes | BinaryIO) -> Iterator[tuple[BinaryIO, str]]:
    """Yield a seekable binary stream for any accepted source, plus its lowercase suffix.

    Files we open are closed afterwards; a caller's file object is left open. Streams that
    cannot seek are read into memory because Pillow needs to seek.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        yield io.BytesIO(bytes(source)), ""
        return
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        with _open_for_reading(path) as stream:
            yield stream, path.suffix.lower()
        return
    if callable(getattr(source, "read", None)):
        yield _seekable(source), Path(str(getattr(source, "name", ""))).suffix.lower()
        return
    raise TypeError(f"decode_image needs a path, bytes or a binary file object; got {type(source).__name__}.")


def _open_for_reading(path: Path) -> BinaryIO:
    """Open a regular file, turning the usual OS failures into messages a user can act on.

    Opened without blocking and checked before reading: a named pipe would wait forever
    for a writer and a device such as /dev/zero never ends."""
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise InvalidImageError(f"The file '{path}' does not exist.", hint="Check the path and try again.") from None
    except IsADirectoryError:
        raise _folder_error(path) from None
    except PermissionError:
        raise InvalidImageError(
            f"The file '{path}' cannot be read (permission denied).", hint="Check the file's permissions."
        ) from None
    except OSError as error:
        raise InvalidImageError(f"The file '{path}' cannot be read ({os_reason(error)}).") from error
    mode = os.fstat(descriptor).st_mode
    if not stat.S_ISREG(mode):
        os.close(descriptor)
        if stat.S_ISDIR(mode):
            raise _folder_error(path)
        raise InvalidImageError(f"'{path}' is not a regular file (a pipe, device or socket), so it was not read.",
                                hint="Give the path of an image file.")
    return os.fdopen(descriptor, "rb")


def _folder_error(path: Path) -> InvalidImageError:
    return InvalidImageError(f"'{path}' is a folder, not an image file.", hint="Give the path of an image file.")


def _seekable(stream: BinaryIO) -> BinaryIO:
    """Return the stream itself when it can seek, else an in-memory copy of its content."""
    try:
        stream.seek(0)
    except (AttributeError, OSError, io.UnsupportedOperation):
        return io.BytesIO(stream.read())
    return stream


def _read_prefix(stream: BinaryIO) -> bytes:
    """Read the first bytes (to explain failures later) and refuse empty input up front."""
    try:
        stream.seek(0)
        prefix = stream.read(_HEADER_PREFIX_BYTES)
        stream.seek(0)
    except OSError as error:
        raise InvalidImageError(f"The file cannot be read ({os_reason(error)}).") from error
    if not isinstance(prefix, (bytes, bytearray)):
        raise TypeError("decode_image needs a binary file object: open the file with mode 'rb'.")
    if not prefix:
        raise InvalidImageError(
            "This file is empty (0 bytes), so it is not an image.",
            hint="Check that the upload or copy finished and try again.",
        )
    return bytes(prefix)


def _unrecognised_format_error(prefix: bytes, suffix: str, heif_available: bool) -> InvalidImageError:
    """Explain why the content was not recognised, including the missing-HEIC-plugin case."""
    if not heif_available and (_looks_like_heif(prefix) or suffix in _HEIF_SUFFIXES):
        return InvalidImageError(
            "This looks like a HEIC/HEIF photo, but HEIC support needs the pillow-heif package, "
            f"which {_heif_failure_reason}.",
            hint="Install pillow-heif, or convert the photo to JPEG or PNG and try again.",
        )
    detail = (
        f"the name ends in {suffix}, but the content is not a format we recognise"
        if suffix
        else "unknown or unsupported format"
    )
    return InvalidImageError(
        f"This file is not an image we can read ({detail}).",
        hint="Use a JPEG, PNG, WebP, TIFF, BMP, GIF or HEIC image.",
    )


def _damaged_file_error(error: BaseException) -> InvalidImageError:
    """Map a decoder failure to a user message; truncation is common enough to name."""
    text = str(error) or type(error).__name__
    if "truncated" in text.lower():
        return InvalidImageError(
            "This image file is truncated or damaged, so it cannot be decoded.",
            hint="The file is probably incomplete: copy or download it again.",
        )
    return InvalidImageError(
        f"This image file is damaged and cannot be decoded ({text}).",
        hint="Try another copy of the file, or re-save it with an image editor.",
    )


def _decode_stream(stream: BinaryIO, max_pixels: int) -> DecodedImage:
    """Header check, decode, then orientation and colour normalisation, in that order."""
    image = _open_header(stream)
    with image:
        _ensure_within_limit(image.size, max_pixels)
        source_format = image.format or "unknown"
        icc_profile = image.info.get("icc_profile") or None
        notes: list[str] = []
        with _pillow_pixel_limit_warning(_decoding_warning_action(max_pixels)):
            frame_count = _frame_count(image)
            notes.extend(_reduced_bit_depth_notes(image))
            image.load()
        _ensure_within_limit(image.size, max_pixels)  # GIF frames may grow the canvas while loading
        if frame_count > 1:
            notes.append(f"first frame of {frame_count} used")
        upright, orientation_note = _apply_exif_orientation(image)
        notes.extend([orientation_note] if orientation_note else [])
        colour, alpha, mode_notes = _split_colour_and_alpha(upright)
        srgb, colour_notes = _to_srgb(colour, icc_profile)
        rgb = _fresh_uint8_array(srgb)
    notes.extend(mode_notes)
    notes.extend(colour_notes)
    return DecodedImage(rgb=rgb, alpha=alpha, source_format=source_format, notes=tuple(dict.fromkeys(notes)))


def _open_header(stream: BinaryIO) -> Image.Image:
    """Identify the file and read its header only (Pillow's open is lazy).

    If Pillow's global size guard refuses it, read the header again without that guard so
    our own ``max_pixels`` decides (see the module docstring).
    """
    try:
        with _pillow_pixel_limit_warning("error"):
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
    prefix = stream.read(_HEADER_PREFIX_BYTES)
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


def _frame_count(image: Image.Image) -> int:
    """Number of frames/pages; only the first is used, and the notes say so.

    Counting walks the file. If a later frame is broken, that is no reason to refuse the
    first one: go back to it and report a single frame.
    """
    try:
        count = getattr(image, "n_frames", 1)
    except _DECODER_FAILURES:
        image.seek(0)
        return 1
    return count if isinstance(count, int) and count > 0 else 1


def _reduced_bit_depth_notes(image: Image.Image) -> list[str]:
    """Notice inputs with more than 8 bits per sample before their pixels are loaded.

    Pillow 13 opens 16-bit RGB/RGBA PNG and TIFF directly as 8-bit ``RGB``/``RGBA`` (it keeps
    the high byte), so the only trace is the raw mode of the decoder tile (``"RGB;16B"``,
    ``"RGB;16N"``...), which is gone after ``load()``. pillow-heif reports ``bit_depth`` and
    also hands over 8-bit pixels. 16-bit grayscale stays ``I;16`` and is scaled by us.
    """
    raw_modes = [_tile_raw_mode(tile) for tile in getattr(image, "tile", None) or []]
    if any(";16" in raw_mode for raw_mode in raw_modes):
        return [_SIXTEEN_BIT_NOTE]
    bit_depth = image.info.get("bit_depth")
    if isinstance(bit_depth, int) and bit_depth > 8:
        return [f"{bit_depth}-bit reduced to 8-bit"]
    return []


def _tile_raw_mode(tile: Any) -> str:
    """The raw mode inside a Pillow tile descriptor (its ``args`` is a string or a tuple)."""
    args = getattr(tile, "args", None)
    if isinstance(args, str):
        return args
    if isinstance(args, tuple) and args and isinstance(args[0], str):
        return args[0]
    return ""


def _apply_exif_orientation(image: Image.Image) -> tuple[Image.Image, str | None]:
    """Rotate/flip as the camera asked, because faces must be upright for detection.

    A broken EXIF block is not a reason to refuse a photo: the pixels are used as stored
    and the note says so.
    """
    try:
        orientation = image.getexif().get(_EXIF_ORIENTATION_TAG)
    except _DECODER_FAILURES:
        return image, "EXIF data could not be read; orientation left as stored"
    if not isinstance(orientation, int) or not 2 <= orientation <= 8:
        return image, None
    try:
        return ImageOps.exif_transpose(image), f"EXIF orientation {orientation} applied"
    except _DECODER_FAILURES:
        return image, f"EXIF orientation {orientation} could not be applied; orientation left as stored"


def _split_colour_and_alpha(image: Image.Image) -> tuple[Image.Image, np.ndarray | None, list[str]]:
    """Reduce any Pillow mode to colour in ``L``, ``RGB`` or ``CMYK`` plus an optional alpha.

    ``L`` and ``CMYK`` are kept so an embedded grey or CMYK ICC profile can still be applied
    by ``_to_srgb``. Alpha is returned only when some pixel is not fully opaque.
    """
    mode = image.mode
    notes = [_MODE_NOTES[mode]] if mode in _MODE_NOTES else []
    if mode.startswith("I;16") or mode == "I":
        colour, alpha = _sixteen_bit_grey(image)
        return colour, alpha, [*notes, _SIXTEEN_BIT_NOTE]
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
        raise InvalidImageError(
            f"This image uses a pixel format we cannot convert (mode {mode}).",
            hint="Re-save it as an ordinary RGB JPEG or PNG and try again.",
        ) from error
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
    alpha = _fresh_uint8_array(alpha_channel)
    if alpha.size and int(alpha.max()) <= INVISIBLE_ALPHA:
        raise InvalidImageError("This image is fully transparent: there is nothing visible in it.",
                                hint="Export the photo again without transparency, or choose another one.")
    return None if alpha.size == 0 or int(alpha.min()) == 255 else alpha


def _to_srgb(colour: Image.Image, icc_profile: bytes | None) -> tuple[Image.Image, list[str]]:
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


def _fresh_uint8_array(image: Image.Image) -> np.ndarray:
    """Copy the pixels into a new C-contiguous array that owns its memory (no Pillow view)."""
    array = np.array(image, dtype=np.uint8, copy=True, order="C")
    return array if array.flags.owndata else array.copy(order="C")


# --------------------------------------------------------------------------------------
# Encoding
# --------------------------------------------------------------------------------------


def is_rgb_array(rgb: Any) -> bool:
    """The one test of the pixels every stage passes on: a non-empty (H, W, 3) uint8 array."""
    return (isinstance(rgb, np.ndarray) and rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3
            and rgb.shape[0] > 0 and rgb.shape[1] > 0)


def describe_array(value: Any) -> str:
    return f"{value.dtype} array of shape {value.shape}" if isinstance(value, np.ndarray) else type(value).__name__


def require_rgb(rgb: Any, name: str = "rgb") -> None:
    """``is_rgb_array`` for callers that handed over pixels: anything else is a programming
    error (ValueError), never a user's."""
    if not is_rgb_array(rgb):
        raise ValueError(f"{name} must be a non-empty uint8 array of shape (H, W, 3); got a {describe_array(rgb)}.")


def _validate_pixel_arrays(rgb: Any, alpha: Any) -> None:
    """Reject arrays that are not what every stage promises (a programming error)."""
    require_rgb(rgb)
    if alpha is None:
        return
    if not isinstance(alpha, np.ndarray) or alpha.dtype != np.uint8 or alpha.shape != rgb.shape[:2]:
        described = f"{alpha.dtype} array of shape {alpha.shape}" if isinstance(alpha, np.ndarray) else type(alpha).__name__
        raise ValueError(f"alpha must be a uint8 array of shape {rgb.shape[:2]} (H, W); got a {described}.")


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
    _validate_pixel_arrays(rgb, alpha)
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


def write_atomically(target: Path, data: bytes) -> None:
    """Write to a hidden temp file next to ``target``, fsync, then rename over it.

    The temp name is short and fixed-length (a long target name must still fit), and the
    file is created with mode 0o666 so the process umask applies, giving the same
    permissions as an ordinary write (``mkstemp`` would force 0o600). A full disk or a
    read-only folder is an ``OutputWriteError`` sentence, and leaves no temp file.
    """
    folder = target.parent
    if not folder.is_dir():
        raise InvalidOptionError(
            f"The output folder '{folder}' does not exist.", hint="Create it first or choose another folder."
        )
    if target.is_dir():
        raise InvalidOptionError(f"The output path '{target}' is a folder.", hint="Give a file name such as result.png.")
    if target.exists() and not target.is_file():  # the rename would replace a device or pipe
        raise InvalidOptionError(f"The output path '{target}' is not a regular file.",
                                 hint="Give a file name such as result.png.")
    temporary = folder / f"{STAGING_PREFIX}{uuid.uuid4().hex}{STAGING_SUFFIX}"
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, target)
        except BaseException:
            with suppress(FileNotFoundError):
                temporary.unlink()
            raise
    except OSError as error:
        raise OutputWriteError.from_os_error(error, folder) from error
