"""Checks on the face and its placement: one face, head height, eye line, space above the
head, centring, pose and pixels between the eyes.

These rest on the head geometry measured from the landmarks and the matte
(``faces.geometry.measure_head``) and on the document's placement rules.
"""
from __future__ import annotations

from collections.abc import Sequence

from pipeline.faces.detect import Face
from pipeline.faces.geometry import HEAD_TOP_NO_HAIR, HeadGeometry
from pipeline.faces.methods import EXPECTED_ERROR_PCT, METHODS
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
    percent,
    range_text,
    spec_source,
)
from pipeline.idphoto.specs import IdPhotoSpec

# An estimate whose error could not be measured here is taken to be this far off (% of the
# head height): the 5-point chin's measured worst case.
UNMEASURED_ESTIMATE_ERROR_PCT = 6.0


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
        threshold = f"{range_text(spec.head_height_mm, 'mm')}{_head_top_words(spec)} (document)"
        source = spec_source(spec)
    elif spec.head_height_ratio:
        threshold = f"{range_text(allowed, '%', 100)} of height{_head_top_words(spec)} (document)"
        source = spec_source(spec)
    else:
        threshold = f"{range_text(allowed, '%', 100)} of height (ICAO default)"
        source = SOURCE_ICAO_9303
    measured = f"{millimetres:.1f} mm ({percent(ratio)} of height)" + _estimated_note(head, "chin", "crown")
    if direction == 0:
        advice = _estimated_advice(head)
    elif direction < 0:
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
    slack = _estimate_error(head, "eyes") * head.head_height / height_px  # the error is a share of the head
    status, direction = _grade(ratio, allowed, PLACEMENT_TOLERANCE, slack, bool(slack))
    if spec.eye_line_mm:
        status_mm, direction_mm = _grade(millimetres, spec.eye_line_mm, PLACEMENT_TOLERANCE * spec.size_mm[1],
                                         slack * spec.size_mm[1], bool(slack))
        if SEVERITY[status_mm] > SEVERITY[status]:
            status, direction = status_mm, direction_mm
        threshold, source = f"{range_text(spec.eye_line_mm, 'mm')} from the bottom (document)", spec_source(spec)
    elif spec.eye_line_ratio:
        threshold, source = f"{range_text(allowed, '%', 100)} of height from the bottom (document)", spec_source(spec)
    else:
        threshold, source = f"{range_text(allowed, '%', 100)} of height from the bottom (ICAO default)", SOURCE_TR_T9
    advice = ("Your eyes are too low in the photo: retake with more room below your chin (shoulders in view)"
              if direction < 0 else
              "Your eyes are too high in the photo: retake with more room above your head"
              if direction > 0 else ESTIMATED_ADVICE)
    measured = f"{millimetres:.1f} mm ({percent(ratio)} of height)" + _estimated_note(head, "eyes")
    return make_result("eye_line", measured, threshold, source, status, advice, ratio)


def _head_top_words(spec: IdPhotoSpec) -> str:
    """', chin to the top of the head, hair excluded' for documents that measure without hair."""
    return f", {spec.head_top_label}" if spec.head_top == HEAD_TOP_NO_HAIR else ""


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


def _estimated_note(head: HeadGeometry, *positions: str) -> str:
    """' - estimated (...)' saying how the guessed positions were found, or '' when all were measured."""
    guessed = [position for position in positions if head.is_estimated(position)]
    if not guessed:
        return ""
    words = {"eyes": "eye centres", "chin": "chin", "crown": "top of the head"}
    how = "; ".join(f"{words[position]}: {METHODS[head.methods[position]].label}" for position in guessed)
    return (f" - estimated ({how}), so this check cannot pass; it fails only when the miss is larger than "
            "the estimate's error")


ESTIMATED_ADVICE = ("This could only be estimated on this photo: compare it with the document's template before "
                    "you print, or retake with your whole face sharp, well lit and facing the camera")
CROWN_ESTIMATED_ADVICE = ("The top of your head could not be seen, so it was estimated: retake with your whole head "
                          "and some space above it in the photo")


NO_HAIR_ADVICE = ("This document measures the head without the hair, which no photo shows, so its top was "
                  "estimated: compare the photo with the document's template before you print")


def _estimated_advice(head: HeadGeometry) -> str:
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
    measured = f"{millimetres:.1f} mm ({percent(ratio)} of height)" + _estimated_note(head, "crown")
    advice = ("There is too little space above your head: retake with more room above your head"
              if direction < 0 else
              "There is too much space above your head: retake closer to the camera"
              if direction > 0 else _estimated_advice(head))
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
    """Frontal pose: |yaw| <= 5 deg [TR T8], 5-10 deg warns; measured on the 3-D mesh when
    there is one, else estimated from the nose position."""
    note = " (3-D face landmarks)" if head.pitch_deg is not None else " (estimate from the nose position)"
    return _pose_angle("yaw", head.yaw_deg, note, YAW_PASS_DEG, YAW_WARN_DEG,
                       "Your head is turned to one side: look straight into the camera")


def _pose_angle(check: str, degrees: float, note: str, pass_deg: float, warn_deg: float, advice: str) -> CheckResult:
    """A head angle graded by its size, whichever way the head turns."""
    return make_result(check, f"{degrees:+.1f} deg{note}", f"<= {pass_deg:g} deg (<= {warn_deg:g} deg: warning)",
                       SOURCE_TR_T8, grade_at_most(abs(degrees), pass_deg, warn_deg), advice, degrees)


def check_inter_eye_distance(head: HeadGeometry, fixed_pixels: bool = False) -> CheckResult:
    """Enough pixels on the face: IED >= 90 px required, >= 120 px best practice [TR T8].

    A document whose pixel size is fixed (a 200x200 px upload, or a 2x2 in print at its 300
    dpi: about 85 px between the eyes) often cannot reach that at all; nothing in the photo
    can fix it, and a warning on every such photo would only teach people to ignore
    warnings: there the number is shown for information and the check passes. Only a print
    resolution the user chose can warn or fail."""
    distance = head.eye_distance
    status = grade_at_least(distance, IED_PASS_PX, IED_WARN_PX)
    advice = ("The print resolution chosen leaves too few pixels between the eyes: make it again at the "
              "document's own resolution or a higher one")
    measured = f"{distance:.0f} px"
    if fixed_pixels and status != "pass":
        status = "pass"
        measured += " (set by the document's size and resolution, not by your photo; for information)"
    return make_result("inter_eye_distance", measured,
                       f">= {IED_PASS_PX:g} px (>= {IED_WARN_PX:g} px: warning)", SOURCE_TR_T8, status, advice,
                       distance)


def check_pitch(head: HeadGeometry, unavailable: str) -> CheckResult:
    """Head neither raised nor lowered: |pitch| <= 5 deg [TR T8], widened by the 3-D mesh's
    own uncertainty (see PITCH_*). Only the mesh measures pitch; without it the check is not
    assessed, and ``unavailable`` says why in plain words."""
    threshold = (f"<= {PITCH_PASS_DEG:g} deg (TR {PITCH_TR_DEG:g} deg plus the measurement's "
                 f"{PITCH_PASS_DEG - PITCH_TR_DEG:g} deg uncertainty; <= {PITCH_WARN_DEG:g} deg: warning)")
    if head.pitch_deg is None:
        return not_measured("pitch", threshold, SOURCE_TR_T8, unavailable)
    pitch = head.pitch_deg
    advice = ("Your head is tilted down: raise your chin a little and look straight into the camera"
              if pitch > 0 else
              "Your head is tilted back: lower your chin a little and look straight into the camera")
    return make_result("pitch", f"{pitch:+.1f} deg ({'down' if pitch > 0 else 'up'}; 3-D face landmarks)", threshold,
                       SOURCE_TR_T8, grade_at_most(abs(pitch), PITCH_PASS_DEG, PITCH_WARN_DEG), advice, pitch)
