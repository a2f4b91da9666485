"""Every size limit of the pipeline, in one place.

Why one home: what one step accepts, the next must not refuse. A custom ID-photo size, a
print sheet and an upscaled restoration are all bounded by the pixel limit that decoding
(and the check of our own output) applies, so a run is refused up front instead of after
a minute of work. Light on purpose: the CLI reads these while building ``--help``.
"""
from __future__ import annotations

import os

from pipeline.core import settings
from pipeline.core.errors import InvalidOptionError
from pipeline.i18n import Message

ENV_MAX_PIXELS = settings.MAX_PIXELS
DEFAULT_MAX_PIXELS = 40_000_000  # decompression-bomb guard for every image we read
ENV_MAX_BATCH_FILES = settings.MAX_BATCH_FILES
DEFAULT_MAX_BATCH_FILES = 200  # photos per batch (files and archive members together)
MAX_OUTPUT_PIXELS = 160_000_000  # an upscaled restoration beyond this would exhaust memory

# The smallest face the detectors look for (MTCNN's min_face_size): an image whose shorter
# side, as the detector sees it, is below this cannot hold one (MTCNN would crash on it).
MIN_DETECTION_SIDE = 20
DEFAULT_DETECTION_MAX_SIDE = 1280
DETECTION_SIZE_RANGE = (128, 8192)  # --detection-size: smaller finds no faces, larger only costs
DEFAULT_MAX_FACES = 32

# An ID photo smaller than this cannot show a face the compliance check can find and measure
# (no document asks for less than about 300 px).
MIN_ID_PHOTO_SIDE = 100
MIN_DPI, MAX_DPI = 72, 1200  # print resolutions that make sense for photos
# No printer takes sheets over a metre, and such a page at print dpi would need gigabytes
# of pixels, so a bigger number is almost certainly a typo.
MAX_PAPER_SIDE_MM = 1000.0


def positive_int_setting(name: str, default: int, example: str) -> int:
    """A ``PORTRAIT_LAB_*`` whole-number setting: unset or empty means ``default``; anything
    else must be a positive whole number, because a typo silently lifting a guard would be
    worse than a clear error."""
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        value = 0
    if value <= 0:
        raise InvalidOptionError(f"{name} must be a positive whole number{example}; got {raw!r}.")
    return value


def max_pixels_from_env() -> int:
    """The largest image we read (``PORTRAIT_LAB_MAX_PIXELS``), our own outputs included."""
    return positive_int_setting(ENV_MAX_PIXELS, DEFAULT_MAX_PIXELS, " of pixels, such as 40000000")


def max_batch_files_from_env() -> int:
    """The most photos one batch takes (``PORTRAIT_LAB_MAX_BATCH_FILES``)."""
    return positive_int_setting(ENV_MAX_BATCH_FILES, DEFAULT_MAX_BATCH_FILES, ", such as 200")


def check_photo_size(width: int, height: int) -> None:
    """An ID photo's pixel size: within the pixel limit that reading it back (the compliance
    check decodes our own output) applies, and big enough to hold a measurable face."""
    limit = max_pixels_from_env()
    if width * height > limit:
        raise InvalidOptionError(
            Message("error.idphoto.size_over_limit", {"width": width, "height": height,
                                                      "megapixels": f"{width * height / 1e6:.0f}", "limit": f"{limit / 1e6:g}"}),
            hint=Message("error.idphoto.size_over_limit_hint"))
    if min(width, height) < MIN_ID_PHOTO_SIDE:
        raise InvalidOptionError(
            Message("error.idphoto.size_too_small", {"width": width, "height": height}),
            hint=Message("error.idphoto.size_too_small_hint", {"side": MIN_ID_PHOTO_SIDE}))


def check_detection_size(value: int) -> int:
    """``--detection-size``: detection runs on a copy this many pixels on its long side."""
    low, high = DETECTION_SIZE_RANGE
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidOptionError(f"The detection size must be a whole number from {low} to {high} pixels, "
                                 f"got {value!r}.", hint=f"The default, {DEFAULT_DETECTION_MAX_SIDE}, suits most photos.")
    return value
