"""Command-line interface: ``python -m pipeline {restore,weights,info}``.

Choices (models, detectors) are read from the weights manifest, never typed here. Every
``PortraitLabError`` becomes a one-line message; a batch reports per-file errors and
carries on, then prints a summary and exits 1 if any file failed.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from . import __version__, weights
from .batch import OUTPUT_FORMATS, unique_path
from .errors import InvalidOptionError, PortraitLabError

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2
SAMPLE_NAME = "astronaut"


def _restore_parser(commands: argparse._SubParsersAction, manifest: weights.Manifest) -> None:
    from .detect import DEFAULT_DETECTION_MAX_SIDE
    from .engine import DEFAULT_MAX_FACES, DETECTOR_AUTO

    restorers = manifest.names("restorer")
    parser = commands.add_parser(
        "restore", help="restore the faces in images (files and folders)",
        description="Detect, align, restore (GFPGAN) and paste back every face of each image.",
    )
    parser.add_argument("inputs", nargs="*", type=Path, help="image files and/or folders")
    parser.add_argument("-o", "--output", type=Path, required=True, help="output folder (created if needed)")
    parser.add_argument("--sample", action="store_true", help="also restore the bundled public-domain astronaut photo")
    parser.add_argument("--recursive", action="store_true", help="look for images in sub-folders too")
    parser.add_argument("--model", choices=restorers, default=manifest.default("restorer").name,
                        help="restoration model (default: %(default)s)")
    parser.add_argument("--strength", type=float, default=1.0,
                        help="0 = unchanged, 1 = full restoration; values between blend (default: %(default)s)")
    parser.add_argument("--upscale", type=int, choices=(1, 2, 3, 4), default=1, help="output size factor")
    parser.add_argument("--only-centre-face", "--only-center-face", dest="only_centre_face", action="store_true",
                        help="restore only the face nearest the centre")
    parser.add_argument("--max-faces", type=int, default=DEFAULT_MAX_FACES,
                        help="restore at most this many faces, largest first (default: %(default)s)")
    parser.add_argument("--detector", choices=[DETECTOR_AUTO, *manifest.names("detector")], default=DETECTOR_AUTO,
                        help="face detector; auto = RetinaFace when its weights are present, else MTCNN")
    parser.add_argument("--detection-size", type=int, default=DEFAULT_DETECTION_MAX_SIDE,
                        help="detect on a copy at most this many pixels on its long side (default: %(default)s)")
    parser.add_argument("--format", choices=sorted(OUTPUT_FORMATS), default="png", help="output format")
    parser.add_argument("--report", type=Path, help="also write a JSON report (faces, timings, warnings) here")
    parser.add_argument("--device", help="auto (default), cpu, cuda or cuda:N")
    parser.add_argument("--precision", choices=("auto", "fp32", "bf16"), help="auto = bf16 on CUDA and on CPUs with bf16 in hardware (AVX512-BF16, AMX, Arm BF16), else fp32")
    parser.add_argument("--debug", action="store_true", help="print tracebacks of unexpected errors")
    parser.set_defaults(handler=_cmd_restore)


def _idphoto_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "idphoto", help="make ID photos that follow a document's rules, with a compliance report",
        description="Crop, place and size an ID photo for a document (see `specs`), write the photo, a print "
                    "sheet (PNG and PDF), the compliance report (JSON and text) and an overlay.",
    )
    parser.add_argument("inputs", nargs="*", type=Path, help="photos and/or folders")
    parser.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    parser.add_argument("--sample", action="store_true", help="also use the bundled public-domain astronaut photo")
    parser.add_argument("--recursive", action="store_true", help="look for images in sub-folders too")
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument("--spec", help="document id (python -m pipeline specs lists them)")
    choice.add_argument("--custom", help="custom size: WxHmm or WxHpx, e.g. 35x45mm")
    parser.add_argument("--background", help="white, off-white, light-grey, light-blue, blue, red or #RRGGBB "
                        "(default: the document's colour, else an allowed one, else white)")
    parser.add_argument("--dpi", type=int, help="output dpi (default: the document's, else 300)")
    parser.add_argument("--max-kb", type=float, help="largest file size in KB (default: the document's limit)")
    parser.add_argument("--format", choices=("jpg", "png"), default="jpg", help="photo format (default: jpg)")
    parser.add_argument("--sheet", help="also make a print sheet: 4x6, 5x7, a4, letter or WxHmm / WxHin")
    parser.add_argument("--copies", type=int, help="photos on the sheet (default: as many as fit)")
    parser.add_argument("--detector", default="auto", help="auto, or a detector from the manifest")
    parser.add_argument("--matting", choices=("auto", "modnet", "fallback"), default="auto",
                        help="auto = MODNet when its weights are present, else the plain-wall fallback")
    parser.add_argument("--device", help="auto (default), cpu, cuda or cuda:N")
    parser.set_defaults(handler=_cmd_idphoto)


def _background_parser(commands: argparse._SubParsersAction) -> None:
    from .background import BACKGROUND_MODES, COLOUR_PRESETS

    parser = commands.add_parser("background", help="cut the person out and replace the background",
                                 description="Portrait matting, then a new background.")
    parser.add_argument("inputs", nargs="*", type=Path, help="photos and/or folders")
    parser.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    parser.add_argument("--sample", action="store_true", help="also use the bundled public-domain astronaut photo")
    parser.add_argument("--recursive", action="store_true", help="look for images in sub-folders too")
    parser.add_argument("--mode", choices=BACKGROUND_MODES, default="transparent", help="default: transparent (PNG)")
    parser.add_argument("--colour", "--color", dest="colour", default="white",
                        help=f"preset ({', '.join(COLOUR_PRESETS)}) or #RRGGBB")
    parser.add_argument("--colour2", "--color2", dest="colour2", default="light-blue", help="second gradient colour")
    parser.add_argument("--image", type=Path, help="background image for --mode image")
    parser.add_argument("--blur", type=float, default=0.5, help="blur strength 0-1 for --mode blur")
    parser.add_argument("--feather", type=float, default=1.0, help="edge feather in pixels")
    parser.add_argument("--no-despill", dest="despill", action="store_false", help="keep edge colours as they are")
    parser.add_argument("--format", choices=sorted(OUTPUT_FORMATS), default="png", help="png keeps transparency")
    parser.add_argument("--matting", choices=("auto", "modnet", "fallback"), default="auto",
                        help="auto = MODNet when its weights are present, else the plain-wall fallback")
    parser.add_argument("--device", help="auto (default), cpu, cuda or cuda:N")
    parser.set_defaults(handler=_cmd_background)


def _specs_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("specs", help="list or search ID-photo documents")
    parser.add_argument("query", nargs="*", help="words to look for in id, country or document")
    parser.set_defaults(handler=_cmd_specs)


def build_parser() -> argparse.ArgumentParser:
    manifest = weights.load_manifest()
    parser = argparse.ArgumentParser(
        prog="python -m pipeline", description="Portrait Lab: privacy-first portrait restoration on your own machine."
    )
    parser.add_argument("--version", action="version", version=f"Portrait Lab {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _restore_parser(commands, manifest)
    _idphoto_parser(commands)
    _background_parser(commands)
    _specs_parser(commands)

    weights_parser = commands.add_parser("weights", help="list or download model weights")
    weights_commands = weights_parser.add_subparsers(dest="weights_command", metavar="ACTION", required=True)
    list_parser = weights_commands.add_parser("list", help="show each model's weights: present/missing/corrupt/unverified")
    list_parser.set_defaults(handler=_cmd_weights_list)
    fetch_parser = weights_commands.add_parser("fetch", help="download and verify weights (size and sha256)")
    fetch_parser.add_argument("names", nargs="*", metavar="NAME",
                              help=f"models to fetch: {', '.join(n for n in manifest.names() if not manifest.get(n).is_bundled)}")
    fetch_parser.add_argument("--all", action="store_true", help="fetch every model in the manifest")
    fetch_parser.add_argument("--retries", type=_at_least_one, default=3, help="attempts per file (default: %(default)s)")
    fetch_parser.set_defaults(handler=_cmd_weights_fetch)

    info_parser = commands.add_parser("info", help="show version, compute device and weights directory")
    info_parser.add_argument("--device", help="auto (default), cpu, cuda or cuda:N")
    info_parser.set_defaults(handler=_cmd_info)
    return parser


# -- weights --------------------------------------------------------------------------------
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
    if args.all:
        names = [name for name in manifest.names() if not manifest.get(name).is_bundled]
    elif args.names:
        names = list(args.names)
    else:
        print("Name the models to fetch, or use --all. Models: " + ", ".join(manifest.names()), file=sys.stderr)
        return EXIT_USAGE
    failures = 0
    for name in names:
        try:
            entry = manifest.get(name)
            path = weights.fetch(entry, retries=args.retries)
            print(f"{name}: ok ({path})")
        except PortraitLabError as error:
            failures += 1
            print(f"{name}: FAILED: {error.user_message}", file=sys.stderr)
    print(f"Fetched {len(names) - failures} of {len(names)} model(s).")
    return EXIT_SOME_FAILED if failures else EXIT_OK


# -- info -----------------------------------------------------------------------------------
def _cmd_info(args: argparse.Namespace) -> int:
    import torch

    from .device import choose_compute

    compute = choose_compute(args.device)
    print(f"Portrait Lab {__version__}")
    print(f"torch {torch.__version__}, CUDA available: {torch.cuda.is_available()}")
    print(f"compute: {compute.describe()}")
    print(f"weights directory: {weights.weights_dir()}")
    return EXIT_OK


# -- restore --------------------------------------------------------------------------------
def collect_inputs(paths: Iterable[Path], recursive: bool = False) -> tuple[list[Path], list[tuple[str, str]]]:
    """Expand folders into their image files (sorted); report paths that don't exist."""
    from .imageio import SUPPORTED_INPUT_SUFFIXES

    found: list[Path] = []
    problems: list[tuple[str, str]] = []
    for path in paths:
        if path.is_dir():
            pattern = path.rglob("*") if recursive else path.glob("*")
            found.extend(sorted(p for p in pattern if p.is_file() and p.suffix.lower() in SUPPORTED_INPUT_SUFFIXES))
        elif path.is_file():
            found.append(path)
        else:
            problems.append((str(path), "no such file or folder"))
    return found, problems


def _cmd_restore(args: argparse.Namespace) -> int:
    from .device import choose_compute
    from .engine import RestorationPipeline, RestoreOptions
    from .imageio import save_image, write_atomically

    options = RestoreOptions(
        model=args.model, strength=args.strength, upscale=args.upscale, only_centre_face=args.only_centre_face,
        max_faces=args.max_faces, detector=args.detector, detection_max_side=args.detection_size,
    )
    if not _require_inputs(args, "restore"):
        return EXIT_USAGE
    pipeline = RestorationPipeline(compute=choose_compute(args.device, args.precision))
    options = options.validated(pipeline.manifest)
    pipeline.restorer(options.model)  # load once up front: missing weights stop here, not per file
    taken: set[Path] = set()
    report: dict[str, object] = {}
    faces = 0

    def work(name: str, stem: str, image) -> list[str]:
        nonlocal faces
        result = pipeline.restore(image, options)
        target = unique_path(args.output, f"{stem}_restored", OUTPUT_FORMATS[args.format], taken)
        save_image(target, result.image, result.alpha)
        faces += sum(1 for face in result.faces if face.restored)
        report[name] = {"output": str(target), **result.to_dict()}
        return [f"{WARNING}{warning}" for warning in result.warnings]

    outcome = _run_batch(args, "restore", work)
    if args.report:
        write_atomically(args.report, json.dumps({"results": report, "failed": dict(outcome.failed)},
                                                 indent=2).encode("utf-8"))
    return outcome.summarise("Restored", args.output, f", {faces} face(s)")


# -- batch helper shared by restore, idphoto and background ---------------------------------
def _jobs(args: argparse.Namespace) -> tuple[list[tuple[str, Path | None]], list[tuple[str, str]]]:
    files, problems = collect_inputs(args.inputs, args.recursive)
    jobs: list[tuple[str, Path | None]] = [(str(path), path) for path in files]
    if args.sample:
        jobs.append((SAMPLE_NAME, None))
    return jobs, problems


def _load(source: Path | None):
    from .imageio import decode_image

    return decode_image(source) if source is not None else _sample_image()


WARNING = "warning: "


@dataclass
class _BatchOutcome:
    done: int
    total: int
    failed: list[tuple[str, str]]
    with_warnings: int
    seconds: float

    def summarise(self, verb_past: str, output: Path, detail: str = "") -> int:
        """Print the summary line; the exit code is 1 if any input failed."""
        print(f"{verb_past} {self.done} of {self.total} image(s){detail}; {len(self.failed)} failed, "
              f"{self.with_warnings} with warnings; {self.seconds:.1f} s; output in {output}")
        return EXIT_SOME_FAILED if self.failed else EXIT_OK


def _prepare_output(folder: Path) -> None:
    """The output folder exists (made if needed), is a folder and can be written to:
    checked before any image is processed, so a typo costs nothing."""
    hint = "Give a folder you can write to with -o (it is created if missing)."
    if folder.exists() and not folder.is_dir():
        raise InvalidOptionError(f"The output path {folder} is a file, not a folder.", hint=hint)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InvalidOptionError(f"The output folder {folder} cannot be created ({error.strerror or error}).",
                                 hint=hint) from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InvalidOptionError(f"The output folder {folder} is not writable.", hint=hint)


def _run_batch(args: argparse.Namespace, verb: str, work) -> _BatchOutcome:
    """Run ``work(name, stem, image) -> notes`` per input with a progress bar; report errors, carry on."""
    from tqdm import tqdm

    started = time.perf_counter()
    jobs, problems = _jobs(args)
    failed = list(problems)
    _prepare_output(args.output)
    done = with_warnings = 0
    progress = tqdm(jobs, desc=verb.capitalize(), unit="image", file=sys.stderr, disable=None)
    for name, source in progress:
        stem = source.stem if source is not None else SAMPLE_NAME
        try:
            notes = work(name, stem, _load(source))
        except PortraitLabError as error:
            failed.append((name, error.user_message))
            progress.write(f"{name}: {error.user_message}", file=sys.stderr)
            continue
        except Exception as error:  # one broken file must not stop the batch; it is reported
            failed.append((name, f"unexpected error ({type(error).__name__}: {error})"))
            progress.write(f"{name}: unexpected error ({type(error).__name__}: {error})", file=sys.stderr)
            if getattr(args, "debug", False):
                traceback.print_exc()
            continue
        done += 1
        with_warnings += any(note.startswith(WARNING) for note in notes)
        for note in notes:
            progress.write(f"{name}: {note}", file=sys.stderr)
    progress.close()
    for name, message in problems:
        print(f"{name}: {message}", file=sys.stderr)
    return _BatchOutcome(done, len(jobs) + len(problems), failed, with_warnings, time.perf_counter() - started)


def _require_inputs(args: argparse.Namespace, verb: str) -> bool:
    if args.inputs or args.sample:
        return True
    print(f"No images to {verb}: give image files or folders, or --sample.", file=sys.stderr)
    return False


def _cmd_idphoto(args: argparse.Namespace) -> int:
    from .device import choose_compute
    from .engine import RestorationPipeline
    from .idphoto import IdPhotoOptions, IdPhotoPipeline, print_sheet_for, spec_for, write_id_photo_files

    if not _require_inputs(args, "make ID photos of"):
        return EXIT_USAGE
    spec = spec_for(args.spec, args.custom, args.dpi)
    options = IdPhotoOptions(spec=spec, background=args.background, dpi=args.dpi, max_kb=args.max_kb,
                             format=args.format, detector=args.detector, matting=args.matting).validated()
    if args.copies is not None and not args.sheet:
        raise InvalidOptionError("--copies needs --sheet (the paper to print on).")
    sheet_layout = None
    if args.sheet:
        sheet_layout = print_sheet_for(spec, args.sheet, dpi=args.dpi, copies=args.copies,
                                       hint="Choose the document's printed variant, or a --custom size in mm.")
    maker = IdPhotoPipeline(RestorationPipeline(compute=choose_compute(args.device)))

    taken: set[Path] = set()

    def work(name: str, stem: str, image) -> list[str]:
        result = maker.make(image, options)
        photo_path = unique_path(args.output, f"{stem}_{spec.id}", f".{result.format}", taken)
        # every companion file shares the photo's unique name
        write_id_photo_files(result, photo_path.with_suffix(""), sheet_layout)
        return [f"compliance: {result.report.overall}"] + [f"{WARNING}{w}" for w in result.warnings]

    return _run_batch(args, "idphoto", work).summarise("Made ID photos from", args.output)


def _cmd_background(args: argparse.Namespace) -> int:
    from .background import BackgroundOptions
    from .cutout import CutoutPipeline
    from .device import choose_compute
    from .engine import RestorationPipeline
    from .imageio import decode_image, save_image

    if not _require_inputs(args, "process"):
        return EXIT_USAGE
    backdrop = decode_image(args.image).rgb if args.image else None
    options = BackgroundOptions(mode=args.mode, colour=args.colour, colour2=args.colour2, image=backdrop,
                                blur_strength=args.blur, feather_px=args.feather, despill=args.despill).validated()
    if options.mode == "transparent" and args.format == "jpg":
        raise InvalidOptionError("JPEG cannot hold transparency.", hint="Use --format png or webp, or another mode.")
    if args.image and options.mode != "image":
        raise InvalidOptionError("--image is only used with --mode image.")
    cutter = CutoutPipeline(RestorationPipeline(compute=choose_compute(args.device)))
    taken: set[Path] = set()

    def work(name: str, stem: str, image) -> list[str]:
        result, cut = cutter.replace_background(image.rgb, options, matting=args.matting)
        target = unique_path(args.output, f"{stem}_{options.mode}", OUTPUT_FORMATS[args.format], taken)
        save_image(target, result.rgb, result.alpha)
        return [f"{WARNING}{w}" for w in cut.warnings]

    return _run_batch(args, "background", work).summarise("Replaced the background of", args.output)


def _cmd_specs(args: argparse.Namespace) -> int:
    from .idspecs import load_specs

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


def _sample_image():
    from .imageio import DecodedImage
    from .samples import astronaut

    return DecodedImage(rgb=astronaut(), alpha=None, source_format="PNG", notes=())


def _at_least_one(text: str) -> int:
    """An argparse type: a whole number of at least 1 (argparse then says what is wrong)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        return args.handler(args)
    except PortraitLabError as error:
        print(f"Error: {error.user_message}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and closed early: not an error
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at exit
        return EXIT_OK
