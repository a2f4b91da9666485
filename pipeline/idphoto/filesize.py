"""File-size targets: the best JPEG that an upload portal will accept.

Visa and passport portals often cap uploads ("at most 240 KB") and some also set a floor
("at least 54 KB"). The photo's pixels are fixed by the ID specification, so the only
honest knob is JPEG quality: ``encode_jpeg_under`` finds the highest quality whose file
fits. It never resizes (that would break the specification's pixel size) and never pads
the file with junk bytes to reach a minimum (portals that check the floor want more image
detail, and padding is fragile and looks like tampering).

Units: 1 KB = 1024 bytes, which is what operating systems and almost every portal mean.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.core.encode import encode_image
from pipeline.core.errors import FileSizeTargetError, InvalidOptionError
from pipeline.i18n import Message

__all__ = ["BYTES_PER_KB", "SizedJpeg", "encode_jpeg_under"]

BYTES_PER_KB = 1024

# JPEG size is not perfectly monotonic in quality (quantisation tables round, Huffman
# optimisation varies). After the binary search, qualities above the answer are tried until
# this many in a row are over the limit, so the answer's next quality is always known to be
# over the limit.
NEIGHBOUR_MISSES_TO_STOP = 3


@dataclass(frozen=True)
class SizedJpeg:
    """The chosen JPEG: its bytes, the quality used, and its size in KB (1 KB = 1024 bytes)."""

    data: bytes
    quality: int
    kb: float


def _kb(data: bytes) -> float:
    return len(data) / BYTES_PER_KB


def _format_kb(kb: float, *, round_up: bool) -> str:
    """KB with at most one decimal, rounded in the direction that keeps the message true.

    A file just over a 240 KB limit must not read "240 KB", so sizes that are too large
    are rounded up and sizes that are too small are rounded down.
    """
    tenths = math.ceil(kb * 10 - 1e-9) if round_up else math.floor(kb * 10 + 1e-9)
    return f"{tenths / 10:.1f}".removesuffix(".0")


def _validated_kb(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
        raise InvalidOptionError(f"The {what} must be a positive number of kilobytes; got {value!r}.")
    return float(value)


def _validated_quality_range(min_quality: Any, max_quality: Any) -> tuple[int, int]:
    for name, value in (("min_quality", min_quality), ("max_quality", max_quality)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 1 <= value <= 100:
            raise InvalidOptionError(f"{name} must be a whole number from 1 to 100; got {value!r}.")
    if min_quality > max_quality:
        raise InvalidOptionError(
            f"The lowest acceptable JPEG quality ({min_quality}) is above the highest ({max_quality}).",
            hint="Swap them, or set min_quality to at most max_quality.",
        )
    return int(min_quality), int(max_quality)


def _highest_fitting_quality(fits: Callable[[int], bool], low: int, high: int) -> int:
    """Highest quality in ``[low, high]`` that fits, given ``fits(low)`` and not ``fits(high)``.

    Binary search first; then walk upwards from the answer until
    ``NEIGHBOUR_MISSES_TO_STOP`` qualities in a row do not fit, taking any higher quality
    that does. This corrects small non-monotonic bumps and guarantees that ``answer + 1``
    was tried and is over the limit.
    """
    top = high
    while high - low > 1:
        middle = (low + high) // 2
        if fits(middle):
            low = middle
        else:
            high = middle
    best, misses, quality = low, 0, low + 1
    while quality <= top and misses < NEIGHBOUR_MISSES_TO_STOP:
        if fits(quality):
            best, misses = quality, 0
        else:
            misses += 1
        quality += 1
    return best


MAX_JPEG_QUALITY = 100  # reached only to meet a document's minimum file size


class _QualityProbe:
    """Encodes each quality at most once and answers "does it fit under the limit?"."""

    def __init__(self, rgb: np.ndarray, max_bytes: float, dpi: tuple[float, float] | None) -> None:
        self._rgb = rgb
        self._max_bytes = max_bytes
        self._dpi = dpi
        self._encoded: dict[int, bytes] = {}

    def data(self, quality: int) -> bytes:
        if quality not in self._encoded:
            self._encoded[quality] = encode_image(self._rgb, format="JPEG", quality=quality, dpi=self._dpi)
        return self._encoded[quality]

    def fits(self, quality: int) -> bool:
        return len(self.data(quality)) <= self._max_bytes


# Below this quality a face shows blocks; a KB limit is never met by going lower.
MIN_JPEG_QUALITY = 40


def encode_jpeg_under(
    rgb: np.ndarray,
    max_kb: float,
    *,
    min_quality: int = MIN_JPEG_QUALITY,
    max_quality: int = 95,
    dpi: tuple[float, float] | None = None,
    min_kb: float | None = None,
) -> SizedJpeg:
    """The highest-quality JPEG of ``rgb`` that is at most ``max_kb`` (1 KB = 1024 bytes).

    Qualities from ``min_quality`` (the lowest that still looks acceptable) to
    ``max_quality`` are considered. The file written is never over ``max_kb``. ``dpi`` is
    written into the file (portals sometimes check it) and counts towards the size.

    Raises ``FileSizeTargetError`` when even ``min_quality`` is too large, or when the
    best file is smaller than ``min_kb``; ``InvalidOptionError`` for bad arguments.
    """
    limit_kb = _validated_kb(max_kb, "file-size limit (max_kb)")
    floor_kb = None if min_kb is None else _validated_kb(min_kb, "minimum file size (min_kb)")
    if floor_kb is not None and floor_kb > limit_kb:
        raise InvalidOptionError(
            Message("error.filesize.floor_above_limit", {"floor": _format_kb(floor_kb, round_up=False),
                                                         "limit": _format_kb(limit_kb, round_up=False)}),
            hint=Message("error.filesize.floor_above_limit_hint"),
        )
    lowest, highest = _validated_quality_range(min_quality, max_quality)

    probe = _QualityProbe(rgb, limit_kb * BYTES_PER_KB, dpi)
    if probe.fits(highest):
        quality = highest
    elif not probe.fits(lowest):
        smallest_kb = _kb(probe.data(lowest))
        raise FileSizeTargetError(
            Message("error.filesize.too_big", {"quality": lowest, "kb": _format_kb(smallest_kb, round_up=True),
                                               "limit": _format_kb(limit_kb, round_up=False)}),
            hint=Message("error.filesize.too_big_hint"),
        )
    else:
        quality = _highest_fitting_quality(probe.fits, lowest, highest)

    if floor_kb is not None and quality == highest and _kb(probe.data(quality)) < floor_kb:
        # A document's minimum size is met with more quality, up to 100, before anything fails.
        quality = _lowest_quality_reaching(probe, floor_kb * BYTES_PER_KB, highest)
        highest = max(highest, quality)
    data = probe.data(quality)
    size_kb = _kb(data)
    if floor_kb is not None and size_kb < floor_kb:
        raise _below_minimum_error(size_kb, quality, highest, floor_kb, limit_kb, probe)
    return SizedJpeg(data=data, quality=quality, kb=size_kb)


def _lowest_quality_reaching(probe: _QualityProbe, floor_bytes: float, start: int) -> int:
    """The lowest quality above ``start`` whose file reaches ``floor_bytes`` within the limit;
    the largest one within the limit (up to 100) when none does."""
    best = start
    for quality in range(start + 1, MAX_JPEG_QUALITY + 1):
        if not probe.fits(quality):
            break
        best = quality
        if len(probe.data(quality)) >= floor_bytes:
            break
    return best


def _below_minimum_error(
    size_kb: float, quality: int, highest: int, floor_kb: float, limit_kb: float, probe: _QualityProbe
) -> FileSizeTargetError:
    """Explain why no file reaches ``min_kb`` (we do not pad files to reach it)."""
    floor_text = _format_kb(floor_kb, round_up=False)
    if quality == highest:
        return FileSizeTargetError(
            f"At the highest allowed quality ({highest}) the photo is only {_format_kb(size_kb, round_up=False)} KB; "
            f"the minimum is {floor_text} KB.",
            hint="Export the photo at a larger pixel size if the specification allows it, or allow a higher "
            "maximum quality. Portrait Lab does not pad files to reach a minimum size.",
        )
    next_kb = _kb(probe.data(quality + 1))
    return FileSizeTargetError(
        f"No JPEG quality gives a file between {floor_text} and {_format_kb(limit_kb, round_up=False)} KB: "
        f"quality {quality} gives {_format_kb(size_kb, round_up=False)} KB and quality {quality + 1} gives "
        f"{_format_kb(next_kb, round_up=True)} KB.",
        hint="Widen the allowed size range if the portal permits it.",
    )
