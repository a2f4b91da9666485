"""What an ID photo job writes: the photo with its companion files (overlay, report as text
and JSON, print sheet as PNG and PDF), published as one set; and the print sheet a document
can have. The CLI and the web app share it."""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pipeline.core.encode import encode_image
from pipeline.core.errors import InvalidOptionError
from pipeline.core.publish import OutputFile, publish
from pipeline.i18n import render, translate
from pipeline.idphoto.layout import SheetLayout, plan_sheet
from pipeline.idphoto.maker import IdPhotoResult
from pipeline.idphoto.paper import parse_paper
from pipeline.idphoto.sheet_pdf import sheet_pdf_bytes
from pipeline.idphoto.sheet_png import render_sheet_png
from pipeline.idphoto.specs import IdPhotoSpec


def print_sheet_for(spec: IdPhotoSpec, paper: str, *, hint: str, dpi: int | None = None,
                    copies: int | None = None) -> SheetLayout:
    """The print sheet of this document on ``paper``; a digital-only document has none."""
    if not spec.width_mm:
        raise InvalidOptionError(f"{spec.label} is a digital upload with no print size, so it has no print sheet.",
                                 hint=hint)
    return plan_sheet(parse_paper(paper), spec.size_mm, dpi=spec.output_dpi(dpi), copies=copies)


@dataclass(frozen=True)
class IdPhotoFiles:
    """What :func:`write_id_photo_files` wrote, and the report text it holds."""

    photo: Path
    overlay: Path
    report_txt: Path
    report_json: Path
    report_text: str
    sheet_png: Path | None = None
    sheet_pdf: Path | None = None

    @property
    def paths(self) -> list[Path]:
        return [p for p in (self.photo, self.overlay, self.report_txt, self.report_json, self.sheet_png,
                            self.sheet_pdf) if p is not None]


def write_id_photo_files(result: IdPhotoResult, directory: Path, name: str, sheet: SheetLayout | None = None,
                         sheet_name: str = "sheet", *, tag: str = "",
                         record: Callable[[list[Path]], None] | None = None, lang: str = "en") -> IdPhotoFiles:
    """The photo and every companion file (overlay, report as text and JSON, print sheet as PNG
    and PDF), named ``<name><tag>...`` so they sort together; the CLI and the app share it.
    ``record`` is :func:`publish`'s: it sees the paths before an interrupt can land. The report
    (text and JSON) is written in ``lang``.

    Everything is encoded in memory first and published as one set under a name no earlier
    run holds: the photo never appears without its report, and no run overwrites another's.
    """
    summary = result.corrections.summary(lang) if result.corrections else ""
    corrected = [summary] if summary else []
    noted = [*corrected, *(str(render(warning, lang)) for warning in result.warnings)]
    notes = (f"\n\n{translate('report.page.fold_notes', lang)}:\n- " + "\n- ".join(noted)
             if corrected or result.warnings else "")
    report_text = result.report.to_text(lang) + notes
    members = [
        OutputFile(f".{result.format}", result.encoded),
        OutputFile("_overlay.png", encode_image(result.overlay, format="PNG")),
        OutputFile("_report.txt", (report_text + "\n").encode("utf-8")),
        OutputFile("_report.json", json.dumps(result.to_dict(lang), indent=2, ensure_ascii=False).encode("utf-8")),
    ]
    if sheet is not None:
        members += [
            # from the first generation: a size-limited upload JPEG must not blur the prints
            OutputFile(f"_{sheet_name}.png", encode_image(render_sheet_png(result.placed, sheet), format="PNG",
                                                          dpi=(sheet.dpi, sheet.dpi))),
            OutputFile(f"_{sheet_name}.pdf", sheet_pdf_bytes(result.placed, sheet)),
        ]
    paths = publish(directory, name, members, tag=tag, record=record)
    photo, overlay, report_txt, report_json = paths[:4]
    sheet_png, sheet_pdf = paths[4:] if sheet is not None else (None, None)
    return IdPhotoFiles(photo, overlay, report_txt, report_json, report_text, sheet_png, sheet_pdf)
