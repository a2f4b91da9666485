"""Checks on the face and its placement: one face, head height, eye line, space above the
head, centring, pose and pixels between the eyes.

These rest on the head geometry measured from the landmarks and the matte
(``faces.geometry.measure_head``) and on the document's placement rules.
"""
from __future__ import annotations

from collections.abc import Sequence

from pipeline.faces.detect import Face
from pipeline.faces.geometry import HeadGeometry
from pipeline.idphoto.compliance.measurements import px_to_mm
from pipeline.idphoto.compliance.thresholds import (
    CENTRE_RANGE,
    CENTRE_TOLERANCE,
    CROWN_MARGIN_TOLERANCE,
    IED_PASS_PX,
    IED_WARN_PX,
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
    cap_status,
    grade_at_least,
    grade_at_most,
    grade_in_range,
    make_result,
    percent,
    range_text,
    spec_source,
)
from pipeline.idphoto.specs import IdPhotoSpec


def check_single_face(faces: Sequence[Face]) -> CheckResult:
    """Only the applicant may be in the photo [9303]; the ratio is OFIQ's raw value."""
    threshold = f"exactly one face (others < {percent(SECOND_FACE_TINY_AREA_RATIO, 0)} of its size: warning)"
    if not faces:
        return make_result("single_face", "no face found", threshold, SOURCE_ICAO_9303, "fail",
                           "No face was found: retake facing the camera, with your whole face visible and well lit",
                           0.0)
    if len(faces) == 1:
        return make_result("single_face", "1 face", threshold, SOURCE_ICAO_9303, "pass", "", 0.0)
    areas = sorted((face.area for face in faces), reverse=True)
    second_ratio = areas[1] / areas[0] if areas[0] > 0 else 1.0
    measured = f"{len(faces)} faces (second largest {percent(second_ratio, 0)} of the largest)"
    if second_ratio < SECOND_FACE_TINY_AREA_RATIO:
        return make_result("single_face", measured, threshold, f"{SOURCE_ICAO_9303}; {SOURCE_OFIQ_SINGLE_FACE}", "warn",
                           "A small second face is visible (a poster or a person behind you?): "
                           "retake in front of a plain wall with nobody else in view", second_ratio)
    return make_result("single_face", measured, threshold, f"{SOURCE_ICAO_9303}; {SOURCE_OFIQ_SINGLE_FACE}", "fail",
                       "Only you may be in the photo: retake with no other people or pictures of faces in view",
                       second_ratio)


def check_head_height(head: HeadGeometry, spec: IdPhotoSpec, height_px: int, dpi: int) -> CheckResult:
    """Chin to crown as a share of the height (and in mm where the document gives mm).

    With an estimated crown (the matte did not show the top of the head) the verdict is
    capped at a warning: the estimate is not good enough to reject a photo on."""
    ratio = head.head_height / height_px
    millimetres = px_to_mm(head.head_height, dpi)
    allowed = spec.head_ratio_range()
    status, direction = grade_in_range(ratio, allowed, PLACEMENT_TOLERANCE)
    if spec.head_height_mm:
        tolerance_mm = PLACEMENT_TOLERANCE * spec.size_mm[1]
        status_mm, direction_mm = grade_in_range(millimetres, spec.head_height_mm, tolerance_mm)
        if SEVERITY[status_mm] > SEVERITY[status]:
            status, direction = status_mm, direction_mm
        threshold = f"{range_text(spec.head_height_mm, 'mm')} (document)"
        source = spec_source(spec)
    elif spec.head_height_ratio:
        threshold = f"{range_text(allowed, '%', 100)} of height (document)"
        source = spec_source(spec)
    else:
        threshold = f"{range_text(allowed, '%', 100)} of height (ICAO default)"
        source = SOURCE_ICAO_9303
    measured = f"{millimetres:.1f} mm ({percent(ratio)} of height)"
    if not head.crown_from_matte:
        measured += " - crown estimated, the top of the head is not visible in the matte"
        status = cap_status(status, "warn")
    if direction < 0:
        advice = "Your head is too small in the frame: retake closer to the camera, or use a higher-resolution photo"
    else:
        advice = ("Your head is too large in the frame: retake from further back, "
                  "with your whole head and the top of your shoulders in view")
    return make_result("head_height", measured, threshold, source, status, advice, ratio)


def check_eye_line(head: HeadGeometry, spec: IdPhotoSpec, height_px: int, dpi: int) -> CheckResult:
    """Eye midpoint height from the bottom edge, as a share of the height (and mm if stated)."""
    from_bottom = height_px - head.eye_y
    ratio = from_bottom / height_px
    millimetres = px_to_mm(from_bottom, dpi)
    allowed = spec.eye_ratio_range()
    status, direction = grade_in_range(ratio, allowed, PLACEMENT_TOLERANCE)
    if spec.eye_line_mm:
        status_mm, direction_mm = grade_in_range(millimetres, spec.eye_line_mm, PLACEMENT_TOLERANCE * spec.size_mm[1])
        if SEVERITY[status_mm] > SEVERITY[status]:
            status, direction = status_mm, direction_mm
        threshold, source = f"{range_text(spec.eye_line_mm, 'mm')} from the bottom (document)", spec_source(spec)
    elif spec.eye_line_ratio:
        threshold, source = f"{range_text(allowed, '%', 100)} of height from the bottom (document)", spec_source(spec)
    else:
        threshold, source = f"{range_text(allowed, '%', 100)} of height from the bottom (ICAO default)", SOURCE_TR_T9
    advice = ("Your eyes are too low in the photo: retake with more room below your chin (shoulders in view)"
              if direction < 0 else
              "Your eyes are too high in the photo: retake with more room above your head")
    return make_result("eye_line", f"{millimetres:.1f} mm ({percent(ratio)} of height)", threshold, source, status,
                       advice, ratio)


def check_crown_margin(head: HeadGeometry, spec: IdPhotoSpec, height_px: int, dpi: int) -> CheckResult | None:
    """Space between the top of the head and the top edge, where the document states one."""
    allowed = spec.crown_margin_ratio_range()
    if allowed is None or spec.crown_margin_mm is None:
        return None
    ratio = head.crown_y / height_px
    millimetres = px_to_mm(head.crown_y, dpi)
    status, direction = grade_in_range(ratio, allowed, CROWN_MARGIN_TOLERANCE)
    measured = f"{millimetres:.1f} mm ({percent(ratio)} of height)"
    if not head.crown_from_matte:
        measured += " - crown estimated"
        status = cap_status(status, "warn")
    advice = ("There is too little space above your head: retake with more room above your head"
              if direction < 0 else
              "There is too much space above your head: retake closer to the camera")
    return make_result("crown_margin", measured, f"{range_text(spec.crown_margin_mm, 'mm')} (document)",
                       spec_source(spec), status, advice, ratio)


def check_face_centring(head: HeadGeometry, width_px: int) -> CheckResult:
    """Eye midpoint 45-55 % of the width from the left [TR T9]."""
    ratio = head.axis_x / width_px
    status, _ = grade_in_range(ratio, CENTRE_RANGE, CENTRE_TOLERANCE)
    return make_result("face_centring", f"eye midpoint at {percent(ratio)} of width",
                       f"{range_text(CENTRE_RANGE, '%', 100)}", SOURCE_TR_T9, status,
                       "Your face is off-centre: "
                       "retake with your face in the middle of the frame and room on both sides",
                       ratio)


def check_roll(head: HeadGeometry) -> CheckResult:
    """Eye line level: |roll| <= 5 deg best practice, <= 8 deg required [TR T8]."""
    return _pose_angle("roll", head.roll_deg, "", ROLL_PASS_DEG, ROLL_WARN_DEG,
                       "Your head is tilted: keep your head straight with both eyes level")


def check_yaw(head: HeadGeometry) -> CheckResult:
    """Frontal pose: |yaw| <= 5 deg [TR T8]; the 5-point value is an estimate, so 5-10 deg warns."""
    return _pose_angle("yaw", head.yaw_deg, " (estimate from the nose position)", YAW_PASS_DEG, YAW_WARN_DEG,
                       "Your head is turned to one side: look straight into the camera")


def _pose_angle(check: str, degrees: float, note: str, pass_deg: float, warn_deg: float, advice: str) -> CheckResult:
    """A head angle graded by its size, whichever way the head turns."""
    return make_result(check, f"{degrees:+.1f} deg{note}", f"<= {pass_deg:g} deg (<= {warn_deg:g} deg: warning)",
                       SOURCE_TR_T8, grade_at_most(abs(degrees), pass_deg, warn_deg), advice, degrees)


def check_inter_eye_distance(head: HeadGeometry, fixed_pixels: bool = False) -> CheckResult:
    """Enough pixels on the face: IED >= 90 px required, >= 120 px best practice [TR T8].

    A document with a fixed, small pixel size (a 200x200 px upload) cannot reach that at
    all; nothing in the photo can fix it, so there it only warns and says why."""
    distance = head.eye_distance
    status = grade_at_least(distance, IED_PASS_PX, IED_WARN_PX)
    advice = "Your face has too few pixels: use a higher-resolution photo or a higher dpi"
    if fixed_pixels and status != "pass":
        status = "warn"
        advice = "The document's fixed pixel size leaves few pixels between the eyes; nothing to change in your photo"
    return make_result("inter_eye_distance", f"{distance:.0f} px",
                       f">= {IED_PASS_PX:g} px (>= {IED_WARN_PX:g} px: warning)", SOURCE_TR_T8, status, advice,
                       distance)
