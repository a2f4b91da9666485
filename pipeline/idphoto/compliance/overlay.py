"""The overlay image: the measured crown, chin and eye lines drawn over the bands the document
allows, so a person sees at a glance what is off.

Apart from the checks because it only draws; the report's verdicts never depend on it.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from pipeline.faces.geometry import HeadGeometry
from pipeline.idphoto.compliance.measurements import px_to_mm
from pipeline.idphoto.specs import IdPhotoSpec

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
