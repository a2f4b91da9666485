"""Print sheets: several copies of one ID photo on a sheet of photo paper, at exact scale.

ID photos (passport, visa) are specified in millimetres, and a print shop or home printer
only keeps that size if the sheet itself is at exact physical scale. Everything here is
therefore planned in millimetres first (``plan_sheet``) and only then turned into pixels
(``render_sheet_png``) or PDF points (``sheet_pdf_bytes``):

* The PNG is a page of exactly ``paper_px`` pixels at the layout's dpi; it prints at the
  right size when printed at that dpi with "actual size" (no fit-to-page).
* The PDF is the safer choice: its page *is* the paper size, and each photo is drawn with
  a matrix whose scale is the photo's size in points, so every copy measures exactly the
  specified millimetres whatever the pixel count. The catalogue also asks viewers not to
  scale when printing (``/PrintScaling /None``).

Photos are never rotated to squeeze in more copies: a sideways ID photo is a print-shop
mistake. Only the paper may be turned (landscape) when that fits more copies.

Cut marks are short grey lines on the extension of each photo edge, placed only in the
gaps and margins with a clearance from every photo and from the page edge, so they guide
the cutter without ever touching a photo.
"""
from __future__ import annotations

import math
import numbers
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import cv2
import numpy as np

from pipeline.core.errors import InvalidOptionError
from pipeline.core.imageio import encode_image, positive_pair, require_rgb, save_image, write_atomically
from pipeline.core.limits import MAX_DPI, MAX_OUTPUT_PIXELS, MAX_PAPER_SIDE_MM, MIN_DPI
from pipeline.core.units import MM_PER_INCH

__all__ = [
    "PAPER_SIZES_MM",
    "CutMark",
    "SheetLayout",
    "cut_mark_segments_mm",
    "parse_paper",
    "plan_sheet",
    "render_sheet_png",
    "sheet_pdf_bytes",
    "write_sheet_pdf",
    "write_sheet_png",
]

POINTS_PER_INCH = 72.0

#: Common photo papers, portrait orientation (width <= height), in millimetres.
PAPER_SIZES_MM: dict[str, tuple[float, float]] = {
    "4x6": (101.6, 152.4),
    "5x7": (127.0, 177.8),
    "a4": (210.0, 297.0),
    "letter": (215.9, 279.4),
}


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

_UNIT_TO_MM: dict[str, float] = {
    "mm": 1.0,
    "cm": 10.0,
    "in": MM_PER_INCH,
    "inch": MM_PER_INCH,
    "inches": MM_PER_INCH,
    '"': MM_PER_INCH,
}
_NUMBER = r"(\d+(?:\.\d*)?|\.\d+)"
_CUSTOM_PAPER = re.compile(
    rf"^\s*{_NUMBER}\s*[x×*]\s*{_NUMBER}\s*(mm|cm|inches|inch|in|\")?\s*$", re.IGNORECASE
)
_PAPER_FORMS_HINT = (
    f"Use a paper name ({', '.join(PAPER_SIZES_MM)}) or a custom size such as "
    "100x150mm, 10x15cm, 4x6in or 100x150 (millimetres when no unit is given)."
)


# --------------------------------------------------------------------------------------
# Paper
# --------------------------------------------------------------------------------------


def parse_paper(value: str) -> tuple[float, float]:
    """Paper size in millimetres, portrait (width <= height), from a name or ``WxH[unit]``.

    Names (``4x6``, ``5x7``, ``a4``, ``letter``; any case) win over custom sizes, so
    ``"4x6"`` is the 4x6-inch photo paper, while an unnamed ``"100x150"`` is millimetres.
    Custom units: ``mm`` (default), ``cm``, ``in``. The result is always portrait because
    ``plan_sheet`` decides the orientation itself.
    """
    if not isinstance(value, str):
        raise InvalidOptionError(f"The paper size must be text such as 'a4'; got {value!r}.", hint=_PAPER_FORMS_HINT)
    name = value.strip().lower()
    if name in PAPER_SIZES_MM:
        return PAPER_SIZES_MM[name]
    match = _CUSTOM_PAPER.match(value)
    if match is None:
        raise InvalidOptionError(f"'{value}' is not a paper size Portrait Lab understands.", hint=_PAPER_FORMS_HINT)
    unit = (match.group(3) or "mm").lower()
    scale = _UNIT_TO_MM[unit]
    width, height = float(match.group(1)) * scale, float(match.group(2)) * scale
    if not (0 < width <= MAX_PAPER_SIDE_MM and 0 < height <= MAX_PAPER_SIDE_MM):
        raise InvalidOptionError(
            f"The paper size '{value}' is {width:g} x {height:g} mm; each side must be more than 0 "
            f"and at most {MAX_PAPER_SIDE_MM:g} mm.",
            hint=_PAPER_FORMS_HINT,
        )
    return (min(width, height), max(width, height))


# --------------------------------------------------------------------------------------
# Planning
# --------------------------------------------------------------------------------------


def _mm_to_px(mm: float, dpi: int) -> int:
    """Pixels for a length at a resolution, the one rounding rule used everywhere."""
    return round(mm / MM_PER_INCH * dpi)


def _mm_to_pt(mm: float) -> float:
    return mm / MM_PER_INCH * POINTS_PER_INCH


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
        return (_mm_to_px(self.paper_mm[0], self.dpi), _mm_to_px(self.paper_mm[1], self.dpi))

    @property
    def photo_px(self) -> tuple[int, int]:
        """Size (width, height) in pixels of each photo on the PNG sheet."""
        return (_mm_to_px(self.photo_mm[0], self.dpi), _mm_to_px(self.photo_mm[1], self.dpi))

    @property
    def positions_px(self) -> tuple[tuple[int, int], ...]:
        """Top-left pixel (x, y) of each photo on the PNG sheet."""
        return tuple((_mm_to_px(x, self.dpi), _mm_to_px(y, self.dpi)) for x, y in self.positions_mm)


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


def _format_mm(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _require_renderable(paper_mm: tuple[float, float], dpi: int) -> None:
    """Refuse, before any work, a page whose PNG would exceed the output pixel limit."""
    pixels = math.prod(round(side / MM_PER_INCH * dpi) for side in paper_mm)
    if pixels > MAX_OUTPUT_PIXELS:
        raise InvalidOptionError(
            f"At {dpi} dpi that paper would be a {pixels / 1e6:.0f} MP image; the limit is "
            f"{MAX_OUTPUT_PIXELS / 1e6:.0f} MP.", hint="Choose smaller paper or a lower dpi.")


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
    landscape_capacity = landscape_grid[0] * landscape_grid[1]
    capacity = max(portrait_capacity, landscape_capacity)
    paper_text = f"{_format_mm(portrait[0])} x {_format_mm(portrait[1])} mm paper"
    photo_text = f"{_format_mm(photo[0])} x {_format_mm(photo[1])} mm photo"

    if capacity == 0:
        raise InvalidOptionError(
            f"A {photo_text} does not fit on {paper_text} with {_format_mm(margin)} mm margins.",
            hint="Choose larger paper or smaller margins.",
        )
    if copies is None:
        wanted = capacity
    else:
        if isinstance(copies, bool) or not isinstance(copies, numbers.Integral) or copies < 1:
            raise InvalidOptionError(f"The number of copies must be a whole number of at least 1; got {copies!r}.")
        wanted = int(copies)
        if wanted > capacity:
            raise InvalidOptionError(
                f"{wanted} copies do not fit: at most {capacity} copies of a {photo_text} fit on {paper_text} "
                f"(margins {_format_mm(margin)} mm, gaps {_format_mm(gap)} mm).",
                hint=f"Ask for {capacity} or fewer copies, choose larger paper, or reduce the margins or gaps.",
            )

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
# PNG (pixels)
# --------------------------------------------------------------------------------------


def _validated_photo(photo_rgb: Any, layout: SheetLayout) -> np.ndarray:
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
            f"{_format_mm(layout.photo_mm[0])} x {_format_mm(layout.photo_mm[1])} mm; it would print stretched.",
            hint="Crop the photo to the ID specification first, then make the print sheet.",
        )
    return photo_rgb


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
    thickness = max(1, _mm_to_px(MARK_WIDTH_MM, layout.dpi))
    page_height, page_width = page.shape[:2]
    for mark in cut_mark_segments_mm(layout):
        x1, y1 = _mm_to_px(mark.x1, layout.dpi), _mm_to_px(mark.y1, layout.dpi)
        x2, y2 = _mm_to_px(mark.x2, layout.dpi), _mm_to_px(mark.y2, layout.dpi)
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
    photo = _resized_exactly(_validated_photo(photo_rgb, layout), layout.photo_px)
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


# --------------------------------------------------------------------------------------
# PDF (points)
# --------------------------------------------------------------------------------------


def _pdf_number(value: float) -> str:
    """A PDF real with 4 decimals (1e-4 pt is 35 nanometres), without trailing zeros."""
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _pdf_stream(dictionary_entries: str, data: bytes) -> bytes:
    """A stream object body; ``/Length`` is the exact byte count of ``data``."""
    entries = f"{dictionary_entries} /Length {len(data)}".strip()
    return f"<< {entries} >>\nstream\n".encode("ascii") + data + b"\nendstream"


def _pdf_document(objects: list[bytes]) -> bytes:
    """Objects numbered from 1, a classic xref table with byte offsets, and a trailer.

    No ``/Info`` dictionary: no producer, dates or anything else about the user's machine.
    """
    output = bytearray(b"%PDF-1.6\n%\xe2\xe3\xcf\xd3\n")  # binary comment: mark the file as binary
    offsets: list[int] = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(output))
        output += f"{number} 0 obj\n".encode("ascii") + body + b"\nendobj\n"
    xref_offset = len(output)
    output += f"xref\n0 {len(objects) + 1}\n".encode("ascii")
    output += b"0000000000 65535 f \n"
    for offset in offsets:
        output += f"{offset:010d} 00000 n \n".encode("ascii")  # each entry exactly 20 bytes
    output += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref_offset}\n%%EOF\n".encode("ascii")
    return bytes(output)


def _page_content(layout: SheetLayout, cut_marks: bool) -> bytes:
    """Drawing commands: one ``cm`` + ``Do`` per copy, then the cut marks as stroked lines.

    PDF's origin is the bottom-left corner, so y is flipped. The image is a unit square
    in its own space; the ``cm`` scale is therefore the photo's size in points.
    """
    page_height_mm = layout.paper_mm[1]
    width_pt, height_pt = _mm_to_pt(layout.photo_mm[0]), _mm_to_pt(layout.photo_mm[1])
    lines: list[str] = []
    for x_mm, y_mm in layout.positions_mm:
        x_pt = _mm_to_pt(x_mm)
        y_pt = _mm_to_pt(page_height_mm - y_mm - layout.photo_mm[1])
        matrix = " ".join(_pdf_number(value) for value in (width_pt, 0, 0, height_pt, x_pt, y_pt))
        lines.append(f"q {matrix} cm /Im1 Do Q")
    marks = cut_mark_segments_mm(layout) if cut_marks else ()
    if marks:
        lines.append(f"q {_pdf_number(MARK_GREY / 255)} G {_pdf_number(_mm_to_pt(MARK_WIDTH_MM))} w 0 J")
        for mark in marks:
            x1, y1 = _mm_to_pt(mark.x1), _mm_to_pt(page_height_mm - mark.y1)
            x2, y2 = _mm_to_pt(mark.x2), _mm_to_pt(page_height_mm - mark.y2)
            lines.append(f"{_pdf_number(x1)} {_pdf_number(y1)} m {_pdf_number(x2)} {_pdf_number(y2)} l S")
        lines.append("Q")
    return ("\n".join(lines) + "\n").encode("ascii")


def sheet_pdf_bytes(
    photo_rgb: np.ndarray, layout: SheetLayout, *, cut_marks: bool = True, jpeg_quality: int = 95
) -> bytes:
    """A one-page PDF of exactly ``layout.paper_mm`` with every copy at exact size.

    The photo's own pixels are embedded once as a JPEG (``DCTDecode``; no resampling, so
    the printer gets every pixel) and drawn at each position. The content stream is left
    uncompressed: it is a few hundred bytes, and plain text is easy to audit.
    """
    photo = _validated_photo(photo_rgb, layout)
    jpeg = encode_image(photo, format="JPEG", quality=jpeg_quality)
    photo_height, photo_width = photo.shape[:2]
    page_width_pt, page_height_pt = _mm_to_pt(layout.paper_mm[0]), _mm_to_pt(layout.paper_mm[1])
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R /ViewerPreferences << /PrintScaling /None >> >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        (
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {_pdf_number(page_width_pt)} {_pdf_number(page_height_pt)}] "
            "/Resources << /XObject << /Im1 5 0 R >> >> /Contents 4 0 R >>"
        ).encode("ascii"),
        _pdf_stream("", _page_content(layout, cut_marks)),
        _pdf_stream(
            f"/Type /XObject /Subtype /Image /Width {photo_width} /Height {photo_height} "
            "/ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter /DCTDecode",
            jpeg,
        ),
    ]
    return _pdf_document(objects)


def write_sheet_pdf(path: str | os.PathLike[str], photo_rgb: np.ndarray, layout: SheetLayout, **kwargs: Any) -> Path:
    """Build the PDF and write it atomically (temp file in the same folder, then ``os.replace``).

    ``kwargs`` are those of ``sheet_pdf_bytes`` (``cut_marks``, ``jpeg_quality``).
    """
    data = sheet_pdf_bytes(photo_rgb, layout, **kwargs)
    target = Path(path)
    write_atomically(target, data)
    return target
