"""Checks on the face and its placement: one face, head height, eye line, space above the
head, centring, pose and pixels between the eyes.

These rest on the head geometry measured from the landmarks and the matte
(``faces.geometry.measure_head``) and on the document's placement rules.
"""
from __future__ import annotations

from collections.abc import Sequence

from pipeline.faces.detect import Face
from pipeline.faces.geometry import HEAD_TOP_NO_HAIR, HeadGeometry
from pipeline.faces.methods import EXPECTED_ERROR_PCT, METHODS, POSITIONS
from pipeline.i18n import Message, Text
from pipeline.idphoto.compliance.measurements import px_to_mm
from pipeline.idphoto.compliance.thresholds import (
    CENTRE_RANGE,
    CENTRE_TOLERANCE,
    CROWN_MARGIN_TOLERANCE,
    IED_PASS_PX,
    IED_WARN_PX,
    PITCH_PASS_DEG,
    PITCH_TR_DEG,
    PITCH_WARN_DEG,
    PLACEMENT_TOLERANCE,
    ROLL_PASS_DEG,
    ROLL_WARN_DEG,
    SECOND_FACE_TINY_AREA_RATIO,
    SOURCE_ICAO_9303,
    SOURCE_OFIQ_SINGLE_FACE,
    SOURCE_TR_T8,
    SOURCE_TR_T9,
    YAW_PASS_DEG,
    YAW_WARN_DEG,
)
from pipeline.idphoto.compliance.verdicts import (
    SEVERITY,
    CheckResult,
    Status,
    grade_at_least,
    grade_at_most,
    grade_in_range,
    make_result,
    not_measured,
    range_text,
    spec_source,
)
from pipeline.idphoto.specs import IdPhotoSpec

# An estimate whose error could not be measured here is taken to be this far off (% of the
# head height): the 5-point chin's measured worst case.
UNMEASURED_ESTIMATE_ERROR_PCT = 6.0


def check_single_face(faces: Sequence[Face]) -> CheckResult:
    """Only the applicant may be in the photo [9303]; the ratio is OFIQ's raw value."""
    threshold = Message("check.single_face.threshold", {"pct": SECOND_FACE_TINY_AREA_RATIO * 100})
    if not faces:
        return make_result("single_face", Message("check.single_face.none"), threshold, SOURCE_ICAO_9303, "fail",
                           Message("check.single_face.advice_none"), 0.0)
    if len(faces) == 1:
        return make_result("single_face", Message("check.single_face.one"), threshold, SOURCE_ICAO_9303, "pass", "",
                           0.0)
    areas = sorted((face.area for face in faces), reverse=True)
    second_ratio = areas[1] / areas[0] if areas[0] > 0 else 1.0
    measured = Message("check.single_face.many", {"count": len(faces), "pct": second_ratio * 100})
    if second_ratio < SECOND_FACE_TINY_AREA_RATIO:
        return make_result("single_face", measured, threshold, f"{SOURCE_ICAO_9303}; {SOURCE_OFIQ_SINGLE_FACE}", "warn",
                           Message("check.single_face.advice_small"), second_ratio)
    return make_result("single_face", measured, threshold, f"{SOURCE_ICAO_9303}; {SOURCE_OFIQ_SINGLE_FACE}", "fail",
                       Message("check.single_face.advice_others"), second_ratio)


def check_head_height(head: HeadGeometry, spec: IdPhotoSpec, height_px: int, dpi: int) -> CheckResult:
    """Chin to crown as a share of the height (and in mm where the document gives mm).

    With an estimated chin or crown (no dense landmarks, or the matte did not show the top of
    the head) the verdict is capped at a warning: a guess from average proportions can be 6 %
    off (15 % for the crown), too much to pass or reject a photo on."""
    ratio = head.head_height / height_px
    millimetres = px_to_mm(head.head_height, dpi)
    allowed = spec.head_ratio_range()
    error = _estimate_error(head, "chin", "crown")
    status, direction = _grade(ratio, allowed, PLACEMENT_TOLERANCE, error * ratio, bool(error))
    if spec.head_height_mm:
        tolerance_mm = PLACEMENT_TOLERANCE * spec.size_mm[1]
        status_mm, direction_mm = _grade(millimetres, spec.head_height_mm, tolerance_mm, error * millimetres,
                                         bool(error))
        if SEVERITY[status_mm] > SEVERITY[status]:
            status, direction = status_mm, direction_mm
        threshold: Text = _document_limit(range_text(spec.head_height_mm, "mm"), spec)
        source: Text = spec_source(spec)
    elif spec.head_height_ratio:
        threshold, source = _document_limit(_of_height(allowed), spec), spec_source(spec)
    else:
        threshold = Message("check.limit.icao_default", {"limit": _of_height(allowed)})
        source = SOURCE_ICAO_9303
    measured = _measured_mm(millimetres, ratio, head, "chin", "crown")
    if direction == 0:
        advice = _estimated_advice(head)
    else:
        advice = Message("check.head_height.advice_small" if direction < 0 else "check.head_height.advice_large")
    return make_result("head_height", measured, threshold, source, status, advice, ratio)


def check_eye_line(head: HeadGeometry, spec: IdPhotoSpec, height_px: int, dpi: int) -> CheckResult:
    """Eye midpoint height from the bottom edge, as a share of the height (and mm if stated)."""
    from_bottom = height_px - head.eye_y
    ratio = from_bottom / height_px
    millimetres = px_to_mm(from_bottom, dpi)
    allowed = spec.eye_ratio_range()
    slack = _estimate_error(head, "eyes") * head.head_height / height_px  # the error is a share of the head
    status, direction = _grade(ratio, allowed, PLACEMENT_TOLERANCE, slack, bool(slack))
    if spec.eye_line_mm:
        status_mm, direction_mm = _grade(millimetres, spec.eye_line_mm, PLACEMENT_TOLERANCE * spec.size_mm[1],
                                         slack * spec.size_mm[1], bool(slack))
        if SEVERITY[status_mm] > SEVERITY[status]:
            status, direction = status_mm, direction_mm
        limit: Text = Message("check.eye_line.mm_from_bottom", {"range": range_text(spec.eye_line_mm, "mm")})
        threshold, source = Message("check.limit.document", {"limit": limit}), spec_source(spec)
    elif spec.eye_line_ratio:
        limit = Message("check.eye_line.from_bottom", {"range": range_text(allowed, "%", 100)})
        threshold, source = Message("check.limit.document", {"limit": limit}), spec_source(spec)
    else:
        limit = Message("check.eye_line.from_bottom", {"range": range_text(allowed, "%", 100)})
        threshold, source = Message("check.limit.icao_default", {"limit": limit}), SOURCE_TR_T9
    advice = (Message("check.eye_line.advice_low") if direction < 0 else
              Message("check.eye_line.advice_high") if direction > 0 else ESTIMATED_ADVICE)
    measured = _measured_mm(millimetres, ratio, head, "eyes")
    return make_result("eye_line", measured, threshold, source, status, advice, ratio)


def _of_height(allowed: tuple[float, float]) -> Message:
    """'70-80 % of height'."""
    return Message("check.limit.of_height", {"range": range_text(allowed, "%", 100)})


def _document_limit(limit: Text, spec: IdPhotoSpec) -> Message:
    """'<limit> (document)', naming 'chin to the top of the head, hair excluded' for documents
    that measure without hair."""
    key = "check.limit.document_no_hair" if spec.head_top == HEAD_TOP_NO_HAIR else "check.limit.document"
    return Message(key, {"limit": limit})


def _measured_mm(millimetres: float, ratio: float, head: HeadGeometry, *positions: str) -> Message:
    """'31.4 mm (69.8 % of height)', and how the estimated positions were found, if any."""
    measured = Message("check.measured.mm_of_height", {"mm": millimetres, "pct": ratio * 100})
    guessed = [position for position in positions if head.is_estimated(position)]
    if not guessed:
        return measured
    items = [Message("check.estimated.item", {"position": POSITION_NAMES[position],
                                              "method": METHODS[head.methods[position]].label})
             for position in guessed]
    how = items[0] if len(items) == 1 else Message("check.estimated.pair", {"first": items[0], "second": items[1]})
    return Message("check.measured.estimated", {"measured": measured, "how": how})


def _estimate_error(head: HeadGeometry, *positions: str) -> float:
    """Summed expected error (a share of the head height) of the positions that are only
    estimated; 0 when every one was measured."""
    total = 0.0
    for position in positions:
        if head.is_estimated(position):
            error = EXPECTED_ERROR_PCT.get((position, head.methods[position]))
            total += (error if error is not None else UNMEASURED_ESTIMATE_ERROR_PCT) / 100
    return total


def _grade(value: float, allowed: tuple[float, float], tolerance: float, slack: float, estimated: bool
           ) -> tuple[Status, int]:
    """``grade_in_range``, except that a value resting on an estimate never passes, and fails
    only when it misses the range by more than the estimate's own error could explain."""
    status, direction = grade_in_range(value, allowed, tolerance + slack)
    return ("warn" if estimated and status == "pass" else status), direction


# A head position's name in the report ("check.position.<name>").
POSITION_NAMES: dict[str, Message] = {position: Message(f"check.position.{position}") for position in POSITIONS}
ESTIMATED_ADVICE = Message("check.advice.estimated")
CROWN_ESTIMATED_ADVICE = Message("check.advice.crown_estimated")
NO_HAIR_ADVICE = Message("check.advice.no_hair")


def _estimated_advice(head: HeadGeometry) -> Message:
    if head.is_estimated("crown"):
        return NO_HAIR_ADVICE if head.head_top == HEAD_TOP_NO_HAIR else CROWN_ESTIMATED_ADVICE
    return ESTIMATED_ADVICE


def check_crown_margin(head: HeadGeometry, spec: IdPhotoSpec, height_px: int, dpi: int) -> CheckResult | None:
    """Space between the top of the head and the top edge, where the document states one."""
    allowed = spec.crown_margin_ratio_range()
    if allowed is None or spec.crown_margin_mm is None:
        return None
    ratio = head.crown_y / height_px
    millimetres = px_to_mm(head.crown_y, dpi)
    slack = _estimate_error(head, "crown") * head.head_height / height_px
    status, direction = _grade(ratio, allowed, CROWN_MARGIN_TOLERANCE, slack, bool(slack))
    measured = _measured_mm(millimetres, ratio, head, "crown")
    advice = (Message("check.crown_margin.advice_little") if direction < 0 else
              Message("check.crown_margin.advice_much") if direction > 0 else _estimated_advice(head))
    return make_result("crown_margin", measured,
                       Message("check.limit.document", {"limit": range_text(spec.crown_margin_mm, "mm")}),
                       spec_source(spec), status, advice, ratio)


def check_face_centring(head: HeadGeometry, width_px: int) -> CheckResult:
    """Eye midpoint 45-55 % of the width from the left [TR T9]."""
    ratio = head.axis_x / width_px
    status, _ = grade_in_range(ratio, CENTRE_RANGE, CENTRE_TOLERANCE)
    return make_result("face_centring", Message("check.face_centring.measured", {"pct": ratio * 100}),
                       Message("check.face_centring.threshold", {"range": range_text(CENTRE_RANGE, "%", 100)}),
                       SOURCE_TR_T9, status, Message("check.face_centring.advice"), ratio)


def check_roll(head: HeadGeometry) -> CheckResult:
    """Eye line level: |roll| <= 5 deg best practice, <= 8 deg required [TR T8]."""
    return _pose_angle("roll", Message("check.angle", {"deg": head.roll_deg}), head.roll_deg, ROLL_PASS_DEG,
                       ROLL_WARN_DEG, Message("check.roll.advice"))


def check_yaw(head: HeadGeometry) -> CheckResult:
    """Frontal pose: |yaw| <= 5 deg [TR T8], 5-10 deg warns; measured on the 3-D mesh when
    there is one, else estimated from the nose position."""
    key = "check.yaw.measured_mesh" if head.pitch_deg is not None else "check.yaw.measured_nose"
    return _pose_angle("yaw", Message(key, {"deg": head.yaw_deg}), head.yaw_deg, YAW_PASS_DEG, YAW_WARN_DEG,
                       Message("check.yaw.advice"))


def _pose_angle(check: str, measured: Message, degrees: float, pass_deg: float, warn_deg: float, advice: Message
                ) -> CheckResult:
    """A head angle graded by its size, whichever way the head turns."""
    threshold = Message("check.angle_limit", {"pass_deg": pass_deg, "warn_deg": warn_deg})
    return make_result(check, measured, threshold, SOURCE_TR_T8, grade_at_most(abs(degrees), pass_deg, warn_deg),
                       advice, degrees)


def check_inter_eye_distance(head: HeadGeometry, fixed_pixels: bool = False) -> CheckResult:
    """Enough pixels on the face: IED >= 90 px required, >= 120 px best practice [TR T8].

    A document whose pixel size is fixed (a 200x200 px upload, or a 2x2 in print at its 300
    dpi: about 85 px between the eyes) often cannot reach that at all; nothing in the photo
    can fix it, and a warning on every such photo would only teach people to ignore
    warnings: there the number is shown for information and the check passes. Only a print
    resolution the user chose can warn or fail."""
    distance = head.eye_distance
    status = grade_at_least(distance, IED_PASS_PX, IED_WARN_PX)
    measured = Message("check.inter_eye_distance.measured", {"px": distance})
    if fixed_pixels and status != "pass":
        status = "pass"
        measured = Message("check.inter_eye_distance.measured_fixed", {"px": distance})
    return make_result("inter_eye_distance", measured,
                       Message("check.inter_eye_distance.threshold", {"pass_px": IED_PASS_PX, "warn_px": IED_WARN_PX}),
                       SOURCE_TR_T8, status, Message("check.inter_eye_distance.advice"), distance)


def check_pitch(head: HeadGeometry, unavailable: Text) -> CheckResult:
    """Head neither raised nor lowered: |pitch| <= 5 deg [TR T8], widened by the 3-D mesh's
    own uncertainty (see PITCH_*). Only the mesh measures pitch; without it the check is not
    assessed, and ``unavailable`` says why in plain words."""
    threshold = Message("check.pitch.threshold", {"pass_deg": PITCH_PASS_DEG, "tr_deg": PITCH_TR_DEG,
                                                  "uncertainty_deg": PITCH_PASS_DEG - PITCH_TR_DEG,
                                                  "warn_deg": PITCH_WARN_DEG})
    if head.pitch_deg is None:
        return not_measured("pitch", threshold, SOURCE_TR_T8, unavailable)
    pitch = head.pitch_deg
    down = pitch > 0
    advice = Message("check.pitch.advice_down" if down else "check.pitch.advice_up")
    measured = Message("check.pitch.measured_down" if down else "check.pitch.measured_up", {"deg": pitch})
    return make_result("pitch", measured, threshold, SOURCE_TR_T8,
                       grade_at_most(abs(pitch), PITCH_PASS_DEG, PITCH_WARN_DEG), advice, pitch)
