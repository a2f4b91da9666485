"""The print sheet as a PNG: a white page of exactly ``SheetLayout.paper_px`` pixels at the
layout's dpi, with every copy pasted at its place and the cut marks drawn.

It prints at the right size when printed at that dpi with "actual size" (no fit-to-page);
the PDF (``sheet_pdf``) is the safer choice for print shops.
"""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from pipeline.core.encode import save_image
from pipeline.core.errors import InvalidOptionError
from pipeline.idphoto.layout import (
    MARK_GREY,
    MARK_WIDTH_MM,
    SheetLayout,
    cut_mark_segments_mm,
    mm_to_px,
    validated_photo,
)


def _resized_exactly(photo_rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize to exactly ``size`` (width, height).

    Area averaging when shrinking (no aliasing or moiré in hair and fabric), Lanczos when
    enlarging (sharpest upscale OpenCV offers).
    """
    width, height = size
    source_height, source_width = photo_rgb.shape[:2]
    if (width, height) == (source_width, source_height):
        return photo_rgb.copy()
    shrinking = width <= source_width and height <= source_height
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LANCZOS4
    return cv2.resize(np.ascontiguousarray(photo_rgb), (width, height), interpolation=interpolation)


def _draw_cut_marks(page: np.ndarray, layout: SheetLayout) -> None:
    """Rasterise the cut marks as grey bars about ``MARK_WIDTH_MM`` thick (at least 1 px)."""
    thickness = max(1, mm_to_px(MARK_WIDTH_MM, layout.dpi))
    page_height, page_width = page.shape[:2]
    for mark in cut_mark_segments_mm(layout):
        x1, y1 = mm_to_px(mark.x1, layout.dpi), mm_to_px(mark.y1, layout.dpi)
        x2, y2 = mm_to_px(mark.x2, layout.dpi), mm_to_px(mark.y2, layout.dpi)
        if y1 == y2:  # horizontal: centred on the cut line
            top, bottom, left, right = y1 - thickness // 2, y1 - thickness // 2 + thickness, x1, max(x2, x1 + 1)
        else:
            top, bottom, left, right = y1, max(y2, y1 + 1), x1 - thickness // 2, x1 - thickness // 2 + thickness
        top, left = max(top, 0), max(left, 0)
        bottom, right = min(bottom, page_height), min(right, page_width)
        if top < bottom and left < right:
            page[top:bottom, left:right] = MARK_GREY


def render_sheet_png(photo_rgb: np.ndarray, layout: SheetLayout, *, cut_marks: bool = True) -> np.ndarray:
    """The sheet as an ``(H, W, 3)`` uint8 white page of exactly ``layout.paper_px``.

    The photo is resized once to ``layout.photo_px`` and pasted at each position. Marks
    are drawn before the photos, so no photo pixel can ever be covered by one. Save it
    with ``dpi=(layout.dpi, layout.dpi)`` (``write_sheet_png`` does) so it prints at scale.
    """
    photo = _resized_exactly(validated_photo(photo_rgb, layout), layout.photo_px)
    width, height = layout.paper_px
    page = np.full((height, width, 3), 255, dtype=np.uint8)
    if cut_marks:
        _draw_cut_marks(page, layout)
    photo_width, photo_height = layout.photo_px
    for x, y in layout.positions_px:
        # Rounding can push the last pixel of a photo one past a zero margin: clip it.
        right, bottom = min(x + photo_width, width), min(y + photo_height, height)
        page[y:bottom, x:right] = photo[: bottom - y, : right - x]
    return page


def write_sheet_png(
    path: str | os.PathLike[str], photo_rgb: np.ndarray, layout: SheetLayout, *, cut_marks: bool = True
) -> Path:
    """Render and save the PNG sheet atomically, tagged with the layout's dpi."""
    target = Path(path)
    if target.suffix.lower() != ".png":
        raise InvalidOptionError(f"A PNG sheet must be saved with the .png extension; got '{target.name}'.")
    page = render_sheet_png(photo_rgb, layout, cut_marks=cut_marks)
    return save_image(target, page, dpi=(layout.dpi, layout.dpi))
