"""``python -m pipeline batch JOB``: the web app's Batch tab from the command line, through
the same code (:func:`pipeline.batch.run_batch`, the same per-photo jobs and report), for a
QA team's folders, archives and list files of any size.

What only the command line adds: a progress bar with ETA, resuming (the ledger in the output
folder: finished inputs are skipped, ``--retry-failed`` runs the failed ones again),
``--shard i/n`` for n processes over one input, ``--workers`` photos in flight at once so a
GPU's micro-batcher fills its batches from many photos, and ``--engine ray`` for a cluster.
Exit codes as the other image commands: 0 all done, 1 some inputs failed, 2 usage error,
3 stopped early (disk full), 130 interrupted (run the same command again to resume).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.cli.inputs import check_settings, prepare_output
from pipeline.cli.run import EXIT_INTERRUPTED, EXIT_OK, EXIT_SOME_FAILED, EXIT_STOPPED, printable
from pipeline.core.errors import InvalidOptionError, OutputWriteError

if TYPE_CHECKING:
    from pipeline.batch.jobs import BatchJob
    from pipeline.batch.ledger import BatchLedger
    from pipeline.batch.report import BatchRow, BatchSummary

VERBS = {"restore": "Restored", "background": "Replaced the background of", "idphoto": "Made ID photos from"}


def batch_job(args: argparse.Namespace) -> BatchJob:
    """The job the command line describes, its options checked before anything runs."""
    from pipeline.batch.jobs import BatchJob
    from pipeline.cli.commands import background_options, idphoto_options, restore_options

    if args.job == "restore":
        return BatchJob("restore", restore_options(args), fmt=args.format)
    if args.job == "background":
        return BatchJob("background", background_options(args), fmt=args.format, matting=args.matting)
    return BatchJob("idphoto", idphoto_options(args))


def cmd_batch(args: argparse.Namespace) -> int:
    from pipeline.batch.ledger import BatchLedger
    from pipeline.batch.sources import parse_shard

    job = batch_job(args)
    shard = parse_shard(args.shard) if args.shard else None
    if shard and args.zip:
        raise InvalidOptionError("--zip makes one archive of every shard's results, so it cannot be made by one shard.",
                                 hint="Run the same command once more without --shard (it skips what is done) with --zip.")
    if not args.inputs and not args.list_file:
        raise InvalidOptionError("No photos given.", hint="Give files, folders, .zip archives, quoted patterns or --list.")
    check_settings()
    prepare_output(args.output)
    ledger = BatchLedger.open(args.output, job.fingerprint(), shard=shard, retry_failed=args.retry_failed)
    try:
        return _run(args, job, ledger, shard)
    finally:
        ledger.close()


def _run(args: argparse.Namespace, job: BatchJob, ledger: BatchLedger, shard: tuple[int, int] | None) -> int:
    """Gather the inputs (archives unpacked into a folder deleted afterwards), run, report."""
    from pipeline.batch.sources import gather_items

    with tempfile.TemporaryDirectory(prefix="portrait-lab-batch-") as unpacked:
        items, problems = gather_items(args.inputs, Path(unpacked), list_file=args.list_file,
                                       recursive=args.recursive, shard=shard, lang=getattr(args, "lang", None) or "en")
        for row in problems:  # inputs that give no photo: said now, not only in the report
            print(f"{printable(row.name)}: {row.message}", file=sys.stderr)
        progress = _PlannedProgress(args)
        try:
            summary = _execute(args, job, items, problems, ledger, shard, progress)
        except KeyboardInterrupt:
            print(f"Interrupted: {len(ledger.finished)} photo(s) are done and recorded in {args.output}; "
                  "run the same command again to go on.", file=sys.stderr)
            return EXIT_INTERRUPTED
        except OutputWriteError as error:
            print(f"Stopped: {error.user_message}", file=sys.stderr)
            print("What was finished before that is recorded; run the same command again to go on.", file=sys.stderr)
            return EXIT_STOPPED
        finally:
            progress.close()
    return _summarise(summary, args, before=progress.before)


def _execute(args: argparse.Namespace, job: BatchJob, items: list, problems: list[BatchRow], ledger: BatchLedger,
             shard: tuple[int, int] | None, progress: _PlannedProgress) -> BatchSummary:
    """The batch on this machine's threads, or on Ray."""
    from pipeline.batch import run_batch

    finished, planned = progress.finished, progress.planned

    report_name = "report" if shard is None else f"report.shard-{shard[0]}-of-{shard[1]}"
    if args.engine == "ray":
        from pipeline.batch.ray_runner import run_batch_on_ray

        return run_batch_on_ray(items, job, args.output, extra_rows=problems, ledger=ledger, finished=finished,
                                make_zip=args.zip, report_name=report_name, device=args.device,
                                precision=getattr(args, "precision", None), address=args.address,
                                workers=args.workers, planned=planned, lang=getattr(args, "lang", None) or "en")
    from pipeline.batch.pipelines import LocalPipelines, batch_workers
    from pipeline.models.device import choose_compute

    pipelines = LocalPipelines(choose_compute(args.device, getattr(args, "precision", None)))
    process = job.process(pipelines)  # models load once, here: missing weights stop before any photo
    workers = args.workers or batch_workers(job.kind, pipelines.engine)
    return run_batch(items, process, args.output, job_name=job.kind, extra_rows=problems, workers=workers,
                     ledger=ledger, finished=finished, make_zip=args.zip, stop_on=(OutputWriteError,),
                     report_name=report_name, planned=planned, lang=getattr(args, "lang", None) or "en")


class _PlannedProgress:
    """The progress bar, made once the ledger has said how many photos are left (the plan is
    made once, by the run itself); what was done before is said first."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.before = 0
        self.bar = None

    def planned(self, todo: int, total: int) -> None:
        from tqdm import tqdm

        self.before = total - todo
        if self.before:
            print(f"Resuming: {self.before} of {total} photo(s) were done before (see the report); {todo} to go."
                  f"{'' if self.args.retry_failed else ' --retry-failed runs the failed ones again.'}",
                  file=sys.stderr)
        self.bar = tqdm(total=todo, desc=f"Batch {self.args.job}", unit="photo", file=sys.stderr, disable=None)

    def finished(self, row: BatchRow) -> None:
        if self.bar is not None:
            self.bar.update(1)
            if row.status == "error":
                self.bar.write(f"{printable(row.name)}: {row.message}", file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _summarise(summary: BatchSummary, args: argparse.Namespace, *, before: int) -> int:
    """One line of counts and where the report is. Exit 1 when any input failed, or (ID
    photos) any photo's verdict is FAIL: it would be refused at the counter."""
    counts = summary.counts
    done = counts.get("ok", 0) + counts.get("warning", 0)
    rejected = sum(row.metrics.get("compliance") == "fail" for row in summary.rows)
    print(f"{VERBS[args.job]} {done} of {len(summary.rows)} input(s): {counts.get('ok', 0)} ok, "
          f"{counts.get('warning', 0)} with warnings, {counts.get('error', 0)} failed, "
          f"{counts.get('skipped', 0)} skipped"
          + (f"; {rejected} did not pass the document's rules" if rejected else "")
          + (f"; {before} of them done before" if before else "")
          + f"; this run {summary.seconds:.1f} s; report: {summary.html_path}")
    return EXIT_SOME_FAILED if counts.get("error", 0) or rejected else EXIT_OK
