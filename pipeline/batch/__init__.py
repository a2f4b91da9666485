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

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from pipeline.batch.inputs import BatchItem
from pipeline.batch.jobs import JobOutput, Process
from pipeline.batch.ledger import BatchLedger, is_result_file, item_key
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
from pipeline.core.errors import InvalidOptionError
from pipeline.core.notes import split_notes
from pipeline.core.publish import OutputFile, publish, safe_stem
from pipeline.i18n import DEFAULT_LANGUAGE, Message, render
from pipeline.runner import ItemOutcome, run_concurrently, run_item

RESULTS_FOLDER = "results"
JOB_NAME_MAX = 40  # the job name ends every result name; the photo's own name comes first
# report.html embeds its thumbnails: past this many rows, rows that passed keep none (rows with
# a problem, up to twice as many), so a batch of a million photos still makes a report.
MAX_THUMBNAIL_ROWS = 2000

Progress = Callable[[int, int, str], None]
Finished = Callable[[BatchRow], None]
Planned = Callable[[int, int], None]  # (left to run, all items)


def run_batch(items: Sequence[BatchItem], process: Process, out_dir: Path, *, job_name: str,
              progress: Progress | None = None, extra_rows: Sequence[BatchRow] = (), workers: int = 1,
              ledger: BatchLedger | None = None, finished: Finished | None = None, make_zip: bool = True,
              stop_on: tuple[type[BaseException], ...] = (), report_name: str = "report",
              planned: Planned | None = None, lang: str = DEFAULT_LANGUAGE) -> BatchSummary:
    """Run ``process`` on every item; one failure never stops the batch. Outputs go to
    ``out_dir/results``; then report.csv, report.html and (``make_zip``) results.zip.

    ``progress(done, total, name)`` and ``finished(row)`` are called as each item ends (with
    several in flight, a count of started ones would run ahead of the work). ``extra_rows`` (the problems ``expand_inputs`` found) are
    reported after the items. ``workers`` above 1 runs that many photos at once, so a
    micro-batched restorer packs many photos' faces into one call. With a ``ledger``, items it
    holds are skipped (their earlier rows are reported) and each finished item is recorded
    the moment its file is on disk, so the batch can be resumed. ``stop_on`` errors (the
    CLI's full disk) end the run instead of failing one row. ``planned(to_run, total)`` is
    called once the ledger has said what is left, before any work. The rows' sentences (a
    failure's, a warning's), report.html and the summary's headers are in ``lang``."""
    started = time.perf_counter()
    writer = BatchWriter(Path(out_dir), job_name, ledger=ledger, finished=finished, lang=lang)
    todo, earlier = writer.plan(items, planned)
    fresh = {id(item): BatchRow(item.name, STATUS_ERROR) for item in todo}  # each filled in as its photo runs

    ended = [0]
    def run_one(item: BatchItem) -> None:
        row = fresh[id(item)]
        output = process_item(item, row, process, lang)
        if output is not None:
            writer.write(item, row, output)

    def report(outcome: ItemOutcome[BatchItem, None]) -> None:
        row = fresh[id(outcome.item)]
        fill_failure(row, outcome, lang)  # only writing the result can fail here: the row says so
        writer.ended(outcome.item, row, written=not outcome.failed and row.status != STATUS_ERROR)
        ended[0] += 1
        if progress is not None:
            progress(ended[0], len(todo), outcome.item.name)

    run_concurrently(todo, run_one, report, workers=workers, stop_on=stop_on)
    rows = [fresh[id(item)] if id(item) in fresh else earlier[item_key(item)] for item in items]
    return writer.summarise(rows, extra_rows, started, make_zip=make_zip, report_name=report_name)


class BatchWriter:
    """Where a batch's results go, on the machine that holds the output folder: each result
    published into ``results/`` and recorded in the ledger the moment it is on disk, the
    report over every row at the end. The local loop and the Ray driver both write through it."""

    def __init__(self, out_dir: Path, job_name: str, *, ledger: BatchLedger | None = None,
                 finished: Finished | None = None, lang: str = DEFAULT_LANGUAGE) -> None:
        self.out_dir = out_dir
        self.results_dir = out_dir / RESULTS_FOLDER
        if self.results_dir.is_symlink():  # results would land, and be zipped from, somewhere else
            raise InvalidOptionError(f"{RESULTS_FOLDER} in the output folder is a link to another folder.",
                                     hint="Remove the link, or choose another output folder.")
        self.results_dir.mkdir(parents=True, exist_ok=True)
        self.job_name = job_name
        self.tag = "_" + safe_stem(job_name, fallback="job")[:JOB_NAME_MAX]
        self.ledger = ledger
        self.finished = finished
        self.budget = _ThumbnailBudget(0)
        self.lang = lang

    def plan(self, items: Sequence[BatchItem], planned: Planned | None = None,
             ) -> tuple[list[BatchItem], dict[str, BatchRow]]:
        """The items still to run, and the ledger's earlier rows of the others (by key);
        ``planned`` hears how many are left of how many."""
        todo, earlier = self.ledger.to_run(items) if self.ledger is not None else (list(items), {})
        self.budget.used = sum(row.before_thumbnail is not None for row in earlier.values())
        if planned is not None:
            planned(len(todo), len(items))
        return todo, earlier

    def write(self, item: BatchItem, row: BatchRow, output: JobOutput) -> None:
        """Publish one result; the ledger records it while a Ctrl-C waits, so a file on disk
        is never missing from the ledger (a resumed run would make it twice)."""

        def written(paths: list[Path]) -> None:
            row.output = f"{RESULTS_FOLDER}/{paths[0].name}"
            self.budget.trim(row)
            if self.ledger is not None:
                self.ledger.record(item, row)

        publish(self.results_dir, item.stem, [OutputFile(output.suffix, output.data)], tag=self.tag, record=written)

    def ended(self, item: BatchItem, row: BatchRow, *, written: bool) -> None:
        """An item is over: a failed one is recorded here (a written one already was)."""
        if not written:
            self.budget.trim(row)
            if self.ledger is not None:
                self.ledger.record(item, row)
        if self.finished is not None:
            self.finished(row)

    def summarise(self, rows: list[BatchRow], extra_rows: Sequence[BatchRow], started: float, *,
                  make_zip: bool = True, report_name: str = "report") -> BatchSummary:
        """The reports over every row (this run's and a ledger's earlier ones)."""
        written = [self.out_dir / row.output for row in rows if row.output and is_result_file(self.out_dir, row.output)]
        rows.extend(extra_rows)
        counts = {status: sum(row.status == status for row in rows) for status in STATUSES}
        csv_path, html_path, zip_path = write_reports(self.out_dir, self.job_name, rows, counts, written, started,
                                                      make_zip=make_zip, name=report_name, lang=self.lang)
        return BatchSummary(job_name=self.job_name, rows=rows, counts=counts, csv_path=csv_path,
                            html_path=html_path, zip_path=zip_path, seconds=time.perf_counter() - started,
                            lang=self.lang)


def process_item(item: BatchItem, row: BatchRow, process: Process, lang: str = DEFAULT_LANGUAGE) -> JobOutput | None:
    """Decode and process one item, filling in ``row`` (status, thumbnails, measurements,
    time, or the sentence saying why it failed); the output to write, or None when it
    failed (its sentences in ``lang``). Nothing is written: the caller publishes (here, or a Ray
    driver on its own disk)."""
    outcome = run_item(lambda entry: _make_output(entry, row, process, lang), item, 0)
    fill_failure(row, outcome, lang)
    row.seconds = round(outcome.seconds, 3)
    return outcome.result


def _make_output(item: BatchItem, row: BatchRow, process: Process, lang: str = DEFAULT_LANGUAGE) -> JobOutput:
    """Decode and process one item (a photo that fails after decoding keeps its
    before-thumbnail). Failures are the loop's to catch."""
    image = decode_image(item.path)
    row.before_thumbnail = thumbnail(image.rgb, image.alpha)
    output = process(image)
    del image  # only thumbnails outlive an item
    row.after_thumbnail = thumbnail(output.preview, output.preview_alpha)
    row.metrics = {str(k): plain_value(v) for k, v in output.metrics.items()}
    photo_notes, setup_notes = split_notes(output.warnings)
    row.status = STATUS_WARNING if photo_notes else STATUS_OK
    row.message = " ".join(str(render(note, lang)) for note in photo_notes)
    row.server_notes = tuple(str(render(note, lang)) for note in setup_notes)
    return output


def fill_failure(row: BatchRow, outcome: ItemOutcome, lang: str = DEFAULT_LANGUAGE) -> None:
    """A failed photo's sentence for the visitor, in ``lang`` (a bug shows only its kind)."""
    if outcome.error is not None:  # the visitor's words: no command or server path in a row
        row.status, row.message = STATUS_ERROR, outcome.error.visitor_message_in(lang)
    elif outcome.internal is not None:
        row.status = STATUS_ERROR
        row.message = Message("batch.row.unexpected", {"kind": type(outcome.internal).__name__}).text(lang)


class _ThumbnailBudget:
    """Keeps report.html's size bounded: once MAX_THUMBNAIL_ROWS rows hold thumbnails, rows
    that passed get none; rows with a problem (what a reviewer looks at) keep theirs up to
    twice that, then they too get none."""

    def __init__(self, used: int) -> None:
        self.used = used
        self._lock = threading.Lock()

    def trim(self, row: BatchRow) -> None:
        with self._lock:
            limit = MAX_THUMBNAIL_ROWS if row.status == STATUS_OK else 2 * MAX_THUMBNAIL_ROWS
            if self.used >= limit:
                row.before_thumbnail = row.after_thumbnail = None
            elif row.before_thumbnail is not None:
                self.used += 1
