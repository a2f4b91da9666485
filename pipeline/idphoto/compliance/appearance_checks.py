"""Checks on how the face looks: exposure, sharpness and even light.

They grade pixels inside the face region and the cheek zones placed from the landmarks
(``measurements``), so hair and background do not sway them.
"""
from __future__ import annotations

import numpy as np

from pipeline.idphoto.compliance.measurements import cheek_boxes, face_sharpness, luma
from pipeline.idphoto.compliance.thresholds import (
    ILLUMINATION_PASS_RATIO,
    ILLUMINATION_TR_MIN_RATIO,
    MEAN_LUMA_RANGE,
    MEAN_LUMA_TOLERANCE,
    OVER_EXPOSED_LUMA,
    OVER_SHARE_PASS,
    OVER_SHARE_WARN,
    SHARPNESS_IED_PX,
    SHARPNESS_MIN_PIXELS,
    SHARPNESS_PASS,
    SHARPNESS_WARN,
    SOURCE_CALIBRATION,
    SOURCE_ICAO_9303,
    SOURCE_OFIQ_EXPOSURE,
    SOURCE_TR,
    UNDER_EXPOSED_LUMA,
    UNDER_SHARE_PASS,
    UNDER_SHARE_WARN,
)
from pipeline.idphoto.compliance.verdicts import (
    SEVERITY,
    CheckResult,
    grade_at_least,
    grade_at_most,
    grade_in_range,
    make_result,
    percent,
    worst_status,
)


def check_exposure(photo: np.ndarray, region: np.ndarray) -> CheckResult:
    """Neither crushed nor clipped [9303]: dark/bright pixel shares and mean luma [OFIQ bands]."""
    threshold = (f"luma <= {UNDER_EXPOSED_LUMA}: <= {percent(UNDER_SHARE_PASS, 0)}, >= {OVER_EXPOSED_LUMA}: "
                 f"<= {percent(OVER_SHARE_PASS, 0)}, mean {MEAN_LUMA_RANGE[0]:g}-{MEAN_LUMA_RANGE[1]:g}")
    source = f"{SOURCE_OFIQ_EXPOSURE}; {SOURCE_CALIBRATION}"
    if not region.any():
        return make_result("exposure", "no face pixels", threshold, source, "not_assessed",
                           "The face region could not be found: retake facing the camera", None)
    values = luma(photo)[region]
    under = float((values <= UNDER_EXPOSED_LUMA).mean())
    over = float((values >= OVER_EXPOSED_LUMA).mean())
    mean = float(values.mean()) / 255.0
    status_under = grade_at_most(under, UNDER_SHARE_PASS, UNDER_SHARE_WARN)
    status_over = grade_at_most(over, OVER_SHARE_PASS, OVER_SHARE_WARN)
    status_mean, direction = grade_in_range(mean, MEAN_LUMA_RANGE, MEAN_LUMA_TOLERANCE)
    status = worst_status(status_under, status_over, status_mean)
    too_bright = SEVERITY[status_over] >= SEVERITY[status_under] and (status_over != "pass" or direction > 0)
    advice = ("Your face is over-exposed (washed out): turn off the flash or step away from the bright light"
              if too_bright else
              "Your face is too dark: face a window or add a light in front of you")
    return make_result("exposure", f"mean {mean:.2f}, {percent(under)} dark, {percent(over)} clipped", threshold,
                       source, status, advice, mean)


def check_sharpness(photo: np.ndarray, landmarks: np.ndarray, region: np.ndarray) -> CheckResult:
    """In focus [9303]: face-normalised Laplacian variance (calibrated, see SHARPNESS_*)."""
    threshold = f">= {SHARPNESS_PASS:g} (warn >= {SHARPNESS_WARN:g}) at {SHARPNESS_IED_PX:g} px eye distance"
    sharpness, pixels = face_sharpness(photo, landmarks, region)
    if pixels < SHARPNESS_MIN_PIXELS:
        return make_result("sharpness", "too few unclipped face pixels", threshold, SOURCE_CALIBRATION, "not_assessed",
                           "Sharpness could not be measured on this face: retake in even light, facing the camera",
                           None)
    return make_result("sharpness", f"{sharpness:.0f} (Laplacian variance of log-luma)", threshold,
                       f"{SOURCE_ICAO_9303}; {SOURCE_CALIBRATION}",
                       grade_at_least(sharpness, SHARPNESS_PASS, SHARPNESS_WARN),
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
        return make_result("illumination_balance", "cheeks not visible", threshold, source, "not_assessed",
                           "The cheeks could not be found: retake facing the camera with your whole face in view", None)
    left, right = means
    ratios = np.minimum(left, right) / np.maximum(np.maximum(left, right), 1e-6)
    ratio = float(ratios.min())
    darker = "right" if right.mean() < left.mean() else "left"
    measured = f"darker cheek at {percent(ratio, 0)} of the brighter"
    if ratio < ILLUMINATION_PASS_RATIO:
        measured += f" (the {darker} cheek in the image)"
    return make_result("illumination_balance", measured, threshold,
                       source, grade_at_least(ratio, ILLUMINATION_PASS_RATIO, ILLUMINATION_TR_MIN_RATIO),
                       "Light falls unevenly on your face: face a window or add a second light", ratio)
