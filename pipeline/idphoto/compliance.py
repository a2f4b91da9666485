"""ID-photo compliance report: measure the delivered photo against the document's rules.

Every check is a small pure function that turns one measurement into a ``CheckResult``
(measured value, the limit it was compared with, where that limit comes from, a status and,
when it is not a pass, advice a person can act on for a retake). The report is computed on
the photo the user receives (the caller re-detects faces and re-mattes it), never on
numbers from the crop step, so a cropping bug cannot certify its own output.

Limits come from ``/work/shared/reference/id_photo_compliance.md``:
[9303] ICAO Doc 9303, [TR] ICAO Portrait Quality TR (Tables 8-9), [OFIQ] BSI OFIQ 1.0.3.
Where a source gives a quality *score* rather than a pass/fail limit (OFIQ), or no number
at all, the cut-off is ours and is labelled "Portrait Lab calibration"; the calibration is
described next to each constant.

Conventions: photo RGB uint8 (H, W, 3); matte float32 (H, W) in [0, 1] (1 = person);
coordinates in pixels, y down.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Literal

import cv2
import numpy as np
from skimage.color import deltaE_ciede2000, rgb2lab

from pipeline.faces.detect import Face
from pipeline.core.errors import InvalidImageError, InvalidOptionError
from pipeline.core.imageio import describe_array, is_rgb_array
from pipeline.core.units import MM_PER_INCH
from pipeline.cutout.background import colour_to_hex, parse_colour
from pipeline.faces.geometry import HeadGeometry, measure_head, roll_degrees
from pipeline.idphoto.specs import IdPhotoSpec

Status = Literal["pass", "warn", "fail", "not_assessed"]

# --------------------------------------------------------------------------------------
# Sources (the text shown in the report's "source" column)
# --------------------------------------------------------------------------------------
SOURCE_ICAO_9303 = "ICAO Doc 9303"
SOURCE_TR_T8 = "ICAO TR Portrait Quality T8"
SOURCE_TR_T9 = "ICAO TR Portrait Quality T9"
SOURCE_TR = "ICAO TR Portrait Quality"
SOURCE_OFIQ_SINGLE_FACE = "OFIQ SingleFacePresent"
SOURCE_OFIQ_BACKGROUND = "OFIQ BackgroundUniformity"
SOURCE_OFIQ_EXPOSURE = "OFIQ Under/OverExposurePrevention, LuminanceMean"
SOURCE_CALIBRATION = "Portrait Lab calibration"

# --------------------------------------------------------------------------------------
# Thresholds
# --------------------------------------------------------------------------------------
# Faces: a second detection smaller than this share of the largest face's box area is
# probably a poster or a passer-by far behind; OFIQ's raw SingleFacePresent value is this
# same area ratio (0 best). Below it we warn instead of failing (Portrait Lab calibration).
SECOND_FACE_TINY_AREA_RATIO = 0.25

# Head height and eye line: outside the document's range by at most this fraction of the
# photo height -> warn (about 1 mm on a 45 mm photo: the size of landmark and matte-edge
# noise on the chin and the crown); further -> fail. Portrait Lab calibration.
PLACEMENT_TOLERANCE = 0.02
# The crown margin ranges are only a few mm wide (Japan 2-6 mm, China 3-5 mm), so their
# warn band is half as wide. Portrait Lab calibration.
CROWN_MARGIN_TOLERANCE = 0.01

# Face centre: eye midpoint 45-55 % of the width from the left [TR T9]; warn band 2 %.
CENTRE_RANGE = (0.45, 0.55)
CENTRE_TOLERANCE = 0.02

# Pose [TR T8]: roll <= 8 deg required, <= 5 deg best practice; yaw <= 5 deg. The 5-point
# yaw is only an estimate (nose offset), so 5-10 deg warns instead of failing.
ROLL_PASS_DEG = 5.0
ROLL_WARN_DEG = 8.0
YAW_PASS_DEG = 5.0
YAW_WARN_DEG = 10.0

# Inter-eye distance [TR T8]: >= 90 px required, >= 120 px best practice.
IED_PASS_PX = 120.0
IED_WARN_PX = 90.0

# Background region: matte below this is background; it is eroded by this fraction of the
# photo width so hair strands and the matte's soft edge are not counted (OFIQ erodes its
# parsing mask by 4 px at a 354 px working width, about 1 %; we take 2 % because a matte's
# edge is softer than a parsing map). Fewer background pixels than the minimum share -> not
# assessed.
BACKGROUND_MATTE_MAX = 0.1
BACKGROUND_EROSION_FRACTION = 0.02
BACKGROUND_MIN_SHARE = 0.01
# OFIQ BackgroundUniformity: mean Scharr gradient magnitude (cv::Sobel ksize -1) of the
# linearised Rec.709 luminance, on an image 354 px wide (OFIQ's working width for this
# measure; an ID photo's framing is close to OFIQ's aligned crop). OFIQ maps the raw value
# to a score 190 * (1 - sigmoid((x - 10) / 100)): 95 at 10, 76 at 50, 55 at 100.
# Cut-offs (Portrait Lab calibration, synthetic 35x45 mm portraits): a replaced, flat
# background measures 0; a plain wall with camera noise sigma 1.5 measures 17 at 650 dpi,
# 32 at 300 dpi and 37 at 150 dpi (less downsampling to 354 px leaves more noise); sigma
# 3.4 at 650 dpi 37; sigma 40 noise (a busy background) 259. Pass <= 50, warn <= 100.
BACKGROUND_WORK_WIDTH = 354
BACKGROUND_GRADIENT_PASS = 50.0
BACKGROUND_GRADIENT_WARN = 100.0
# Largest per-channel standard deviation of the background (0-255). Catches uneven light and
# large patterns that have few edges. A wall lit from one side that falls from 245 to 205
# across the frame measures 15 (warn); the plain test wall 1.7. Portrait Lab calibration.
BACKGROUND_STD_PASS = 10.0
BACKGROUND_STD_WARN = 20.0
# Background colour: CIEDE2000 between the background's median colour and the target (sRGB,
# D65). Photographed "white" walls are light greys: (240, 240, 240) is 3.3 from white,
# (230, 230, 230) 5.2, (210, 210, 210) 9.7, (200, 200, 200) 12.1, a mid-blue wall 37.
# Pass up to 6, warn up to 10, else fail. Portrait Lab calibration. When the document names
# no colour (white is only assumed) the result is at most a warning.
BACKGROUND_DELTA_E_PASS = 6.0
BACKGROUND_DELTA_E_WARN = 10.0
DEFAULT_BACKGROUND_RGB = (255, 255, 255)

# Exposure [OFIQ]: share of face pixels with luminance 0-25 (under) and 247-255 (over), and
# the mean luminance, favoured in 0.2-0.8. OFIQ applies the bands to linearised luminance,
# where a correctly exposed dark-skinned face falls mostly below 25 (OFIQ offsets that
# with a sigmoid centred at 92 % under-exposed). Here the bands are applied to gamma-encoded
# luma (Rec.601, what the file stores), so they mean "crushed to black" / "clipped to white"
# for every skin tone. Share cut-offs: Portrait Lab calibration (pupils, nostrils and brows
# make a few per cent dark on a good photo; a specular highlight a per cent or two white).
UNDER_EXPOSED_LUMA = 25
OVER_EXPOSED_LUMA = 247
UNDER_SHARE_PASS = 0.05
UNDER_SHARE_WARN = 0.10
OVER_SHARE_PASS = 0.02
OVER_SHARE_WARN = 0.05
MEAN_LUMA_RANGE = (0.2, 0.8)
MEAN_LUMA_TOLERANCE = 0.1

# Sharpness: variance of the Laplacian (4-neighbour) of log-luma 100 * ln(1 + Y / 10) in the
# face region, after resampling the face so the eyes are 40 px apart (so the number does
# not depend on the face's size in pixels; the log makes it independent of skin tone and of
# the light level, which scale luma). Pixels within 1 px of clipped luma (<= 5 or >= 250)
# are left out: they carry no detail, and exposure is judged separately.
# Calibration on skimage's astronaut face (IED 42 px, face box 87 px wide): 442; after a
# Gaussian blur of sigma (at that size) 0.5 -> 223, 0.8 -> 74, 1.0 -> 41, 1.3 -> 20 (that is
# sigma 3 at a face width of 200 px), 2.0 -> 6; noise sigma 3 or JPEG quality 40 barely move
# it (449, 482); the face at half the brightness 335 (raw luma variance would drop 4x). The
# face enlarged to 200 px: 411, blurred with sigma 3: 20, sigma 1.5: 120. The synthetic test
# face: 653, blurred with sigma 3 at 200 px: 25. Pass >= 100, warn >= 50.
SHARPNESS_IED_PX = 40.0
SHARPNESS_LOG_OFFSET = 10.0
SHARPNESS_PASS = 100.0
SHARPNESS_WARN = 50.0
SHARPNESS_CLIPPED_LOW = 5
SHARPNESS_CLIPPED_HIGH = 250
SHARPNESS_MIN_PIXELS = 100

# Illumination balance [TR]: over the face zones the darkest zone's mean must be at least 50 %
# of the brightest, per channel. We compare the two cheeks (the zones that differ under side
# light) and warn already below 75 %, where the unevenness is plainly visible (Portrait Lab
# calibration); below the TR's 50 % it fails.
ILLUMINATION_PASS_RATIO = 0.75
ILLUMINATION_TR_MIN_RATIO = 0.5
# Cheek zones, in units of the inter-eye distance (IED) and the eye-to-mouth distance:
# centred 55 % of the way from each eye to the mouth corner below it, 5 % IED outwards,
# with a half-size of 18 % IED (clear of the nose and the mouth).
CHEEK_DOWN_FRACTION = 0.55
CHEEK_OUTWARD_IED = 0.05
CHEEK_HALF_SIZE_IED = 0.18

# Face region for exposure and sharpness: an ellipse centred between the eye midpoint and
# the mouth midpoint, 0.9 IED wide on each side and one eye-to-mouth distance high on each
# side (brows to just below the mouth, cheek to cheek), turned with the roll.
FACE_REGION_HALF_WIDTH_IED = 0.9
FACE_REGION_HALF_HEIGHT_EYE_MOUTH = 1.0

# Compression [TR]: JPEG compression ratio (W * H * 3 / file bytes) at most 15:1; the US
# DoS allows 20:1. A warning only: a document's own maximum file size can force more.
COMPRESSION_PASS_RATIO = 15.0
# Resolution [TR]: the camera capture should be at least 1200 x 1600 px after cropping;
# informational here, because the document's print file size is the binding rule.
ICAO_CAPTURE_MIN_PX = (1200, 1600)
BYTES_PER_KB = 1024

CHECK_TITLES: dict[str, str] = {
    "single_face": "Single face",
    "head_height": "Head height (chin to crown)",
    "eye_line": "Eye line (from the bottom)",
    "crown_margin": "Space above the head",
    "face_centring": "Face centred",
    "roll": "Head tilt (roll)",
    "yaw": "Head turn (yaw)",
    "inter_eye_distance": "Inter-eye distance",
    "background_uniformity": "Background plain",
    "background_colour": "Background colour",
    "exposure": "Face exposure",
    "sharpness": "Face sharpness",
    "illumination_balance": "Light even on the face",
    "resolution": "Pixel size",
    "file_size": "File size",
    "compression": "JPEG compression",
}
# Checks that need a face; with none they are reported as not assessed.
FACE_CHECK_IDS = (
    "head_height", "eye_line", "face_centring", "roll", "yaw", "inter_eye_distance",
    "exposure", "sharpness", "illumination_balance",
)
NO_FACE_ADVICE = "No face was found, so this could not be checked: retake facing the camera, face fully visible"

_SEVERITY: dict[str, int] = {"pass": 0, "not_assessed": 1, "warn": 2, "fail": 3}


# --------------------------------------------------------------------------------------
# Report types
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CheckResult:
    """One rule, measured: what was found, the limit, where the limit comes from, the verdict."""

    id: str
    title: str
    measured: str
    threshold: str
    source: str
    status: Status
    advice: str  # what a person can do for a retake; empty on pass
    value: float | None = None  # the raw number, for machines


@dataclass(frozen=True)
class ComplianceReport:
    """All checks of one photo against one spec; ``overall`` is the worst verdict."""

    spec_id: str
    checks: tuple[CheckResult, ...]
    defaults_applied: tuple[str, ...] = ()  # rules we assumed because the document states none

    @property
    def overall(self) -> Status:
        """fail if any check fails, else warn if any warns, else pass. A check that could not be
        assessed does not lower the verdict by itself; it stays visible in the list."""
        statuses = {check.status for check in self.checks}
        if "fail" in statuses:
            return "fail"
        if "warn" in statuses:
            return "warn"
        return "pass"

    def check(self, check_id: str) -> CheckResult:
        """The result with this id (KeyError if the report has none)."""
        for result in self.checks:
            if result.id == check_id:
                return result
        raise KeyError(check_id)

    def statuses(self) -> dict[str, Status]:
        return {check.id: check.status for check in self.checks}

    def to_dict(self) -> dict[str, object]:
        return {
            "spec_id": self.spec_id,
            "overall": self.overall,
            "counts": {status: sum(c.status == status for c in self.checks) for status in _SEVERITY},
            "checks": [asdict(check) for check in self.checks],
            "defaults_applied": list(self.defaults_applied),
        }

    def to_text(self) -> str:
        """Readable report: failures first with their advice, then warnings, passes, and the
        defaults that stand in for rules the document does not state."""
        counts = {status: sum(c.status == status for c in self.checks) for status in _SEVERITY}
        lines = [
            f"ID-photo compliance for {self.spec_id}: {self.overall.upper()}",
            f"  {counts['fail']} failed, {counts['warn']} warnings, {counts['pass']} passed, "
            f"{counts['not_assessed']} not assessed",
        ]
        title_width = max((len(c.title) for c in self.checks), default=0)
        measured_width = max((len(c.measured) for c in self.checks), default=0)
        threshold_width = max((len(c.threshold) for c in self.checks), default=0)
        sections = (("fail", "Failures"), ("warn", "Warnings"), ("not_assessed", "Not assessed"), ("pass", "Passed"))
        labels = {"fail": "FAIL", "warn": "WARN", "not_assessed": "N/A ", "pass": "pass"}
        for status, heading in sections:
            group = [c for c in self.checks if c.status == status]
            if not group:
                continue
            lines += ["", heading]
            for c in group:
                lines.append(
                    f"  [{labels[status]}] {c.title:<{title_width}}  {c.measured:<{measured_width}}  "
                    f"allowed: {c.threshold:<{threshold_width}}  ({c.source})"
                )
                if c.advice:
                    lines.append(f"         -> {c.advice}")
        if self.defaults_applied:
            lines += ["", "Defaults applied (the document states no rule for these):"]
            lines += [f"  - {default}" for default in self.defaults_applied]
        return "\n".join(lines)


# --------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------
def _result(check_id: str, measured: str, threshold: str, source: str, status: Status, advice: str,
            value: float | None) -> CheckResult:
    """A CheckResult whose advice is dropped on pass and whose value is a plain float."""
    return CheckResult(
        id=check_id, title=CHECK_TITLES[check_id], measured=measured, threshold=threshold, source=source,
        status=status, advice="" if status == "pass" else advice,
        value=None if value is None or not math.isfinite(value) else float(value),
    )


def worst_status(*statuses: Status) -> Status:
    """The most severe verdict, for checks made of several measurements."""
    return max(statuses, key=lambda status: _SEVERITY[status])


def cap_status(status: Status, ceiling: Status) -> Status:
    """``status`` but no worse than ``ceiling`` (for verdicts that rest on an estimate)."""
    return ceiling if _SEVERITY[status] > _SEVERITY[ceiling] else status


def grade_in_range(value: float, allowed: tuple[float, float], tolerance: float) -> tuple[Status, int]:
    """pass inside ``allowed``; warn up to ``tolerance`` outside; fail beyond.

    Also returns the direction of a miss (-1 below, +1 above, 0 inside) for the advice."""
    low, high = allowed
    if value < low:
        return ("warn" if value >= low - tolerance else "fail"), -1
    if value > high:
        return ("warn" if value <= high + tolerance else "fail"), 1
    return "pass", 0


def grade_at_most(value: float, pass_max: float, warn_max: float) -> Status:
    return "pass" if value <= pass_max else "warn" if value <= warn_max else "fail"


def grade_at_least(value: float, pass_min: float, warn_min: float) -> Status:
    return "pass" if value >= pass_min else "warn" if value >= warn_min else "fail"


def px_to_mm(pixels: float, dpi: int) -> float:
    return pixels / dpi * MM_PER_INCH


def spec_source(spec: IdPhotoSpec) -> str:
    """How the report names the document's own rules, e.g. 'Germany Reisepass spec'."""
    if spec.custom:
        return "your custom size"
    return f"{spec.country} {spec.document} spec"


def percent(fraction: float, digits: int = 1) -> str:
    """'75.8 %' (the report writes a space before %)."""
    return f"{fraction * 100:.{digits}f} %"


def _range_text(allowed: tuple[float, float], unit: str, scale: float = 1.0) -> str:
    low, high = allowed[0] * scale, allowed[1] * scale
    return f"{low:.4g}-{high:.4g} {unit}"


def luma(photo: np.ndarray) -> np.ndarray:
    """Gamma-encoded Rec.601 luma, float32 0-255 (what the file stores)."""
    return cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY).astype(np.float32)


def ofiq_luminance(photo: np.ndarray) -> np.ndarray:
    """OFIQ's luminance: linearised sRGB, Rec.709 weights, 0-255 (float32)."""
    encoded = photo.astype(np.float32) / 255.0
    linear = np.where(encoded <= 0.04045, encoded / 12.92, ((encoded + 0.055) / 1.055) ** 2.4)
    return (linear @ np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)) * 255.0


def rgb_to_hex(rgb: Sequence[float]) -> str:
    """Hex text of a measured (float) colour, via the one colour formatter."""
    return colour_to_hex(tuple(int(round(min(max(c, 0), 255))) for c in rgb))  # type: ignore[arg-type]


def delta_e_2000(rgb_a: Sequence[float], rgb_b: Sequence[float]) -> float:
    """CIEDE2000 colour difference between two sRGB colours (0-255, D65)."""
    lab = rgb2lab(np.array([[rgb_a, rgb_b]], dtype=np.float64) / 255.0)
    return float(deltaE_ciede2000(lab[0, 0], lab[0, 1]))


def largest_face(faces: Sequence[Face]) -> Face | None:
    """The applicant: the largest detection (others are people or posters behind)."""
    return max(faces, key=lambda face: face.area) if faces else None


# --------------------------------------------------------------------------------------
# Regions
# --------------------------------------------------------------------------------------
def face_region_mask(shape: tuple[int, int], landmarks: np.ndarray, matte: np.ndarray | None) -> np.ndarray:
    """Boolean mask of the inner face (brows to below the mouth, cheek to cheek), placed from
    the five landmarks and cut to the person matte, so hair and background are left out of
    the exposure and sharpness statistics."""
    points = np.asarray(landmarks, dtype=np.float64)
    eye_mid = (points[0] + points[1]) / 2
    mouth_mid = (points[3] + points[4]) / 2
    inter_eye = float(np.linalg.norm(points[1] - points[0]))
    eye_mouth = float(np.linalg.norm(mouth_mid - eye_mid))
    centre = (eye_mid + mouth_mid) / 2
    angle = roll_degrees(points)
    mask = np.zeros(shape, dtype=np.uint8)
    axes = (max(1, int(round(FACE_REGION_HALF_WIDTH_IED * inter_eye))),
            max(1, int(round(FACE_REGION_HALF_HEIGHT_EYE_MOUTH * eye_mouth))))
    cv2.ellipse(mask, (int(round(centre[0])), int(round(centre[1]))), axes, angle, 0, 360, 1, thickness=-1)
    region = mask.astype(bool)
    if matte is not None:
        region &= matte >= 0.5
    return region


def cheek_boxes(landmarks: np.ndarray) -> tuple[tuple[int, int, int, int], tuple[int, int, int, int]]:
    """Left and right (image sides) cheek zones as (x0, y0, x1, y1), placed from the landmarks."""
    points = np.asarray(landmarks, dtype=np.float64)
    inter_eye = float(np.linalg.norm(points[1] - points[0])) or 1.0
    across = (points[1] - points[0]) / inter_eye  # image-left eye -> image-right eye
    half = CHEEK_HALF_SIZE_IED * inter_eye
    boxes = []
    for eye, mouth_corner, outward in ((points[0], points[3], -1.0), (points[1], points[4], 1.0)):
        centre = eye + CHEEK_DOWN_FRACTION * (mouth_corner - eye) + outward * CHEEK_OUTWARD_IED * inter_eye * across
        boxes.append((int(round(centre[0] - half)), int(round(centre[1] - half)),
                      int(round(centre[0] + half)) + 1, int(round(centre[1] + half)) + 1))
    return boxes[0], boxes[1]


def background_region(matte: np.ndarray | None) -> np.ndarray | None:
    """Background pixels well away from the person (matte < 0.1, eroded), or None without a matte."""
    if matte is None:
        return None
    background = (matte < BACKGROUND_MATTE_MAX).astype(np.uint8)
    radius = max(2, int(round(BACKGROUND_EROSION_FRACTION * matte.shape[1])))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    # border_value 1: the photo's edge is not a reason to drop background pixels
    return cv2.erode(background, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=1).astype(bool)


# --------------------------------------------------------------------------------------
# Checks: faces and geometry
# --------------------------------------------------------------------------------------
def check_single_face(faces: Sequence[Face]) -> CheckResult:
    """Only the applicant may be in the photo [9303]; the ratio is OFIQ's raw value."""
    threshold = f"exactly one face (others < {percent(SECOND_FACE_TINY_AREA_RATIO, 0)} of its size: warning)"
    if not faces:
        return _result("single_face", "no face found", threshold, SOURCE_ICAO_9303, "fail",
                       "No face was found: retake facing the camera, with your whole face visible and well lit", 0.0)
    if len(faces) == 1:
        return _result("single_face", "1 face", threshold, SOURCE_ICAO_9303, "pass", "", 0.0)
    areas = sorted((face.area for face in faces), reverse=True)
    second_ratio = areas[1] / areas[0] if areas[0] > 0 else 1.0
    measured = f"{len(faces)} faces (second largest {percent(second_ratio, 0)} of the largest)"
    if second_ratio < SECOND_FACE_TINY_AREA_RATIO:
        return _result("single_face", measured, threshold, f"{SOURCE_ICAO_9303}; {SOURCE_OFIQ_SINGLE_FACE}", "warn",
                       "A small second face is visible (a poster or a person behind you?): "
                       "retake in front of a plain wall with nobody else in view", second_ratio)
    return _result("single_face", measured, threshold, f"{SOURCE_ICAO_9303}; {SOURCE_OFIQ_SINGLE_FACE}", "fail",
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
        if _SEVERITY[status_mm] > _SEVERITY[status]:
            status, direction = status_mm, direction_mm
        threshold = f"{_range_text(spec.head_height_mm, 'mm')} (document)"
        source = spec_source(spec)
    elif spec.head_height_ratio:
        threshold = f"{_range_text(allowed, '%', 100)} of height (document)"
        source = spec_source(spec)
    else:
        threshold = f"{_range_text(allowed, '%', 100)} of height (ICAO default)"
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
    return _result("head_height", measured, threshold, source, status, advice, ratio)


def check_eye_line(head: HeadGeometry, spec: IdPhotoSpec, height_px: int, dpi: int) -> CheckResult:
    """Eye midpoint height from the bottom edge, as a share of the height (and mm if stated)."""
    from_bottom = height_px - head.eye_y
    ratio = from_bottom / height_px
    millimetres = px_to_mm(from_bottom, dpi)
    allowed = spec.eye_ratio_range()
    status, direction = grade_in_range(ratio, allowed, PLACEMENT_TOLERANCE)
    if spec.eye_line_mm:
        status_mm, direction_mm = grade_in_range(millimetres, spec.eye_line_mm, PLACEMENT_TOLERANCE * spec.size_mm[1])
        if _SEVERITY[status_mm] > _SEVERITY[status]:
            status, direction = status_mm, direction_mm
        threshold, source = f"{_range_text(spec.eye_line_mm, 'mm')} from the bottom (document)", spec_source(spec)
    elif spec.eye_line_ratio:
        threshold, source = f"{_range_text(allowed, '%', 100)} of height from the bottom (document)", spec_source(spec)
    else:
        threshold, source = f"{_range_text(allowed, '%', 100)} of height from the bottom (ICAO default)", SOURCE_TR_T9
    advice = ("Your eyes are too low in the photo: retake with more room below your chin (shoulders in view)"
              if direction < 0 else
              "Your eyes are too high in the photo: retake with more room above your head")
    return _result("eye_line", f"{millimetres:.1f} mm ({percent(ratio)} of height)", threshold, source, status, advice, ratio)


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
    return _result("crown_margin", measured, f"{_range_text(spec.crown_margin_mm, 'mm')} (document)",
                   spec_source(spec), status, advice, ratio)


def check_face_centring(head: HeadGeometry, width_px: int) -> CheckResult:
    """Eye midpoint 45-55 % of the width from the left [TR T9]."""
    ratio = head.axis_x / width_px
    status, _ = grade_in_range(ratio, CENTRE_RANGE, CENTRE_TOLERANCE)
    return _result("face_centring", f"eye midpoint at {percent(ratio)} of width", f"{_range_text(CENTRE_RANGE, '%', 100)}",
                   SOURCE_TR_T9, status,
                   "Your face is off-centre: retake with your face in the middle of the frame and room on both sides",
                   ratio)


def check_roll(head: HeadGeometry) -> CheckResult:
    """Eye line level: |roll| <= 5 deg best practice, <= 8 deg required [TR T8]."""
    angle = abs(head.roll_deg)
    return _result("roll", f"{head.roll_deg:+.1f} deg", f"<= {ROLL_PASS_DEG:g} deg (<= {ROLL_WARN_DEG:g} deg: warning)",
                   SOURCE_TR_T8, grade_at_most(angle, ROLL_PASS_DEG, ROLL_WARN_DEG),
                   "Your head is tilted: keep your head straight with both eyes level", head.roll_deg)


def check_yaw(head: HeadGeometry) -> CheckResult:
    """Frontal pose: |yaw| <= 5 deg [TR T8]; the 5-point value is an estimate, so 5-10 deg warns."""
    angle = abs(head.yaw_deg)
    return _result("yaw", f"{head.yaw_deg:+.1f} deg (estimate from the nose position)",
                   f"<= {YAW_PASS_DEG:g} deg (<= {YAW_WARN_DEG:g} deg: warning)", SOURCE_TR_T8,
                   grade_at_most(angle, YAW_PASS_DEG, YAW_WARN_DEG),
                   "Your head is turned to one side: look straight into the camera", head.yaw_deg)


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
    return _result("inter_eye_distance", f"{distance:.0f} px",
                   f">= {IED_PASS_PX:g} px (>= {IED_WARN_PX:g} px: warning)", SOURCE_TR_T8, status, advice, distance)


# --------------------------------------------------------------------------------------
# Checks: background
# --------------------------------------------------------------------------------------
def _background_available(region: np.ndarray | None) -> str | None:
    """Why the background cannot be assessed, or None if it can."""
    if region is None:
        return "The background could not be checked without a person matte"
    if region.sum() < BACKGROUND_MIN_SHARE * region.size:
        return "Almost no background is visible: retake with space around your head and shoulders"
    return None


def background_gradient(photo: np.ndarray, region: np.ndarray) -> float:
    """OFIQ BackgroundUniformity raw value: mean Scharr gradient magnitude of the luminance
    over the background, at OFIQ's 354 px working width."""
    height, width = region.shape
    scale = BACKGROUND_WORK_WIDTH / width
    size = (BACKGROUND_WORK_WIDTH, max(1, int(round(height * scale))))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    luminance = cv2.resize(ofiq_luminance(photo), size, interpolation=interpolation)
    mask = cv2.resize(region.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
    # one more pixel of erosion so the 3x3 kernel never reaches the person
    mask = cv2.erode(mask, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=1).astype(bool)
    if not mask.any():
        return 0.0
    gx = cv2.Scharr(luminance, cv2.CV_32F, 1, 0)
    gy = cv2.Scharr(luminance, cv2.CV_32F, 0, 1)
    return float(np.sqrt(gx * gx + gy * gy)[mask].mean())


def check_background_uniformity(photo: np.ndarray, region: np.ndarray | None) -> CheckResult:
    """Plain background [9303]: few edges (OFIQ gradient) and little spread of colour."""
    threshold = (f"gradient <= {BACKGROUND_GRADIENT_PASS:g} (warn <= {BACKGROUND_GRADIENT_WARN:g}), "
                 f"channel sigma <= {BACKGROUND_STD_PASS:g} (warn <= {BACKGROUND_STD_WARN:g})")
    source = f"{SOURCE_OFIQ_BACKGROUND}; {SOURCE_CALIBRATION}"
    missing = _background_available(region)
    if missing is not None:
        return _result("background_uniformity", "no background region", threshold, source, "not_assessed", missing, None)
    assert region is not None
    gradient = background_gradient(photo, region)
    spread = float(photo[region].astype(np.float32).std(axis=0).max())
    status_gradient = grade_at_most(gradient, BACKGROUND_GRADIENT_PASS, BACKGROUND_GRADIENT_WARN)
    status_spread = grade_at_most(spread, BACKGROUND_STD_PASS, BACKGROUND_STD_WARN)
    if _SEVERITY[status_gradient] >= _SEVERITY[status_spread]:
        advice = "The background is not plain: stand in front of a plain wall, away from furniture and patterns"
    else:
        advice = "The background is unevenly lit: stand a step away from a plain, evenly lit wall"
    return _result("background_uniformity", f"gradient {gradient:.1f}, channel sigma {spread:.1f}", threshold, source,
                   worst_status(status_gradient, status_spread), advice, gradient)


def check_background_colour(photo: np.ndarray, region: np.ndarray | None, target: tuple[int, int, int],
                            target_source: str, target_is_assumed: bool) -> CheckResult:
    """Background colour close to the required one: CIEDE2000 of the median background colour.

    The median ignores the odd hair strand; CIEDE2000 (not CIE76) because it weights
    lightness differences of light colours less, as the eye does, so a photographed white
    wall that came out light grey is not judged as harshly as a coloured one."""
    threshold = f"CIEDE2000 <= {BACKGROUND_DELTA_E_PASS:g} (warn <= {BACKGROUND_DELTA_E_WARN:g}) from {rgb_to_hex(target)}"
    missing = _background_available(region)
    if missing is not None:
        return _result("background_colour", "no background region", threshold, target_source, "not_assessed",
                       missing, None)
    assert region is not None
    median = np.median(photo[region], axis=0)
    difference = delta_e_2000(median, target)
    status = grade_at_most(difference, BACKGROUND_DELTA_E_PASS, BACKGROUND_DELTA_E_WARN)
    measured = f"{rgb_to_hex(median)}, CIEDE2000 {difference:.1f}"
    if target_is_assumed:
        measured += f" ({rgb_to_hex(target)} assumed: the document names no exact colour)"
        status = cap_status(status, "warn")
    return _result("background_colour", measured, threshold, target_source, status,
                   f"The background is not the required colour ({rgb_to_hex(target)}): stand in front of a plain wall "
                   "of that colour, or let Portrait Lab replace the background", difference)


# --------------------------------------------------------------------------------------
# Checks: face appearance
# --------------------------------------------------------------------------------------
def check_exposure(photo: np.ndarray, region: np.ndarray) -> CheckResult:
    """Neither crushed nor clipped [9303]: dark/bright pixel shares and mean luma [OFIQ bands]."""
    threshold = (f"luma <= {UNDER_EXPOSED_LUMA}: <= {percent(UNDER_SHARE_PASS, 0)}, >= {OVER_EXPOSED_LUMA}: "
                 f"<= {percent(OVER_SHARE_PASS, 0)}, mean {MEAN_LUMA_RANGE[0]:g}-{MEAN_LUMA_RANGE[1]:g}")
    source = f"{SOURCE_OFIQ_EXPOSURE}; {SOURCE_CALIBRATION}"
    if not region.any():
        return _result("exposure", "no face pixels", threshold, source, "not_assessed",
                       "The face region could not be found: retake facing the camera", None)
    values = luma(photo)[region]
    under = float((values <= UNDER_EXPOSED_LUMA).mean())
    over = float((values >= OVER_EXPOSED_LUMA).mean())
    mean = float(values.mean()) / 255.0
    status_under = grade_at_most(under, UNDER_SHARE_PASS, UNDER_SHARE_WARN)
    status_over = grade_at_most(over, OVER_SHARE_PASS, OVER_SHARE_WARN)
    status_mean, direction = grade_in_range(mean, MEAN_LUMA_RANGE, MEAN_LUMA_TOLERANCE)
    status = worst_status(status_under, status_over, status_mean)
    too_bright = _SEVERITY[status_over] >= _SEVERITY[status_under] and (status_over != "pass" or direction > 0)
    advice = ("Your face is over-exposed (washed out): turn off the flash or step away from the bright light"
              if too_bright else
              "Your face is too dark: face a window or add a light in front of you")
    return _result("exposure", f"mean {mean:.2f}, {percent(under)} dark, {percent(over)} clipped", threshold, source, status,
                   advice, mean)


def face_sharpness(photo: np.ndarray, landmarks: np.ndarray, region: np.ndarray) -> tuple[float, int]:
    """Laplacian variance of log-luma in the face region at a fixed eye distance; returns the
    value and the number of pixels it rests on (see SHARPNESS_* for why each step)."""
    points = np.asarray(landmarks, dtype=np.float64)
    inter_eye = float(np.linalg.norm(points[1] - points[0]))
    rows, cols = np.nonzero(region)
    if inter_eye <= 0 or rows.size == 0:
        return 0.0, 0
    pad = 4
    y0, y1 = max(0, rows.min() - pad), min(region.shape[0], rows.max() + pad + 1)
    x0, x1 = max(0, cols.min() - pad), min(region.shape[1], cols.max() + pad + 1)
    scale = SHARPNESS_IED_PX / inter_eye
    size = (max(3, int(round((x1 - x0) * scale))), max(3, int(round((y1 - y0) * scale))))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    crop_luma = cv2.resize(luma(photo[y0:y1, x0:x1]), size, interpolation=interpolation)
    mask = cv2.resize(region[y0:y1, x0:x1].astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
    clipped = ((crop_luma <= SHARPNESS_CLIPPED_LOW) | (crop_luma >= SHARPNESS_CLIPPED_HIGH)).astype(np.uint8)
    usable = mask & (1 - cv2.dilate(clipped, np.ones((3, 3), np.uint8)))
    usable = cv2.erode(usable, np.ones((3, 3), np.uint8)).astype(bool)
    log_luma = 100.0 * np.log1p(crop_luma / SHARPNESS_LOG_OFFSET)
    laplacian = cv2.Laplacian(log_luma, cv2.CV_32F, ksize=1)
    count = int(usable.sum())
    if count == 0:
        return 0.0, 0
    return float(laplacian[usable].var()), count


def check_sharpness(photo: np.ndarray, landmarks: np.ndarray, region: np.ndarray) -> CheckResult:
    """In focus [9303]: face-normalised Laplacian variance (calibrated, see SHARPNESS_*)."""
    threshold = f">= {SHARPNESS_PASS:g} (warn >= {SHARPNESS_WARN:g}) at {SHARPNESS_IED_PX:g} px eye distance"
    sharpness, pixels = face_sharpness(photo, landmarks, region)
    if pixels < SHARPNESS_MIN_PIXELS:
        return _result("sharpness", "too few unclipped face pixels", threshold, SOURCE_CALIBRATION, "not_assessed",
                       "Sharpness could not be measured on this face: retake in even light, facing the camera", None)
    return _result("sharpness", f"{sharpness:.0f} (Laplacian variance of log-luma)", threshold,
                   f"{SOURCE_ICAO_9303}; {SOURCE_CALIBRATION}", grade_at_least(sharpness, SHARPNESS_PASS, SHARPNESS_WARN),
                   "The photo is blurred: hold the camera still (timer or tripod), focus on your face and retake",
                   sharpness)


def check_illumination_balance(photo: np.ndarray, landmarks: np.ndarray, matte: np.ndarray | None) -> CheckResult:
    """Even light: darker cheek / brighter cheek, per channel, worst channel [TR: >= 50 %]."""
    threshold = (f">= {percent(ILLUMINATION_PASS_RATIO, 0)} per channel "
                 f"(TR minimum {percent(ILLUMINATION_TR_MIN_RATIO, 0)}; between them: warning)")
    source = f"{SOURCE_TR} illumination zones; {SOURCE_CALIBRATION}"
    height, width = photo.shape[:2]
    means = []
    for x0, y0, x1, y1 in cheek_boxes(landmarks):
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(width, x1), min(height, y1)
        if x1 <= x0 or y1 <= y0:
            break
        pixels = photo[y0:y1, x0:x1].reshape(-1, 3).astype(np.float64)
        if matte is not None:
            pixels = pixels[(matte[y0:y1, x0:x1] >= 0.5).reshape(-1)]
        if pixels.shape[0] == 0:
            break
        means.append(pixels.mean(axis=0))
    if len(means) < 2:
        return _result("illumination_balance", "cheeks not visible", threshold, source, "not_assessed",
                       "The cheeks could not be found: retake facing the camera with your whole face in view", None)
    left, right = means
    ratios = np.minimum(left, right) / np.maximum(np.maximum(left, right), 1e-6)
    ratio = float(ratios.min())
    darker = "right" if right.mean() < left.mean() else "left"
    measured = f"darker cheek at {percent(ratio, 0)} of the brighter"
    if ratio < ILLUMINATION_PASS_RATIO:
        measured += f" (the {darker} cheek in the image)"
    return _result("illumination_balance", measured, threshold,
                   source, grade_at_least(ratio, ILLUMINATION_PASS_RATIO, ILLUMINATION_TR_MIN_RATIO),
                   "Light falls unevenly on your face: face a window or add a second light", ratio)


# --------------------------------------------------------------------------------------
# Checks: file
# --------------------------------------------------------------------------------------
def check_resolution(shape: tuple[int, ...], spec: IdPhotoSpec, dpi: int,
                     expected: tuple[int, int]) -> CheckResult:
    """Exactly the pixel size the document needs at the chosen dpi (``IdPhotoSpec.size_px``);
    the ICAO capture minimum is mentioned only."""
    height, width = shape[:2]
    expected_w, expected_h = expected
    if spec.width_mm and spec.height_mm:
        threshold = f"exactly {expected_w}x{expected_h} px ({spec.width_mm:g}x{spec.height_mm:g} mm at {dpi} dpi)"
    else:
        threshold = f"exactly {expected_w}x{expected_h} px (digital upload)"
    measured = f"{width}x{height} px"
    if width < ICAO_CAPTURE_MIN_PX[0] or height < ICAO_CAPTURE_MIN_PX[1]:
        measured += (f"; below the ICAO capture minimum {ICAO_CAPTURE_MIN_PX[0]}x{ICAO_CAPTURE_MIN_PX[1]} px "
                     "(informational)")
    status: Status = "pass" if (width, height) == (expected_w, expected_h) else "fail"
    return _result("resolution", measured, threshold, spec_source(spec), status,
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
        return _result("file_size", "not saved yet", threshold, spec_source(spec), "not_assessed",
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
    return _result("file_size", f"{kilobytes:.1f} KB", threshold, spec_source(spec), status, advice, kilobytes)


def check_compression(file_bytes: int | None, shape: tuple[int, ...]) -> CheckResult:
    """JPEG compression ratio <= 15:1 [TR]; a warning only (documents' KB limits may force more)."""
    threshold = f"<= {COMPRESSION_PASS_RATIO:g}:1 (else warning)"
    if file_bytes is None or file_bytes <= 0:
        return _result("compression", "not saved yet", threshold, SOURCE_TR, "not_assessed",
                       "The compression is checked on the saved file", None)
    ratio = shape[0] * shape[1] * 3 / file_bytes
    return _result("compression", f"{ratio:.1f}:1", threshold, SOURCE_TR,
                   "pass" if ratio <= COMPRESSION_PASS_RATIO else "warn",
                   "The photo is compressed heavily: save it at a higher JPEG quality if the size limit allows", ratio)


def not_assessed_without_face(check_id: str) -> CheckResult:
    """A face check that cannot run because no face was detected on the photo."""
    return _result(check_id, "no face", "needs a face", SOURCE_ICAO_9303, "not_assessed", NO_FACE_ADVICE, None)


# --------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------
def _validate_inputs(photo: np.ndarray, matte: np.ndarray | None, dpi: int) -> None:
    """Reject inputs that would give silently wrong numbers (float photos, misaligned mattes)."""
    if not is_rgb_array(photo):
        raise InvalidImageError(f"The photo must be RGB uint8 (H, W, 3); got a {describe_array(photo)}.")
    if matte is not None and matte.shape != photo.shape[:2]:
        raise ValueError(f"matte shape {matte.shape} does not match the photo {photo.shape[:2]}")
    if dpi <= 0:
        raise InvalidOptionError(f"dpi must be positive, got {dpi}.")


def _background_target(spec: IdPhotoSpec, target_background: tuple[int, int, int] | None
                       ) -> tuple[tuple[int, int, int], str, bool]:
    """Target colour, the source to cite, and whether it is only assumed (white default)."""
    if target_background is not None:
        red, green, blue = (int(c) for c in target_background)
        return (red, green, blue), "requested background colour", False
    if spec.background_hex:
        return parse_colour(spec.background_hex), spec_source(spec), False
    if spec.default_background:
        return parse_colour(spec.default_background), f"{spec_source(spec)} (no exact colour named; " \
            f"{spec.default_background} is our choice among the allowed ones)", True
    return DEFAULT_BACKGROUND_RGB, f"{SOURCE_ICAO_9303} (plain, light; white assumed)", True


def assess(photo: np.ndarray, matte: np.ndarray | None, faces: Sequence[Face], spec: IdPhotoSpec, *, dpi: int,
           file_bytes: int | None = None, target_background: tuple[int, int, int] | None = None,
           requested_dpi: int | None = None) -> ComplianceReport:
    """Check a finished ID photo against ``spec``.

    ``faces`` must be detections on this very photo and ``matte`` its person matte (or None:
    the background checks are then not assessed and the crown is estimated). The largest
    face is the applicant's. ``requested_dpi`` is the dpi the user asked for, if any: with
    it, a document with a print size is expected at that resolution."""
    _validate_inputs(photo, matte, dpi)
    height, width = photo.shape[:2]
    checks: list[CheckResult] = [check_single_face(faces)]
    face = largest_face(faces)
    face_checks: dict[str, CheckResult]
    if face is None:
        face_checks = {check_id: not_assessed_without_face(check_id) for check_id in FACE_CHECK_IDS}
        crown_margin = None
    else:
        head = measure_head(face, matte)
        region = face_region_mask((height, width), face.landmarks, matte)
        face_checks = {
            "head_height": check_head_height(head, spec, height, dpi),
            "eye_line": check_eye_line(head, spec, height, dpi),
            "face_centring": check_face_centring(head, width),
            "roll": check_roll(head),
            "yaw": check_yaw(head),
            "inter_eye_distance": check_inter_eye_distance(head, fixed_pixels=bool(spec.width_px)
                                                           and not (requested_dpi and spec.width_mm)),
            "exposure": check_exposure(photo, region),
            "sharpness": check_sharpness(photo, face.landmarks, region),
            "illumination_balance": check_illumination_balance(photo, face.landmarks, matte),
        }
        crown_margin = check_crown_margin(head, spec, height, dpi)
    checks += [face_checks["head_height"], face_checks["eye_line"]]
    if crown_margin is not None:
        checks.append(crown_margin)
    checks += [face_checks[check_id] for check_id in ("face_centring", "roll", "yaw", "inter_eye_distance")]
    background = background_region(matte)
    target, target_source, assumed = _background_target(spec, target_background)
    checks += [
        check_background_uniformity(photo, background),
        check_background_colour(photo, background, target, target_source, assumed),
        face_checks["exposure"], face_checks["sharpness"], face_checks["illumination_balance"],
        check_resolution(photo.shape, spec, dpi, spec.size_px(requested_dpi)),
        check_file_size(file_bytes, spec),
        check_compression(file_bytes, photo.shape),
    ]
    return ComplianceReport(spec_id=spec.id, checks=tuple(checks), defaults_applied=tuple(spec.defaults_applied))


# --------------------------------------------------------------------------------------
# Overlay
# --------------------------------------------------------------------------------------
OVERLAY_BAND_ALPHA = 0.25
OVERLAY_HEAD_BAND_RGB = (0, 170, 255)
OVERLAY_EYE_BAND_RGB = (0, 200, 90)
OVERLAY_CROWN_RGB = (255, 60, 60)
OVERLAY_CHIN_RGB = (255, 140, 0)
OVERLAY_EYE_RGB = (0, 150, 60)
OVERLAY_CENTRE_RGB = (120, 120, 255)


def _shade_rows(image: np.ndarray, top: float, bottom: float, colour: tuple[int, int, int]) -> None:
    """Blend ``colour`` translucently over the full-width band of rows [top, bottom)."""
    height = image.shape[0]
    y0, y1 = max(0, int(math.floor(top))), min(height, int(math.ceil(bottom)))
    if y1 <= y0:
        return
    band = image[y0:y1].astype(np.float32)
    image[y0:y1] = np.clip(band * (1 - OVERLAY_BAND_ALPHA) + np.array(colour, np.float32) * OVERLAY_BAND_ALPHA,
                           0, 255).astype(np.uint8)


def _label(image: np.ndarray, text: str, x: int, baseline: int, colour: tuple[int, int, int], scale: float,
           thickness: int, *, align_right: bool = False) -> None:
    """Small text with a dark outline so it reads on any background, kept inside the image."""
    (text_width, text_height), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    if align_right:
        x -= text_width
    x = min(max(x, 2), max(2, image.shape[1] - text_width - 2))
    baseline = min(max(baseline, text_height + 2), image.shape[0] - 3)
    for ink, weight in (((0, 0, 0), thickness + 2), (colour, thickness)):
        cv2.putText(image, text, (x, baseline), cv2.FONT_HERSHEY_SIMPLEX, scale, ink, weight, cv2.LINE_AA)


def allowed_bands(head: HeadGeometry, spec: IdPhotoSpec, height_px: int) -> dict[str, tuple[float, float]]:
    """Rows (top, bottom) where the crown, the chin and the eye line may lie.

    Head-top and chin bands keep the measured head's centre and spread the allowed head
    heights around it; the eye band comes straight from the eye-line range (from the bottom)."""
    head_low, head_high = spec.head_ratio_range()
    centre = (head.crown_y + head.chin_y) / 2
    eye_low, eye_high = spec.eye_ratio_range()
    return {
        "crown": (centre - head_high * height_px / 2, centre - head_low * height_px / 2),
        "chin": (centre + head_low * height_px / 2, centre + head_high * height_px / 2),
        "eyes": (height_px * (1 - eye_high), height_px * (1 - eye_low)),
    }


def draw_overlay(photo: np.ndarray, head: HeadGeometry, spec: IdPhotoSpec, *, dpi: int) -> np.ndarray:
    """A copy of ``photo`` showing the measured crown, chin and eye lines over the spec's allowed
    bands (shaded), with a centre line, so a person can see at a glance what is off."""
    image = np.array(photo, dtype=np.uint8, copy=True)
    height, width = image.shape[:2]
    bands = allowed_bands(head, spec, height)
    _shade_rows(image, *bands["crown"], OVERLAY_HEAD_BAND_RGB)
    _shade_rows(image, *bands["chin"], OVERLAY_HEAD_BAND_RGB)
    _shade_rows(image, *bands["eyes"], OVERLAY_EYE_BAND_RGB)
    thickness = max(1, int(round(height / 400)))
    scale = max(0.35, height / 1400)
    text_thickness = max(1, int(round(scale)))
    centre_x = int(round(width / 2))
    for y in range(0, height, 12 * thickness):  # dashed centre line
        cv2.line(image, (centre_x, y), (centre_x, min(height - 1, y + 6 * thickness)), OVERLAY_CENTRE_RGB, thickness)
    lines = (
        ("crown", head.crown_y, OVERLAY_CROWN_RGB),
        ("eyes", head.eye_y, OVERLAY_EYE_RGB),
        ("chin", head.chin_y, OVERLAY_CHIN_RGB),
    )
    head_mm = px_to_mm(head.head_height, dpi)
    gap = int(round(4 * scale)) + 2
    line_height = cv2.getTextSize("Ag", cv2.FONT_HERSHEY_SIMPLEX, scale, text_thickness)[0][1] + gap
    for name, y, colour in lines:
        row = int(round(y))
        if 0 <= row < height:
            cv2.line(image, (0, row), (width - 1, row), colour, thickness, cv2.LINE_AA)
        _label(image, name, gap, row - gap, colour, scale, text_thickness)
    _label(image, f"head {head_mm:.1f} mm", gap, int(round(head.chin_y)) + line_height, OVERLAY_CHIN_RGB, scale,
           text_thickness)
    for band, text, colour in (("crown", "head top allowed", OVERLAY_HEAD_BAND_RGB),
                               ("chin", "chin allowed", OVERLAY_HEAD_BAND_RGB),
                               ("eyes", "eye line allowed", OVERLAY_EYE_BAND_RGB)):
        _label(image, text, width - gap, int(round(bands[band][1])) - gap, colour, scale, text_thickness,
               align_right=True)
    return image


__all__ = [
    "CheckResult", "ComplianceReport", "Status", "assess", "draw_overlay", "allowed_bands", "face_region_mask",
    "cheek_boxes", "background_region",
]

