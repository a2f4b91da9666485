"""Checks on the delivered file: pixel size (exact, or inside the document's pixel range), file
size within the document's KB limits and the user's own, and JPEG compression (with the
limit that caused it, when the file was saved here).

Apart from the pixel checks because they need only the file's size and shape, and say "not
assessed" until the photo has been saved.
"""
from __future__ import annotations

from pipeline.idphoto.compliance.thresholds import (
    BYTES_PER_KB,
    COMPRESSION_PASS_RATIO,
    COMPRESSION_QUALITY_PASS,
    ICAO_CAPTURE_MIN_PX,
    SOURCE_CALIBRATION,
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
                       f"The photo must be exactly {expected_w}x{expected_h} px: make it again here for this "
                       "document", float(width * height))


def _size_limits_text(spec: IdPhotoSpec, user_max_kb: float | None) -> str:
    """'>= 30 KB, <= 80 KB (this document); <= 20 KB (your limit)'."""
    limits = []
    if spec.min_file_kb:
        limits.append(f">= {spec.min_file_kb:g} KB")
    if spec.max_file_kb:
        limits.append(f"<= {spec.max_file_kb:g} KB")
    text = f"{', '.join(limits)} (this document)" if limits else "no limit in this document"
    return text + (f"; <= {user_max_kb:g} KB (your limit)" if user_max_kb else "")


def check_file_size(file_bytes: int | None, spec: IdPhotoSpec, user_max_kb: float | None = None) -> CheckResult:
    """Within the document's file-size limits and the user's own KB limit (1 KB = 1024 bytes)."""
    threshold = _size_limits_text(spec, user_max_kb)
    source = spec_source(spec) + ("; your file-size limit" if user_max_kb else "")
    if file_bytes is None:
        return make_result("file_size", "not saved yet", threshold, source, "not_assessed",
                           "The file size is checked on the saved file", None)
    kilobytes = file_bytes / BYTES_PER_KB
    status: Status = "fail"
    if spec.max_file_kb and kilobytes > spec.max_file_kb:
        advice = (f"The file is larger than this document's {spec.max_file_kb:g} KB maximum"
                  + (f" (your {user_max_kb:g} KB limit allowed it)" if user_max_kb else "")
                  + f": make it again with a file-size limit of {spec.max_file_kb:g} KB or less, or remove the "
                  "limit to use the document's own")
    elif user_max_kb and kilobytes > user_max_kb:
        advice = f"The file is larger than your {user_max_kb:g} KB limit: make it again with that limit"
    elif spec.min_file_kb and kilobytes < spec.min_file_kb:
        advice = (f"The file is smaller than this document's {spec.min_file_kb:g} KB minimum: make it again here "
                  "for this document, which saves it with enough detail")
    else:
        status, advice = "pass", ""
    return make_result("file_size", f"{kilobytes:.1f} KB", threshold, source, status, advice, kilobytes)


NOT_SAVED_HERE_ADVICE = "The photo is compressed heavily: make it again here from the original photo"


def _compression_cause(spec: IdPhotoSpec | None, user_max_kb: float | None, quality: int) -> tuple[str, str]:
    """(what caused the compression, what to do) for a file saved here below the quality that passes."""
    if user_max_kb:
        floor = f" (this document needs at least {spec.min_file_kb:g} KB)" if spec and spec.min_file_kb else ""
        return (f"caused by your {user_max_kb:g} KB limit",
                f"The photo is compressed heavily to fit your {user_max_kb:g} KB limit: raise the file-size limit, "
                f"or remove it to use the document's own{floor}")
    if spec is not None and spec.max_file_kb:
        return (f"caused by this document's {spec.max_file_kb:g} KB limit",
                f"The photo is compressed heavily to fit this document's {spec.max_file_kb:g} KB limit; nothing "
                "to change")
    return (f"caused by the quality {quality} asked for",
            "The photo was saved with heavy compression because a low quality was asked for: make it again with "
            "the default quality")


def check_compression(file_bytes: int | None, shape: tuple[int, ...], jpeg_quality: int | None = None,
                      spec: IdPhotoSpec | None = None, user_max_kb: float | None = None) -> CheckResult:
    """JPEG compression ratio <= 15:1 [TR]; a warning only (documents' KB limits may force more).

    A file saved here says at which ``jpeg_quality``: at COMPRESSION_QUALITY_PASS or more it
    passes whatever its ratio (a painted plain background takes almost no bytes); below it
    the warning names the KB limit that forced the quality down (``user_max_kb``, else the
    document's own)."""
    threshold = f"<= {COMPRESSION_PASS_RATIO:g}:1 or saved at quality >= {COMPRESSION_QUALITY_PASS} (else warning)"
    source = f"{SOURCE_TR}; {SOURCE_CALIBRATION}"
    if file_bytes is None or file_bytes <= 0:
        return make_result("compression", "not saved yet", threshold, source, "not_assessed",
                           "The compression is checked on the saved file", None)
    ratio = shape[0] * shape[1] * 3 / file_bytes
    measured = f"{ratio:.1f}:1" + (f" at quality {jpeg_quality}" if jpeg_quality is not None else "")
    if ratio <= COMPRESSION_PASS_RATIO or (jpeg_quality is not None and jpeg_quality >= COMPRESSION_QUALITY_PASS):
        return make_result("compression", measured, threshold, source, "pass", "", ratio)
    cause, advice = (_compression_cause(spec, user_max_kb, jpeg_quality) if jpeg_quality is not None
                     else ("", NOT_SAVED_HERE_ADVICE))
    return make_result("compression", f"{measured} ({cause})" if cause else measured, threshold, source, "warn",
                       advice, ratio)
