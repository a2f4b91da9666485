"""The print sheet as a one-page PDF, written by hand, at exact millimetres.

The safer choice for printing: the page *is* the paper size, and each photo is drawn with
a matrix whose scale is the photo's size in points, so every copy measures exactly the
specified millimetres whatever the pixel count. The catalogue also asks viewers not to
scale when printing (``/PrintScaling /None``).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.core.atomic_write import write_atomically
from pipeline.core.encode import encode_image
from pipeline.core.units import MM_PER_INCH
from pipeline.idphoto.layout import MARK_GREY, MARK_WIDTH_MM, SheetLayout, cut_mark_segments_mm, validated_photo

POINTS_PER_INCH = 72.0


def _mm_to_pt(mm: float) -> float:
    return mm / MM_PER_INCH * POINTS_PER_INCH


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
    photo = validated_photo(photo_rgb, layout)
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
