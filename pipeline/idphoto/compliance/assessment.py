"""The compliance entry point: ``assess`` runs every check on a finished ID photo and returns
the ``ComplianceReport``.

It only validates the inputs, chooses the applicant's face and the background region (painted or
matted), and puts the checks in the report's order; each check lives in its own module.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pipeline.core.errors import InvalidImageError, InvalidOptionError
from pipeline.core.pixels import describe_array, is_rgb_array
from pipeline.cutout.background import Colour
from pipeline.faces.detect import Face
from pipeline.faces.evidence import FaceEvidence
from pipeline.faces.geometry import HeadGeometry, measure_head
from pipeline.i18n import Message
from pipeline.idphoto.compliance.appearance_checks import check_exposure, check_illumination_balance, check_sharpness
from pipeline.idphoto.compliance.background_checks import (
    background_rule,
    check_background_colour,
    check_background_uniformity,
)
from pipeline.idphoto.compliance.covering_checks import check_glasses, check_head_covering
from pipeline.idphoto.compliance.expression_checks import check_eyes_open, check_gaze, check_mouth_closed
from pipeline.idphoto.compliance.file_checks import check_compression, check_file_size, check_resolution
from pipeline.idphoto.compliance.framing_checks import (
    check_crown_margin,
    check_eye_line,
    check_face_centring,
    check_head_height,
    check_inter_eye_distance,
    check_pitch,
    check_roll,
    check_single_face,
    check_yaw,
)
from pipeline.idphoto.compliance.measurements import (
    background_region,
    face_region_mask,
    largest_face,
    painted_region,
)
from pipeline.idphoto.compliance.report import ComplianceReport, PositionMethodReport
from pipeline.idphoto.compliance.thresholds import SOURCE_ICAO_9303
from pipeline.idphoto.compliance.verdicts import CheckResult, colour_name, dense_missing_reason, make_result
from pipeline.idphoto.specs import DEFAULT_DPI, IdPhotoSpec

# Checks that need a face; with none they are reported as not assessed.
FACE_CHECK_IDS = (
    "head_height", "eye_line", "face_centring", "roll", "yaw", "pitch", "inter_eye_distance",
    "exposure", "sharpness", "illumination_balance", "eyes_open", "mouth_closed", "gaze", "glasses", "head_covering",
)
# The face's own appearance and expression, in the report's order after the background.
APPEARANCE_CHECK_IDS = (
    "exposure", "sharpness", "illumination_balance", "eyes_open", "mouth_closed", "gaze", "glasses", "head_covering",
)
NO_FACE_ADVICE = Message("check.no_face.advice")


def not_assessed_without_face(check_id: str) -> CheckResult:
    """A face check that cannot run because no face was detected on the photo."""
    return make_result(check_id, Message("check.no_face.measured"), Message("check.no_face.threshold"),
                       SOURCE_ICAO_9303, "not_assessed", NO_FACE_ADVICE, None)


def _face_checks(photo: np.ndarray, matte: np.ndarray | None, face: Face, evidence: FaceEvidence | None,
                 head: HeadGeometry, spec: IdPhotoSpec, dpi: int, fixed_pixels: bool) -> dict[str, CheckResult]:
    """Every check on the applicant's face. ``evidence`` is None unless it describes ``face``:
    the checks that need the dense mesh or parsing are then not assessed, and say why."""
    height, width = photo.shape[:2]
    region = face_region_mask((height, width), face.landmarks, matte)
    dense = evidence.dense if evidence is not None else None
    return {
        "head_height": check_head_height(head, spec, height, dpi),
        "eye_line": check_eye_line(head, spec, height, dpi),
        "face_centring": check_face_centring(head, width),
        "roll": check_roll(head),
        "yaw": check_yaw(head),
        "pitch": check_pitch(head, dense_missing_reason(evidence)),
        "inter_eye_distance": check_inter_eye_distance(head, fixed_pixels=fixed_pixels),
        "exposure": check_exposure(photo, region),
        "sharpness": check_sharpness(photo, face.landmarks, region),
        "illumination_balance": check_illumination_balance(photo, face.landmarks, matte, dense),
        "eyes_open": check_eyes_open(evidence),
        "mouth_closed": check_mouth_closed(evidence),
        "gaze": check_gaze(evidence),
        "glasses": check_glasses(evidence),
        "head_covering": check_head_covering(evidence),
    }


def _validate_inputs(photo: np.ndarray, matte: np.ndarray | None, dpi: int,
                     painted: np.ndarray | None = None) -> None:
    """Reject inputs that would give silently wrong numbers (float photos, misaligned masks)."""
    if not is_rgb_array(photo):
        raise InvalidImageError(f"The photo must be RGB uint8 (H, W, 3); got a {describe_array(photo)}.")
    for name, plane in (("matte", matte), ("painted background", painted)):
        if plane is not None and plane.shape != photo.shape[:2]:
            raise ValueError(f"{name} shape {plane.shape} does not match the photo {photo.shape[:2]}")
    if dpi <= 0:
        raise InvalidOptionError(f"dpi must be positive, got {dpi}.")


def assess(photo: np.ndarray, matte: np.ndarray | None, faces: Sequence[Face], spec: IdPhotoSpec, *, dpi: int,
           file_bytes: int | None = None, target_background: tuple[int, int, int] | None = None,
           requested_dpi: int | None = None, evidence: FaceEvidence | None = None,
           placed_crown_y: float | None = None, painted_background: np.ndarray | None = None,
           jpeg_quality: int | None = None, user_max_kb: float | None = None) -> ComplianceReport:
    """Check a finished ID photo against ``spec``.

    ``faces`` must be detections on this very photo and ``matte`` its person matte (or None:
    the background checks are then not assessed and the crown is estimated). The largest
    face is the applicant's. ``requested_dpi`` is the dpi the user asked for, if any: with
    it, a document with a print size is expected at that resolution. ``evidence`` is the
    applicant's dense landmarks and parsing on this photo, when the caller has them: without
    it the head is measured from the detector's five points, and the checks that rest on
    estimated positions never pass. ``placed_crown_y`` is where the maker put a crown it
    could only estimate (the source photo cut off the top of the head): this photo's matte
    then ends at that cut edge, so the estimate stands in for it, labelled as one.

    ``target_background`` is the colour the user chose (None: the document's); the background
    is judged by the document's rule all the same, and a choice it does not allow is reported
    with its reason. From a maker: ``painted_background`` (bool, the photo's shape) is where it
    painted that colour, and the background checks judge only those pixels; ``jpeg_quality``
    and ``user_max_kb`` (the user's own KB limit) let the file-size row check that limit and
    the compression row name the limit that forced the quality down."""
    _validate_inputs(photo, matte, dpi, painted_background)
    height = photo.shape[0]
    checks: list[CheckResult] = [check_single_face(faces)]
    face = largest_face(faces)
    if face is None:
        face_checks = {check_id: not_assessed_without_face(check_id) for check_id in FACE_CHECK_IDS}
        crown_margin = None
        measured_with: tuple[PositionMethodReport, ...] = ()
    else:
        usable = evidence if evidence is not None and evidence.face is face else None
        head = measure_head(usable or face, matte, spec.head_top)
        if placed_crown_y is not None:
            head = head.with_estimated_crown(placed_crown_y)
        # the output's pixels follow from the document (its pixel size, or its print size at its
        # own resolution) unless the user chose a print resolution: only then can they change it
        fixed_pixels = not (requested_dpi and spec.width_mm)
        face_checks = _face_checks(photo, matte, face, usable, head, spec, dpi, fixed_pixels)
        crown_margin = check_crown_margin(head, spec, height, dpi)
        measured_with = tuple(PositionMethodReport.of(position, method) for position, method in head.methods.items())
    checks += [face_checks["head_height"], face_checks["eye_line"]]
    if crown_margin is not None:
        checks.append(crown_margin)
    checks += [face_checks[check_id] for check_id in ("face_centring", "roll", "yaw", "pitch", "inter_eye_distance")]
    painted = painted_background is not None
    background = painted_region(painted_background) if painted else background_region(matte)
    chosen = None if target_background is None else _colour(target_background)
    checks += [
        check_background_uniformity(photo, background, painted=painted),
        check_background_colour(photo, background, background_rule(spec, chosen), chosen),
        *(face_checks[check_id] for check_id in APPEARANCE_CHECK_IDS),
        check_resolution(photo.shape, spec, dpi, spec.size_px(requested_dpi)),
        check_file_size(file_bytes, spec, user_max_kb),
        check_compression(file_bytes, photo.shape, jpeg_quality, spec, user_max_kb),
    ]
    return ComplianceReport(spec_id=spec.id, checks=tuple(checks), defaults_applied=defaults_applied(spec),
                            measured_with=measured_with)


def defaults_applied(spec: IdPhotoSpec) -> tuple[Message, ...]:
    """The rules we assumed because the document states none: ``IdPhotoSpec.defaults_applied``,
    item for item, as messages for the reader's language."""
    applied = []
    if not (spec.head_height_mm or spec.head_height_ratio):
        applied.append(Message("report.default.head_height"))
    if not (spec.eye_line_mm or spec.eye_line_ratio):
        applied.append(Message("report.default.eye_line"))
    if not spec.dpi and not (spec.width_px and spec.width_mm):
        applied.append(Message("report.default.dpi", {"dpi": DEFAULT_DPI}))
    if not spec.background_hex:
        key = "report.default.background" if spec.default_background else "report.default.background_white"
        applied.append(Message(key, {"colour": colour_name(spec.background_colour)}))
    return tuple(applied)


def _colour(rgb: Sequence[int]) -> Colour:
    red, green, blue = (int(c) for c in rgb)
    return red, green, blue
