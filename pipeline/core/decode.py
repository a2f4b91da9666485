"""Decoding: the single gate through which every image enters Portrait Lab.

Why this module exists: every later stage (detection, restoration, pasting, the CLI, the
app, batch jobs) relies on ``decode_image`` returning clean pixels: an ``(H, W, 3)``
``uint8`` sRGB array that is the right way up, plus a separate alpha plane only when the
input really is transparent. It checks the pixel count from the header *before* any pixel
is decoded (``pipeline.core.decode_guard``), so a hostile or absurd file fails fast with
``ImageTooLargeError`` instead of exhausting memory, and it turns every decoder failure
into ``InvalidImageError`` so users see a sentence, not a traceback. Colour and mode
conversion live in ``pipeline.core.srgb``.
"""
from __future__ import annotations

import io
import os
import stat
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from pipeline.core.decode_guard import (
    HEADER_PREFIX_BYTES,
    decoding_warning_action,
    ensure_within_limit,
    open_header,
    pillow_limit_error,
    pillow_pixel_limit_warning,
    resolve_max_pixels,
)
from pipeline.core.errors import InvalidImageError, os_reason
from pipeline.core.heif import HEIF_SUFFIXES, heif_failure_reason, heif_plugin_installed, heif_supported, looks_like_heif
from pipeline.core.pixels import validate_pixel_arrays
from pipeline.core.srgb import SIXTEEN_BIT_NOTE, fresh_uint8_array, split_colour_and_alpha, to_srgb
from pipeline.i18n import Message

_BASE_INPUT_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif", ".avif"})
_EXIF_ORIENTATION_TAG = 0x0112

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

#: Lowercase suffixes (with the dot) worth picking up when scanning folders. ``.heic`` and
#: ``.heif`` are listed when pillow-heif is installed; whether it actually loads is known
#: only on first use (``heif_supported``), and a failure then gives a clear error.
SUPPORTED_INPUT_SUFFIXES: frozenset[str] = _BASE_INPUT_SUFFIXES | (
    HEIF_SUFFIXES if heif_plugin_installed() else frozenset()
)


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
        validate_pixel_arrays(self.rgb, self.alpha)

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
    limit = resolve_max_pixels(max_pixels)
    with _binary_stream(source) as (stream, suffix), _typed_failures(stream, suffix, limit):
        return _decode_stream(stream, limit)


def check_image_header(source: str | os.PathLike[str] | bytes | BinaryIO, *, max_pixels: int | None = None) -> None:
    """Refuse, from its header alone, what ``decode_image`` would refuse as no image or too many
    pixels: cheap enough to run the moment a file is uploaded. A damaged body is found only
    by the full decode."""
    limit = resolve_max_pixels(max_pixels)
    with _binary_stream(source) as (stream, suffix):
        head = stream.read(HEADER_CHECK_BYTES)
        more = bool(stream.read(1))
    buffer = io.BytesIO(head)
    try:
        with _typed_failures(buffer, suffix, limit), open_header(buffer) as image:
            ensure_within_limit(image.size, limit)
    except InvalidImageError:
        if more and _claimed_by_a_format(head):
            return  # an image format whose header runs past the bytes read: the full decode decides
        raise


# The upload check reads no more than this: a header padded with megabytes of comments (a GIF's
# are joined byte by byte) would otherwise hold a core for minutes.
HEADER_CHECK_BYTES = 1024 * 1024


def _claimed_by_a_format(prefix: bytes) -> bool:
    """Whether a format Pillow knows recognises its signature in the file's first bytes."""
    Image.init()
    return any(accept is not None and accept(prefix[:16]) for _factory, accept in Image.OPEN.values())


@contextmanager
def _typed_failures(stream: BinaryIO, suffix: str, limit: int) -> Iterator[None]:
    """Refuse an empty stream, then turn Pillow's failures inside the block into typed errors."""
    heif_available = heif_supported()
    prefix = _read_prefix(stream)
    try:
        yield
    except UnidentifiedImageError as error:
        raise _unrecognised_format_error(prefix, suffix, heif_available) from error
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise pillow_limit_error(limit) from error
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
        prefix = stream.read(HEADER_PREFIX_BYTES)
        stream.seek(0)
    except OSError as error:
        raise InvalidImageError(Message("error.decode.unreadable", {"reason": os_reason(error)})) from error
    if not isinstance(prefix, (bytes, bytearray)):
        raise TypeError("decode_image needs a binary file object: open the file with mode 'rb'.")
    if not prefix:
        raise InvalidImageError(Message("error.decode.empty"), hint=Message("error.decode.empty_hint"))
    return bytes(prefix)


def _unrecognised_format_error(prefix: bytes, suffix: str, heif_available: bool) -> InvalidImageError:
    """Explain why the content was not recognised, including the missing-HEIC-plugin case."""
    if not heif_available and (looks_like_heif(prefix) or suffix in HEIF_SUFFIXES):
        return InvalidImageError(
            "This looks like a HEIC/HEIF photo, but HEIC support needs the pillow-heif package, "
            f"which {heif_failure_reason()}.",
            hint="Install pillow-heif, or convert the photo to JPEG or PNG and try again.",
        )
    message = (Message("error.decode.unrecognised_suffix", {"suffix": suffix}) if suffix
               else Message("error.decode.unrecognised"))
    return InvalidImageError(message, hint=Message("error.decode.formats_hint"))


def _damaged_file_error(error: BaseException) -> InvalidImageError:
    """Map a decoder failure to a user message; truncation is common enough to name."""
    text = str(error) or type(error).__name__
    if "truncated" in text.lower():
        return InvalidImageError(Message("error.decode.truncated"), hint=Message("error.decode.truncated_hint"))
    return InvalidImageError(Message("error.decode.damaged", {"reason": text}), hint=Message("error.decode.damaged_hint"))


def _decode_stream(stream: BinaryIO, max_pixels: int) -> DecodedImage:
    """Header check, decode, then orientation and colour normalisation, in that order."""
    image = open_header(stream)
    with image:
        ensure_within_limit(image.size, max_pixels)
        source_format = image.format or "unknown"
        icc_profile = image.info.get("icc_profile") or None
        notes: list[str] = []
        with pillow_pixel_limit_warning(decoding_warning_action(max_pixels)):
            frame_count = _frame_count(image)
            notes.extend(_reduced_bit_depth_notes(image))
            image.load()
        ensure_within_limit(image.size, max_pixels)  # GIF frames may grow the canvas while loading
        if frame_count > 1:
            notes.append(f"first frame of {frame_count} used")
        upright, orientation_note = _apply_exif_orientation(image)
        notes.extend([orientation_note] if orientation_note else [])
        colour, alpha, mode_notes = split_colour_and_alpha(upright)
        srgb, colour_notes = to_srgb(colour, icc_profile)
        rgb = fresh_uint8_array(srgb)
    notes.extend(mode_notes)
    notes.extend(colour_notes)
    return DecodedImage(rgb=rgb, alpha=alpha, source_format=source_format, notes=tuple(dict.fromkeys(notes)))


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
        return [SIXTEEN_BIT_NOTE]
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
