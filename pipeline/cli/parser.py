"""The command line's grammar: every command, option and type, built without importing torch.

Choices (models, detectors) are read from the weights manifest, never typed here; a bad value
is a usage error from argparse before anything runs, so ``--help``, ``specs`` and
``weights list`` answer at once.
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

from pipeline import __version__
from pipeline.cli.batch import cmd_batch
from pipeline.cli.commands import (
    cmd_background,
    cmd_idphoto,
    cmd_info,
    cmd_restore,
    cmd_specs,
    cmd_weights_fetch,
    cmd_weights_list,
    fetchable,
)
from pipeline.core.encode import OUTPUT_FORMATS
from pipeline.core.choices import (DETECTOR_AUTO, ID_PHOTO_FORMATS, MATTING_AUTO, MATTING_METHODS, PRECISION_CHOICES,
                                   UPSAMPLER_NONE)
from pipeline.core.limits import DEFAULT_DETECTION_MAX_SIDE, DEFAULT_MAX_FACES
from pipeline.i18n import DEFAULT_LANGUAGE, LANGUAGES
from pipeline.models.manifest import Manifest, load_manifest



def _add_image_command_arguments(parser: argparse.ArgumentParser, *, what: str) -> None:
    """The arguments every image command shares: inputs, output folder, device, debug."""
    parser.add_argument("inputs", nargs="*", type=_given_path, help=f"{what} (files and/or folders)")
    parser.add_argument("-o", "--output", type=_given_path, required=True,
                        help="output folder (created if needed); earlier results there are never overwritten")
    parser.add_argument("--sample", action="store_true", help="also use the bundled public-domain astronaut photo")
    parser.add_argument("--recursive", action="store_true", help="look for images in sub-folders too")
    parser.add_argument("--device", help="auto (default), cpu, cuda or cuda:N")
    parser.add_argument("--debug", action="store_true", help="print tracebacks of unexpected errors")


def _restore_parser(commands: argparse._SubParsersAction, manifest: Manifest) -> None:
    parser = commands.add_parser(
        "restore", help="restore the faces in images (files and folders)",
        description="Detect, align, restore (GFPGAN) and paste back every face of each image.",
    )
    _add_image_command_arguments(parser, what="images")
    _restore_options(parser, manifest)
    parser.add_argument("--format", choices=sorted(OUTPUT_FORMATS), default="png", help="output format")
    parser.add_argument("--report", type=_given_path, help="also write a JSON report (faces, timings, warnings) here")
    parser.add_argument("--precision", choices=PRECISION_CHOICES, help="auto = bf16 on CUDA and on CPUs with bf16 in hardware (AVX512-BF16, AMX, Arm BF16), else fp32")
    parser.set_defaults(handler=cmd_restore)


def _restore_options(parser: argparse.ArgumentParser, manifest: Manifest) -> None:
    """What restoration does to each photo (the restore command's and a restore batch's)."""
    parser.add_argument("--model", choices=manifest.names("restorer"), default=manifest.default("restorer").name,
                        help="restoration model (default: %(default)s)")
    parser.add_argument("--strength", type=_finite_number, default=1.0,
                        help="0 = unchanged, 1 = full restoration; values between blend (default: %(default)s)")
    parser.add_argument("--upscale", type=int, choices=(1, 2, 3, 4), default=1, help="output size factor")
    parser.add_argument("--background-upsampler", choices=[UPSAMPLER_NONE, *manifest.names("upsampler")],
                        help="what enlarges the background when --upscale is above 1: none = bicubic; "
                             "default: %s on a CUDA GPU, none elsewhere (slow on a CPU)"
                             % manifest.default("upsampler").name)
    parser.add_argument("--identity-guard", action="store_true",
                        help="lower the strength of any face whose identity score (ArcFace) would fall under "
                             "the 'identity changed' line, for that face alone; the report shows both strengths")
    parser.add_argument("--only-centre-face", "--only-center-face", dest="only_centre_face", action="store_true",
                        help="restore only the face nearest the centre")
    parser.add_argument("--max-faces", type=_at_least_one, default=DEFAULT_MAX_FACES,
                        help="restore at most this many faces, largest first (default: %(default)s)")
    parser.add_argument("--detector", choices=[DETECTOR_AUTO, *manifest.names("detector")], default=DETECTOR_AUTO,
                        help="face detector; auto = the default (RetinaFace) when its weights are present, else the bundled MTCNN")
    parser.add_argument("--detection-size", type=int, default=DEFAULT_DETECTION_MAX_SIDE,
                        help="detect on a copy at most this many pixels on its long side (default: %(default)s)")


def _idphoto_parser(commands: argparse._SubParsersAction, manifest: Manifest) -> None:
    parser = commands.add_parser(
        "idphoto", help="make ID photos that follow a document's rules, with a compliance report",
        description="Crop, place and size an ID photo for a document (see `specs`), write the photo, a print "
                    "sheet (PNG and PDF), the compliance report (JSON and text) and an overlay.",
    )
    _add_image_command_arguments(parser, what="photos")
    _idphoto_options(parser, manifest)
    parser.add_argument("--sheet", help="also make a print sheet: 4x6, 5x7, a4, letter or WxHmm / WxHin")
    parser.add_argument("--copies", type=_at_least_one, help="photos on the sheet (default: as many as fit)")
    parser.add_argument("--strict", action="store_true",
                        help="exit with code 3 when any photo's compliance verdict is FAIL (for scripts)")
    _strokes_option(parser)
    parser.set_defaults(handler=cmd_idphoto)


def _idphoto_options(parser: argparse.ArgumentParser, manifest: Manifest) -> None:
    """What an ID photo is made to (the idphoto command's and an ID-photo batch's)."""
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument("--spec", help="document id (python -m pipeline specs lists them)")
    choice.add_argument("--custom", help="custom size: WxHmm or WxHpx, e.g. 35x45mm")
    parser.add_argument("--background", help="white, off-white, light-grey, light-blue, blue, red or #RRGGBB "
                        "(default: the document's colour, else an allowed one, else white)")
    parser.add_argument("--dpi", type=int, help="output dpi (default: the document's, else 300)")
    parser.add_argument("--max-kb", type=_positive_number, help="largest file size in KB (default: the document's limit)")
    parser.add_argument("--format", choices=ID_PHOTO_FORMATS, default="jpg", help="photo format (default: jpg)")
    parser.add_argument("--quality", type=_jpeg_quality, default=None,
                        help="highest JPEG quality, 1-100 (default: 95); a KB limit may lower it")
    parser.add_argument("--detector", choices=[DETECTOR_AUTO, *manifest.names("detector")], default=DETECTOR_AUTO,
                        help="face detector; auto = the default (RetinaFace) when its weights are present, else the bundled MTCNN")
    parser.add_argument("--matting", choices=MATTING_METHODS, default=MATTING_AUTO,
                        help="auto = MODNet when its weights are present, else the offline fallback (Selfie Segmentation)")
    add_language_option(parser, "the compliance report's language (text and JSON)")
    _idphoto_adjustments(parser)


def add_language_option(parser: argparse.ArgumentParser, what: str) -> None:
    """``--lang``: one of the UI languages (English by default). Added once per parser, so a
    command that gets it from two option groups (a batch job's and the batch's own) still parses."""
    if "--lang" in parser._option_string_actions:  # noqa: SLF001 - argparse has no public lookup
        return
    parser.add_argument("--lang", choices=list(LANGUAGES), default=DEFAULT_LANGUAGE,
                        help=f"{what} (default: %(default)s)")


def _idphoto_adjustments(parser: argparse.ArgumentParser) -> None:
    """The ID photo's corrections (face light and colour, sliders) and placement nudges."""
    group = parser.add_argument_group("corrections and placement")
    group.add_argument("--no-auto-correct", dest="auto_correct", action="store_false",
                       help="keep the face's light and colour as photographed (default: a dim, washed-out or "
                            "colour-cast face is corrected, within bounds, before the report judges it)")
    group.add_argument("--brightness", type=_signed_unit, default=0.0, metavar="N", help="-1 to 1, 0 = unchanged (default)")
    group.add_argument("--contrast", type=_signed_unit, default=0.0, metavar="N", help="-1 to 1, 0 = unchanged (default)")
    group.add_argument("--sharpness", type=_unit, default=0.0, metavar="N", help="0 (default, unchanged) to 1 (strongest)")
    group.add_argument("--head-size", type=_signed_unit, default=0.0, metavar="N",
                       help="-1 = the smallest head the document allows, 1 = the largest, 0 = automatic (default)")
    group.add_argument("--head-position", type=_signed_unit, default=0.0, metavar="N",
                       help="-1 = the highest position the document allows, 1 = the lowest, 0 = automatic (default)")


def _background_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("background", help="cut the person out and replace the background",
                                 description="Portrait matting, then a new background.")
    _add_image_command_arguments(parser, what="photos")
    _background_options(parser)
    _strokes_option(parser)
    parser.set_defaults(handler=cmd_background)


def _strokes_option(parser: argparse.ArgumentParser) -> None:
    """The one-photo commands' hand corrections (a batch has no single photo to paint on)."""
    parser.add_argument("--strokes", type=_given_path, metavar="FILE",
                        help="a stroke mask PNG the photo's size: white = keep, black = remove, transparent = "
                             "no opinion; corrects the cut-out before the background (and placement)")


def _background_options(parser: argparse.ArgumentParser) -> None:
    """What the new background is (the background command's and a background batch's)."""
    from pipeline.cutout.background import BACKGROUND_MODES, COLOUR_PRESETS

    parser.add_argument("--mode", choices=BACKGROUND_MODES, default="transparent", help="default: transparent (PNG)")
    parser.add_argument("--colour", "--color", dest="colour", default="white",
                        help=f"preset ({', '.join(COLOUR_PRESETS)}) or #RRGGBB")
    parser.add_argument("--colour2", "--color2", dest="colour2", default="light-blue", help="second gradient colour")
    parser.add_argument("--image", type=_given_path, help="background image for --mode image")
    parser.add_argument("--blur", type=_finite_number, default=0.5, help="blur strength 0-1 for --mode blur")
    parser.add_argument("--feather", type=_finite_number, default=1.0, help="edge feather in pixels")
    parser.add_argument("--no-despill", dest="despill", action="store_false", help="keep edge colours as they are")
    parser.add_argument("--format", choices=sorted(OUTPUT_FORMATS), default="png", help="png keeps transparency")
    parser.add_argument("--matting", choices=MATTING_METHODS, default=MATTING_AUTO,
                        help="auto = MODNet when its weights are present, else the offline fallback (Selfie Segmentation)")


def _batch_parser(commands: argparse._SubParsersAction, manifest: Manifest) -> None:
    """``batch JOB``: the Batch tab's jobs and QA report from the command line, resumable."""
    parser = commands.add_parser(
        "batch", help="run a job over many photos with a QA report (report.csv, report.html); resumable",
        description="Restore, replace the background of, or make ID photos from many photos (files, folders, "
                    "glob patterns, .zip archives, list files), with the web app's QA report. A re-run into the "
                    "same output folder skips what is finished.",
    )
    jobs = parser.add_subparsers(dest="job", metavar="JOB", required=True)
    job_parsers = {
        "restore": (jobs.add_parser("restore", help="restore faces"), lambda p: _restore_batch_options(p, manifest)),
        "background": (jobs.add_parser("background", help="replace the background"), _background_options),
        "idphoto": (jobs.add_parser("idphoto", help="make ID photos (photo and compliance verdict per input)"),
                    lambda p: _idphoto_options(p, manifest)),
    }
    for job_parser, add_options in job_parsers.values():
        _batch_arguments(job_parser)
        add_options(job_parser)
        job_parser.set_defaults(handler=cmd_batch)


def _restore_batch_options(parser: argparse.ArgumentParser, manifest: Manifest) -> None:
    _restore_options(parser, manifest)
    parser.add_argument("--format", choices=sorted(OUTPUT_FORMATS), default="png", help="output format")
    parser.add_argument("--precision", choices=PRECISION_CHOICES, help="auto = bf16 where the hardware has it, else fp32")


def _batch_arguments(parser: argparse.ArgumentParser) -> None:
    """Inputs, output and how the batch runs, shared by every job."""
    parser.add_argument("inputs", nargs="*", help="image files, folders, .zip archives or quoted glob patterns "
                                                   "such as 'scans/**/*.jpg'")
    parser.add_argument("-o", "--output", type=_given_path, required=True,
                        help="output folder: results/, report.csv, report.html and the ledger a re-run resumes from")
    add_language_option(parser, "the language of report.html and of the rows' messages")
    parser.add_argument("--list", dest="list_file", type=_given_path,
                        help="a text file with one input per line (# starts a comment)")
    parser.add_argument("--recursive", action="store_true", help="look for images in sub-folders too")
    parser.add_argument("--retry-failed", action="store_true", help="run the inputs that failed last time again "
                                                                     "(finished ones are always skipped)")
    parser.add_argument("--shard", help="i/n: process only this process's share of the inputs (1/4 ... 4/4); "
                                        "n processes with the same inputs split them without overlap")
    parser.add_argument("--workers", type=_at_least_one, help="photos in flight at once (default: 32 on a CUDA GPU, "
                                                               "so many photos' faces fill one network call; 2 on a CPU)")
    parser.add_argument("--zip", action="store_true", help="also write results.zip (results and reports)")
    parser.add_argument("--engine", choices=("local", "ray"), default="local",
                        help="local (default) or ray: Ray Data over a cluster (needs requirements-ray.txt)")
    parser.add_argument("--address", help="with --engine ray: the cluster to join (auto = the one `ray start` "
                                          "made on this machine); default: a local Ray started for this run")
    parser.add_argument("--device", help="auto (default), cpu, cuda or cuda:N")
    parser.add_argument("--debug", action="store_true", help="print tracebacks of unexpected errors")


def _specs_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("specs", help="list or search ID-photo documents")
    parser.add_argument("query", nargs="*", help="words to look for in id, country or document")
    parser.set_defaults(handler=cmd_specs)


def _weights_parser(commands: argparse._SubParsersAction, manifest: Manifest) -> None:
    weights_parser = commands.add_parser("weights", help="list or download model weights")
    weights_commands = weights_parser.add_subparsers(dest="weights_command", metavar="ACTION", required=True)
    list_parser = weights_commands.add_parser("list", help="show each model's weights: present/missing/corrupt/unverified")
    list_parser.set_defaults(handler=cmd_weights_list)
    fetch_parser = weights_commands.add_parser("fetch", help="download and verify weights (size and sha256)")
    fetch_parser.add_argument("names", nargs="*", metavar="NAME",
                              help=f"models to fetch: {', '.join(fetchable(manifest))}")
    fetch_parser.add_argument("--all", action="store_true", help="fetch every model in the manifest")
    fetch_parser.add_argument("--retries", type=_at_least_zero, default=3,
                              help="further attempts after a failed download (default: %(default)s)")
    fetch_parser.set_defaults(handler=cmd_weights_fetch)


EXIT_CODES_HELP = ("exit codes: 0 all done; 1 some inputs failed; 2 usage error, nothing processed; "
                   "3 stopped early (disk full, output not writable); 130 interrupted")


def build_parser() -> argparse.ArgumentParser:
    """The whole command line; it imports no torch, so ``--help`` answers at once."""
    manifest = load_manifest()
    parser = argparse.ArgumentParser(
        prog="python -m pipeline", epilog=EXIT_CODES_HELP,
        description="Portrait Lab: privacy-first portrait restoration on your own machine.",
    )
    parser.add_argument("--version", action="version", version=f"Portrait Lab {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _restore_parser(commands, manifest)
    _idphoto_parser(commands, manifest)
    _background_parser(commands)
    _batch_parser(commands, manifest)
    _specs_parser(commands)
    _weights_parser(commands, manifest)
    info_parser = commands.add_parser("info", help="show version, compute device and weights directory")
    info_parser.add_argument("--device", help="auto (default), cpu, cuda or cuda:N")
    info_parser.set_defaults(handler=cmd_info)
    return parser


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


def _jpeg_quality(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number from 1 to 100, got {text!r}") from None
    if not 1 <= value <= 100:
        raise argparse.ArgumentTypeError(f"expected a whole number from 1 to 100, got {value}")
    return value


def _signed_unit(text: str) -> float:
    value = _finite_number(text)
    if not -1.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be from -1 to 1, not {text!r}")
    return value


def _unit(text: str) -> float:
    value = _finite_number(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be from 0 to 1, not {text!r}")
    return value


def _positive_number(text: str) -> float:
    value = _finite_number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, not {text!r}")
    return value
