"""The CLI's inputs and output, checked before any work: folders expanded into their image
files, every path that gives nothing named with a reason (missing, a pipe, a dangling link,
a folder without images), and the settings, output folder and ``--report`` path proven
usable before a model loads, so a typo costs nothing. Nothing here imports torch.
"""
from __future__ import annotations

import argparse
import errno
import os
import stat
from collections.abc import Iterable
from pathlib import Path

from pipeline.core.decode import SUPPORTED_INPUT_SUFFIXES
from pipeline.core.errors import InvalidOptionError, os_reason
from pipeline.core.limits import max_pixels_from_env
from pipeline.core.publish import sweep_staging

SAMPLE_NAME = "astronaut"

Jobs = list[tuple[str, Path | None]]  # (name as given, file; None for the bundled sample)
Problems = list[tuple[str, str]]  # (name as given, why it gives no image)


def path_kind(path: Path) -> tuple[str, str]:
    """What a path is, without ever raising: ("file" | "folder" | "special" | "missing" |
    "dangling" | "unusable", why). "special" is a pipe, device or socket (reading one would
    block or never end); "dangling" a link to nothing or a loop; "unusable" e.g. a name too
    long for the file system."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return ("dangling", "a link that leads nowhere") if os.path.islink(path) else ("missing", "no such file or folder")
    except OSError as error:
        if error.errno == errno.ELOOP:
            return "dangling", "a link that leads nowhere (a loop)"
        return "unusable", f"cannot be used ({os_reason(error)})"
    if stat.S_ISDIR(mode):
        return "folder", "a folder"
    if stat.S_ISREG(mode):
        return "file", "a file"
    return "special", "not a regular file (a pipe, device or socket), so it was not read"


def collect_inputs(paths: Iterable[Path], recursive: bool = False) -> tuple[list[Path], Problems]:
    """Expand folders into their image files (sorted); name every path that gives nothing:
    missing, not a regular file, unusable, or a folder without images."""
    found: list[Path] = []
    problems: Problems = []
    for path in paths:
        kind, why = path_kind(path)
        if kind == "folder":
            images = _images_in(path, recursive)
            found.extend(images)
            if not images:
                problems.append((str(path), _empty_folder_reason(path, recursive)))
        elif kind == "file":
            found.append(path)
        else:
            problems.append((str(path), why))
    return found, problems


def _images_in(folder: Path, recursive: bool) -> list[Path]:
    pattern = folder.rglob("*") if recursive else folder.glob("*")
    return sorted(p for p in pattern if p.suffix.lower() in SUPPORTED_INPUT_SUFFIXES and path_kind(p)[0] == "file")


def _empty_folder_reason(folder: Path, recursive: bool) -> str:
    kinds = ", ".join(sorted(SUPPORTED_INPUT_SUFFIXES))
    has_folders = not recursive and any(path_kind(p)[0] == "folder" for p in folder.iterdir())
    return (f"no images in this folder (looked for {kinds})"
            + ("; add --recursive to look in its sub-folders" if has_folders else ""))


def _prepare_output(folder: Path) -> None:
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


def _check_settings() -> None:
    """Environment settings the image commands read, checked once up front."""
    max_pixels_from_env()


def prepare_run(args: argparse.Namespace, verb: str) -> tuple[Jobs, Problems]:
    """Everything checked before models load: settings, output folder, report path, inputs.
    Returns the jobs, and the inputs that give nothing (reported as failures)."""
    _check_settings()
    _prepare_output(args.output)
    _check_report_path(getattr(args, "report", None))
    if not args.inputs and not args.sample:
        raise InvalidOptionError(f"No images to {verb}: give image files or folders, or --sample.")
    files, problems = collect_inputs(args.inputs, args.recursive)
    jobs: Jobs = [(str(path), path) for path in files]
    if args.sample:
        jobs.append((SAMPLE_NAME, None))
    return jobs, problems
