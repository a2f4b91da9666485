"""Print-sheet planning: where each copy of an ID photo and each cut mark goes on the paper,
in millimetres.

ID photos (passport, visa) are specified in millimetres, and a print shop or home printer
only keeps that size if the sheet itself is at exact physical scale. Everything is
therefore planned here in millimetres first (``plan_sheet``) and only then turned into
pixels (``sheet_png.render_sheet_png``) or PDF points (``sheet_pdf.sheet_pdf_bytes``).

Photos are never rotated to squeeze in more copies: a sideways ID photo is a print-shop
mistake. Only the paper may be turned (landscape) when that fits more copies.

Cut marks are short grey lines on the extension of each photo edge, placed only in the
gaps and margins with a clearance from every photo and from the page edge, so they guide
the cutter without ever touching a photo. Both renderers draw the same marks.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from pipeline.core.encode import positive_pair
from pipeline.core.errors import InvalidOptionError
from pipeline.core.limits import MAX_DPI, MAX_OUTPUT_PIXELS, MIN_DPI
from pipeline.core.pixels import require_rgb
from pipeline.core.units import MM_PER_INCH

# Cut marks (millimetres): kept this far from photos and the page edge, at most this long,
# and left out when the free space would make them shorter than the minimum.
MARK_CLEARANCE_MM = 0.5
MARK_MAX_LENGTH_MM = 3.0
MARK_MIN_LENGTH_MM = 0.5
MARK_WIDTH_MM = 0.1
MARK_GREY = 128  # 0..255; the PDF uses the same level as a fraction

# Photos whose pixel aspect ratio differs from the millimetre one by more than this would
# be visibly stretched; a face stretched by a few percent is a rejected ID photo.
MAX_ASPECT_MISMATCH = 0.01

# Floating-point slack when deciding whether photos fit (exact fits must count as fits).
_FIT_EPSILON_MM = 1e-9


# --------------------------------------------------------------------------------------
# Planning
# --------------------------------------------------------------------------------------


def mm_to_px(mm: float, dpi: int) -> int:
    """Pixels for a length at a resolution, the one rounding rule used everywhere."""
    return round(mm / MM_PER_INCH * dpi)


@dataclass(frozen=True)
class SheetLayout:
    """Where each copy goes on the page, in millimetres from the page's top-left corner.

    ``paper_mm`` is the page as laid out: (width, height) *after* any turn to landscape,
    so pixels and PDF points follow from it directly.
    """

    paper_mm: tuple[float, float]
    photo_mm: tuple[float, float]
    dpi: int
    positions_mm: tuple[tuple[float, float], ...]
    landscape: bool
    gap_mm: float
    margin_mm: float

    @property
    def copies(self) -> int:
        return len(self.positions_mm)

    @property
    def paper_px(self) -> tuple[int, int]:
        """Page size in pixels (width, height) at ``dpi``."""
        return (mm_to_px(self.paper_mm[0], self.dpi), mm_to_px(self.paper_mm[1], self.dpi))

    @property
    def photo_px(self) -> tuple[int, int]:
        """Size (width, height) in pixels of each photo on the PNG sheet."""
        return (mm_to_px(self.photo_mm[0], self.dpi), mm_to_px(self.photo_mm[1], self.dpi))

    @property
    def positions_px(self) -> tuple[tuple[int, int], ...]:
        """Top-left pixel (x, y) of each photo on the PNG sheet."""
        return tuple((mm_to_px(x, self.dpi), mm_to_px(y, self.dpi)) for x, y in self.positions_mm)


def _positive_size_mm(value: Any, what: str) -> tuple[float, float]:
    """Validate a (width, height) pair of positive, finite millimetres."""
    pair = positive_pair(value)
    if pair is None:
        raise InvalidOptionError(f"The {what} size must be two positive numbers (width, height) in mm; got {value!r}.")
    return pair


def _non_negative_mm(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value < 0:
        raise InvalidOptionError(f"The {what} must be zero or more millimetres; got {value!r}.")
    return float(value)


def _validated_dpi(dpi: Any) -> int:
    if isinstance(dpi, bool) or not isinstance(dpi, numbers.Integral) or not MIN_DPI <= dpi <= MAX_DPI:
        raise InvalidOptionError(
            f"The print resolution must be a whole number of dpi from {MIN_DPI} to {MAX_DPI}; got {dpi!r}.",
            hint="Photo printers use 300 dpi; some ID specifications ask for 600.",
        )
    return int(dpi)


def _grid_capacity(
    paper_mm: tuple[float, float], photo_mm: tuple[float, float], gap_mm: float, margin_mm: float
) -> tuple[int, int]:
    """Columns and rows of upright photos that fit inside the margins, ``gap_mm`` apart.

    n photos need n*size + (n-1)*gap, so n = floor((printable + gap) / (size + gap)).
    """
    counts = []
    for paper_side, photo_side in zip(paper_mm, photo_mm):
        printable = paper_side - 2 * margin_mm
        if printable + _FIT_EPSILON_MM < photo_side:
            counts.append(0)
            continue
        counts.append(math.floor((printable + gap_mm + _FIT_EPSILON_MM) / (photo_side + gap_mm)))
    return counts[0], counts[1]


def _centred_positions(
    paper_mm: tuple[float, float], photo_mm: tuple[float, float], gap_mm: float, columns: int, copies: int
) -> tuple[tuple[float, float], ...]:
    """Fill rows left to right; the block of used rows and columns is centred on the page.

    A short last row stays aligned to the columns above it, so cut lines still run straight
    through the whole sheet.
    """
    used_columns = min(columns, copies)
    used_rows = math.ceil(copies / used_columns)
    block_width = used_columns * photo_mm[0] + (used_columns - 1) * gap_mm
    block_height = used_rows * photo_mm[1] + (used_rows - 1) * gap_mm
    left = (paper_mm[0] - block_width) / 2
    top = (paper_mm[1] - block_height) / 2
    return tuple(
        (left + (index % used_columns) * (photo_mm[0] + gap_mm), top + (index // used_columns) * (photo_mm[1] + gap_mm))
        for index in range(copies)
    )


def format_mm(value: float) -> str:
    """Millimetres as messages write them: one decimal at most, no trailing zeros."""
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _require_renderable(paper_mm: tuple[float, float], dpi: int) -> None:
    """Refuse, before any work, a page whose PNG would exceed the output pixel limit."""
    pixels = math.prod(round(side / MM_PER_INCH * dpi) for side in paper_mm)
    if pixels > MAX_OUTPUT_PIXELS:
        raise InvalidOptionError(
            f"At {dpi} dpi that paper would be a {pixels / 1e6:.0f} MP image; the limit is "
            f"{MAX_OUTPUT_PIXELS / 1e6:.0f} MP.", hint="Choose smaller paper or a lower dpi.")


def _copies_to_place(
    copies: int | None,
    capacity: int,
    paper_mm: tuple[float, float],
    photo_mm: tuple[float, float],
    gap_mm: float,
    margin_mm: float,
) -> int:
    """How many copies to lay out: all that fit (``copies=None``) or exactly ``copies``.

    Refuses, saying how many do fit on the (portrait) paper, when none fit or fewer than
    asked, and refuses a ``copies`` that is not a whole number of at least 1.
    """
    paper_text = f"{format_mm(paper_mm[0])} x {format_mm(paper_mm[1])} mm paper"
    photo_text = f"{format_mm(photo_mm[0])} x {format_mm(photo_mm[1])} mm photo"
    if capacity == 0:
        raise InvalidOptionError(
            f"A {photo_text} does not fit on {paper_text} with {format_mm(margin_mm)} mm margins.",
            hint="Choose larger paper or smaller margins.",
        )
    if copies is None:
        return capacity
    if isinstance(copies, bool) or not isinstance(copies, numbers.Integral) or copies < 1:
        raise InvalidOptionError(f"The number of copies must be a whole number of at least 1; got {copies!r}.")
    wanted = int(copies)
    if wanted > capacity:
        raise InvalidOptionError(
            f"{wanted} copies do not fit: at most {capacity} copies of a {photo_text} fit on {paper_text} "
            f"(margins {format_mm(margin_mm)} mm, gaps {format_mm(gap_mm)} mm).",
            hint=f"Ask for {capacity} or fewer copies, choose larger paper, or reduce the margins or gaps.",
        )
    return wanted


def plan_sheet(
    paper_mm: tuple[float, float],
    photo_mm: tuple[float, float],
    *,
    dpi: int = 300,
    copies: int | None = None,
    gap_mm: float = 2.0,
    margin_mm: float = 4.0,
) -> SheetLayout:
    """Lay out copies of an upright photo on the paper, in a grid centred on the page.

    Both paper orientations are tried; the paper is turned to landscape only when the
    portrait page cannot hold what is needed (all that fit, or ``copies``). ``copies=None``
    places as many as fit; ``copies=N`` places N, and asking for more than fit is an error
    that says how many do. ``paper_mm`` may be given either way round.
    """
    paper_width, paper_height = _positive_size_mm(paper_mm, "paper")
    photo = _positive_size_mm(photo_mm, "photo")
    gap = _non_negative_mm(gap_mm, "gap between photos")
    margin = _non_negative_mm(margin_mm, "page margin")
    resolution = _validated_dpi(dpi)
    _require_renderable((paper_width, paper_height), resolution)

    portrait = (min(paper_width, paper_height), max(paper_width, paper_height))
    landscape = (portrait[1], portrait[0])
    portrait_grid = _grid_capacity(portrait, photo, gap, margin)
    landscape_grid = _grid_capacity(landscape, photo, gap, margin)
    portrait_capacity = portrait_grid[0] * portrait_grid[1]
    capacity = max(portrait_capacity, landscape_grid[0] * landscape_grid[1])
    wanted = _copies_to_place(copies, capacity, portrait, photo, gap, margin)

    use_landscape = portrait_capacity < wanted
    page, grid = (landscape, landscape_grid) if use_landscape else (portrait, portrait_grid)
    return SheetLayout(
        paper_mm=page,
        photo_mm=photo,
        dpi=resolution,
        positions_mm=_centred_positions(page, photo, gap, grid[0], wanted),
        landscape=use_landscape,
        gap_mm=gap,
        margin_mm=margin,
    )


# --------------------------------------------------------------------------------------
# Cut marks (shared by the PNG and the PDF)
# --------------------------------------------------------------------------------------


class CutMark(NamedTuple):
    """A straight, axis-aligned line in millimetres from the page's top-left corner."""

    x1: float
    y1: float
    x2: float
    y2: float


def _photo_rectangles(layout: SheetLayout) -> list[tuple[float, float, float, float]]:
    width, height = layout.photo_mm
    return [(x, y, x + width, y + height) for x, y in layout.positions_mm]


def _free_distance(
    corner: tuple[float, float],
    direction: tuple[int, int],
    rectangles: Iterable[tuple[float, float, float, float]],
    paper_mm: tuple[float, float],
) -> float:
    """How far a line may run from ``corner`` in ``direction`` before a photo or the page edge.

    A photo counts as an obstacle when the line passes within ``MARK_CLEARANCE_MM`` of it,
    so marks also keep clear of photos in the neighbouring row or column.
    """
    x, y = corner
    dx, dy = direction
    if dx:
        free = x if dx < 0 else paper_mm[0] - x
    else:
        free = y if dy < 0 else paper_mm[1] - y
    pad = MARK_CLEARANCE_MM
    for left, top, right, bottom in rectangles:
        if dx:
            if not top - pad <= y <= bottom + pad:
                continue
            near, far = (x - right, x - left) if dx < 0 else (left - x, right - x)
        else:
            if not left - pad <= x <= right + pad:
                continue
            near, far = (y - bottom, y - top) if dy < 0 else (top - y, bottom - y)
        if far <= 0:  # behind the corner: the photo the mark belongs to, or one further back
            continue
        free = min(free, max(near, 0.0))
    return free


def cut_mark_segments_mm(layout: SheetLayout) -> tuple[CutMark, ...]:
    """Cut marks for every photo corner: the two photo edges extended outwards a little.

    Each mark starts ``MARK_CLEARANCE_MM`` from the corner and stops at
    ``MARK_MAX_LENGTH_MM`` or a clearance before the next photo or the page edge, whichever
    comes first; marks that would be too short to see are left out. Identical marks from
    two neighbouring photos (in the gap between them) are drawn once.
    """
    rectangles = _photo_rectangles(layout)
    marks: dict[tuple[float, ...], CutMark] = {}
    for left, top, right, bottom in rectangles:
        corners = (
            ((left, top), ((-1, 0), (0, -1))),
            ((right, top), ((1, 0), (0, -1))),
            ((left, bottom), ((-1, 0), (0, 1))),
            ((right, bottom), ((1, 0), (0, 1))),
        )
        for corner, directions in corners:
            for direction in directions:
                free = _free_distance(corner, direction, rectangles, layout.paper_mm)
                start = MARK_CLEARANCE_MM
                end = min(MARK_CLEARANCE_MM + MARK_MAX_LENGTH_MM, free - MARK_CLEARANCE_MM)
                if end - start < MARK_MIN_LENGTH_MM:
                    continue
                (x, y), (dx, dy) = corner, direction
                x1, y1, x2, y2 = x + dx * start, y + dy * start, x + dx * end, y + dy * end
                mark = CutMark(min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))
                marks.setdefault(tuple(round(value, 6) for value in mark), mark)
    return tuple(marks.values())


# --------------------------------------------------------------------------------------
# The photo to place (shared by the PNG and the PDF)
# --------------------------------------------------------------------------------------


def validated_photo(photo_rgb: Any, layout: SheetLayout) -> np.ndarray:
    """The photo must be RGB pixels whose shape matches the layout's photo proportions.

    The sheet never crops, so a photo with other proportions would be printed stretched,
    which makes an ID photo unusable.
    """
    require_rgb(photo_rgb, "photo_rgb")
    height, width = photo_rgb.shape[:2]
    expected_height = width * layout.photo_mm[1] / layout.photo_mm[0]
    if abs(height - expected_height) > max(1.0, MAX_ASPECT_MISMATCH * expected_height):
        raise InvalidOptionError(
            f"The photo is {width}x{height} pixels, which does not have the proportions of "
            f"{format_mm(layout.photo_mm[0])} x {format_mm(layout.photo_mm[1])} mm; it would print stretched.",
            hint="Crop the photo to the ID specification first, then make the print sheet.",
        )
    return photo_rgb
