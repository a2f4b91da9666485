"""Tests for pipeline.idphoto.layout, paper, sheet_png and sheet_pdf: print sheets at exact physical scale.

The only photo used is scikit-image's public-domain astronaut portrait, cropped to the
35x45 mm proportions. Expected numbers (counts, pixel sizes, points) are computed here
from the geometry, not taken from the module, and the PDF is parsed independently.
"""
from __future__ import annotations

import io
import itertools
import math
import re
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from skimage import data as skimage_data

from pipeline.core.errors import InvalidOptionError
from pipeline.idphoto.layout import SheetLayout, cut_mark_segments_mm, plan_sheet
from pipeline.idphoto.paper import PAPER_SIZES_MM, parse_paper
from pipeline.idphoto.sheet_pdf import sheet_pdf_bytes, write_sheet_pdf
from pipeline.idphoto.sheet_png import render_sheet_png, write_sheet_png

MM_PER_INCH = 25.4
PT_PER_MM = 72 / 25.4
PHOTO_MM = (35.0, 45.0)
FOUR_BY_SIX_MM = (101.6, 152.4)
GREEN = np.array([0, 230, 0], dtype=np.uint8)  # a colour the astronaut photo does not contain
FRAME_PX = 12


@pytest.fixture(scope="module")
def id_photo() -> np.ndarray:
    """The astronaut cropped to 35:45 (398x512), like an ID photo made by the pipeline."""
    image = np.ascontiguousarray(skimage_data.astronaut(), dtype=np.uint8)
    width = round(512 * PHOTO_MM[0] / PHOTO_MM[1])
    left = (512 - width) // 2
    return np.ascontiguousarray(image[:, left : left + width])


@pytest.fixture(scope="module")
def framed_photo(id_photo: np.ndarray) -> np.ndarray:
    """The ID photo with a solid green frame, so each pasted copy is one findable blob.

    The astronaut's white suit and background would otherwise merge with the white page.
    """
    framed = id_photo.copy()
    framed[:FRAME_PX] = GREEN
    framed[-FRAME_PX:] = GREEN
    framed[:, :FRAME_PX] = GREEN
    framed[:, -FRAME_PX:] = GREEN
    return framed


def expected_capacity(paper: tuple[float, float], photo: tuple[float, float], gap: float, margin: float) -> int:
    columns = math.floor((paper[0] - 2 * margin + gap) / (photo[0] + gap) + 1e-9)
    rows = math.floor((paper[1] - 2 * margin + gap) / (photo[1] + gap) + 1e-9)
    return max(columns, 0) * max(rows, 0)


def px(mm: float, dpi: int) -> int:
    return round(mm / MM_PER_INCH * dpi)


# --------------------------------------------------------------------------------------
# parse_paper
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4x6", (101.6, 152.4)),
        ("5X7", (127.0, 177.8)),
        (" A4 ", (210.0, 297.0)),
        ("Letter", (215.9, 279.4)),
    ],
)
def test_parse_paper_names_are_case_insensitive(text: str, expected: tuple[float, float]) -> None:
    assert parse_paper(text) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("100x150mm", (100.0, 150.0)),
        ("100 x 150 MM", (100.0, 150.0)),
        ("89x127", (89.0, 127.0)),
        ("4x6in", (101.6, 152.4)),
        ("3.5x5in", (88.9, 127.0)),
        ("10x15cm", (100.0, 150.0)),
        ("150x100mm", (100.0, 150.0)),  # returned portrait whichever way it was written
    ],
)
def test_parse_paper_custom_sizes(text: str, expected: tuple[float, float]) -> None:
    assert parse_paper(text) == pytest.approx(expected)


def test_paper_table_is_portrait() -> None:
    assert {"4x6", "5x7", "a4", "letter"} <= set(PAPER_SIZES_MM)
    assert all(width <= height for width, height in PAPER_SIZES_MM.values())


@pytest.mark.parametrize("text", ["", "a3x", "4x", "x6", "4x6ft", "ten by fifteen", "0x150mm", "-4x6in", "5000x100mm"])
def test_parse_paper_rejects_bad_text_and_lists_the_forms(text: str) -> None:
    with pytest.raises(InvalidOptionError) as caught:
        parse_paper(text)
    message = caught.value.user_message
    assert "a4" in message and "100x150mm" in message and "4x6in" in message


# --------------------------------------------------------------------------------------
# plan_sheet
# --------------------------------------------------------------------------------------


def assert_inside_and_apart(layout: SheetLayout) -> None:
    width, height = layout.photo_mm
    paper_width, paper_height = layout.paper_mm
    tolerance = 1e-6
    for x, y in layout.positions_mm:
        assert x >= layout.margin_mm - tolerance and y >= layout.margin_mm - tolerance
        assert x + width <= paper_width - layout.margin_mm + tolerance
        assert y + height <= paper_height - layout.margin_mm + tolerance
    for (x1, y1), (x2, y2) in itertools.combinations(layout.positions_mm, 2):
        horizontal_gap = max(x2 - (x1 + width), x1 - (x2 + width))
        vertical_gap = max(y2 - (y1 + height), y1 - (y2 + height))
        assert max(horizontal_gap, vertical_gap) >= layout.gap_mm - tolerance


def test_35x45_on_4x6_fits_as_many_as_the_geometry_allows() -> None:
    portrait = expected_capacity(FOUR_BY_SIX_MM, PHOTO_MM, 2.0, 4.0)
    landscape = expected_capacity(FOUR_BY_SIX_MM[::-1], PHOTO_MM, 2.0, 4.0)
    assert (portrait, landscape) == (6, 6)  # the geometry itself: 2x3 and 3x2
    layout = plan_sheet(FOUR_BY_SIX_MM, PHOTO_MM)
    assert layout.copies == max(portrait, landscape)
    assert layout.landscape is (landscape > portrait)
    assert layout.paper_mm == pytest.approx(FOUR_BY_SIX_MM)
    assert layout.photo_mm == PHOTO_MM and layout.dpi == 300
    assert_inside_and_apart(layout)


def test_grid_is_centred_on_the_page() -> None:
    layout = plan_sheet(FOUR_BY_SIX_MM, PHOTO_MM)
    xs = [x for x, _ in layout.positions_mm]
    ys = [y for _, y in layout.positions_mm]
    assert min(xs) == pytest.approx(FOUR_BY_SIX_MM[0] - (max(xs) + PHOTO_MM[0]))
    assert min(ys) == pytest.approx(FOUR_BY_SIX_MM[1] - (max(ys) + PHOTO_MM[1]))


def test_paper_turns_to_landscape_when_more_copies_fit_and_photos_stay_upright() -> None:
    photo = (30.0, 40.0)
    portrait = expected_capacity(FOUR_BY_SIX_MM, photo, 2.0, 4.0)
    landscape = expected_capacity(FOUR_BY_SIX_MM[::-1], photo, 2.0, 4.0)
    assert landscape > portrait
    layout = plan_sheet(FOUR_BY_SIX_MM, photo)
    assert layout.landscape is True
    assert layout.copies == landscape
    assert layout.paper_mm == pytest.approx(FOUR_BY_SIX_MM[::-1])
    assert layout.photo_mm == photo  # never rotated
    assert layout.paper_px == (px(152.4, 300), px(101.6, 300))
    assert_inside_and_apart(layout)
    # Copies that fit in portrait keep the paper portrait.
    assert plan_sheet(FOUR_BY_SIX_MM, photo, copies=portrait).landscape is False


@pytest.mark.parametrize("paper", ["a4", "letter", "5x7"])
@pytest.mark.parametrize(("gap", "margin"), [(2.0, 4.0), (0.0, 0.0), (5.0, 10.0)])
def test_other_papers_match_the_geometry(paper: str, gap: float, margin: float) -> None:
    paper_mm = PAPER_SIZES_MM[paper]
    layout = plan_sheet(paper_mm, PHOTO_MM, gap_mm=gap, margin_mm=margin)
    best = max(expected_capacity(paper_mm, PHOTO_MM, gap, margin), expected_capacity(paper_mm[::-1], PHOTO_MM, gap, margin))
    assert layout.copies == best
    assert_inside_and_apart(layout)


@pytest.mark.parametrize("copies", [1, 2, 3, 5])
def test_requested_copies_are_honoured(copies: int) -> None:
    layout = plan_sheet(FOUR_BY_SIX_MM, PHOTO_MM, copies=copies)
    assert layout.copies == copies == len(set(layout.positions_mm))
    assert_inside_and_apart(layout)


def test_too_many_copies_says_how_many_fit() -> None:
    with pytest.raises(InvalidOptionError) as caught:
        plan_sheet(FOUR_BY_SIX_MM, PHOTO_MM, copies=7)
    assert "at most 6" in caught.value.message
    assert caught.value.hint


def test_photo_larger_than_printable_area_is_refused() -> None:
    with pytest.raises(InvalidOptionError, match="does not fit"):
        plan_sheet(FOUR_BY_SIX_MM, (100.0, 150.0))  # fits the paper, not inside 4 mm margins
    with pytest.raises(InvalidOptionError, match="does not fit"):
        plan_sheet(FOUR_BY_SIX_MM, (120.0, 160.0))


@pytest.mark.parametrize(
    "options",
    [
        {"copies": 0},
        {"copies": 2.5},
        {"gap_mm": -1.0},
        {"margin_mm": float("nan")},
        {"dpi": 0},
        {"dpi": 300.5},
        {"dpi": 100_000},
    ],
)
def test_bad_options_are_refused(options: dict[str, object]) -> None:
    with pytest.raises(InvalidOptionError):
        plan_sheet(FOUR_BY_SIX_MM, PHOTO_MM, **options)  # type: ignore[arg-type]


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(InvalidOptionError):
        plan_sheet((0.0, 150.0), PHOTO_MM)
    with pytest.raises(InvalidOptionError):
        plan_sheet(FOUR_BY_SIX_MM, (35.0, -45.0))


def test_paper_px_rounds_millimetres_at_the_dpi() -> None:
    a4 = plan_sheet(PAPER_SIZES_MM["a4"], PHOTO_MM, dpi=300)
    assert a4.paper_px == (2480, 3508)  # 210 mm = 2480.3 px, 297 mm = 3507.9 px
    assert plan_sheet(FOUR_BY_SIX_MM, PHOTO_MM, dpi=600).paper_px == (2400, 3600)


# --------------------------------------------------------------------------------------
# PNG sheet
# --------------------------------------------------------------------------------------


def photo_boxes(page: np.ndarray, min_area: int) -> list[tuple[int, int, int, int]]:
    """Bounding boxes (x, y, w, h) of the green-framed blobs, found without the layout."""
    greenish = (page[..., 1] > 150) & (page[..., 0] < 110) & (page[..., 2] < 110)
    count, _, stats, _ = cv2.connectedComponentsWithStats(greenish.astype(np.uint8), connectivity=8)
    boxes = [tuple(int(v) for v in stats[label, :4]) for label in range(1, count) if stats[label, cv2.CC_STAT_AREA] >= min_area]
    return sorted(boxes, key=lambda box: (box[1], box[0]))


@pytest.mark.parametrize("dpi", [300, 600])
def test_png_sheet_has_exact_pixel_sizes(framed_photo: np.ndarray, dpi: int) -> None:
    layout = plan_sheet(FOUR_BY_SIX_MM, PHOTO_MM, dpi=dpi)
    page = render_sheet_png(framed_photo, layout)
    assert page.dtype == np.uint8
    assert page.shape == (px(FOUR_BY_SIX_MM[1], dpi), px(FOUR_BY_SIX_MM[0], dpi), 3)
    expected_w, expected_h = px(PHOTO_MM[0], dpi), px(PHOTO_MM[1], dpi)
    boxes = photo_boxes(page, min_area=expected_w * 4)
    assert len(boxes) == layout.copies
    expected_boxes = sorted(
        ((px(x, dpi), px(y, dpi), expected_w, expected_h) for x, y in layout.positions_mm), key=lambda box: (box[1], box[0])
    )
    assert boxes == expected_boxes
    reference = cv2.resize(framed_photo, (expected_w, expected_h), interpolation=cv2.INTER_AREA)
    for x, y, w, h in boxes:
        region = page[y : y + h, x : x + w].astype(np.int16)
        assert np.mean(np.abs(region - reference)) < 3.0


def test_png_sheet_upscales_small_photos_to_the_exact_size(framed_photo: np.ndarray) -> None:
    small = cv2.resize(framed_photo, (140, 180), interpolation=cv2.INTER_AREA)
    layout = plan_sheet(FOUR_BY_SIX_MM, PHOTO_MM, dpi=300, copies=2)
    boxes = photo_boxes(render_sheet_png(small, layout, cut_marks=False), min_area=1000)
    assert [(w, h) for _, _, w, h in boxes] == [(px(35, 300), px(45, 300))] * 2


def test_cut_marks_are_drawn_but_never_touch_a_photo(framed_photo: np.ndarray) -> None:
    layout = plan_sheet(FOUR_BY_SIX_MM, PHOTO_MM, dpi=300)
    with_marks = render_sheet_png(framed_photo, layout, cut_marks=True)
    without_marks = render_sheet_png(framed_photo, layout, cut_marks=False)
    photo_w, photo_h = px(PHOTO_MM[0], 300), px(PHOTO_MM[1], 300)
    outside = np.ones(with_marks.shape[:2], dtype=bool)
    near_photo = np.zeros(with_marks.shape[:2], dtype=bool)
    ring = 3
    for x_mm, y_mm in layout.positions_mm:
        x, y = px(x_mm, 300), px(y_mm, 300)
        outside[y : y + photo_h, x : x + photo_w] = False
        near_photo[max(y - ring, 0) : y + photo_h + ring, max(x - ring, 0) : x + photo_w + ring] = True
        # The photos themselves are identical with and without marks.
        assert np.array_equal(with_marks[y : y + photo_h, x : x + photo_w], without_marks[y : y + photo_h, x : x + photo_w])
    assert np.all(without_marks[outside] == 255)
    marked = np.any(with_marks != 255, axis=2) & outside
    assert marked.sum() > 100  # marks exist
    assert not np.any(marked & near_photo)  # ...and keep a clear ring around every photo
    grey_levels = np.unique(with_marks[marked])
    assert len(grey_levels) == 1 and 64 <= grey_levels[0] <= 192


def test_cut_mark_segments_stay_in_gaps_and_margins() -> None:
    layout = plan_sheet(FOUR_BY_SIX_MM, PHOTO_MM)
    marks = cut_mark_segments_mm(layout)
    assert len(marks) >= 4 * layout.copies
    width, height = layout.photo_mm
    for mark in marks:
        assert mark.x1 == mark.x2 or mark.y1 == mark.y2
        assert 0 < mark.x1 <= mark.x2 < layout.paper_mm[0] and 0 < mark.y1 <= mark.y2 < layout.paper_mm[1]
        for x, y in layout.positions_mm:
            overlaps_x = mark.x1 < x + width and mark.x2 > x
            overlaps_y = mark.y1 < y + height and mark.y2 > y
            assert not (overlaps_x and overlaps_y)


def test_photo_with_other_proportions_is_refused(id_photo: np.ndarray) -> None:
    layout = plan_sheet(FOUR_BY_SIX_MM, PHOTO_MM, copies=1)
    with pytest.raises(InvalidOptionError, match="stretched"):
        render_sheet_png(np.ascontiguousarray(id_photo[:300]), layout)


def test_write_sheet_png_is_tagged_with_the_dpi(id_photo: np.ndarray, tmp_path: Path) -> None:
    layout = plan_sheet(FOUR_BY_SIX_MM, PHOTO_MM, dpi=300, copies=2)
    written = write_sheet_png(tmp_path / "sheet.png", id_photo, layout)
    with Image.open(written) as image:
        assert image.size == (1200, 1800)
        assert image.info["dpi"] == pytest.approx((300, 300), abs=0.01)
    assert [p.name for p in tmp_path.iterdir()] == ["sheet.png"]


# --------------------------------------------------------------------------------------
# PDF sheet (parsed here independently)
# --------------------------------------------------------------------------------------


def pdf_objects(pdf: bytes) -> dict[int, bytes]:
    """Objects by number, located through the xref table; checks every offset on the way."""
    assert pdf.startswith(b"%PDF-1.")
    assert pdf.rstrip().endswith(b"%%EOF")
    startxref = int(re.search(rb"startxref\s+(\d+)\s+%%EOF\s*$", pdf).group(1))
    assert pdf[startxref:].startswith(b"xref")
    header = re.match(rb"xref\r?\n(\d+) (\d+)\r?\n", pdf[startxref:])
    first, count = int(header.group(1)), int(header.group(2))
    assert first == 0
    table = pdf[startxref + header.end() : startxref + header.end() + 20 * count]
    entries = [table[i * 20 : (i + 1) * 20] for i in range(count)]
    assert entries[0].startswith(b"0000000000 65535 f")
    offsets: dict[int, int] = {}
    for number, entry in enumerate(entries[1:], start=1):
        offset_text, _generation, kind = entry.split()[:3]
        assert kind == b"n" and len(entry) == 20
        offsets[number] = int(offset_text)
        assert pdf[offsets[number] :].startswith(f"{number} 0 obj".encode()), f"xref offset of object {number} is wrong"
    # Each object runs to the next one (or the xref table); binary JPEG data may hold any bytes.
    boundaries = sorted([*offsets.values(), startxref])
    objects: dict[int, bytes] = {}
    for number, offset in offsets.items():
        body = pdf[offset : boundaries[boundaries.index(offset) + 1]]
        assert body.rstrip().endswith(b"endobj")
        objects[number] = body
    trailer = pdf[pdf.rindex(b"trailer") :]
    assert int(re.search(rb"/Size (\d+)", trailer).group(1)) == count
    return objects


def stream_data(obj: bytes) -> tuple[bytes, bytes]:
    """(dictionary, stream bytes) of a stream object, using its /Length."""
    match = re.search(rb"stream\r?\n", obj)
    dictionary = obj[: match.start()]
    length = int(re.search(rb"/Length (\d+)", dictionary).group(1))
    data = obj[match.end() : match.end() + length]
    assert obj[match.end() + length :].lstrip().startswith(b"endstream")
    return dictionary, data


def reference(dictionary: bytes, key: bytes) -> int:
    return int(re.search(key + rb"\s+(\d+) 0 R", dictionary).group(1))


FLOAT = rb"(-?\d+(?:\.\d+)?)"


@pytest.mark.parametrize(("paper", "copies"), [("4x6", None), ("a4", None), ("letter", 3)])
def test_pdf_sheet_is_exact_size(id_photo: np.ndarray, paper: str, copies: int | None) -> None:
    paper_mm = PAPER_SIZES_MM[paper]
    layout = plan_sheet(paper_mm, PHOTO_MM, copies=copies)
    pdf = sheet_pdf_bytes(id_photo, layout)
    objects = pdf_objects(pdf)

    trailer = pdf[pdf.rindex(b"trailer") :]
    catalog = objects[reference(trailer, b"/Root")]
    assert b"/Type /Catalog" in catalog
    pages = objects[reference(catalog, b"/Pages")]
    assert b"/Count 1" in pages
    page = objects[int(re.search(rb"/Kids\s*\[\s*(\d+) 0 R\s*\]", pages).group(1))]
    assert b"/Type /Page" in page

    media_box = [float(v) for v in re.search(rb"/MediaBox\s*\[\s*" + rb"\s+".join([FLOAT] * 4) + rb"\s*\]", page).groups()]
    assert media_box[:2] == [0.0, 0.0]
    assert media_box[2] == pytest.approx(layout.paper_mm[0] * PT_PER_MM, abs=0.01)
    assert media_box[3] == pytest.approx(layout.paper_mm[1] * PT_PER_MM, abs=0.01)

    _, content = stream_data(objects[reference(page, b"/Contents")])
    draws = re.findall(rb"\s+".join([FLOAT] * 6) + rb"\s+cm\s+/(\w+)\s+Do", content)
    assert len(draws) == layout.copies
    image_names = {name for *_, name in draws}
    assert len(image_names) == 1  # one image, drawn several times
    drawn_at_mm = []
    for a, b, c, d, e, f, _ in draws:
        assert float(b) == 0.0 and float(c) == 0.0  # no rotation or skew
        assert float(a) / PT_PER_MM == pytest.approx(PHOTO_MM[0], abs=0.1)
        assert float(d) / PT_PER_MM == pytest.approx(PHOTO_MM[1], abs=0.1)
        x_mm = float(e) / PT_PER_MM
        top_mm = layout.paper_mm[1] - float(f) / PT_PER_MM - PHOTO_MM[1]
        drawn_at_mm.append((x_mm, top_mm))
    flatten = lambda points: [value for point in sorted(points) for value in point]  # noqa: E731
    assert flatten(drawn_at_mm) == pytest.approx(flatten(layout.positions_mm), abs=0.01)
    assert len(re.findall(rb" l\s+S", content)) == len(cut_mark_segments_mm(layout))

    name = image_names.pop().decode()
    image_ref = int(re.search(rf"/{name}\s+(\d+) 0 R".encode(), page).group(1))
    image_dictionary, jpeg = stream_data(objects[image_ref])
    assert b"/Subtype /Image" in image_dictionary and b"/Filter /DCTDecode" in image_dictionary
    assert sum(b"/Subtype /Image" in obj for obj in objects.values()) == 1
    with Image.open(io.BytesIO(jpeg)) as decoded:
        assert decoded.format == "JPEG"
        assert decoded.size == (id_photo.shape[1], id_photo.shape[0])
        width = int(re.search(rb"/Width (\d+)", image_dictionary).group(1))
        height = int(re.search(rb"/Height (\d+)", image_dictionary).group(1))
        assert (width, height) == decoded.size

    for forbidden in (b"/Info", b"/Producer", b"/CreationDate", b"/ModDate", b"/Author"):
        assert forbidden not in pdf


def test_pdf_without_cut_marks_has_no_lines(id_photo: np.ndarray) -> None:
    layout = plan_sheet(FOUR_BY_SIX_MM, PHOTO_MM)
    objects = pdf_objects(sheet_pdf_bytes(id_photo, layout, cut_marks=False))
    contents = [stream_data(obj)[1] for obj in objects.values() if b"/Subtype /Image" not in obj and b"stream" in obj]
    assert len(contents) == 1
    assert b" S" not in contents[0] and contents[0].count(b" Do") == layout.copies


def test_write_sheet_pdf_writes_atomically(id_photo: np.ndarray, tmp_path: Path) -> None:
    layout = plan_sheet(FOUR_BY_SIX_MM, PHOTO_MM, copies=2)
    target = tmp_path / "sheet.pdf"
    target.write_bytes(b"old")
    written = write_sheet_pdf(target, id_photo, layout, jpeg_quality=90)
    assert written == target
    assert target.read_bytes() == sheet_pdf_bytes(id_photo, layout, jpeg_quality=90)
    assert [p.name for p in tmp_path.iterdir()] == ["sheet.pdf"]  # no temp file left behind


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="pdftoppm (poppler-utils) is not installed; PDF not rendered")
def test_pdf_renders_with_poppler_at_the_paper_size(framed_photo: np.ndarray, tmp_path: Path) -> None:
    dpi = 300
    layout = plan_sheet(FOUR_BY_SIX_MM, PHOTO_MM)
    pdf_path = write_sheet_pdf(tmp_path / "sheet.pdf", framed_photo, layout)
    subprocess.run(
        ["pdftoppm", "-r", str(dpi), "-png", "-singlefile", str(pdf_path), str(tmp_path / "render")],
        check=True,
        capture_output=True,
        timeout=60,
    )
    with Image.open(tmp_path / "render.png") as rendered:
        page = np.asarray(rendered.convert("RGB"))
    assert page.shape[:2] == (px(FOUR_BY_SIX_MM[1], dpi), px(FOUR_BY_SIX_MM[0], dpi))
    boxes = photo_boxes(page, min_area=2000)
    assert len(boxes) == layout.copies
    for (x, y, w, h), (x_mm, y_mm) in zip(boxes, sorted(layout.positions_mm, key=lambda p: (p[1], p[0]))):
        # The box includes a partly covered pixel at each anti-aliased edge: at most 2 px
        # (0.17 mm at 300 dpi) more than the exact size, never less than 1 px short.
        assert -1.0 <= w - PHOTO_MM[0] / MM_PER_INCH * dpi <= 2.0
        assert -1.0 <= h - PHOTO_MM[1] / MM_PER_INCH * dpi <= 2.0
        assert abs(x - x_mm / MM_PER_INCH * dpi) <= 1.0 and abs(y - y_mm / MM_PER_INCH * dpi) <= 1.0
