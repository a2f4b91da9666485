"""Batch with a QA report: many photos (files and ``.zip`` archives) through one job (restore,
new background or ID photo), then ``report.csv``, a self-contained ``report.html`` and
``results.zip`` with everything. The web app's Batch tab is its caller.

This is the report-making adapter to the one batch loop, :func:`pipeline.runner.run_each`, the
loop the CLI runs too: a photo's failure becomes its row's sentence and the batch goes on.
What only a QA batch does stays here: results in the job folder, a row per photo (status,
thumbnails, measurements, time), the reports. Inputs come from :mod:`pipeline.batch.inputs`,
the per-photo functions from :mod:`pipeline.batch.jobs`, rows and reports from
:mod:`pipeline.batch.report`. Outputs are encoded from pixels alone, and only thumbnails are
kept between items, so memory stays bounded however many photos a batch holds.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

from pipeline.batch.inputs import BatchItem
from pipeline.batch.jobs import Process
from pipeline.batch.report import (
    STATUS_ERROR,
    STATUS_OK,
    STATUS_WARNING,
    STATUSES,
    BatchRow,
    BatchSummary,
    plain_value,
    thumbnail,
    write_reports,
)
from pipeline.core.decode import decode_image
from pipeline.core.notes import split_notes
from pipeline.core.publish import OutputFile, publish, safe_stem
from pipeline.runner import ItemOutcome, run_each

RESULTS_FOLDER = "results"
JOB_NAME_MAX = 40  # the job name ends every result name; the photo's own name comes first

Progress = Callable[[int, int, str], None]


def run_batch(items: Sequence[BatchItem], process: Process, out_dir: Path, *, job_name: str,
              progress: Progress | None = None, extra_rows: Sequence[BatchRow] = ()) -> BatchSummary:
    """Run ``process`` on every item; one failure never stops the batch. Outputs go to
    ``out_dir/results``; then report.csv, report.html and results.zip are written.
    ``progress(index, total, name)`` is called before each item (index counts from 0).
    ``extra_rows`` (the problems ``expand_inputs`` found) are reported after the items."""
    started = time.perf_counter()
    out_dir = Path(out_dir)
    results_dir = out_dir / RESULTS_FOLDER
    results_dir.mkdir(parents=True, exist_ok=True)
    job = safe_stem(job_name, fallback="job")[:JOB_NAME_MAX]
    rows = [BatchRow(item.name, STATUS_ERROR) for item in items]  # each filled in as its photo runs
    total = len(items)

    def tell(index: int, entry: tuple[BatchItem, BatchRow]) -> None:
        progress(index, total, entry[0].name)

    run_each(zip(items, rows), lambda entry: _process_one(*entry, process, results_dir, job), _finish_row,
             before=tell if progress is not None else None)
    written = [out_dir / row.output for row in rows if row.output]
    rows.extend(extra_rows)
    counts = {status: sum(row.status == status for row in rows) for status in STATUSES}
    csv_path, html_path, zip_path = write_reports(out_dir, job_name, rows, counts, written, started)
    return BatchSummary(job_name=job_name, rows=rows, counts=counts, csv_path=csv_path, html_path=html_path,
                        zip_path=zip_path, seconds=time.perf_counter() - started)


def _process_one(item: BatchItem, row: BatchRow, process: Process, results_dir: Path, job: str) -> None:
    """Decode, process and write one item, filling in its row as it goes (a photo that fails
    after decoding keeps its before-thumbnail). Failures are the loop's to catch."""
    image = decode_image(item.path)
    row.before_thumbnail = thumbnail(image.rgb, image.alpha)
    output = process(image)
    del image  # only thumbnails outlive an item
    [target] = publish(results_dir, item.stem, [OutputFile(output.suffix, output.data)], tag=f"_{job}")
    row.output = f"{RESULTS_FOLDER}/{target.name}"
    row.after_thumbnail = thumbnail(output.preview, output.preview_alpha)
    row.metrics = {str(k): plain_value(v) for k, v in output.metrics.items()}
    photo_notes, setup_notes = split_notes(output.warnings)
    row.status = STATUS_WARNING if photo_notes else STATUS_OK
    row.message = " ".join(str(note) for note in photo_notes)
    row.server_notes = tuple(str(note) for note in setup_notes)


def _finish_row(outcome: ItemOutcome[tuple[BatchItem, BatchRow], None]) -> None:
    """A failed photo's sentence for the visitor (a bug shows only its kind), and every row's time."""
    _, row = outcome.item
    if outcome.error is not None:  # the visitor's words: no command or server path in a row
        row.message = outcome.error.visitor_message
    elif outcome.internal is not None:
        row.message = f"unexpected error ({type(outcome.internal).__name__})"
    row.seconds = round(outcome.seconds, 3)
