"""Checks on the delivered file: pixel size (exact, or inside the document's pixel range), file
size within the document's KB limits, and JPEG compression.

Apart from the pixel checks because they need only the file's size and shape, and say "not
assessed" until the photo has been saved.
"""
from __future__ import annotations

from pipeline.idphoto.compliance.thresholds import (
    BYTES_PER_KB,
    COMPRESSION_PASS_RATIO,
    ICAO_CAPTURE_MIN_PX,
    SOURCE_TR,
)
from pipeline.idphoto.compliance.verdicts import CheckResult, Status, make_result, spec_source
from pipeline.idphoto.specs import IdPhotoSpec


def check_resolution(shape: tuple[int, ...], spec: IdPhotoSpec, dpi: int,
                     expected: tuple[int, int]) -> CheckResult:
    """The pixel size the document accepts: any size inside its pixel range where it states one
    (an upload "from 600x600 to 1200x1200 px"), else exactly ``expected`` (``IdPhotoSpec.size_px``
    at the chosen dpi). The ICAO capture minimum is mentioned only."""
    height, width = shape[:2]
    measured = f"{width}x{height} px"
    if width < ICAO_CAPTURE_MIN_PX[0] or height < ICAO_CAPTURE_MIN_PX[1]:
        measured += (f"; below the ICAO capture minimum {ICAO_CAPTURE_MIN_PX[0]}x{ICAO_CAPTURE_MIN_PX[1]} px "
                     "(informational)")
    if spec.has_pixel_range:
        accepted = spec.pixel_range_text
        status: Status = "pass" if spec.accepts_pixels(width, height) else "fail"
        return make_result("resolution", measured, f"{accepted} (digital upload)", spec_source(spec), status,
                           f"The photo is {width}x{height} px, but this document accepts {accepted}: make it "
                           "again for this document", float(width * height))
    expected_w, expected_h = expected
    if spec.width_mm and spec.height_mm:
        threshold = f"exactly {expected_w}x{expected_h} px ({spec.width_mm:g}x{spec.height_mm:g} mm at {dpi} dpi)"
    else:
        threshold = f"exactly {expected_w}x{expected_h} px (digital upload)"
    status = "pass" if (width, height) == (expected_w, expected_h) else "fail"
    return make_result("resolution", measured, threshold, spec_source(spec), status,
                       f"The photo must be exactly {expected_w}x{expected_h} px: export it again for this document "
                       f"at {dpi} dpi", float(width * height))


def check_file_size(file_bytes: int | None, spec: IdPhotoSpec) -> CheckResult:
    """Within the document's file-size limits (1 KB = 1024 bytes)."""
    limits = []
    if spec.min_file_kb:
        limits.append(f">= {spec.min_file_kb:g} KB")
    if spec.max_file_kb:
        limits.append(f"<= {spec.max_file_kb:g} KB")
    threshold = ", ".join(limits) if limits else "no limit in this document"
    if file_bytes is None:
        return make_result("file_size", "not saved yet", threshold, spec_source(spec), "not_assessed",
                           "The file size is checked on the saved file", None)
    kilobytes = file_bytes / BYTES_PER_KB
    if spec.max_file_kb and kilobytes > spec.max_file_kb:
        status: Status = "fail"
        advice = f"The file is too large: save it with stronger JPEG compression (at most {spec.max_file_kb:g} KB)"
    elif spec.min_file_kb and kilobytes < spec.min_file_kb:
        status = "fail"
        advice = f"The file is too small: save it at a higher JPEG quality (at least {spec.min_file_kb:g} KB)"
    else:
        status, advice = "pass", ""
    return make_result("file_size", f"{kilobytes:.1f} KB", threshold, spec_source(spec), status, advice, kilobytes)


def check_compression(file_bytes: int | None, shape: tuple[int, ...]) -> CheckResult:
    """JPEG compression ratio <= 15:1 [TR]; a warning only (documents' KB limits may force more)."""
    threshold = f"<= {COMPRESSION_PASS_RATIO:g}:1 (else warning)"
    if file_bytes is None or file_bytes <= 0:
        return make_result("compression", "not saved yet", threshold, SOURCE_TR, "not_assessed",
                           "The compression is checked on the saved file", None)
    ratio = shape[0] * shape[1] * 3 / file_bytes
    return make_result("compression", f"{ratio:.1f}:1", threshold, SOURCE_TR,
                       "pass" if ratio <= COMPRESSION_PASS_RATIO else "warn",
                       "The photo is compressed heavily: save it at a higher JPEG quality if the size limit allows",
                       ratio)
