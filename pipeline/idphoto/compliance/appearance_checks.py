"""Checks on how the face looks: exposure, sharpness and even light (shadows included).

They grade pixels inside the face region and the illumination zones placed from the
landmarks (``measurements``; the dense mesh's zones from ``face_measures`` when there is a
mesh), so hair and background do not sway them.
"""
from __future__ import annotations

import numpy as np

from pipeline.faces.mesh import DenseLandmarks
from pipeline.i18n import Message
from pipeline.idphoto.compliance.face_measures import shadow_zone_boxes
from pipeline.idphoto.compliance.measurements import cheek_boxes, face_sharpness, luma, luma_entropy
from pipeline.idphoto.compliance.thresholds import (
    FACE_DYNAMIC_RANGE_MIN_BITS,
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
    SHADOW_ZONE_HALF_SIZE_IED,
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
    worst_status,
)


# (too bright, too little tonal range to recognise the face) -> what to do
EXPOSURE_ADVICE: dict[tuple[bool, bool], Message] = {
    (True, False): Message("check.exposure.advice_bright"),
    (False, False): Message("check.exposure.advice_dark"),
    (True, True): Message("check.exposure.advice_bright_unrecognisable"),
    (False, True): Message("check.exposure.advice_dark_unrecognisable"),
}


def check_exposure(photo: np.ndarray, region: np.ndarray) -> CheckResult:
    """Neither crushed nor clipped [9303]: dark/bright pixel shares and mean luma [OFIQ bands];
    and a face too dark or washed out to be recognised fails outright [OFIQ DynamicRange]."""
    threshold = Message("check.exposure.threshold", {
        "dark_luma": UNDER_EXPOSED_LUMA, "dark_pct": UNDER_SHARE_PASS * 100, "bright_luma": OVER_EXPOSED_LUMA,
        "bright_pct": OVER_SHARE_PASS * 100, "mean_low": MEAN_LUMA_RANGE[0], "mean_high": MEAN_LUMA_RANGE[1],
        "bits": FACE_DYNAMIC_RANGE_MIN_BITS})
    source = f"{SOURCE_OFIQ_EXPOSURE}; {SOURCE_CALIBRATION}"
    if not region.any():
        return make_result("exposure", Message("check.exposure.no_pixels"), threshold, source, "not_assessed",
                           Message("check.exposure.advice_no_pixels"), None)
    values = luma(photo)[region]
    under = float((values <= UNDER_EXPOSED_LUMA).mean())
    over = float((values >= OVER_EXPOSED_LUMA).mean())
    mean = float(values.mean()) / 255.0
    bits = luma_entropy(values)
    status_under = grade_at_most(under, UNDER_SHARE_PASS, UNDER_SHARE_WARN)
    status_over = grade_at_most(over, OVER_SHARE_PASS, OVER_SHARE_WARN)
    status_mean, direction = grade_in_range(mean, MEAN_LUMA_RANGE, MEAN_LUMA_TOLERANCE)
    unrecognisable = bits < FACE_DYNAMIC_RANGE_MIN_BITS
    status = "fail" if unrecognisable else worst_status(status_under, status_over, status_mean)
    too_bright = (mean > 0.5 if unrecognisable else
                  SEVERITY[status_over] >= SEVERITY[status_under] and (status_over != "pass" or direction > 0))
    measured = Message("check.exposure.measured", {"mean": mean, "dark_pct": under * 100, "clipped_pct": over * 100,
                                                   "bits": bits})
    return make_result("exposure", measured, threshold, source, status, EXPOSURE_ADVICE[too_bright, unrecognisable],
                       mean)


def check_sharpness(photo: np.ndarray, landmarks: np.ndarray, region: np.ndarray) -> CheckResult:
    """In focus [9303]: face-normalised Laplacian variance (calibrated, see SHARPNESS_*)."""
    threshold = Message("check.sharpness.threshold", {"pass": SHARPNESS_PASS, "warn": SHARPNESS_WARN,
                                                      "px": SHARPNESS_IED_PX})
    sharpness, pixels = face_sharpness(photo, landmarks, region)
    if pixels < SHARPNESS_MIN_PIXELS:
        return make_result("sharpness", Message("check.sharpness.too_few_pixels"), threshold, SOURCE_CALIBRATION,
                           "not_assessed", Message("check.sharpness.advice_unmeasured"), None)
    return make_result("sharpness", Message("check.sharpness.measured", {"sharpness": sharpness}), threshold,
                       f"{SOURCE_ICAO_9303}; {SOURCE_CALIBRATION}",
                       grade_at_least(sharpness, SHARPNESS_PASS, SHARPNESS_WARN), Message("check.sharpness.advice"),
                       sharpness)


def illumination_zones(landmarks: np.ndarray, dense: DenseLandmarks | None) -> dict[str, tuple[int, int, int, int]]:
    """The zones the TR compares, as boxes: from the dense mesh when there is one (the upper face,
    both cheeks, the chin: a shadow across the face in any direction), else the two cheeks
    placed from the five points (a shadow from one side only)."""
    if dense is not None:
        return shadow_zone_boxes(dense, SHADOW_ZONE_HALF_SIZE_IED)
    left, right = cheek_boxes(landmarks)
    return {"left cheek": left, "right cheek": right}


def _zone_means(photo: np.ndarray, zones: dict[str, tuple[int, int, int, int]], matte: np.ndarray | None
                ) -> dict[str, np.ndarray]:
    """Mean RGB of each zone's person pixels; zones off the photo or off the person are left out."""
    height, width = photo.shape[:2]
    means = {}
    for name, (x0, y0, x1, y1) in zones.items():
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(width, x1), min(height, y1)
        if x1 <= x0 or y1 <= y0:
            continue
        pixels = photo[y0:y1, x0:x1].reshape(-1, 3).astype(np.float64)
        if matte is not None:
            pixels = pixels[(matte[y0:y1, x0:x1] >= 0.5).reshape(-1)]
        if pixels.shape[0]:
            means[name] = pixels.mean(axis=0)
    return means


def check_illumination_balance(photo: np.ndarray, landmarks: np.ndarray, matte: np.ndarray | None,
                               dense: DenseLandmarks | None = None) -> CheckResult:
    """Even light, no shadow across the face: the darkest zone over the brightest, per channel,
    worst channel [TR: >= 50 %]. One check for both side light and shadows: they are the same
    TR rule on the same zones, so two checks would always flip together."""
    threshold = Message("check.illumination_balance.threshold", {"pass_pct": ILLUMINATION_PASS_RATIO * 100,
                                                                 "tr_pct": ILLUMINATION_TR_MIN_RATIO * 100})
    source = f"{SOURCE_TR} illumination zones; {SOURCE_CALIBRATION}"
    zones = illumination_zones(landmarks, dense)
    means = _zone_means(photo, zones, matte)
    if len(means) < len(zones):
        return make_result("illumination_balance", Message("check.illumination_balance.not_visible"), threshold,
                           source, "not_assessed", Message("check.illumination_balance.advice_not_visible"), None)
    names = list(means)
    table = np.stack([means[name] for name in names])  # zones x channels
    ratios = table.min(axis=0) / np.maximum(table.max(axis=0), 1e-6)
    channel = int(np.argmin(ratios))
    ratio = float(ratios[channel])
    darkest, brightest = names[int(np.argmin(table[:, channel]))], names[int(np.argmax(table[:, channel]))]
    values = {"zones": len(names), "pct": ratio * 100, "darkest": _zone_name(darkest),
              "brightest": _zone_name(brightest)}
    uneven = ratio < ILLUMINATION_PASS_RATIO
    measured = Message("check.illumination_balance.measured_zones" if uneven
                       else "check.illumination_balance.measured", values)
    return make_result("illumination_balance", measured, threshold,
                       source, grade_at_least(ratio, ILLUMINATION_PASS_RATIO, ILLUMINATION_TR_MIN_RATIO),
                       Message("check.illumination_balance.advice"), ratio)


def _zone_name(zone: str) -> Message:
    """A face zone's name in the report ('left cheek' -> ``check.zone.left_cheek``)."""
    return Message("check.zone." + zone.replace(" ", "_"))
