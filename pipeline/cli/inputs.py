"""The CLI's inputs and output, checked before any work: folders expanded into their image
files, every path that gives nothing named with a reason (missing, a pipe, a dangling link,
a folder without images), and the settings, output folder and ``--report`` path proven
usable before a model loads, so a typo costs nothing. Nothing here imports torch.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from pipeline.core.errors import InvalidOptionError, os_reason
from pipeline.core.limits import max_pixels_from_env
from pipeline.core.paths import Problems, collect_inputs, path_kind
from pipeline.core.publish import sweep_staging

SAMPLE_NAME = "astronaut"

Jobs = list[tuple[str, Path | None]]  # (name as given, file; None for the bundled sample)


def prepare_output(folder: Path) -> None:
    """The output folder exists (made if needed), is a folder and can be written to:
    checked before any image is processed, so a typo costs nothing."""
    hint = "Give a folder you can write to with -o (it is created if missing)."
    kind, why = path_kind(folder)
    if kind not in ("folder", "missing"):
        raise InvalidOptionError(f"The output path {folder} is {why}, not a folder.", hint=hint)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InvalidOptionError(f"The output folder {folder} cannot be created ({os_reason(error)}).",
                                 hint=hint) from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InvalidOptionError(f"The output folder {folder} is not writable.", hint=hint)
    sweep_staging(folder)  # hidden leftovers of a run that was killed outright


def _check_report_path(report: Path | None) -> None:
    """``--report`` names a regular file we can create or replace (never a device such as
    /dev/null, which the atomic rename would replace), before any image is processed."""
    if report is None:
        return
    kind, why = path_kind(report)
    if kind not in ("file", "missing"):
        raise InvalidOptionError(f"The report path {report} is {why}.", hint="Give a file name such as report.json.")
    folder = report.parent
    if path_kind(folder)[0] != "folder" or not os.access(folder, os.W_OK | os.X_OK):
        raise InvalidOptionError(f"The report cannot be written: {folder} is not a folder you can write to.",
                                 hint="Give a path in an existing folder you can write to.")


def check_settings() -> None:
    """Environment settings the image commands read, checked once up front."""
    max_pixels_from_env()


def prepare_run(args: argparse.Namespace, verb: str) -> tuple[Jobs, Problems]:
    """Everything checked before models load: settings, output folder, report path, inputs.
    Returns the jobs, and the inputs that give nothing (reported as failures)."""
    check_settings()
    prepare_output(args.output)
    _check_report_path(getattr(args, "report", None))
    if not args.inputs and not args.sample:
        raise InvalidOptionError(f"No images to {verb}: give image files or folders, or --sample.")
    files, problems = collect_inputs(args.inputs, args.recursive)
    jobs: Jobs = [(str(path), path) for path in files]
    if args.sample:
        jobs.append((SAMPLE_NAME, None))
    return jobs, problems
