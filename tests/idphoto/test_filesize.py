"""Tests for pipeline.idphoto.filesize: the highest-quality JPEG under a portal's size limit.

Sizes are measured here with ``encode_image`` directly (1 KB = 1024 bytes), so the
expectations do not come from the module under test. The only photo is scikit-image's
public-domain astronaut portrait.
"""
from __future__ import annotations

import io
import re

import numpy as np
import pytest
from PIL import Image
from skimage import data as skimage_data

from pipeline.core.encode import encode_image
from pipeline.core.errors import FileSizeTargetError, InvalidOptionError
from pipeline.idphoto import filesize
from pipeline.idphoto.filesize import SizedJpeg, encode_jpeg_under

KB = 1024


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """The astronaut cropped to passport proportions (35:45), 398x512 pixels."""
    image = np.ascontiguousarray(skimage_data.astronaut(), dtype=np.uint8)
    return np.ascontiguousarray(image[:, 57 : 57 + 398])


def jpeg_bytes(rgb: np.ndarray, quality: int, dpi: tuple[float, float] | None = None) -> int:
    return len(encode_image(rgb, format="JPEG", quality=quality, dpi=dpi))


def numbers_in(text: str) -> list[float]:
    return [float(value) for value in re.findall(r"\d+(?:\.\d+)?", text)]


@pytest.mark.parametrize("between", [(45, 46), (60, 61), (75, 76), (88, 89)])
def test_result_is_the_highest_quality_that_fits(photo: np.ndarray, between: tuple[int, int]) -> None:
    low, high = between
    max_kb = (jpeg_bytes(photo, low) + jpeg_bytes(photo, high)) / 2 / KB  # between two qualities
    result = encode_jpeg_under(photo, max_kb)
    assert isinstance(result, SizedJpeg)
    assert len(result.data) <= max_kb * KB
    assert result.kb == pytest.approx(len(result.data) / KB)
    assert 40 <= result.quality <= 95
    assert jpeg_bytes(photo, result.quality + 1) > max_kb * KB  # the next quality would not fit
    assert result.data == encode_image(photo, format="JPEG", quality=result.quality)
    with Image.open(io.BytesIO(result.data)) as decoded:
        assert decoded.format == "JPEG"
        assert decoded.size == (photo.shape[1], photo.shape[0])  # never resized


def test_limit_exactly_at_a_file_size_is_inclusive(photo: np.ndarray) -> None:
    exact_kb = jpeg_bytes(photo, 70) / KB
    result = encode_jpeg_under(photo, exact_kb)
    assert len(result.data) <= exact_kb * KB
    assert result.quality >= 70


def test_generous_limit_returns_max_quality(photo: np.ndarray) -> None:
    result = encode_jpeg_under(photo, 10_000)
    assert result.quality == 95
    assert encode_jpeg_under(photo, 10_000, max_quality=80).quality == 80


def test_impossible_target_reports_the_smallest_size(photo: np.ndarray) -> None:
    smallest_kb = jpeg_bytes(photo, 40) / KB
    limit_kb = smallest_kb / 2
    with pytest.raises(FileSizeTargetError) as caught:
        encode_jpeg_under(photo, limit_kb)
    error = caught.value
    assert "(40)" in error.message
    assert any(abs(number - smallest_kb) <= 0.1 for number in numbers_in(error.message)), error.message
    assert any(abs(number - limit_kb) <= 0.1 for number in numbers_in(error.message)), error.message
    assert error.hint


def test_lower_min_quality_can_make_a_target_possible(photo: np.ndarray) -> None:
    limit_kb = (jpeg_bytes(photo, 20) + jpeg_bytes(photo, 21)) / 2 / KB
    with pytest.raises(FileSizeTargetError):
        encode_jpeg_under(photo, limit_kb)
    assert encode_jpeg_under(photo, limit_kb, min_quality=10).quality == 20


def test_min_kb_above_what_quality_100_gives_is_refused_not_padded(photo: np.ndarray) -> None:
    best_kb = jpeg_bytes(photo, 100) / KB
    with pytest.raises(FileSizeTargetError) as caught:
        encode_jpeg_under(photo, best_kb + 100, min_kb=best_kb + 20)
    assert "(100)" in caught.value.message
    assert "pad" in caught.value.hint


def test_a_minimum_file_size_is_met_with_more_quality_before_anything_fails(photo: np.ndarray) -> None:
    """US passports ask for at least 54 KB; a clean photo can be smaller at quality 95. More
    quality (up to 100) reaches the minimum, instead of refusing the photo."""
    at_95, at_100 = jpeg_bytes(photo, 95), jpeg_bytes(photo, 100)
    assert at_95 < at_100  # precondition: there is room above 95
    min_kb = (at_95 + (at_100 - at_95) // 2) / KB
    result = encode_jpeg_under(photo, at_100 / KB + 10, min_kb=min_kb)
    assert 95 < result.quality <= 100
    assert len(result.data) >= min_kb * KB
    assert jpeg_bytes(photo, result.quality - 1) < min_kb * KB  # the least quality that reaches it


def test_min_kb_that_is_met_is_accepted(photo: np.ndarray) -> None:
    max_kb = jpeg_bytes(photo, 80) / KB
    min_kb = jpeg_bytes(photo, 60) / KB
    result = encode_jpeg_under(photo, max_kb, min_kb=min_kb)
    assert min_kb * KB <= len(result.data) <= max_kb * KB


def test_size_window_between_two_qualities_is_refused(photo: np.ndarray) -> None:
    sizes = {quality: jpeg_bytes(photo, quality) for quality in range(40, 96)}
    assert sizes[70] < sizes[71]
    min_kb = (sizes[70] + 1) / KB  # one byte more than quality 70 gives
    max_kb = (sizes[71] - 1) / KB  # one byte less than quality 71 gives
    assert not any(min_kb * KB <= size <= max_kb * KB for size in sizes.values())  # precondition
    with pytest.raises(FileSizeTargetError, match="between"):
        encode_jpeg_under(photo, max_kb, min_kb=min_kb)


def test_dpi_is_written_and_counted(photo: np.ndarray) -> None:
    result = encode_jpeg_under(photo, 60, dpi=(300, 300))
    with Image.open(io.BytesIO(result.data)) as decoded:
        assert decoded.info["dpi"] == pytest.approx((300, 300))
    assert len(result.data) == jpeg_bytes(photo, result.quality, dpi=(300, 300))


def test_non_monotonic_sizes_are_corrected_by_the_neighbour_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """A size bump above the binary search's answer must not hide a higher quality that fits."""
    fake_sizes = {quality: 1000 * quality for quality in range(1, 101)}
    fake_sizes[63] = 100_000  # a bump: binary search over 40..95 probes 67, 53, 60, 63, 61, 62
    fake_sizes[64] = 64_500
    fake_sizes[65] = 64_900  # quality 65 fits again; 66 does not
    limit_bytes = 65_000

    def fake_encode(rgb: np.ndarray, alpha: object = None, *, format: str, quality: int, dpi: object = None) -> bytes:
        assert format == "JPEG"
        return bytes(fake_sizes[quality])

    monkeypatch.setattr(filesize, "encode_image", fake_encode)
    result = encode_jpeg_under(np.zeros((8, 8, 3), np.uint8), limit_bytes / KB)
    assert result.quality == 65
    assert len(result.data) <= limit_bytes


@pytest.mark.parametrize(
    "options",
    [
        {"max_kb": 0},
        {"max_kb": -5},
        {"max_kb": float("nan")},
        {"max_kb": float("inf")},
        {"max_kb": "240"},
        {"max_kb": True},
        {"max_kb": 100, "min_quality": 0},
        {"max_kb": 100, "max_quality": 101},
        {"max_kb": 100, "min_quality": 90, "max_quality": 80},
        {"max_kb": 100, "min_quality": 50.5},
        {"max_kb": 100, "min_kb": 0},
        {"max_kb": 100, "min_kb": 150},
        {"max_kb": 100, "dpi": (0, 300)},
    ],
)
def test_bad_arguments_raise_invalid_option(photo: np.ndarray, options: dict[str, object]) -> None:
    with pytest.raises(InvalidOptionError):
        encode_jpeg_under(photo, **options)  # type: ignore[arg-type]
