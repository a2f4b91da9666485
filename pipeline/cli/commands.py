"""What each CLI command does once its arguments are parsed: the image commands (restore,
idphoto, background) check their options, then hand a per-image ``work`` to
:func:`pipeline.cli.run.run_images`; ``specs``, ``weights`` and ``info`` answer directly.
Every handler returns the exit code. Torch and the models are imported inside the handlers
that need them, so ``specs`` and ``weights list`` answer at once.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline import __version__
from pipeline.cli.inputs import prepare_run
from pipeline.cli.run import EXIT_OK, EXIT_SOME_FAILED, EXIT_STOPPED, WARNING, Finished, Work, run_images
from pipeline.core.decode import DecodedImage, decode_image
from pipeline.core.encode import OUTPUT_FORMATS, encode_image, format_for_suffix, keeps_alpha
from pipeline.core.errors import InvalidOptionError, PortraitLabError
from pipeline.core.publish import OutputFile, publish
from pipeline.models.fetcher import fetch_with_lock
from pipeline.models.listing import format_status_table
from pipeline.models.locations import fetch_command, weights_dir
from pipeline.models.manifest import Manifest, load_manifest
from pipeline.models.weight_status import WeightState, check_all

if TYPE_CHECKING:
    from pipeline.restore.engine import RestorationResult


# -- weights --------------------------------------------------------------------------------
def fetchable(manifest: Manifest) -> list[str]:
    """The models ``weights fetch`` can download (the bundled ones ship with the code)."""
    return [name for name in manifest.names() if not manifest.get(name).is_bundled]


def cmd_weights_list(args: argparse.Namespace) -> int:
    manifest = load_manifest()
    print(f"Weights directory: {weights_dir()}")
    statuses = check_all(manifest)
    print(format_status_table(statuses))
    missing = [s.entry.name for s in statuses if s.state in (WeightState.MISSING, WeightState.CORRUPT)]
    if missing:
        print(f"\nTo download what is missing or corrupt: {fetch_command(missing)}")
    return EXIT_OK


def cmd_weights_fetch(args: argparse.Namespace) -> int:
    manifest = load_manifest()
    names_fetchable = fetchable(manifest)
    if not args.all and not args.names:
        raise InvalidOptionError("Name the models to fetch, or use --all.", hint=f"Models: {', '.join(names_fetchable)}.")
    names = names_fetchable if args.all else list(dict.fromkeys(args.names))
    unknown = [name for name in names if name not in names_fetchable]
    if unknown:  # checked before any download, so a typo costs nothing
        raise InvalidOptionError(f"Unknown model(s): {', '.join(unknown)}.",
                                 hint=f"Models: {', '.join(names_fetchable)}.")
    failures = 0
    for name in names:
        try:
            path = fetch_with_lock(manifest.get(name), retries=args.retries)  # waits if the app is fetching it
            print(f"{name}: ok ({path})")
        except PortraitLabError as error:
            failures += 1
            print(f"{name}: FAILED: {error.user_message}", file=sys.stderr)
    print(f"Fetched {len(names) - failures} of {len(names)} model(s).")
    return EXIT_SOME_FAILED if failures else EXIT_OK


# -- info -----------------------------------------------------------------------------------
def cmd_info(args: argparse.Namespace) -> int:
    import torch

    from pipeline.models.device import choose_compute

    compute = choose_compute(args.device)
    print(f"Portrait Lab {__version__}")
    print(f"torch {torch.__version__}, CUDA available: {torch.cuda.is_available()}")
    print(f"compute: {compute.describe()}")
    print(f"weights directory: {weights_dir()}")
    return EXIT_OK


# -- specs ----------------------------------------------------------------------------------
def cmd_specs(args: argparse.Namespace) -> int:
    """The documents matching the query (every word, in any order, names in any language),
    best first: each id and label, then its rules (print or upload, pixels, file sizes)."""
    from pipeline.idphoto.search import rules_text, spec_label
    from pipeline.idphoto.specs import load_specs

    registry = load_specs()
    lang = getattr(args, "lang", None) or "en"  # the document names' language (--lang)
    found = registry.search(" ".join(args.query))
    if not found:
        print(f"No document matches '{' '.join(args.query)}'. Countries: {', '.join(registry.countries())}")
        return EXIT_SOME_FAILED
    width = max(len(spec.id) for spec in found)
    for spec in found:
        print(f"{spec.id:<{width}}  {spec_label(spec, lang)}")
        print(f"{'':<{width}}  {rules_text(spec)}")
    print(f"{len(found)} of {len(registry.specs)} documents ({len(registry.countries())} countries/regions).")
    return EXIT_OK


# -- restore --------------------------------------------------------------------------------
def _identity_lines(result: RestorationResult) -> list[str]:
    """One line per restored face with an identity score, and what the guard changed."""
    from pipeline.restore.identity_bands import IDENTITY_THRESHOLD, describe_score

    lines = []
    for number, face in enumerate((f for f in result.faces if f.identity is not None), start=1):
        identity = face.identity
        changed = WARNING if identity.score_used < IDENTITY_THRESHOLD else ""  # counted, as in a batch
        line = f"{changed}face {number}: identity {describe_score(identity.score_used)}"
        if identity.acted:
            line += (f" (guard: strength {identity.asked:.2f} -> {identity.used:.2f}, "
                     f"identity {identity.score_asked:.2f} -> {identity.score_used:.2f})")
        lines.append(line)
    return lines


def restore_options(args: argparse.Namespace):  # noqa: ANN201 - RestoreOptions, imported lazily (torch)
    """The restore options the command line asked for, checked against the manifest."""
    from pipeline.restore.engine import RestoreOptions

    return RestoreOptions(
        model=args.model, strength=args.strength, upscale=args.upscale, only_centre_face=args.only_centre_face,
        max_faces=args.max_faces, detector=args.detector, detection_max_side=args.detection_size,
        background_upsampler=args.background_upsampler, identity_guard=args.identity_guard,
    ).validated(load_manifest())


def cmd_restore(args: argparse.Namespace) -> int:
    from pipeline.models.device import choose_compute
    from pipeline.restore.engine import RestorationPipeline

    options = restore_options(args)
    compute = choose_compute(args.device, args.precision)  # a bad --device is a usage error, found now
    prepared = prepare_run(args, "restore")
    report: dict[str, object] = {}
    faces = 0

    def load_work() -> Work:
        pipeline = RestorationPipeline(compute=compute)
        pipeline.load_models(options)  # load once up front: missing weights stop here, not per file

        def work(name: str, stem: str, image: DecodedImage, finished: Finished) -> list[str]:
            result = pipeline.restore(image, options)

            def keep(paths: list[Path]) -> None:
                nonlocal faces
                faces += sum(1 for face in result.faces if face.restored)
                report[name] = {"output": str(paths[0]), **result.to_dict()}
                finished(paths)

            publish(args.output, stem, [_image_file(OUTPUT_FORMATS[args.format], result.image, result.alpha)],
                    tag="_restored", record=keep)
            return [f"{WARNING}{warning}" for warning in result.warnings] + _identity_lines(result)
        return work

    outcome = run_images(args, prepared, "restore", load_work)
    if args.report:
        _write_report(args.report, {"results": report, "failed": dict(outcome.failed),
                                    "interrupted": outcome.interrupted, "stopped": outcome.stopped})
    return outcome.summarise("Restored", args.output, f", {faces} face(s)")


def _write_report(path: Path, content: dict[str, object]) -> None:
    from pipeline.core.atomic_write import write_atomically

    write_atomically(path, json.dumps(content, indent=2).encode("utf-8"))


def _image_file(suffix: str, rgb, alpha) -> OutputFile:  # noqa: ANN001 - numpy arrays
    """An encoded output image (format from the suffix) ready to publish."""
    return OutputFile(suffix, encode_image(rgb, alpha, format=format_for_suffix(suffix)))


# -- idphoto --------------------------------------------------------------------------------
def stroke_image(args: argparse.Namespace):  # noqa: ANN201 - numpy array or None
    """--strokes read and its colours checked before any photo is worked on (its size is
    checked against each photo); None without it (and in a batch, which has no --strokes)."""
    path = getattr(args, "strokes", None)
    if path is None:
        return None
    from pipeline.cutout.strokes import read_stroke_image

    return read_stroke_image(path)


def idphoto_options(args: argparse.Namespace):  # noqa: ANN201 - IdPhotoOptions, imported lazily (torch)
    """The ID-photo options the command line asked for, checked."""
    from pipeline.idphoto.maker import IdPhotoOptions, spec_for
    from pipeline.idphoto.nudge import PlacementNudge
    from pipeline.idphoto.tone import ToneOptions

    spec = spec_for(args.spec, args.custom, args.dpi)
    if args.quality is not None and args.format != "jpg":
        raise InvalidOptionError("--quality sets JPEG quality; PNG is lossless and has none.",
                                 hint="Use --format jpg with --quality, or leave --quality out.")
    return IdPhotoOptions(spec=spec, background=args.background, dpi=args.dpi, max_kb=args.max_kb,
                          format=args.format, detector=args.detector, matting=args.matting,
                          tone=ToneOptions(auto=args.auto_correct, brightness=args.brightness,
                                           contrast=args.contrast, sharpness=args.sharpness),
                          nudge=PlacementNudge(head_size=args.head_size, vertical=args.head_position),
                          strokes=stroke_image(args),
                          **({} if args.quality is None else {"jpeg_quality": args.quality})).validated()


def cmd_idphoto(args: argparse.Namespace) -> int:
    from pipeline.faces.analysis import FaceAnalysis
    from pipeline.idphoto.maker import IdPhotoPipeline
    from pipeline.idphoto.outputs import print_sheet_for, write_id_photo_files
    from pipeline.models.device import choose_compute
    from pipeline.models.store import ModelStore

    options = idphoto_options(args)
    spec = options.spec
    if args.copies is not None and not args.sheet:
        raise InvalidOptionError("--copies needs --sheet (the paper to print on).")
    sheet_layout = None
    if args.sheet:
        sheet_layout = print_sheet_for(spec, args.sheet, dpi=args.dpi, copies=args.copies,
                                       hint="Choose the document's printed variant, or a --custom size in mm.")
    compute = choose_compute(args.device)
    prepared = prepare_run(args, "make ID photos of")
    failing: list[str] = []

    def load_work() -> Work:
        maker = IdPhotoPipeline(FaceAnalysis(ModelStore(compute=compute)))

        def work(name: str, stem: str, image: DecodedImage, finished: Finished) -> list[str]:
            result = maker.make(image, options)
            write_id_photo_files(result, args.output, stem, sheet_layout, tag=f"_{spec.id}",
                                 record=finished, lang=args.lang)  # all files, or none; the report in --lang
            if result.report.overall == "fail":
                failing.append(name)
            corrected = result.corrections.summary() if result.corrections and result.corrections.changed else ""
            return ([f"compliance: {result.report.overall}"] + ([f"corrected: {corrected}"] if corrected else [])
                    + [f"{WARNING}{w}" for w in result.warnings])
        return work

    code = run_images(args, prepared, "idphoto", load_work).summarise("Made ID photos from", args.output)
    if args.strict and failing and code in (EXIT_OK, EXIT_SOME_FAILED):
        print(f"Strict: {len(failing)} photo(s) fail their document's rules (see the reports).", file=sys.stderr)
        return EXIT_STOPPED
    return code


# -- background -----------------------------------------------------------------------------
def background_options(args: argparse.Namespace):  # noqa: ANN201 - BackgroundOptions, imported lazily (torch)
    """The background options the command line asked for, checked (the image decoded)."""
    from pipeline.cutout.background import BackgroundOptions

    backdrop = decode_image(args.image).rgb if args.image else None
    options = BackgroundOptions(mode=args.mode, colour=args.colour, colour2=args.colour2, image=backdrop,
                                blur_strength=args.blur, feather_px=args.feather, despill=args.despill,
                                strokes=stroke_image(args)).validated()
    if options.mode == "transparent" and not keeps_alpha(args.format):
        raise InvalidOptionError("JPEG cannot hold transparency.", hint="Use --format png or webp, or another mode.")
    if args.image and options.mode != "image":
        raise InvalidOptionError("--image is only used with --mode image.")
    return options


def cmd_background(args: argparse.Namespace) -> int:
    from pipeline.cutout.cutter import CutoutPipeline
    from pipeline.faces.analysis import FaceAnalysis
    from pipeline.models.device import choose_compute
    from pipeline.models.store import ModelStore

    options = background_options(args)
    compute = choose_compute(args.device)
    prepared = prepare_run(args, "process")
    suffix = OUTPUT_FORMATS[args.format]

    def load_work() -> Work:
        cutter = CutoutPipeline(FaceAnalysis(ModelStore(compute=compute)))

        def work(name: str, stem: str, image: DecodedImage, finished: Finished) -> list[str]:
            result, cut = cutter.replace_background(image, options, matting=args.matting)
            publish(args.output, stem, [_image_file(suffix, result.rgb, result.alpha)], tag=f"_{options.mode}",
                    record=finished)
            return [f"{WARNING}{w}" for w in cut.warnings]
        return work

    return run_images(args, prepared, "background", load_work).summarise("Replaced the background of", args.output)
