"""Compliance report on synthetic portraits whose truth we know, plus the real astronaut face.

A BASE portrait passes every check. Each test then breaks exactly one rule (tilted head,
uneven light, busy wall, small head, ...) and asserts that this check, and only this
check, changes its verdict, so every check is shown to be able to fail and to stay quiet
when something else is wrong.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, replace

import cv2
import numpy as np
import pytest

from pipeline.faces.detect import Face
from pipeline.faces.geometry import CHIN_BELOW_MOUTH, measure_head
from pipeline.idphoto.compliance.assessment import assess
from pipeline.idphoto.compliance.measurements import cheek_boxes, face_region_mask
from pipeline.idphoto.compliance.overlay import allowed_bands, draw_overlay
from pipeline.idphoto.compliance.report import ComplianceReport
from pipeline.idphoto.compliance.thresholds import SHARPNESS_PASS
from pipeline.idphoto.specs import IdPhotoSpec

DPI = 650  # big enough that even a head of 40 % of the height has eyes >= 120 px apart
SPEC = IdPhotoSpec(
    id="test_passport", country="Testland", document="Passport", width_mm=35, height_mm=45, dpi=DPI,
    head_height_mm=(32, 36), background_hex="#FFFFFF", max_file_kb=240, source="test",
)
SIZE = SPEC.size_px(DPI)  # (896, 1152)
FILE_BYTES = 230 * 1024  # within 240 KB; compression 13.1:1 on 896 x 1152 px
LIGHT_WALL = (243, 243, 241)
BLUE_WALL = (90, 140, 220)

# Five landmarks of the FFHQ alignment template relative to the eye midpoint, in template
# pixels (eyes 126 apart): left eye, right eye, nose, left and right mouth corner.
TEMPLATE = np.array([[-63, 0], [63, 0], [0, 74], [-56, 131], [56, 131]], dtype=np.float64)
# facegeometry puts the chin CHIN_BELOW_MOUTH eye-to-mouth distances below the mouth
TEMPLATE_EYE_TO_CHIN = (1 + CHIN_BELOW_MOUTH) * 131
CROWN_SHARE = 0.47  # share of the head height above the eyes (hair included)


@dataclass(frozen=True)
class Portrait:
    photo: np.ndarray
    matte: np.ndarray
    face: Face


def smooth_noise(shape: tuple[int, int], grain: int, rng: np.random.Generator) -> np.ndarray:
    """Zero-mean, unit-std noise with structures about ``grain`` pixels wide (skin pores, strands)."""
    small = rng.standard_normal((max(2, shape[0] // grain), max(2, shape[1] // grain))).astype(np.float32)
    field = cv2.resize(small, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)
    return (field - field.mean()) / (field.std() + 1e-6)


def _ellipse_alpha(shape: tuple[int, int], centre: np.ndarray, axes: tuple[float, float]) -> np.ndarray:
    """Anti-aliased filled ellipse as float alpha (sub-pixel placement via cv2's shift)."""
    canvas = np.zeros(shape, np.uint8)
    shift = 4
    cv2.ellipse(canvas, (int(round(centre[0] * 16)), int(round(centre[1] * 16))),
                (int(round(axes[0] * 16)), int(round(axes[1] * 16))), 0, 0, 360, 255, -1, cv2.LINE_AA, shift)
    return canvas.astype(np.float32) / 255.0


def draw_portrait(*, head_share: float = 0.753, eye_from_top: float = 0.439, centre_x: float = 0.5,
                  size: tuple[int, int] = SIZE, wall: tuple[int, int, int] = LIGHT_WALL, seed: int = 0) -> Portrait:
    """A head-and-shoulders portrait: clothes, neck, hair, skin, brows, eyes, nose, mouth.

    ``head_share`` is chin-to-crown over the photo height; ``eye_from_top`` and ``centre_x``
    place the eye midpoint as shares of height and width. Landmarks follow the FFHQ template
    scaled so facegeometry's chin lands on the drawn chin; the matte is the union of the
    person layers."""
    rng = np.random.default_rng(seed)
    width, height = size
    shape = (height, width)
    head = head_share * height
    eye_mid = np.array([centre_x * width, eye_from_top * height])
    crown, chin = eye_mid[1] - CROWN_SHARE * head, eye_mid[1] + (1 - CROWN_SHARE) * head
    scale = (1 - CROWN_SHARE) * head / TEMPLATE_EYE_TO_CHIN
    landmarks = eye_mid + TEMPLATE * scale
    ied = 126 * scale
    cx = eye_mid[0]

    photo = np.empty((height, width, 3), np.float32)
    photo[:] = wall
    matte = np.zeros(shape, np.float32)

    def paint(alpha: np.ndarray, colour: tuple[int, int, int], person: bool = True) -> None:
        nonlocal photo, matte
        photo = photo * (1 - alpha[..., None]) + np.array(colour, np.float32) * alpha[..., None]
        if person:
            matte = np.maximum(matte, alpha)

    paint(_ellipse_alpha(shape, np.array([cx, chin + 0.45 * head]), (0.6 * head, 0.3 * head)), (55, 65, 90))
    neck = np.zeros(shape, np.uint8)
    cv2.rectangle(neck, (int(cx - 0.14 * head), int(chin - 0.15 * head)), (int(cx + 0.14 * head), int(chin + 0.2 * head)),
                  255, -1)
    paint(neck.astype(np.float32) / 255.0, (200, 155, 125))
    paint(_ellipse_alpha(shape, np.array([cx, crown + 0.425 * head]), (0.356 * head, 0.425 * head)), (70, 50, 35))
    skin_top = crown + 0.075 * head
    paint(_ellipse_alpha(shape, np.array([cx, (skin_top + chin) / 2]), (0.3125 * head, (chin - skin_top) / 2)),
          (226, 182, 152))
    # texture on the person (pores, strands), then the features on top
    photo *= (1 + 0.05 * smooth_noise(shape, max(2, int(ied / 40)), rng) * matte)[..., None]
    for eye in landmarks[:2]:
        paint(_ellipse_alpha(shape, eye + [0, -0.3 * ied], (0.26 * ied, 0.055 * ied)), (75, 55, 40), person=False)
        paint(_ellipse_alpha(shape, eye, (0.24 * ied, 0.09 * ied)), (240, 238, 235), person=False)
        paint(_ellipse_alpha(shape, eye, (0.085 * ied, 0.085 * ied)), (85, 60, 40), person=False)
        paint(_ellipse_alpha(shape, eye, (0.035 * ied, 0.035 * ied)), (15, 12, 12), person=False)
    for side in (-1, 1):
        paint(_ellipse_alpha(shape, landmarks[2] + [side * 0.09 * ied, 0.02 * ied], (0.03 * ied, 0.025 * ied)),
              (120, 75, 60), person=False)
    mouth_mid = (landmarks[3] + landmarks[4]) / 2
    paint(_ellipse_alpha(shape, mouth_mid, (0.44 * ied, 0.07 * ied)), (175, 90, 90), person=False)
    photo += rng.normal(0, 1.5, photo.shape).astype(np.float32)  # camera noise everywhere
    box = (cx - 0.29 * head, eye_mid[1] - 0.16 * head, cx + 0.29 * head, chin + 0.01 * head)
    face = Face(box=tuple(float(v) for v in box), landmarks=landmarks.astype(np.float32), score=0.99)
    return Portrait(np.clip(photo, 0, 255).astype(np.uint8), np.clip(matte, 0, 1).astype(np.float32), face)


def run(portrait: Portrait, spec: IdPhotoSpec = SPEC, faces: list[Face] | None = None, **kwargs: object
        ) -> ComplianceReport:
    options = {"dpi": DPI, "file_bytes": FILE_BYTES} | kwargs
    return assess(portrait.photo, portrait.matte, [portrait.face] if faces is None else faces, spec,
                  **options)  # type: ignore[arg-type]


def changed(report: ComplianceReport, base: ComplianceReport) -> dict[str, tuple[str, str]]:
    """Checks whose status differs from the base report: id -> (base status, new status)."""
    before, after = base.statuses(), report.statuses()
    assert before.keys() == after.keys()
    return {key: (before[key], after[key]) for key in before if before[key] != after[key]}


def assert_only_fails(report: ComplianceReport, base: ComplianceReport, check_id: str) -> None:
    diff = changed(report, base)
    assert diff == {check_id: (base.check(check_id).status, "fail")}, report.to_text()
    assert str(report.check(check_id).advice)  # a failure always tells the person what to do
    assert report.overall == "fail"


# --- edits that break one rule each ------------------------------------------------------------------------------
def rotated(portrait: Portrait, degrees: float) -> Portrait:
    """The whole photo and the landmarks turned about the eye midpoint (head tilted)."""
    eye_mid = portrait.face.landmarks[:2].mean(axis=0)
    matrix = cv2.getRotationMatrix2D((float(eye_mid[0]), float(eye_mid[1])), degrees, 1.0)
    size = portrait.photo.shape[1::-1]
    photo = cv2.warpAffine(portrait.photo, matrix, size, flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT_101)
    matte = cv2.warpAffine(portrait.matte, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    landmarks = portrait.face.landmarks @ matrix[:, :2].T.astype(np.float32) + matrix[:, 2].astype(np.float32)
    x1, y1, x2, y2 = portrait.face.box
    corners = np.array([[x1, y1], [x2, y1], [x1, y2], [x2, y2]]) @ matrix[:, :2].T + matrix[:, 2]
    box = (*corners.min(axis=0), *corners.max(axis=0))
    face = Face(box=tuple(float(v) for v in box), landmarks=landmarks.astype(np.float32), score=0.99)
    return Portrait(photo, matte, face)


def head_rows(portrait: Portrait) -> np.ndarray:
    """Person pixels from the crown to the chin (the head, not the shoulders)."""
    head = measure_head(portrait.face, portrait.matte)
    rows = np.arange(portrait.photo.shape[0])[:, None]
    return (portrait.matte > 0.5) & (rows >= head.crown_y - 2) & (rows <= head.chin_y + 2)


def edited(portrait: Portrait, photo: np.ndarray) -> Portrait:
    return replace(portrait, photo=np.clip(photo, 0, 255).astype(np.uint8))


@pytest.fixture(scope="module")
def base() -> Portrait:
    return draw_portrait()


@pytest.fixture(scope="module")
def base_report(base: Portrait) -> ComplianceReport:
    return run(base)


# --- the base case ----------------------------------------------------------------------------------------------
EXPECTED_IDS = [
    "single_face", "head_height", "eye_line", "face_centring", "roll", "yaw", "pitch", "inter_eye_distance",
    "background_uniformity", "background_colour", "exposure", "sharpness", "illumination_balance", "eyes_open",
    "mouth_closed", "gaze", "glasses", "head_covering", "resolution", "file_size", "compression",
]
# A drawn face has no dense mesh or parsing: these checks are not assessed on it (see
# tests/idphoto/test_face_checks.py for them on real faces).
NEEDS_FACE_DETAIL = ("pitch", "eyes_open", "mouth_closed", "gaze", "glasses", "head_covering")
# ... and its head is measured from the detector's five points only: the chin is a
# proportional estimate and the eyes are coarse, so these never pass on it (issue 14; the
# same checks pass on real faces measured densely: tests/idphoto/test_measured_placement.py).
ESTIMATED_ON_A_DRAWING = ("head_height", "eye_line")


def base_status(check_id: str) -> str:
    if check_id in NEEDS_FACE_DETAIL:
        return "not_assessed"
    return "warn" if check_id in ESTIMATED_ON_A_DRAWING else "pass"


def test_base_portrait_passes_every_check(base_report):
    assert [check.id for check in base_report.checks] == EXPECTED_IDS
    expected = {check_id: base_status(check_id) for check_id in EXPECTED_IDS}
    assert base_report.statuses() == expected, base_report.to_text()
    assert base_report.overall == "warn"
    for check_id in ESTIMATED_ON_A_DRAWING:  # inside the range, but only estimated: says so, and what to do
        assert "estimated" in str(base_report.check(check_id).measured)
        assert "template" in str(base_report.check(check_id).advice)
    assert all(check.advice == "" for check in base_report.checks if check.status == "pass")


def test_base_measurements_match_the_drawing(base, base_report):
    """The numbers are the drawn truth: head 75.3 % of 45 mm, eyes 56.1 % from the bottom, centred."""
    assert base_report.check("head_height").value == pytest.approx(0.753, abs=0.005)
    millimetres = float(str(base_report.check("head_height").measured).split(" mm")[0])
    assert millimetres == pytest.approx(0.753 * 45, abs=0.2)
    assert base_report.check("eye_line").value == pytest.approx(0.561, abs=0.003)
    assert base_report.check("face_centring").value == pytest.approx(0.5, abs=0.002)
    assert abs(base_report.check("roll").value) < 0.1 and abs(base_report.check("yaw").value) < 0.1
    assert base_report.check("inter_eye_distance").value == pytest.approx(base.face.eye_distance, rel=1e-6)
    assert base_report.check("illumination_balance").value > 0.95
    assert base_report.check("background_colour").value < 4


# --- one broken rule each ---------------------------------------------------------------------------------------
def test_tilted_head_fails_roll_only(base, base_report):
    report = run(rotated(base, 15))
    assert_only_fails(report, base_report, "roll")
    assert abs(report.check("roll").value) == pytest.approx(15, abs=0.1)
    assert "tilted" in str(report.check("roll").advice)


def test_slight_tilt_only_warns(base, base_report):
    report = run(rotated(base, 6.5))
    assert changed(report, base_report) == {"roll": ("pass", "warn")}


def test_turned_head_fails_yaw_only(base, base_report):
    landmarks = base.face.landmarks.copy()
    landmarks[2, 0] += 0.15 * base.face.eye_distance  # nose towards the image right
    report = run(base, faces=[replace(base.face, landmarks=landmarks)])
    assert_only_fails(report, base_report, "yaw")


def test_darker_right_half_fails_illumination_balance_only(base, base_report):
    photo = base.photo.astype(np.float32)
    columns = np.arange(photo.shape[1])[None, :]
    right_half = head_rows(base) & (columns > base.face.landmarks[:2, 0].mean())
    photo[right_half] *= 0.4
    report = run(edited(base, photo))
    assert_only_fails(report, base_report, "illumination_balance")
    assert report.check("illumination_balance").value == pytest.approx(0.4, abs=0.05)
    assert "right cheek" in str(report.check("illumination_balance").measured)
    assert "unevenly" in str(report.check("illumination_balance").advice)


def test_busy_background_fails_background_uniformity_only(base, base_report):
    rng = np.random.default_rng(1)
    photo = base.photo.astype(np.float32)
    wall = base.matte < 0.5
    photo[wall] += rng.normal(0, 40, (int(wall.sum()), 3))
    report = run(edited(base, photo))
    assert_only_fails(report, base_report, "background_uniformity")
    assert "plain wall" in str(report.check("background_uniformity").advice)


def test_tiny_head_fails_head_height_and_says_move_closer(base_report):
    report = run(draw_portrait(head_share=0.40))
    assert_only_fails(report, base_report, "head_height")
    assert report.check("head_height").value == pytest.approx(0.40, abs=0.01)
    assert "closer" in str(report.check("head_height").advice)


def test_head_too_big_fails_head_height_and_says_move_back(base_report):
    report = run(draw_portrait(head_share=0.90))
    assert_only_fails(report, base_report, "head_height")
    assert "further back" in str(report.check("head_height").advice)


def test_head_just_outside_the_range_only_warns(base_report):
    report = run(draw_portrait(head_share=0.815))  # 36.7 mm: 0.7 mm over 36 mm, inside the 2 % band
    assert changed(report, base_report) == {}  # a warning, as on the base, but now saying why
    assert report.check("head_height").status == "warn"
    assert "further back" in str(report.check("head_height").advice)


def test_eyes_too_low_fail_eye_line_only(base_report):
    report = run(draw_portrait(eye_from_top=0.58))  # eyes 42 % from the bottom; ICAO default 50-70 %
    assert_only_fails(report, base_report, "eye_line")
    assert "too low" in str(report.check("eye_line").advice)


def test_off_centre_face_fails_centring_only(base_report):
    report = run(draw_portrait(centre_x=0.35))
    assert_only_fails(report, base_report, "face_centring")
    assert report.check("face_centring").value == pytest.approx(0.35, abs=0.002)


def test_two_faces_fail_single_face_only(base, base_report):
    other = Face(box=(20.0, 20.0, 20.0 + 0.9 * base.face.width, 20.0 + 0.9 * base.face.height),
                 landmarks=base.face.landmarks * 0.5, score=0.95)
    report = run(base, faces=[other, base.face])  # the applicant is the largest, whatever the order
    assert_only_fails(report, base_report, "single_face")
    assert report.check("single_face").value == pytest.approx(0.81, abs=0.01)


def test_a_tiny_second_face_only_warns(base, base_report):
    other = Face(box=(10.0, 10.0, 70.0, 90.0), landmarks=base.face.landmarks * 0.05, score=0.9)
    report = run(base, faces=[base.face, other])
    assert changed(report, base_report) == {"single_face": ("pass", "warn")}


def test_blurred_face_fails_sharpness_only(base, base_report):
    sigma = 3 * base.face.width / 200  # sigma 3 at a face width of 200 px
    report = run(edited(base, cv2.GaussianBlur(base.photo, (0, 0), sigma)))
    assert_only_fails(report, base_report, "sharpness")
    assert "blurred" in str(report.check("sharpness").advice)


def test_over_exposed_face_fails_exposure_only(base, base_report):
    """A flash hot spot: the middle of the face burnt out to white, the rest still has detail."""
    photo = base.photo.astype(np.float32)
    rows, columns = np.indices(photo.shape[:2])
    nose_x, nose_y = base.face.landmarks[2]
    spread = 0.35 * base.face.eye_distance
    gain = 1 + 0.8 * np.exp(-((columns - nose_x) ** 2 + (rows - nose_y) ** 2) / (2 * spread**2))
    photo[head_rows(base)] *= gain[head_rows(base)][:, None]
    report = run(edited(base, photo))
    assert_only_fails(report, base_report, "exposure")
    assert "over-exposed" in str(report.check("exposure").advice)
    # the clipped share decides it: the mean (0.83) alone would only warn
    assert 0.8 < report.check("exposure").value < 0.9
    assert "20." in str(report.check("exposure").measured).split("dark, ")[1]  # about 20 % clipped


def test_dark_face_fails_exposure_and_says_add_light(base, base_report):
    photo = base.photo.astype(np.float32)
    photo[head_rows(base)] *= 0.12
    report = run(edited(base, photo))
    assert changed(report, base_report)["exposure"] == ("pass", "fail")
    assert "too dark" in str(report.check("exposure").advice)


def test_dim_drawn_face_fails_for_its_narrow_tonal_range(base, base_report):
    """The drawn face is flat (5.7 bits of tonal range against 6.6-7.0 on real faces): dimmed to
    a mean of 0.18 it keeps 3.8 bits, below the 4.5 that a recognisable face needs. A real face
    as dim only warns (test_dim_real_face_only_warns_on_its_mean)."""
    assert "tonal range 5.7 bits" in str(base_report.check("exposure").measured)
    photo = base.photo.astype(np.float32)
    photo[head_rows(base)] *= 0.25  # mean luma 0.18: just under 0.2, few pixels crushed
    report = run(edited(base, photo))
    assert_only_fails(report, base_report, "exposure")
    assert 0.1 < report.check("exposure").value < 0.2
    assert "too dark to be recognised" in str(report.check("exposure").advice)


def test_hard_shadow_over_the_lower_face_fails_exposure(base, base_report):
    """The mean stays fine (0.48); a third of the face crushed to black is what fails."""
    photo = base.photo.astype(np.float32)
    nose_y, mouth_y = base.face.landmarks[2, 1], base.face.landmarks[3, 1]
    rows = np.arange(photo.shape[0])[:, None]
    photo[head_rows(base) & (rows > nose_y + 0.3 * (mouth_y - nose_y))] *= 0.1
    report = run(edited(base, photo))
    assert_only_fails(report, base_report, "exposure")
    assert 0.3 < report.check("exposure").value < 0.6
    assert "too dark" in str(report.check("exposure").advice)


def test_unevenly_lit_wall_warns_on_background_spread(base, base_report):
    photo = base.photo.astype(np.float32)
    wall = base.matte < 0.5
    ramp = np.broadcast_to(np.linspace(250, 218, photo.shape[1])[None, :, None] - 243, photo.shape)
    photo[wall] += ramp[wall]  # light falls off from left to right; no edges, colour still near white
    report = run(edited(base, photo))
    assert changed(report, base_report) == {"background_uniformity": ("pass", "warn")}
    assert "unevenly lit" in str(report.check("background_uniformity").advice)


def test_blue_wall_fails_background_colour_against_a_white_spec(base_report):
    report = run(draw_portrait(wall=BLUE_WALL))
    assert_only_fails(report, base_report, "background_colour")
    assert report.check("background_colour").value > 20
    assert "#FFFFFF" in str(report.check("background_colour").advice)


def test_chosen_blue_passes_only_where_the_document_names_no_colour(base_report):
    """The user's colour is the target only where the document states none we can check; a
    document that names white fails it (tests/idphoto/test_honest_verdicts.py)."""
    spec = replace(SPEC, background_hex=None, background="white, blue or red by use")
    report = run(draw_portrait(wall=BLUE_WALL), spec=spec, target_background=BLUE_WALL)
    assert changed(report, base_report) == {}
    assert str(report.check("background_colour").source).startswith("your chosen colour")
    named = run(draw_portrait(wall=BLUE_WALL), target_background=BLUE_WALL)
    assert changed(named, base_report) == {"background_colour": ("pass", "fail")}


def test_assumed_white_background_can_only_warn(base_report):
    spec = replace(SPEC, background_hex=None)
    report = run(draw_portrait(wall=BLUE_WALL), spec=spec)
    assert changed(report, base_report) == {"background_colour": ("pass", "warn")}
    assert "#FFFFFF assumed" in str(report.check("background_colour").measured)


def test_wrong_pixel_size_fails_resolution_only(base, base_report):
    pad = 20  # 20 more columns of wall on the right: 916 x 1152 px instead of 896 x 1152
    photo = np.concatenate([base.photo, np.repeat(base.photo[:, -1:], pad, axis=1)], axis=1)
    matte = np.concatenate([base.matte, np.zeros((base.matte.shape[0], pad), np.float32)], axis=1)
    report = run(Portrait(photo, matte, base.face))
    assert_only_fails(report, base_report, "resolution")
    assert "896x1152" in str(report.check("resolution").advice)


def test_file_too_big_fails_file_size_only(base, base_report):
    report = run(base, file_bytes=260 * 1024)
    assert_only_fails(report, base_report, "file_size")
    assert report.check("file_size").value == pytest.approx(260.0)
    assert "240 KB" in str(report.check("file_size").advice)


def test_file_too_small_fails_and_unsaved_file_is_not_assessed(base, base_report):
    small = run(base, spec=replace(SPEC, min_file_kb=250))
    assert changed(small, base_report) == {"file_size": ("pass", "fail")}
    unsaved = run(base, file_bytes=None)
    assert changed(unsaved, base_report) == {"file_size": ("pass", "not_assessed"),
                                             "compression": ("pass", "not_assessed")}
    assert unsaved.overall == base_report.overall


def test_heavy_jpeg_compression_only_warns(base, base_report):
    report = run(base, file_bytes=100 * 1024)  # 30:1
    assert changed(report, base_report) == {"compression": ("pass", "warn")}


def test_low_resolution_face_fails_inter_eye_distance(base_report):
    spec = replace(SPEC, dpi=150)
    report = run(draw_portrait(size=spec.size_px(150)), spec=spec, dpi=150, requested_dpi=150)
    assert report.check("inter_eye_distance").status == "fail"  # the user's own choice of 150 dpi
    at_document_dpi = run(draw_portrait(size=spec.size_px(150)), spec=spec, dpi=150)
    assert at_document_dpi.check("inter_eye_distance").status == "pass"  # nothing the user can change
    assert "for information" in str(at_document_dpi.check("inter_eye_distance").measured)
    assert report.check("inter_eye_distance").value < 90
    assert report.check("head_height").status == base_report.check("head_height").status
    assert report.check("resolution").status == "pass"


def test_crown_margin_is_checked_when_the_document_states_one(base, base_report):
    spec = replace(SPEC, crown_margin_mm=(3.0, 5.0))  # the base crown is 8.5 % = 3.8 mm from the top
    report = run(base, spec=spec)
    assert report.check("crown_margin").status == "pass"
    assert report.check("crown_margin").value == pytest.approx(0.439 - 0.47 * 0.753, abs=0.003)
    crowded = run(draw_portrait(eye_from_top=0.40), spec=spec)  # crown 4.6 % = 2.1 mm from the top
    assert crowded.check("crown_margin").status == "fail"
    assert "too little space" in str(crowded.check("crown_margin").advice)
    with pytest.raises(KeyError):
        base_report.check("crown_margin")  # no rule, no check


def test_no_face_fails_and_marks_face_checks_not_assessed(base):
    report = run(base, faces=[])
    statuses = report.statuses()
    assert statuses["single_face"] == "fail" and report.overall == "fail"
    for check_id in ("head_height", "eye_line", "face_centring", "roll", "yaw", "inter_eye_distance", "exposure",
                     "sharpness", "illumination_balance"):
        assert statuses[check_id] == "not_assessed" and str(report.check(check_id).advice)
    assert statuses["background_uniformity"] == "pass" and statuses["resolution"] == "pass"


def test_without_a_matte_the_crown_is_estimated_and_background_not_assessed(base):
    report = assess(base.photo, None, [base.face], SPEC, dpi=DPI, file_bytes=FILE_BYTES)
    head = report.check("head_height")
    assert "top of the head: estimated" in str(head.measured) and head.status == "warn"
    assert report.check("background_uniformity").status == "not_assessed"
    assert report.check("background_colour").status == "not_assessed"
    assert report.check("exposure").status == "pass" and report.check("sharpness").status == "pass"


def test_estimated_crown_fails_only_beyond_its_own_error(base):
    """With the crown estimated (no matte), a head a little small only warns (the estimate can
    be that far off), but one far too small still fails: no error explains 40 % for 70-80 %."""
    slightly = draw_portrait(head_share=0.66)
    assert assess(slightly.photo, None, [slightly.face], SPEC, dpi=DPI).check("head_height").status == "warn"
    small = draw_portrait(head_share=0.40)
    report = assess(small.photo, None, [small.face], SPEC, dpi=DPI)
    assert report.check("head_height").status == "fail" and "closer" in str(report.check("head_height").advice)


def test_invalid_inputs_are_rejected(base):
    from pipeline.core.errors import InvalidImageError, InvalidOptionError

    with pytest.raises(InvalidImageError):
        assess(base.photo.astype(np.float32), base.matte, [base.face], SPEC, dpi=DPI)
    with pytest.raises(ValueError):
        assess(base.photo, base.matte[:-1], [base.face], SPEC, dpi=DPI)
    with pytest.raises(InvalidOptionError):
        assess(base.photo, base.matte, [base.face], SPEC, dpi=0)
    with pytest.raises(ValueError):
        assess(base.photo, base.matte, [base.face], SPEC, dpi=DPI, painted_background=base.matte[:-1] < 0.1)


# --- real photo: the astronaut's face -----------------------------------------------------------------------------
# MTCNN's detection on skimage's astronaut (tests/faces/test_geometry.py finds the same face), kept
# here so this test needs no detector: box and landmarks in the 512 x 512 original.
ASTRONAUT_BOX = (181.05, 62.16, 267.75, 172.05)
ASTRONAUT_LANDMARKS = np.array([[205.01, 101.73], [246.76, 103.71], [224.67, 128.96], [201.72, 139.25],
                                [245.27, 141.86]], dtype=np.float32)


@pytest.fixture(scope="module")
def astronaut_face(astronaut_rgb) -> tuple[np.ndarray, Face]:
    """The face crop, enlarged so the face box is 200 px wide (as a phone selfie would give)."""
    x0, y0, x1, y1 = 140, 30, 310, 210
    factor = 200 / (ASTRONAUT_BOX[2] - ASTRONAUT_BOX[0])
    crop = cv2.resize(astronaut_rgb[y0:y1, x0:x1], None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)
    shift = np.array([x0, y0], np.float32)
    landmarks = (ASTRONAUT_LANDMARKS - shift + 0.5) * factor - 0.5
    box = tuple(float((v - shift[i % 2] + 0.5) * factor - 0.5) for i, v in enumerate(ASTRONAUT_BOX))
    return crop, Face(box=box, landmarks=landmarks.astype(np.float32), score=1.0)


def test_real_face_is_sharp_and_well_exposed_and_its_blurred_copy_is_not_sharp(astronaut_face):
    crop, face = astronaut_face
    report = assess(crop, None, [face], SPEC, dpi=DPI)
    assert report.check("sharpness").status == "pass", report.check("sharpness")
    assert report.check("sharpness").value > 2 * SHARPNESS_PASS
    assert report.check("exposure").status == "pass", report.check("exposure")
    assert report.check("illumination_balance").status in ("pass", "warn")
    blurred = assess(cv2.GaussianBlur(crop, (0, 0), 3.0), None, [face], SPEC, dpi=DPI)
    assert blurred.check("sharpness").status == "fail", blurred.check("sharpness")
    assert blurred.check("exposure").status == "pass"


def darker_in_linear_light(rgb: np.ndarray, gain: float, lift: float = 0.0) -> np.ndarray:
    """The photo as if exposed ``gain`` times as much (sRGB decoded, scaled, encoded); ``lift``
    then raises the blacks to that level (gamma-encoded), as a phone's processing does."""
    linear = (rgb.astype(np.float64) / 255.0) ** 2.2 * gain
    encoded = 255.0 * linear ** (1 / 2.2)
    return np.clip(np.rint(lift + encoded * (255.0 - lift) / 255.0), 0, 255).astype(np.uint8)


def test_dim_real_face_only_warns_on_its_mean(astronaut_face):
    """Over four stops under (mean luma 0.17) warns, but the face keeps its tonal range (5.0
    bits), so it is not called unrecognisable."""
    crop, face = astronaut_face
    report = assess(darker_in_linear_light(crop, 0.045), None, [face], SPEC, dpi=DPI)
    exposure = report.check("exposure")
    assert exposure.status == "warn", exposure
    assert 0.1 < exposure.value < 0.2 and "to be recognised" not in str(exposure.advice)


def test_sharpness_does_not_depend_on_face_size_or_light_level(astronaut_face, astronaut_rgb):
    crop, face = astronaut_face
    value = assess(crop, None, [face], SPEC, dpi=DPI).check("sharpness").value
    native = Face(box=ASTRONAUT_BOX, landmarks=ASTRONAUT_LANDMARKS, score=1.0)
    native_value = assess(astronaut_rgb, None, [native], SPEC, dpi=DPI).check("sharpness").value
    darker = assess((crop * 0.5).astype(np.uint8), None, [face], SPEC, dpi=DPI).check("sharpness").value
    assert native_value == pytest.approx(value, rel=0.35)
    assert darker == pytest.approx(value, rel=0.35)


# --- regions ----------------------------------------------------------------------------------------------------
def test_regions_lie_on_the_face(base):
    region = face_region_mask(base.matte.shape, base.face.landmarks, base.matte)
    assert region.sum() > 0.5 * np.pi * base.face.eye_distance ** 2  # a real area, not a sliver
    assert (base.matte[region] >= 0.5).all()
    left, right = cheek_boxes(base.face.landmarks)
    nose_x = base.face.landmarks[2, 0]
    assert left[2] < nose_x < right[0]  # the cheeks are either side of the nose
    for x0, y0, x1, y1 in (left, right):
        assert (base.matte[y0:y1, x0:x1] > 0.99).all()


# --- overlay ----------------------------------------------------------------------------------------------------
def test_overlay_draws_lines_and_bands_on_a_copy(base):
    head = measure_head(base.face, base.matte)
    before = base.photo.copy()
    overlay = draw_overlay(base.photo, head, SPEC, dpi=DPI)
    assert overlay is not base.photo and overlay.shape == base.photo.shape and overlay.dtype == np.uint8
    np.testing.assert_array_equal(base.photo, before)  # input untouched
    changed_rows = np.abs(overlay.astype(int) - before.astype(int)).sum(axis=2) > 30
    for y in (head.crown_y, head.eye_y, head.chin_y):
        assert changed_rows[int(round(y)), 100:-100].mean() > 0.9  # a line across the photo
    centre_column = changed_rows[:, overlay.shape[1] // 2]
    assert 0.3 < centre_column.mean() < 0.95  # dashed centre line
    bands = allowed_bands(head, SPEC, overlay.shape[0])
    eye_top, eye_bottom = bands["eyes"]
    probe_row = int(eye_bottom) - 3  # inside the eye band, away from the eye line
    assert abs(probe_row - head.eye_y) > 10
    assert np.abs(overlay[probe_row, 20:60].astype(int) - before[probe_row, 20:60].astype(int)).max() > 5
    quiet_row = int(bands["crown"][0]) - 10  # outside every band and line
    np.testing.assert_array_equal(overlay[quiet_row, 300:500], before[quiet_row, 300:500])


def test_overlay_bands_follow_the_spec(base):
    head = measure_head(base.face, base.matte)
    height = base.photo.shape[0]
    bands = allowed_bands(head, SPEC, height)
    crown_top, crown_bottom = bands["crown"]
    chin_top, chin_bottom = bands["chin"]
    assert chin_bottom - crown_top == pytest.approx(36 / 45 * height)
    assert chin_top - crown_bottom == pytest.approx(32 / 45 * height)
    assert crown_top < head.crown_y < crown_bottom and chin_top < head.chin_y < chin_bottom
    assert bands["eyes"] == pytest.approx((0.3 * height, 0.5 * height))


# --- report text and dict -------------------------------------------------------------------------------------------
def test_text_lists_failures_first_with_advice_and_names_defaults(base_report):
    report = run(draw_portrait(head_share=0.40), file_bytes=260 * 1024)
    text = report.to_text()
    assert text.splitlines()[0].endswith("FAIL")
    assert text.index("Failures") < text.index("Passed")
    assert text.index("Head height") < text.index("Eye line")  # a failure comes before the passes
    assert str(report.check("head_height").advice) in text and str(report.check("file_size").advice) in text
    assert "Defaults applied" in text and "eye line 50-70 %" in text
    passed_line = next(line for line in text.splitlines() if "Eye line" in line)
    failed_line = next(line for line in text.splitlines() if "Head height" in line)
    assert passed_line.index("allowed:") == failed_line.index("allowed:")  # aligned columns


def test_dict_is_json_serialisable(base_report):
    data = json.loads(json.dumps(base_report.to_dict()))
    assert data["overall"] == "warn" and data["spec_id"] == "test_passport"
    assert [check["id"] for check in data["checks"]] == EXPECTED_IDS
    assert all(isinstance(check["value"], (float, type(None))) for check in data["checks"])
    assert data["defaults_applied"] == list(SPEC.defaults_applied)
