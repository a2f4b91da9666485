"""Checks on the delivered file: pixel size (exact, or inside the document's pixel range), file
size within the document's KB limits and the user's own, and JPEG compression (with the
limit that caused it, when the file was saved here).

Apart from the pixel checks because they need only the file's size and shape, and say "not
assessed" until the photo has been saved.
"""
from __future__ import annotations

from pipeline.i18n import Message, Text
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
    size = f"{width}x{height}"
    measured: Text = Message("check.resolution.measured", {"size": size})
    if width < ICAO_CAPTURE_MIN_PX[0] or height < ICAO_CAPTURE_MIN_PX[1]:
        measured = Message("check.resolution.measured_small", {"size": size,
                                                               "icao": "{}x{}".format(*ICAO_CAPTURE_MIN_PX)})
    if spec.has_pixel_range:
        accepted = pixel_range(spec)
        status: Status = "pass" if spec.accepts_pixels(width, height) else "fail"
        return make_result("resolution", measured, Message("check.resolution.upload", {"limit": accepted}),
                           spec_source(spec), status,
                           Message("check.resolution.advice_range", {"size": size, "accepted": accepted}),
                           float(width * height))
    wanted = "{}x{}".format(*expected)
    if spec.width_mm and spec.height_mm:
        threshold = Message("check.resolution.exactly_print",
                            {"size": wanted, "mm": f"{spec.width_mm:g}x{spec.height_mm:g}", "dpi": dpi})
    else:
        threshold = Message("check.resolution.upload",
                            {"limit": Message("check.resolution.exactly", {"size": wanted})})
    status = "pass" if (width, height) == tuple(expected) else "fail"
    return make_result("resolution", measured, threshold, spec_source(spec), status,
                       Message("check.resolution.advice_exact", {"size": wanted}), float(width * height))


def pixel_range(spec: IdPhotoSpec) -> Message:
    """The accepted sizes in words ("600x600 to 1200x1200 px, square"), as ``spec.pixel_range_text``
    says them in English, in the reader's language."""
    low = f"{spec.min_width_px}x{spec.min_height_px}" if spec.min_width_px else ""
    high = f"{spec.max_width_px}x{spec.max_height_px}" if spec.max_width_px else ""
    key = "check.pixels.between" if low and high else "check.pixels.at_least" if low else "check.pixels.at_most"
    text = Message(key, {"low": low, "high": high})
    shape = spec.pixel_shape
    if shape is None:
        return text
    if shape[0] == shape[1]:
        return Message("check.pixels.square", {"range": text})
    return Message("check.pixels.shape", {"range": text, "shape": f"{shape[0]}:{shape[1]}"})


def _size_limits_text(spec: IdPhotoSpec, user_max_kb: float | None) -> Message:
    """'>= 30 KB, <= 80 KB (this document); <= 20 KB (your limit)'."""
    limits = []
    if spec.min_file_kb:
        limits.append(f">= {spec.min_file_kb:g} KB")
    if spec.max_file_kb:
        limits.append(f"<= {spec.max_file_kb:g} KB")
    text = (Message("check.file_size.document_limit", {"limits": ", ".join(limits)}) if limits
            else Message("check.file_size.no_document_limit"))
    return Message("check.file_size.and_yours", {"document": text, "kb": user_max_kb}) if user_max_kb else text


def check_file_size(file_bytes: int | None, spec: IdPhotoSpec, user_max_kb: float | None = None) -> CheckResult:
    """Within the document's file-size limits and the user's own KB limit (1 KB = 1024 bytes)."""
    threshold = _size_limits_text(spec, user_max_kb)
    source: Text = (Message("check.file_size.source_yours", {"spec": spec_source(spec)}) if user_max_kb
                    else spec_source(spec))
    if file_bytes is None:
        return make_result("file_size", Message("check.file.not_saved"), threshold, source, "not_assessed",
                           Message("check.file_size.advice_not_saved"), None)
    kilobytes = file_bytes / BYTES_PER_KB
    status: Status = "fail"
    advice: Text = ""
    values = {"max_kb": spec.max_file_kb, "min_kb": spec.min_file_kb, "kb": user_max_kb}
    if spec.max_file_kb and kilobytes > spec.max_file_kb:
        advice = Message("check.file_size.advice_over_document_yours" if user_max_kb
                         else "check.file_size.advice_over_document", values)
    elif user_max_kb and kilobytes > user_max_kb:
        advice = Message("check.file_size.advice_over_yours", values)
    elif spec.min_file_kb and kilobytes < spec.min_file_kb:
        advice = Message("check.file_size.advice_under_document", values)
    else:
        status = "pass"
    return make_result("file_size", Message("check.file_size.measured", {"kb": f"{kilobytes:.1f}"}), threshold, source,
                       status, advice, kilobytes)


NOT_SAVED_HERE_ADVICE = Message("check.compression.advice_not_saved_here")


def _compression_cause(spec: IdPhotoSpec | None, user_max_kb: float | None, quality: int
                       ) -> tuple[Message, Message]:
    """(what caused the compression, what to do) for a file saved here below the quality that passes."""
    if user_max_kb:
        values = {"kb": user_max_kb, "min_kb": spec.min_file_kb if spec else None}
        key = "check.compression.advice_your_limit_floor" if spec and spec.min_file_kb else \
            "check.compression.advice_your_limit"
        return Message("check.compression.cause_your_limit", values), Message(key, values)
    if spec is not None and spec.max_file_kb:
        values = {"kb": spec.max_file_kb}
        return (Message("check.compression.cause_document_limit", values),
                Message("check.compression.advice_document_limit", values))
    return (Message("check.compression.cause_quality", {"quality": quality}),
            Message("check.compression.advice_quality"))


def check_compression(file_bytes: int | None, shape: tuple[int, ...], jpeg_quality: int | None = None,
                      spec: IdPhotoSpec | None = None, user_max_kb: float | None = None) -> CheckResult:
    """JPEG compression ratio <= 15:1 [TR]; a warning only (documents' KB limits may force more).

    A file saved here says at which ``jpeg_quality``: at COMPRESSION_QUALITY_PASS or more it
    passes whatever its ratio (a painted plain background takes almost no bytes); below it
    the warning names the KB limit that forced the quality down (``user_max_kb``, else the
    document's own)."""
    threshold = Message("check.compression.threshold", {"ratio": COMPRESSION_PASS_RATIO,
                                                        "quality": COMPRESSION_QUALITY_PASS})
    source = f"{SOURCE_TR}; {SOURCE_CALIBRATION}"
    if file_bytes is None or file_bytes <= 0:
        return make_result("compression", Message("check.file.not_saved"), threshold, source, "not_assessed",
                           Message("check.compression.advice_not_saved"), None)
    ratio = shape[0] * shape[1] * 3 / file_bytes
    measured = (Message("check.compression.measured_quality", {"ratio": ratio, "quality": jpeg_quality})
                if jpeg_quality is not None else Message("check.compression.measured", {"ratio": f"{ratio:.1f}"}))
    if ratio <= COMPRESSION_PASS_RATIO or (jpeg_quality is not None and jpeg_quality >= COMPRESSION_QUALITY_PASS):
        return make_result("compression", measured, threshold, source, "pass", "", ratio)
    if jpeg_quality is None:
        return make_result("compression", measured, threshold, source, "warn", NOT_SAVED_HERE_ADVICE, ratio)
    cause, advice = _compression_cause(spec, user_max_kb, jpeg_quality)
    measured = Message("check.compression.measured_cause", {"measured": measured, "cause": cause})
    return make_result("compression", measured, threshold, source, "warn", advice, ratio)
