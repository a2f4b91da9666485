"""What the checks measure on the pixels: luminance, colour difference, the face, cheek and
background regions placed from the landmarks and the matte, and the two calibrated raw
measures (OFIQ background gradient, face sharpness).

Pure numbers, no verdicts: the checks grade them against ``thresholds``, so a measure can be
tested and recalibrated on its own.
"""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from skimage.color import deltaE_ciede2000, rgb2lab

from pipeline.core.units import MM_PER_INCH
from pipeline.faces.detect import Face
from pipeline.faces.geometry import roll_degrees
from pipeline.idphoto.compliance.thresholds import (
    BACKGROUND_EROSION_FRACTION,
    BACKGROUND_MATTE_MAX,
    BACKGROUND_WORK_WIDTH,
    CHEEK_DOWN_FRACTION,
    CHEEK_HALF_SIZE_IED,
    CHEEK_OUTWARD_IED,
    FACE_REGION_HALF_HEIGHT_EYE_MOUTH,
    FACE_REGION_HALF_WIDTH_IED,
    SHARPNESS_CLIPPED_HIGH,
    SHARPNESS_CLIPPED_LOW,
    SHARPNESS_IED_PX,
    SHARPNESS_LOG_OFFSET,
)


def px_to_mm(pixels: float, dpi: int) -> float:
    return pixels / dpi * MM_PER_INCH


def luma(photo: np.ndarray) -> np.ndarray:
    """Gamma-encoded Rec.601 luma, float32 0-255 (what the file stores)."""
    return cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY).astype(np.float32)


def ofiq_luminance(photo: np.ndarray) -> np.ndarray:
    """OFIQ's luminance: linearised sRGB, Rec.709 weights, 0-255 (float32)."""
    encoded = photo.astype(np.float32) / 255.0
    linear = np.where(encoded <= 0.04045, encoded / 12.92, ((encoded + 0.055) / 1.055) ** 2.4)
    return (linear @ np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)) * 255.0


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
    return _eroded_background(matte < BACKGROUND_MATTE_MAX)


def painted_region(painted: np.ndarray) -> np.ndarray:
    """The pixels a maker filled with its new background colour (``painted``, boolean), eroded
    like ``background_region`` so the blended edge around the person is left out. A matte made
    again on the finished photo can take light clothes on a light painted colour for
    background; where the colour was painted is known instead."""
    return _eroded_background(np.asarray(painted, dtype=bool))


def _eroded_background(background: np.ndarray) -> np.ndarray:
    radius = max(2, int(round(BACKGROUND_EROSION_FRACTION * background.shape[1])))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    # border_value 1: the photo's edge is not a reason to drop background pixels
    return cv2.erode(background.astype(np.uint8), kernel, borderType=cv2.BORDER_CONSTANT,
                     borderValue=1).astype(bool)


def lab_lightness(rgb: Sequence[float]) -> float:
    """CIELAB L* (0-100, D65) of one sRGB colour (0-255)."""
    return float(rgb2lab(np.array([[rgb]], dtype=np.float64) / 255.0)[0, 0, 0])


# --------------------------------------------------------------------------------------
# Raw measures
# --------------------------------------------------------------------------------------
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


def luma_entropy(values: np.ndarray) -> float:
    """OFIQ DynamicRange's raw value: the entropy in bits of a 256-bin histogram of ``values``
    (0-255; here the face's gamma-encoded luma, see FACE_DYNAMIC_RANGE_MIN_BITS)."""
    levels = np.clip(np.floor(np.asarray(values, dtype=np.float64) + 0.5), 0, 255).astype(np.int64)
    counts = np.bincount(levels.ravel(), minlength=256).astype(np.float64)
    if counts.sum() == 0:
        return 0.0
    shares = counts[counts > 0] / counts.sum()
    return float(-(shares * np.log2(shares)).sum())


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
