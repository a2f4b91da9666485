"""What a batch leaves behind: a row per input (:class:`BatchRow`), the summary the UI shows
(:class:`BatchSummary`), and the files a visitor downloads: ``report.csv``, a self-contained
``report.html`` (inline CSS, data-URI thumbnails, no script, every user string escaped) and
``results.zip``. Rows carry file names, statuses and our own measurements, never metadata
read from the inputs; only their small JPEG thumbnails outlive an item, so memory stays
bounded however many photos a batch holds.

Languages: report.html is for people, so its words (title, headings, column names, status
words, the summary sentence, ``<html lang>``) are in the batch's language. report.csv is for
scripts: its header row keeps the column ids and its status column the status ids, whatever
the language; only the sentences in its ``message`` column are in the batch's language (the
rows are written in it, see :func:`pipeline.batch.run_batch`).
"""
from __future__ import annotations

import base64
import csv
import html
import io
import os
import time
import uuid
import zipfile
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from pipeline.core.atomic_write import write_atomically
from pipeline.core.encode import encode_image
from pipeline.core.publish import OutputFile, publish
from pipeline.i18n import DEFAULT_LANGUAGE, translate
from pipeline.restore.identity_bands import identity_legend

THUMBNAIL_MAX_SIDE = 256
THUMBNAIL_QUALITY = 80

STATUS_OK, STATUS_WARNING, STATUS_ERROR, STATUS_SKIPPED = "ok", "warning", "error", "skipped"
STATUSES = (STATUS_OK, STATUS_WARNING, STATUS_ERROR, STATUS_SKIPPED)
BATCH_JOB_NAMES = ("restore", "background", "idphoto")  # each has a "batch.job.<name>" label
BASE_COLUMNS = ("name", "status", "message", "output", "seconds")
# The columns a person reads by a name (catalogue key "batch.column.<id>") in the app's table
# and report.html; report.csv keeps the ids (stable names for scripts). An id without a
# label is shown as words ("file_kb": "File kb").
LABELLED_COLUMNS = frozenset({
    "name", "status", "message", "output", "seconds", "faces_found", "faces_restored", "output_size",
    "psnr_vs_input_db", "faces", "mode", "person_fraction", "compliance", "checks_failed", "checks_warned",
    "file_kb", "size_px", "dpi", "head_ratio", "spec", "identity_lowest", "identity_verdict",
})
# The operator's: which model or method made a result. In report.csv, not in what a visitor reads.
OPERATOR_COLUMNS = frozenset({"model", "detector", "matting"})


def column_label(key: str, lang: str = DEFAULT_LANGUAGE) -> str:
    """The header a person reads for a column key, in ``lang``."""
    if key in LABELLED_COLUMNS:
        return translate(f"batch.column.{key}", lang)
    return key.replace("_", " ").capitalize()


def status_label(status: str, lang: str = DEFAULT_LANGUAGE) -> str:
    """A status id ("ok", "warning", "error", "skipped") as a person reads it, in ``lang``."""
    return translate(f"batch.status.{status}", lang) if status in STATUSES else status


@dataclass
class BatchRow:
    """One line of the report. ``output`` is relative to the job folder ("results/a.png"),
    so no server path leaks into a report. Thumbnails are small JPEG bytes (HTML only)."""

    name: str
    status: str
    message: str = ""
    output: str = ""
    seconds: float | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    before_thumbnail: bytes | None = field(default=None, repr=False)
    after_thumbnail: bytes | None = field(default=None, repr=False)
    # notes about the server (a fallback model), not this photo: said once above the rows
    server_notes: tuple[str, ...] = field(default=(), repr=False)


def server_notes(rows: Sequence[BatchRow]) -> list[str]:
    """Every row's server notes, once each, in first-seen order."""
    return list(dict.fromkeys(note for row in rows for note in row.server_notes))


@dataclass
class BatchSummary:
    """Everything the UI shows after a batch: rows, counts, the report files and the time."""

    job_name: str
    rows: list[BatchRow]
    counts: dict[str, int]
    csv_path: Path
    html_path: Path
    zip_path: Path | None  # None when the caller asked for the results folder only
    seconds: float
    lang: str = DEFAULT_LANGUAGE  # the language of its rows' sentences, headers and status words

    @property
    def server_notes(self) -> list[str]:
        return server_notes(self.rows)

    def metric_columns(self) -> list[str]:
        """The measurements a visitor sees (the operator's columns are in report.csv only)."""
        return [key for key in _metric_columns(self.rows) if key not in OPERATOR_COLUMNS]

    def table_headers(self) -> list[str]:
        """Plain column headers matching :meth:`table`, in the batch's language."""
        return [column_label(key, self.lang) for key in ("name", "status", "message", *self.metric_columns())]

    def table(self) -> list[list[Any]]:
        """Rows as lists for a UI dataframe: name, status, the message saying why (beside the
        status, not past a sideways scroll), then every metric."""
        columns = self.metric_columns()
        return [[row.name, status_label(row.status, self.lang), row.message,
                 *(plain_value(row.metrics.get(c, "")) for c in columns)]
                for row in self.rows]

    def comparisons(self, directory: Path) -> list[tuple[Path, str]]:
        """Side-by-side before | after thumbnails written to ``directory``, with a caption
        (name and status) each: the QA view of a batch at a glance."""
        directory.mkdir(parents=True, exist_ok=True)
        pairs: list[tuple[Path, str]] = []
        for row in self.rows:
            if row.before_thumbnail is None or row.after_thumbnail is None:
                continue
            before, after = (_decode_thumbnail(t) for t in (row.before_thumbnail, row.after_thumbnail))
            height = max(before.shape[0], after.shape[0])
            gap = np.full((height, 8, 3), 255, np.uint8)
            panel = np.concatenate([_pad_to_height(before, height), gap, _pad_to_height(after, height)], axis=1)
            jpeg = encode_image(panel, format="JPEG", quality=THUMBNAIL_QUALITY)
            [target] = publish(directory, Path(row.name).stem, [OutputFile(".jpg", jpeg)])
            pairs.append((target, f"{row.name}: {status_label(row.status, self.lang)}"))
        return pairs


def plain_value(value: Any) -> Any:
    """numpy scalars -> Python ones, so the CSV, HTML and UI see ordinary numbers."""
    return value.item() if isinstance(value, np.generic) else value


def thumbnail(rgb: np.ndarray, alpha: np.ndarray | None = None) -> bytes:
    """A small JPEG (long side <= 256 px); transparency is shown over a light checkerboard."""
    height, width = rgb.shape[:2]
    scale = min(1.0, THUMBNAIL_MAX_SIDE / max(height, width))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA) if scale < 1.0 else rgb
    if alpha is not None:
        small_alpha = cv2.resize(alpha, size, interpolation=cv2.INTER_AREA) if scale < 1.0 else alpha
        yy, xx = np.indices(small_alpha.shape)
        board = np.where(((yy // 8 + xx // 8) % 2 == 0)[..., None], 255, 204).astype(np.float32)
        weight = small_alpha.astype(np.float32)[..., None] / 255.0
        small = (small.astype(np.float32) * weight + board * (1.0 - weight) + 0.5).astype(np.uint8)
    return encode_image(np.ascontiguousarray(small), format="JPEG", quality=THUMBNAIL_QUALITY)


def _decode_thumbnail(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


def _pad_to_height(rgb: np.ndarray, height: int) -> np.ndarray:
    if rgb.shape[0] == height:
        return rgb
    pad = np.full((height - rgb.shape[0], rgb.shape[1], 3), 255, np.uint8)
    return np.concatenate([rgb, pad], axis=0)


def _metric_columns(rows: Sequence[BatchRow]) -> list[str]:
    """Union of metric names in first-seen order (stable across runs of the same job)."""
    columns: dict[str, None] = {}
    for row in rows:
        for key in row.metrics:
            columns.setdefault(key, None)
    return list(columns)


def _csv_cell(value: Any) -> Any:
    """Neutralise spreadsheet formulas in text (a file named '=cmd|...' must stay text)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value


def _csv_bytes(rows: Sequence[BatchRow]) -> bytes:
    """The header row is the column ids in every language: report.csv is read by scripts."""
    columns = _metric_columns(rows)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([*BASE_COLUMNS, *columns])
    for row in rows:
        base = [row.name, row.status, row.message, row.output, "" if row.seconds is None else row.seconds]
        writer.writerow([_csv_cell(v) for v in base] + [_csv_cell(row.metrics.get(c, "")) for c in columns])
    return buffer.getvalue().encode("utf-8-sig")  # the BOM makes spreadsheet apps read UTF-8


_STATUS_COLOURS = {STATUS_OK: "#1b7f3b", STATUS_WARNING: "#b26a00", STATUS_ERROR: "#c62828", STATUS_SKIPPED: "#6b6b6b"}

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;background:#fafafa}
h1{font-size:1.4em;margin:0 0 8px}
.summary span{display:inline-block;margin:0 12px 12px 0;padding:4px 10px;border-radius:12px;color:#fff}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{border:1px solid #ddd;padding:6px;vertical-align:top;text-align:left;font-size:0.9em}
th{background:#f0f0f0}
td.thumb{width:260px;text-align:center;color:#999}
img{max-width:256px;max-height:256px}
.status{font-weight:bold;color:#fff;padding:2px 8px;border-radius:10px;white-space:nowrap}
dl{margin:0;display:grid;grid-template-columns:auto 1fr;gap:2px 8px}
dt{color:#555}dd{margin:0}
.name{min-width:16ch;overflow-wrap:anywhere;font-weight:600}
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _img(data: bytes | None, alt: str) -> str:
    if not data:
        return "&ndash;"
    encoded = base64.b64encode(data).decode("ascii")
    return f'<img alt="{_e(alt)}" src="data:image/jpeg;base64,{encoded}">'


def _html_report(job_name: str, rows: Sequence[BatchRow], counts: dict[str, int], seconds: float,
                 lang: str = DEFAULT_LANGUAGE) -> str:
    """One self-contained page in ``lang``: inline CSS, data-URI thumbnails, no script and no
    external resource (a strict Content-Security-Policy says so to the browser too). Every
    string that came from a user is escaped."""
    badges = "".join(
        f'<span style="background:{_STATUS_COLOURS[status]}">{_e(status_label(status, lang))}: {counts.get(status, 0)}</span>'
        for status in STATUSES if counts.get(status, 0) or status != STATUS_SKIPPED
    )
    title = _e(translate("batch.report.title", lang, job=job_label(job_name, lang)))
    summary = _e(translate("batch.report.summary", lang, count=len(rows), seconds=f"{seconds:.1f}"))
    headings = "".join(f"<th>{_e(translate(f'batch.report.{key}', lang))}</th>"
                       for key in ("file", "status", "before", "after", "details"))
    lines = [
        "<!DOCTYPE html>",
        f'<html lang="{_e(lang)}"><head><meta charset="utf-8">',
        '<meta http-equiv="Content-Security-Policy" '
        "content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{title}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{title}</h1>",
        f'<p class="summary">{badges}<br>{summary}</p>',
        *(f'<p class="server">{_e(note)}</p>' for note in server_notes(rows)),
        *_legends(rows, lang),
        f"<table><thead><tr>{headings}</tr></thead><tbody>",
    ]
    lines += [_html_row(row, lang) for row in problems_first(rows)]
    lines.append("</tbody></table></body></html>")
    return "\n".join(lines)


def job_label(job_name: str, lang: str = DEFAULT_LANGUAGE) -> str:
    """A batch job's name as a person reads it ("idphoto" -> "ID photos"); another name as it is."""
    return translate(f"batch.job.{job_name}", lang) if job_name in BATCH_JOB_NAMES else job_name


def _html_row(row: BatchRow, lang: str) -> str:
    """One photo's line: name, status word, thumbnails, and what was found or went wrong."""
    colour = _STATUS_COLOURS.get(row.status, "#6b6b6b")
    details = []
    if row.message:
        details.append(f"<dt>{_e(column_label('message', lang))}</dt><dd>{_e(row.message)}</dd>")
    if row.output:
        details.append(f"<dt>{_e(column_label('output', lang))}</dt><dd>{_e(row.output)}</dd>")
    if row.seconds is not None:
        details.append(f"<dt>{_e(column_label('seconds', lang))}</dt><dd>{row.seconds:.2f}</dd>")
    details += [f"<dt>{_e(column_label(key, lang))}</dt><dd>{_e(value)}</dd>" for key, value in row.metrics.items()
                if key not in OPERATOR_COLUMNS]
    return (f'<tr><td class="name">{_e(row.name)}</td>'
            f'<td><span class="status" style="background:{colour}">{_e(status_label(row.status, lang))}</span></td>'
            f'<td class="thumb">{_img(row.before_thumbnail, translate("batch.report.before_alt", lang))}</td>'
            f'<td class="thumb">{_img(row.after_thumbnail, translate("batch.report.after_alt", lang))}</td>'
            f'<td><dl>{"".join(details)}</dl></td></tr>')


PROBLEM_ORDER = {STATUS_ERROR: 0, STATUS_WARNING: 1, STATUS_SKIPPED: 2, STATUS_OK: 3}


def problems_first(rows: Sequence[BatchRow]) -> list[BatchRow]:
    """Failures, then warnings, then skipped, then the rest: what a reviewer opens the report
    for comes first (each group in input order)."""
    return sorted(rows, key=lambda row: PROBLEM_ORDER.get(row.status, len(PROBLEM_ORDER)))


def _legends(rows: Sequence[BatchRow], lang: str = DEFAULT_LANGUAGE) -> list[str]:
    """One line under the summary for each column whose numbers need a key (the identity score)."""
    if any("identity_lowest" in row.metrics for row in rows):
        return [f'<p class="legend">{_e(column_label("identity_lowest", lang))}: {_e(identity_legend())}</p>']
    return []


def _write_zip(zip_path: Path, out_dir: Path, outputs: Sequence[Path], reports: Sequence[Path]) -> None:
    """results.zip with this run's outputs (results/...) and the reports; written to a temp
    name first so a half-written zip is never offered for download."""
    temporary = zip_path.with_name(f".{zip_path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with zipfile.ZipFile(temporary, "w") as archive:
            for path in outputs:  # images are already compressed
                archive.write(path, path.relative_to(out_dir).as_posix(), compress_type=zipfile.ZIP_STORED)
            for path in reports:
                archive.write(path, path.name, compress_type=zipfile.ZIP_DEFLATED)
        os.replace(temporary, zip_path)
    except BaseException:
        with suppress(FileNotFoundError):
            temporary.unlink()
        raise



def write_reports(out_dir: Path, job_name: str, rows: Sequence[BatchRow], counts: dict[str, int],
                  outputs: Sequence[Path], started: float, *, make_zip: bool = True,
                  name: str = "report", lang: str = DEFAULT_LANGUAGE) -> tuple[Path, Path, Path | None]:
    """report.csv, report.html (in ``lang``) and (``make_zip``) results.zip (``outputs`` and both
    reports) in ``out_dir``; returns their paths (no zip: None). The HTML states the total time, so it is measured from
    ``started`` up to the HTML (the zip takes little more)."""
    csv_path, html_path, zip_path = out_dir / f"{name}.csv", out_dir / f"{name}.html", out_dir / "results.zip"
    write_atomically(csv_path, _csv_bytes(rows))
    seconds = time.perf_counter() - started
    write_atomically(html_path, _html_report(job_name, rows, counts, seconds, lang).encode("utf-8"))
    if not make_zip:
        return csv_path, html_path, None
    _write_zip(zip_path, out_dir, outputs, [csv_path, html_path])
    return csv_path, html_path, zip_path
