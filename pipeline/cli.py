"""Command-line interface: ``python -m pipeline {restore,weights,info}``.

Choices (models, detectors) are read from the weights manifest, never typed here. Every
``PortraitLabError`` becomes a one-line message; a batch reports per-file errors and
carries on, then prints a summary and exits 1 if any file failed.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import __version__, weights
from .errors import PortraitLabError

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2
OUTPUT_FORMATS = {"png": ".png", "jpg": ".jpg", "webp": ".webp"}
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
    parser.add_argument("--precision", choices=("auto", "fp32", "bf16"), help="auto = bf16 on CUDA, fp32 on CPU")
    parser.add_argument("--debug", action="store_true", help="print tracebacks of unexpected errors")
    parser.set_defaults(handler=_cmd_restore)


def build_parser() -> argparse.ArgumentParser:
    manifest = weights.load_manifest()
    parser = argparse.ArgumentParser(
        prog="python -m pipeline", description="Portrait Lab: privacy-first portrait restoration on your own machine."
    )
    parser.add_argument("--version", action="version", version=f"Portrait Lab {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _restore_parser(commands, manifest)

    weights_parser = commands.add_parser("weights", help="list or download model weights")
    weights_commands = weights_parser.add_subparsers(dest="weights_command", metavar="ACTION", required=True)
    list_parser = weights_commands.add_parser("list", help="show each model's weights: present/missing/corrupt/unverified")
    list_parser.set_defaults(handler=_cmd_weights_list)
    fetch_parser = weights_commands.add_parser("fetch", help="download and verify weights (size and sha256)")
    fetch_parser.add_argument("names", nargs="*", metavar="NAME",
                              help=f"models to fetch: {', '.join(n for n in manifest.names() if not manifest.get(n).is_bundled)}")
    fetch_parser.add_argument("--all", action="store_true", help="fetch every model in the manifest")
    fetch_parser.add_argument("--retries", type=int, default=3, help="attempts per file (default: %(default)s)")
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
@dataclass
class _BatchSummary:
    done: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    with_warnings: int = 0
    faces: int = 0


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


def _unique_output(directory: Path, stem: str, suffix: str, taken: set[Path]) -> Path:
    candidate = directory / f"{stem}_restored{suffix}"
    counter = 2
    while candidate in taken or candidate.exists():
        candidate = directory / f"{stem}_restored_{counter}{suffix}"
        counter += 1
    taken.add(candidate)
    return candidate


def _cmd_restore(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .device import choose_compute
    from .engine import RestorationPipeline, RestoreOptions
    from .imageio import decode_image, save_image

    started = time.perf_counter()
    files, problems = collect_inputs(args.inputs, args.recursive)
    jobs: list[tuple[str, object]] = [(str(path), path) for path in files]
    if args.sample:
        jobs.append((SAMPLE_NAME, None))
    summary = _BatchSummary(failed=list(problems))
    if not jobs:
        for name, message in problems:
            print(f"{name}: {message}", file=sys.stderr)
        print("No images to restore: give image files or folders, or --sample.", file=sys.stderr)
        return EXIT_USAGE

    options = RestoreOptions(
        model=args.model, strength=args.strength, upscale=args.upscale, only_centre_face=args.only_centre_face,
        max_faces=args.max_faces, detector=args.detector, detection_max_side=args.detection_size,
    )
    pipeline = RestorationPipeline(compute=choose_compute(args.device, args.precision))
    options = options.validated(pipeline.manifest)
    pipeline.restorer(options.model)  # load once up front: missing weights stop here, not per file
    args.output.mkdir(parents=True, exist_ok=True)
    taken: set[Path] = set()
    report: dict[str, object] = {}
    progress = tqdm(jobs, desc="Restoring", unit="image", file=sys.stderr, disable=None)
    for name, source in progress:
        try:
            image = decode_image(source) if source is not None else _sample_image()
            result = pipeline.restore(image, options)
            stem = Path(name).stem if source is not None else SAMPLE_NAME
            target = _unique_output(args.output, stem, OUTPUT_FORMATS[args.format], taken)
            save_image(target, result.image, result.alpha)
        except PortraitLabError as error:
            summary.failed.append((name, error.user_message))
            progress.write(f"{name}: {error.user_message}", file=sys.stderr)
            continue
        except Exception as error:  # one broken file must not stop the batch; it is reported
            summary.failed.append((name, f"unexpected error ({type(error).__name__}: {error})"))
            progress.write(f"{name}: unexpected error ({type(error).__name__}: {error})", file=sys.stderr)
            if args.debug:
                traceback.print_exc()
            continue
        summary.done += 1
        summary.faces += sum(1 for face in result.faces if face.restored)
        if result.warnings:
            summary.with_warnings += 1
            for warning in result.warnings:
                progress.write(f"{name}: warning: {warning}", file=sys.stderr)
        report[name] = {"output": str(target), **result.to_dict()}
    progress.close()
    for name, message in problems:
        print(f"{name}: {message}", file=sys.stderr)
    if args.report:
        args.report.write_text(json.dumps({"results": report, "failed": dict(summary.failed)}, indent=2))
    elapsed = time.perf_counter() - started
    total = len(jobs) + len(problems)
    print(
        f"Restored {summary.done} of {total} image(s), {summary.faces} face(s); "
        f"{len(summary.failed)} failed, {summary.with_warnings} with warnings; {elapsed:.1f} s; output in {args.output}"
    )
    return EXIT_SOME_FAILED if summary.failed else EXIT_OK


def _sample_image():
    from .imageio import DecodedImage
    from .samples import astronaut

    return DecodedImage(rgb=astronaut(), alpha=None, source_format="PNG", notes=())


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
