"""Command-line interface: ``python -m pipeline {restore,idphoto,background,specs,weights,info}``.

Choices (models, detectors) are read from the weights manifest, never typed here. Every
option and setting is checked, and the output folder made and tested, before any image is
processed. Every ``PortraitLabError`` becomes a one-line message; a batch reports per-file
errors and carries on. Results are published under names no earlier run holds (see
``publish``). Building the parser imports no torch, so ``--help``, ``specs`` and
``weights list`` answer at once.

Exit codes: 0 all done; 1 some inputs failed; 2 a usage error (options, settings, missing
weights), nothing processed; 3 the run stopped early (disk full, output not writable, an
internal error); 130 interrupted (Ctrl-C or SIGTERM).
"""
from __future__ import annotations

import argparse
import errno
import json
import math
import os
import signal
import stat
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pipeline import __version__

from pipeline.models import weights
from pipeline.core.errors import InvalidOptionError, OutputWriteError, PortraitLabError, os_reason
from pipeline.core.imageio import (
    OUTPUT_FORMATS,
    SUPPORTED_INPUT_SUFFIXES,
    DecodedImage,
    decode_image,
    encode_image,
    format_for_suffix,
)
from pipeline.core.limits import DEFAULT_DETECTION_MAX_SIDE, DEFAULT_MAX_FACES, DETECTOR_AUTO, max_pixels_from_env
from pipeline.core.publish import TERMINATING_SIGNALS, OutputFile, publish, sweep_staging

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, EXIT_STOPPED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
SAMPLE_NAME = "astronaut"
MATTING_CHOICES = ("auto", "modnet", "fallback")


def _add_image_command_arguments(parser: argparse.ArgumentParser, *, what: str) -> None:
    """The arguments every image command shares: inputs, output folder, device, debug."""
    parser.add_argument("inputs", nargs="*", type=_given_path, help=f"{what} (files and/or folders)")
    parser.add_argument("-o", "--output", type=_given_path, required=True,
                        help="output folder (created if needed); earlier results there are never overwritten")
    parser.add_argument("--sample", action="store_true", help="also use the bundled public-domain astronaut photo")
    parser.add_argument("--recursive", action="store_true", help="look for images in sub-folders too")
    parser.add_argument("--device", help="auto (default), cpu, cuda or cuda:N")
    parser.add_argument("--debug", action="store_true", help="print tracebacks of unexpected errors")


def _restore_parser(commands: argparse._SubParsersAction, manifest: weights.Manifest) -> None:
    parser = commands.add_parser(
        "restore", help="restore the faces in images (files and folders)",
        description="Detect, align, restore (GFPGAN) and paste back every face of each image.",
    )
    _add_image_command_arguments(parser, what="images")
    parser.add_argument("--model", choices=manifest.names("restorer"), default=manifest.default("restorer").name,
                        help="restoration model (default: %(default)s)")
    parser.add_argument("--strength", type=_finite_number, default=1.0,
                        help="0 = unchanged, 1 = full restoration; values between blend (default: %(default)s)")
    parser.add_argument("--upscale", type=int, choices=(1, 2, 3, 4), default=1, help="output size factor")
    parser.add_argument("--only-centre-face", "--only-center-face", dest="only_centre_face", action="store_true",
                        help="restore only the face nearest the centre")
    parser.add_argument("--max-faces", type=_at_least_one, default=DEFAULT_MAX_FACES,
                        help="restore at most this many faces, largest first (default: %(default)s)")
    parser.add_argument("--detector", choices=[DETECTOR_AUTO, *manifest.names("detector")], default=DETECTOR_AUTO,
                        help="face detector; auto = RetinaFace when its weights are present, else MTCNN")
    parser.add_argument("--detection-size", type=int, default=DEFAULT_DETECTION_MAX_SIDE,
                        help="detect on a copy at most this many pixels on its long side (default: %(default)s)")
    parser.add_argument("--format", choices=sorted(OUTPUT_FORMATS), default="png", help="output format")
    parser.add_argument("--report", type=_given_path, help="also write a JSON report (faces, timings, warnings) here")
    parser.add_argument("--precision", choices=("auto", "fp32", "bf16"), help="auto = bf16 on CUDA and on CPUs with bf16 in hardware (AVX512-BF16, AMX, Arm BF16), else fp32")
    parser.set_defaults(handler=_cmd_restore)


def _idphoto_parser(commands: argparse._SubParsersAction, manifest: weights.Manifest) -> None:
    parser = commands.add_parser(
        "idphoto", help="make ID photos that follow a document's rules, with a compliance report",
        description="Crop, place and size an ID photo for a document (see `specs`), write the photo, a print "
                    "sheet (PNG and PDF), the compliance report (JSON and text) and an overlay.",
    )
    _add_image_command_arguments(parser, what="photos")
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument("--spec", help="document id (python -m pipeline specs lists them)")
    choice.add_argument("--custom", help="custom size: WxHmm or WxHpx, e.g. 35x45mm")
    parser.add_argument("--background", help="white, off-white, light-grey, light-blue, blue, red or #RRGGBB "
                        "(default: the document's colour, else an allowed one, else white)")
    parser.add_argument("--dpi", type=int, help="output dpi (default: the document's, else 300)")
    parser.add_argument("--max-kb", type=_positive_number, help="largest file size in KB (default: the document's limit)")
    parser.add_argument("--format", choices=("jpg", "png"), default="jpg", help="photo format (default: jpg)")
    parser.add_argument("--sheet", help="also make a print sheet: 4x6, 5x7, a4, letter or WxHmm / WxHin")
    parser.add_argument("--copies", type=_at_least_one, help="photos on the sheet (default: as many as fit)")
    parser.add_argument("--detector", choices=[DETECTOR_AUTO, *manifest.names("detector")], default=DETECTOR_AUTO,
                        help="face detector; auto = RetinaFace when its weights are present, else MTCNN")
    parser.add_argument("--matting", choices=MATTING_CHOICES, default="auto",
                        help="auto = MODNet when its weights are present, else the plain-wall fallback")
    parser.set_defaults(handler=_cmd_idphoto)


def _background_parser(commands: argparse._SubParsersAction) -> None:
    from pipeline.cutout.background import BACKGROUND_MODES, COLOUR_PRESETS

    parser = commands.add_parser("background", help="cut the person out and replace the background",
                                 description="Portrait matting, then a new background.")
    _add_image_command_arguments(parser, what="photos")
    parser.add_argument("--mode", choices=BACKGROUND_MODES, default="transparent", help="default: transparent (PNG)")
    parser.add_argument("--colour", "--color", dest="colour", default="white",
                        help=f"preset ({', '.join(COLOUR_PRESETS)}) or #RRGGBB")
    parser.add_argument("--colour2", "--color2", dest="colour2", default="light-blue", help="second gradient colour")
    parser.add_argument("--image", type=_given_path, help="background image for --mode image")
    parser.add_argument("--blur", type=_finite_number, default=0.5, help="blur strength 0-1 for --mode blur")
    parser.add_argument("--feather", type=_finite_number, default=1.0, help="edge feather in pixels")
    parser.add_argument("--no-despill", dest="despill", action="store_false", help="keep edge colours as they are")
    parser.add_argument("--format", choices=sorted(OUTPUT_FORMATS), default="png", help="png keeps transparency")
    parser.add_argument("--matting", choices=MATTING_CHOICES, default="auto",
                        help="auto = MODNet when its weights are present, else the plain-wall fallback")
    parser.set_defaults(handler=_cmd_background)


def _specs_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("specs", help="list or search ID-photo documents")
    parser.add_argument("query", nargs="*", help="words to look for in id, country or document")
    parser.set_defaults(handler=_cmd_specs)


def _weights_parser(commands: argparse._SubParsersAction, manifest: weights.Manifest) -> None:
    weights_parser = commands.add_parser("weights", help="list or download model weights")
    weights_commands = weights_parser.add_subparsers(dest="weights_command", metavar="ACTION", required=True)
    list_parser = weights_commands.add_parser("list", help="show each model's weights: present/missing/corrupt/unverified")
    list_parser.set_defaults(handler=_cmd_weights_list)
    fetch_parser = weights_commands.add_parser("fetch", help="download and verify weights (size and sha256)")
    fetch_parser.add_argument("names", nargs="*", metavar="NAME",
                              help=f"models to fetch: {', '.join(_fetchable(manifest))}")
    fetch_parser.add_argument("--all", action="store_true", help="fetch every model in the manifest")
    fetch_parser.add_argument("--retries", type=_at_least_zero, default=3,
                              help="further attempts after a failed download (default: %(default)s)")
    fetch_parser.set_defaults(handler=_cmd_weights_fetch)


EXIT_CODES_HELP = ("exit codes: 0 all done; 1 some inputs failed; 2 usage error, nothing processed; "
                   "3 stopped early (disk full, output not writable); 130 interrupted")


def build_parser() -> argparse.ArgumentParser:
    """The whole command line; it imports no torch, so ``--help`` answers at once."""
    manifest = weights.load_manifest()
    parser = argparse.ArgumentParser(
        prog="python -m pipeline", epilog=EXIT_CODES_HELP,
        description="Portrait Lab: privacy-first portrait restoration on your own machine.",
    )
    parser.add_argument("--version", action="version", version=f"Portrait Lab {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _restore_parser(commands, manifest)
    _idphoto_parser(commands, manifest)
    _background_parser(commands)
    _specs_parser(commands)
    _weights_parser(commands, manifest)
    info_parser = commands.add_parser("info", help="show version, compute device and weights directory")
    info_parser.add_argument("--device", help="auto (default), cpu, cuda or cuda:N")
    info_parser.set_defaults(handler=_cmd_info)
    return parser


# -- weights --------------------------------------------------------------------------------
def _fetchable(manifest: weights.Manifest) -> list[str]:
    return [name for name in manifest.names() if not manifest.get(name).is_bundled]


def _cmd_weights_list(args: argparse.Namespace) -> int:
    manifest = weights.load_manifest()
    print(f"Weights directory: {weights.weights_dir()}")
    statuses = weights.check_all(manifest)
    print(weights.format_status_table(statuses))
    missing = [s.entry.name for s in statuses if s.state in (weights.WeightState.MISSING, weights.WeightState.CORRUPT)]
    if missing:
        print(f"\nTo download what is missing or corrupt: {weights.fetch_command(missing)}")
    return EXIT_OK


def _cmd_weights_fetch(args: argparse.Namespace) -> int:
    manifest = weights.load_manifest()
    fetchable = _fetchable(manifest)
    if not args.all and not args.names:
        raise InvalidOptionError("Name the models to fetch, or use --all.", hint=f"Models: {', '.join(fetchable)}.")
    names = fetchable if args.all else list(dict.fromkeys(args.names))
    unknown = [name for name in names if name not in fetchable]
    if unknown:  # checked before any download, so a typo costs nothing
        raise InvalidOptionError(f"Unknown model(s): {', '.join(unknown)}.", hint=f"Models: {', '.join(fetchable)}.")
    failures = 0
    for name in names:
        try:
            path = weights.fetch(manifest.get(name), retries=args.retries)
            print(f"{name}: ok ({path})")
        except PortraitLabError as error:
            failures += 1
            print(f"{name}: FAILED: {error.user_message}", file=sys.stderr)
    print(f"Fetched {len(names) - failures} of {len(names)} model(s).")
    return EXIT_SOME_FAILED if failures else EXIT_OK


# -- info -----------------------------------------------------------------------------------
def _cmd_info(args: argparse.Namespace) -> int:
    import torch

    from pipeline.models.device import choose_compute

    compute = choose_compute(args.device)
    print(f"Portrait Lab {__version__}")
    print(f"torch {torch.__version__}, CUDA available: {torch.cuda.is_available()}")
    print(f"compute: {compute.describe()}")
    print(f"weights directory: {weights.weights_dir()}")
    return EXIT_OK


# -- inputs and output, checked before any work ---------------------------------------------
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


def collect_inputs(paths: Iterable[Path], recursive: bool = False) -> tuple[list[Path], list[tuple[str, str]]]:
    """Expand folders into their image files (sorted); name every path that gives nothing:
    missing, not a regular file, unusable, or a folder without images."""
    found: list[Path] = []
    problems: list[tuple[str, str]] = []
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


# -- batch helper shared by restore, idphoto and background ---------------------------------
WARNING = "warning: "
Finished = Callable[[list[Path]], None]  # called by publish() with what it wrote
Work = Callable[[str, str, DecodedImage, Finished], list[str]]


@dataclass
class _BatchOutcome:
    total: int
    done: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    with_warnings: int = 0
    seconds: float = 0.0
    stopped: str | None = None  # why the run ended early (disk full...), if it did
    interrupted: bool = False

    def summarise(self, verb_past: str, output: Path, detail: str = "") -> int:
        """Print the summary line (what was finished and where) and return the exit code."""
        where = f"output in {output}"
        if self.interrupted:
            print(f"Interrupted: {self.done} of {self.total} image(s) were finished; {where}.", file=sys.stderr)
            return EXIT_INTERRUPTED
        if self.stopped:
            print(f"Stopped: {self.stopped}", file=sys.stderr)
            print(f"{self.done} of {self.total} image(s) were finished before that; {where}.", file=sys.stderr)
            return EXIT_STOPPED
        print(f"{verb_past} {self.done} of {self.total} image(s){detail}; {len(self.failed)} failed, "
              f"{self.with_warnings} with warnings; {self.seconds:.1f} s; {where}")
        return EXIT_SOME_FAILED if self.failed else EXIT_OK


Jobs = list[tuple[str, Path | None]]
Problems = list[tuple[str, str]]


def _prepare_run(args: argparse.Namespace, verb: str) -> tuple[Jobs, Problems]:
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


def _load(source: Path | None) -> DecodedImage:
    return decode_image(source) if source is not None else _sample_image()


def _run_batch(args: argparse.Namespace, prepared: tuple[Jobs, Problems], verb: str,
               load_work: Callable[[], Work]) -> _BatchOutcome:
    """Load the models (``load_work``, only when there is an image to process), then run
    ``work(name, stem, image, finished) -> notes`` per input with a progress bar; report
    errors and carry on. A write failure (disk full) stops the run; Ctrl-C ends it with a
    count of the images whose results are on disk (``finished`` is passed to publish)."""
    from tqdm import tqdm

    started = time.perf_counter()
    jobs, problems = prepared
    outcome = _BatchOutcome(total=len(jobs) + len(problems), failed=list(problems))
    work = load_work() if jobs else None

    def finished(paths: list[Path]) -> None:  # counted before a deferred Ctrl-C can land
        outcome.done += 1
    progress = tqdm(jobs, desc=verb.capitalize(), unit="image", file=sys.stderr, disable=None)
    try:
        for raw_name, source in progress:
            name = _printable(raw_name)
            stem = source.stem if source is not None else SAMPLE_NAME
            try:
                notes = work(name, stem, _load(source), finished)
            except OutputWriteError as error:
                outcome.stopped = error.user_message
                break
            except PortraitLabError as error:
                outcome.failed.append((name, error.user_message))
                progress.write(f"{name}: {error.user_message}", file=sys.stderr)
                continue
            except Exception as error:  # noqa: BLE001 - one broken file must not stop the batch; it is reported
                message = _internal_error_message(error)
                outcome.failed.append((name, message))
                progress.write(f"{name}: {message}", file=sys.stderr)
                if args.debug:
                    traceback.print_exc()
                continue
            outcome.with_warnings += any(note.startswith(WARNING) for note in notes)
            for note in notes:
                progress.write(f"{name}: {note}", file=sys.stderr)
    except KeyboardInterrupt:
        outcome.interrupted = True
    finally:
        progress.close()
    for name, message in problems:
        print(f"{_printable(name)}: {message}", file=sys.stderr)
    outcome.seconds = time.perf_counter() - started
    return outcome


def _internal_error_message(error: BaseException) -> str:
    """A bug's one line: what kind of failure, never its internal text (paths, tensors)."""
    return (f"could not be processed because of an internal error ({type(error).__name__}); "
            "run again with --debug to see where, and please report it")


def _printable(name: str) -> str:
    """A file name as one printable line (a newline in a name must not fake another line)."""
    return name.encode("unicode_escape").decode("ascii") if not name.isprintable() else name


def _image_file(suffix: str, rgb, alpha) -> OutputFile:  # noqa: ANN001 - numpy arrays
    """An encoded output image (format from the suffix) ready to publish."""
    return OutputFile(suffix, encode_image(rgb, alpha, format=format_for_suffix(suffix)))


# -- restore --------------------------------------------------------------------------------
def _cmd_restore(args: argparse.Namespace) -> int:
    from pipeline.models.device import choose_compute
    from pipeline.restore.engine import RestorationPipeline, RestoreOptions

    options = RestoreOptions(
        model=args.model, strength=args.strength, upscale=args.upscale, only_centre_face=args.only_centre_face,
        max_faces=args.max_faces, detector=args.detector, detection_max_side=args.detection_size,
    )
    options = options.validated(weights.load_manifest())
    compute = choose_compute(args.device, args.precision)  # a bad --device is a usage error, found now
    prepared = _prepare_run(args, "restore")
    report: dict[str, object] = {}
    faces = 0

    def load_work() -> Work:
        pipeline = RestorationPipeline(compute=compute)
        pipeline.restorer(options.model)  # load once up front: missing weights stop here, not per file

        def work(name: str, stem: str, image: DecodedImage, finished: Finished) -> list[str]:
            result = pipeline.restore(image, options)

            def keep(paths: list[Path]) -> None:
                nonlocal faces
                faces += sum(1 for face in result.faces if face.restored)
                report[name] = {"output": str(paths[0]), **result.to_dict()}
                finished(paths)

            publish(args.output, stem, [_image_file(OUTPUT_FORMATS[args.format], result.image, result.alpha)],
                    tag="_restored", record=keep)
            return [f"{WARNING}{warning}" for warning in result.warnings]
        return work

    outcome = _run_batch(args, prepared, "restore", load_work)
    if args.report:
        _write_report(args.report, {"results": report, "failed": dict(outcome.failed),
                                    "interrupted": outcome.interrupted, "stopped": outcome.stopped})
    return outcome.summarise("Restored", args.output, f", {faces} face(s)")


def _write_report(path: Path, content: dict[str, object]) -> None:
    from pipeline.core.imageio import write_atomically

    write_atomically(path, json.dumps(content, indent=2).encode("utf-8"))


# -- idphoto --------------------------------------------------------------------------------
def _cmd_idphoto(args: argparse.Namespace) -> int:
    from pipeline.models.device import choose_compute
    from pipeline.restore.engine import RestorationPipeline
    from pipeline.idphoto.maker import IdPhotoOptions, IdPhotoPipeline, print_sheet_for, spec_for, write_id_photo_files

    spec = spec_for(args.spec, args.custom, args.dpi)
    options = IdPhotoOptions(spec=spec, background=args.background, dpi=args.dpi, max_kb=args.max_kb,
                             format=args.format, detector=args.detector, matting=args.matting).validated()
    if args.copies is not None and not args.sheet:
        raise InvalidOptionError("--copies needs --sheet (the paper to print on).")
    sheet_layout = None
    if args.sheet:
        sheet_layout = print_sheet_for(spec, args.sheet, dpi=args.dpi, copies=args.copies,
                                       hint="Choose the document's printed variant, or a --custom size in mm.")
    compute = choose_compute(args.device)
    prepared = _prepare_run(args, "make ID photos of")

    def load_work() -> Work:
        maker = IdPhotoPipeline(RestorationPipeline(compute=compute))

        def work(name: str, stem: str, image: DecodedImage, finished: Finished) -> list[str]:
            result = maker.make(image, options)
            write_id_photo_files(result, args.output, stem, sheet_layout, tag=f"_{spec.id}",
                                 record=finished)  # all files, or none
            return [f"compliance: {result.report.overall}"] + [f"{WARNING}{w}" for w in result.warnings]
        return work

    return _run_batch(args, prepared, "idphoto", load_work).summarise("Made ID photos from", args.output)


# -- background -----------------------------------------------------------------------------
def _cmd_background(args: argparse.Namespace) -> int:
    from pipeline.cutout.background import BackgroundOptions
    from pipeline.cutout.cutter import CutoutPipeline
    from pipeline.models.device import choose_compute
    from pipeline.restore.engine import RestorationPipeline

    backdrop = decode_image(args.image).rgb if args.image else None
    options = BackgroundOptions(mode=args.mode, colour=args.colour, colour2=args.colour2, image=backdrop,
                                blur_strength=args.blur, feather_px=args.feather, despill=args.despill).validated()
    if options.mode == "transparent" and args.format == "jpg":
        raise InvalidOptionError("JPEG cannot hold transparency.", hint="Use --format png or webp, or another mode.")
    if args.image and options.mode != "image":
        raise InvalidOptionError("--image is only used with --mode image.")
    compute = choose_compute(args.device)
    prepared = _prepare_run(args, "process")
    suffix = OUTPUT_FORMATS[args.format]

    def load_work() -> Work:
        cutter = CutoutPipeline(RestorationPipeline(compute=compute))

        def work(name: str, stem: str, image: DecodedImage, finished: Finished) -> list[str]:
            result, cut = cutter.replace_background(image, options, matting=args.matting)
            publish(args.output, stem, [_image_file(suffix, result.rgb, result.alpha)], tag=f"_{options.mode}",
                    record=finished)
            return [f"{WARNING}{w}" for w in cut.warnings]
        return work

    return _run_batch(args, prepared, "background", load_work).summarise("Replaced the background of", args.output)


# -- specs ----------------------------------------------------------------------------------
def _cmd_specs(args: argparse.Namespace) -> int:
    from pipeline.idphoto.specs import load_specs

    registry = load_specs()
    found = registry.search(" ".join(args.query))
    if not found:
        print(f"No document matches '{' '.join(args.query)}'. Countries: {', '.join(registry.countries())}")
        return EXIT_SOME_FAILED
    width = max(len(spec.id) for spec in found)
    for spec in found:
        low, high = spec.head_ratio_range()
        print(f"{spec.id:<{width}}  {spec.label}; head {low * 100:.0f}-{high * 100:.0f} % of height")
    print(f"{len(found)} of {len(registry.specs)} documents ({len(registry.countries())} countries/regions).")
    return EXIT_OK


def _sample_image() -> DecodedImage:
    from pipeline.core.samples import astronaut

    return DecodedImage(rgb=astronaut(), alpha=None, source_format="PNG", notes=())


# -- argparse types: a bad value is a usage error before anything runs ----------------------
def _whole_number(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, not {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be at least {minimum}, not {value}")
    return value


def _at_least_one(text: str) -> int:
    return _whole_number(text, 1)


def _at_least_zero(text: str) -> int:
    return _whole_number(text, 0)


def _given_path(text: str) -> Path:
    """A path that names something: an empty argument ("") would silently mean this folder."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return Path(text)


def _finite_number(text: str) -> float:
    """A real number: 'nan' and 'inf' parse as floats but mean nothing here."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, not {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, not {text!r}")
    return value


def _positive_number(text: str) -> float:
    value = _finite_number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, not {text!r}")
    return value


# -- entry point ----------------------------------------------------------------------------
def terminate_as_interrupt() -> None:
    """SIGTERM (a service stop, `kill`) ends a run like Ctrl-C: with a count, and no half sets.
    Installed by ``python -m pipeline`` only, never by a program that imports ``main``."""
    if threading.current_thread() is threading.main_thread():
        for number in TERMINATING_SIGNALS:
            signal.signal(number, _raise_keyboard_interrupt)


def restore_default_signals() -> None:
    """Undo ``terminate_as_interrupt`` once the command is over."""
    if threading.current_thread() is threading.main_thread():
        for number in TERMINATING_SIGNALS:
            signal.signal(number, signal.SIG_DFL)


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _tolerant_streams() -> None:
    """File names need not be valid text (bytes from another system): printing one must show
    an escape, not stop the run with UnicodeEncodeError."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; every failure becomes one sentence and an exit code, never a traceback."""
    debug = "--debug" in (sys.argv[1:] if argv is None else argv)
    _tolerant_streams()
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        code = args.handler(args)
        sys.stdout.flush()  # a full or closed stdout fails here, inside the handlers below
        return code
    except OutputWriteError as error:
        print(f"Error: {error.user_message}", file=sys.stderr)
        return EXIT_STOPPED
    except PortraitLabError as error:
        print(f"Error: {error.user_message}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # output piped into `head` and closed early: not an error
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at exit
        return EXIT_OK
    except OSError as error:  # e.g. stdout on a full disk (`specs > /dev/full`)
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - the failing stream must not fail again at exit
        print(f"Error: the run stopped: {os_reason(error)}.", file=sys.stderr)
        return EXIT_STOPPED
    except Exception as error:  # noqa: BLE001 - the last door: a bug still gets a sentence, not a traceback
        print(f"Error: the run stopped because of an internal error ({type(error).__name__}). "
              "Run again with --debug to see where, and please report it.", file=sys.stderr)
        if debug:
            traceback.print_exc()
        return EXIT_STOPPED
