"""What the web app calls: one shared set of models, and the image work behind each user action.

Each action takes file paths and options, writes its results as files into a directory
the caller owns (the session's), and returns the paths plus human-readable text. The UI
stays free of image logic, and a test can drive every action without a browser.
Models are loaded once and shared; no method keeps per-request state on ``self``.
"""
from __future__ import annotations

import re
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.core.choices import DETECTOR_AUTO, UPSAMPLER_NONE
from pipeline.core.decode import decode_image
from pipeline.core.encode import OUTPUT_FORMATS, keeps_alpha, output_format, save_image
from pipeline.core.errors import InvalidOptionError
from pipeline.core.samples import astronaut
from pipeline.core.timing import timed
from pipeline.cutout.background import BACKGROUND_MODES, COLOUR_PRESETS, BackgroundOptions
from pipeline.cutout.cutter import CutoutPipeline
from pipeline.cutout.found import FoundPerson
from pipeline.i18n import render
from pipeline.idphoto.maker import IdPhotoOptions, IdPhotoPipeline
from pipeline.idphoto.outputs import print_sheet_for, write_id_photo_files
from pipeline.idphoto.nudge import PlacementNudge
from pipeline.idphoto.tone import ToneOptions
from pipeline.idphoto.paper import PAPER_SIZES_MM
from pipeline.idphoto.search import spec_label
from pipeline.idphoto.specs import IdPhotoSpec, SpecRegistry, load_specs
from pipeline.models.fetcher import app_kinds
from pipeline.models.locations import fetch_command
from pipeline.models.manifest import Manifest, ModelEntry
from pipeline.restore.engine import RestorationPipeline, RestoreOptions
from pipeline.restore.facework import FaceWork
from pipeline.restore.upsampler import default_upsampler
from webapp.cutout_editor import FOUND_FILE, EditorView, editor_view
from webapp.language import VISITOR_LANGUAGE, t, ui
from webapp.review import FACES_FILE, FaceReview, changed_headline, identity_lines, with_cards, with_strength

if TYPE_CHECKING:
    from pipeline.batch.jobs import Process
    from pipeline.batch.report import BatchSummary

Choices = list[tuple[Any, str]]  # (label shown: text, or a catalogue label the browser translates; value sent)
# How a model's licence reads in the model list, by whether it allows commercial use (None: not
# confirmed); the licence's own name when it does. Short, so that an option fits a phone's width.
LICENCE_WORDS: dict[bool | None, str | None] = {True: None, False: "web.model.noncommercial",
                                                None: "web.model.licence_unknown"}
# The jobs a batch can run, with the names the Batch tab shows for them.
# A visitor's batch keeps at most this many photos in flight: their faces still share network
# calls on a GPU, while the memory one visitor holds stays bounded and other visitors' faces
# are not queued behind a whole batch's (the command line keeps the GPU's full 32).
WEB_BATCH_WORKERS = 4
BATCH_JOBS = {"restore": "ui.batch.job_restore", "background": "ui.batch.job_background", "idphoto": "ui.batch.job_idphoto"}
DEFAULT_SPEC = "icao_generic"  # the document the ID-photo and Batch tabs start on
SHEET_NONE = "none"
# The ID photo's stages as the progress bar shows them: (share of the job done when the stage
# starts, the catalogue key of what it is doing in the visitor's words). The stage names are the maker's.
ID_PHOTO_STAGES = {
    "detect": (0.05, "web.stage.detect"), "landmarks": (0.15, "web.stage.landmarks"),
    "matte": (0.3, "web.stage.matte"), "crop": (0.5, "web.stage.crop"), "tone": (0.55, "web.stage.tone"),
    "encode": (0.6, "web.stage.encode"), "verify": (0.7, "web.stage.verify"), "sheet": (0.9, "web.stage.sheet"),
}


@dataclass(frozen=True)
class Availability:
    """Which features can run with the weights on disk. The administrator's details are made
    here (model ids, the command); the visitor's words in ``webapp.weights_banner``."""

    restore_ready: bool
    missing: tuple[str, ...]  # manifest names of downloadable models that are not usable
    details: str  # markdown for the "Server details" accordion; empty when everything is installed


BATCH_STATUS_WORDS = {"ok": "web.batch.ok", "warning": "web.batch.warning", "error": "web.batch.error",
                      "skipped": "web.batch.skipped"}


def batch_markdown(summary: BatchSummary) -> str:
    """One line a person can read at a glance after a batch (in the visitor's language)."""
    counts = summary.counts
    parts = [t(BATCH_STATUS_WORDS[status], count=counts.get(status, 0)) for status in ("ok", "warning", "error", "skipped")
             if counts.get(status)]
    job = t(BATCH_JOBS[summary.job_name]) if summary.job_name in BATCH_JOBS else summary.job_name
    # the server notes were rendered in the batch's language (pipeline/batch)
    notes = "".join(f"\n\n{note}" for note in summary.server_notes)  # once, not on every row
    headline = t("web.batch.headline", job=job, files=len(summary.rows), seconds=f"{summary.seconds:.1f}")
    return (f"**{headline}** — " + (t("web.batch.list_separator").join(parts) or t("web.batch.nothing"))
            + t("web.batch.zip_holds") + notes)


@dataclass
class RestoreOutcome:
    before: Path  # the input at the output's size, for the comparison slider
    after: Path
    summary: str
    faces: int
    seconds: float
    review: FaceReview | None = None  # the face-by-face review's state; None without restored faces
    timings: dict[str, float] = field(default_factory=dict)  # seconds by stage, for the metrics


@dataclass
class BackgroundOutcome:
    image: Path
    summary: str
    seconds: float
    faces: int = 0
    timings: dict[str, float] = field(default_factory=dict)  # seconds by stage, for the metrics
    editor: EditorView | None = None  # what "Fix the cut-out" shows: the photo and its matte


@dataclass
class IdPhotoOutcome:
    photo: Path
    overlay: Path
    report_text: str
    report_json: Path
    report_txt: Path
    sheet_png: Path | None
    sheet_pdf: Path | None
    verdict: str
    summary: str
    seconds: float
    files: list[Path] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  # seconds by stage, for the metrics
    editor: EditorView | None = None  # what "Fix the cut-out" shows: the photo and its matte


class Studio:
    """The app's single entry point into the pipeline."""

    def __init__(self, engine: RestorationPipeline | None = None, specs: SpecRegistry | None = None) -> None:
        self.engine = engine or RestorationPipeline()
        self.cutter = CutoutPipeline(self.engine.faces)
        self.id_maker = IdPhotoPipeline(self.engine.faces)
        self.specs = specs or load_specs()

    # -- choices, read from the pipeline's data ------------------------------------------
    @property
    def manifest(self) -> Manifest:
        return self.engine.manifest

    def restorer_choices(self) -> Choices:
        """Each restorer with its licence, marked when its weights are not on this server."""
        store = self.engine.store
        return [(_model_label(self.manifest.get(n), store.is_available(n)), n)
                for n in self.manifest.names("restorer")]

    def default_restorer(self) -> str:
        return self.manifest.default("restorer").name

    def upsampler_choices(self) -> Choices:
        """How an enlarged photo's background is made: quick bicubic, or a Real-ESRGAN network
        (with its licence, marked while its weights are missing)."""
        store = self.engine.store
        return [(ui("restore.quick"), UPSAMPLER_NONE)] + [
            (_model_label(self.manifest.get(n), store.is_available(n)), n) for n in self.manifest.names("upsampler")]

    def upsampler_ready(self, name: str) -> bool:
        """Whether the background choice ``name`` can run now (the quick way always can)."""
        return name == UPSAMPLER_NONE or (name in self.manifest.names("upsampler")
                                          and self.engine.store.is_available(name))

    def default_upsampler(self) -> str:
        """Real-ESRGAN where this server has a GPU, the quick way elsewhere (upsampler.py says why)."""
        return default_upsampler(self.manifest, self.engine.compute)

    def detector_choices(self) -> Choices:
        return [(ui("restore.detector_auto"), DETECTOR_AUTO)] + [
            (self.manifest.get(n).display_name, n) for n in self.manifest.names("detector")
        ]

    def spec_choices(self, query: str = "", lang: str | None = None, *, near_misses: bool = False) -> Choices:
        """The documents matching ``query`` (names in any language, words in any order), best
        first; all of them, most asked for first, without one; with ``near_misses``, what a
        query that matches nothing probably meant. Labelled in ``lang``, else in the language
        of the request being served."""
        from pipeline.idphoto.search import labelled_search
        from webapp.language import VISITOR_LANGUAGE

        return list(labelled_search(self.specs.specs, query, lang or VISITOR_LANGUAGE.get(), near_misses=near_misses))

    @staticmethod
    def background_modes() -> Choices:
        return [(ui(f"background.mode_{mode}"), mode) for mode in BACKGROUND_MODES]

    @staticmethod
    def colour_choices() -> Choices:
        return [(ui(f"colour.{name}") + f" ({value})", name) for name, value in COLOUR_PRESETS.items()]

    @staticmethod
    def paper_choices() -> Choices:
        return [(ui("idphoto.no_sheet"), SHEET_NONE)] + [(name, name) for name in PAPER_SIZES_MM]

    def spec(self, spec_id: str) -> IdPhotoSpec:
        return self.specs.get(spec_id)

    # -- weights ---------------------------------------------------------------------------
    def availability(self) -> Availability:
        """What the pipeline would use and cannot: each kind's default model, plus any
        restorer a visitor could pick. Optional extras (e.g. a second face parser) are not news."""
        store = self.engine.store
        relevant = [self.manifest.default(kind).name for kind in app_kinds(self.engine.compute.device.type)]
        relevant += [n for n in self.manifest.names("restorer") if n not in relevant]
        missing = tuple(name for name in relevant
                        if not self.manifest.get(name).is_bundled and not store.is_available(name))
        ready = any(store.is_available(name) for name in self.manifest.names("restorer"))
        fallbacks = {
            "restorer": "cannot be chosen until it is installed"
            + ("" if ready else "; restoration is disabled until a GFPGAN model is installed"),
            "detector": "faces are found with the offline MTCNN detector instead",
            "parser": "restored faces are blended with a feathered mask instead of face parsing",
            "matting": "backgrounds are separated with the offline matting (hair edges less clean)",
            "upsampler": "enlarged photos get a bicubic background instead",
            "recognition": "restored faces get no identity score, and the identity guard cannot run",
        }
        lines: list[str] = []
        if missing:
            lines.append("**Model weights not installed on this server:**")
            for name in missing:
                entry = self.manifest.get(name)
                lines.append(f"- {entry.display_name} (`{name}`): {fallbacks[entry.kind]}.")
            lines.append(f"\nTo install them, run on the server: `{fetch_command(list(missing))}`")
        return Availability(ready, missing, "\n".join(lines))

    def warm_up(self) -> list[str]:
        """Load the default models that are installed, so the first visitor does not wait."""
        loaded: list[str] = []
        store = self.engine.store
        if store.is_available(self.default_restorer()):
            self.engine.restorer(self.default_restorer())
            loaded.append(self.default_restorer())
        detector, _ = self.engine.faces.resolve_detector(DETECTOR_AUTO)
        self.engine.faces.detector(detector)
        loaded.append(detector)
        for kind in ("parser", "matting"):
            name = self.manifest.default(kind).name
            if store.is_available(name):
                store.get(name)
                loaded.append(name)
        return loaded

    def restorer_ready(self, name: str) -> bool:
        return self.engine.store.is_available(name)

    # -- actions -----------------------------------------------------------------------------
    def restore(self, source: str | Path, options: RestoreOptions, out_dir: Path, fmt: str = "png") -> RestoreOutcome:
        started = time.perf_counter()
        suffix = _output_suffix(fmt)
        image = decode_image(source)
        result = self.engine.restore(image, options)
        height, width = result.image.shape[:2]
        before = _resized(image.rgb, (width, height))
        before_path = save_image(out_dir / "before.jpg", before, quality=92)
        after_path = save_image(out_dir / f"{download_stem(source)}-restored{suffix}", result.image, result.alpha)
        restored = sum(1 for face in result.faces if face.restored)
        # Which model and device did it are the log's and the Server details' (model ids)
        # the engine's warnings are catalogue messages: rendered in the visitor's language
        notes = (t("web.restore.summary", restored=restored, faces=len(result.faces), width=width, height=height),
                 *(f"- {render(warning, VISITOR_LANGUAGE.get())}" for warning in result.warnings))
        if result.work is None:
            return RestoreOutcome(Path(before_path), Path(after_path), "\n".join(notes), restored,
                                  time.perf_counter() - started, timings=dict(result.timings))
        identities = result.identities
        review = with_cards(result.work, FaceReview(
            result.work.save(out_dir / FACES_FILE), Path(before_path), Path(after_path).stem, suffix,
            tuple(result.strengths), tuple(g.score_used for g in identities) if identities else None,
            notes=notes), out_dir)
        lines = [changed_headline(review) + notes[0], *identity_lines(review, identities), *notes[1:]]
        return RestoreOutcome(Path(before_path), Path(after_path), "\n".join(lines), restored,
                              time.perf_counter() - started, review, dict(result.timings))

    def reblend(self, review: FaceReview, face: int, strength: float, out_dir: Path) -> RestoreOutcome:
        """One face's strength changed: the kept faces pasted again and scored, no restoration
        network. Writes the new photo and cards into ``out_dir`` (a new job folder)."""
        started = time.perf_counter()
        review = with_strength(review, face, strength)
        work = FaceWork.load(review.faces_file)
        image = self.engine.paste(work, list(review.strengths))
        if review.scores is not None:  # only this face changed: only its score is measured again
            scores = list(review.scores)
            scores[face], = self.engine.identity_scores(work, list(review.strengths), [face]) or [scores[face]]
            review = replace(review, scores=tuple(scores))
        after_path = save_image(out_dir / f"{review.stem}{review.suffix}", image, work.alpha)
        lines = [changed_headline(review) + t("web.restore.reblended", face=face + 1,
                                              strength=f"{review.strengths[face]:.2f}"),
                 *identity_lines(review), *review.notes]
        return RestoreOutcome(review.before, Path(after_path), "\n".join(lines), len(review.strengths),
                              time.perf_counter() - started, with_cards(work, review, out_dir))

    def replace_background(self, source: str | Path, options: BackgroundOptions, out_dir: Path,
                           fmt: str = "png", backdrop: str | Path | None = None,
                           matting: str = "auto", found: Path | None = None) -> BackgroundOutcome:
        """``found``: the file of this photo's automatic analysis from an earlier result (a hand
        fix: no detector or network runs); the analysis used is kept in ``out_dir`` otherwise."""
        started = time.perf_counter()
        suffix = _output_suffix(fmt)
        if options.mode == "transparent" and not keeps_alpha(fmt):
            raise InvalidOptionError("JPEG cannot hold transparency.", hint="Download as PNG or WebP, or pick another background.")
        if options.mode == "image":
            if backdrop is None:
                raise InvalidOptionError("The image background needs a background picture.",
                                         hint="Upload one under 'Background picture'.")
            options = BackgroundOptions(**{**options.__dict__, "image": decode_image(backdrop).rgb})
        timings: dict[str, float] = {}
        with timed(timings, "decode"):
            image = decode_image(source)
        kept = _kept_analysis(found, image.rgb.shape, (DETECTOR_AUTO, matting))
        with timed(timings, "cutout"):
            result, cut = self.cutter.replace_background(image, options, matting=matting, found=kept)
        with timed(timings, "encode"):
            path = save_image(out_dir / f"{download_stem(source)}-{options.mode}-background{suffix}", result.rgb,
                              result.alpha if keeps_alpha(fmt) else None)
        mode = t(f"ui.background.mode_{options.mode}").lower() if options.mode in BACKGROUND_MODES else options.mode
        lines = [t("web.background.summary", mode=mode, faces=len(cut.faces))]
        lines += [f"- {render(warning, VISITOR_LANGUAGE.get())}" for warning in cut.warnings]
        editor = editor_view(image.rgb, cut.matte.alpha, out_dir, found if kept else cut.found.save(out_dir / FOUND_FILE),
                             with_photo=kept is None)
        timings["total"] = time.perf_counter() - started
        return BackgroundOutcome(Path(path), "\n".join(lines), timings["total"], len(cut.faces), timings, editor)

    def id_photo(self, source: str | Path, spec_id: str, out_dir: Path, *, background: str | None = None,
                 max_kb: float | None = None, paper: str = SHEET_NONE, fmt: str = "jpg",
                 tone: ToneOptions | None = None, nudge: PlacementNudge | None = None,
                 progress: Callable[[float, str], None] | None = None, strokes: np.ndarray | None = None,
                 found: Path | None = None) -> IdPhotoOutcome:
        """``tone``: the automatic face correction (None: on) and the sliders; ``nudge``: head
        size and position within the document's ranges (None: the automatic placement);
        ``progress`` hears (share done, the stage in the visitor's words) as each stage starts;
        ``strokes`` (a stroke mask) corrects the cut-out by hand, and ``found`` (this photo's
        analysis from an earlier result) spares detection, landmarks and matting."""
        started = time.perf_counter()
        spec = self.specs.get(spec_id)
        options = IdPhotoOptions(spec=spec, background=background or None, max_kb=max_kb or None,
                                 format=fmt, tone=tone or ToneOptions(), nudge=nudge or PlacementNudge(),
                                 strokes=strokes).validated()
        layout = None
        wants_sheet = bool(paper) and paper != SHEET_NONE
        if wants_sheet and spec.width_mm:  # a digital upload has no print size, so no sheet (said below)
            layout = print_sheet_for(spec, paper, hint="Choose 'No print sheet', or the document's printed variant.")
        tell = progress or (lambda _share, _words: None)
        image = decode_image(source)
        kept = _kept_analysis(found, image.rgb.shape, (options.detector, options.matting), needs_evidence=True)
        result = self.id_maker.make(image, options, on_stage=lambda stage: tell(*_stage(stage)), found=kept)
        assert result.found is not None and result.source_matte is not None  # the maker always keeps them
        editor = editor_view(image.rgb, result.source_matte, out_dir,
                             found if kept else result.found.save(out_dir / FOUND_FILE), with_photo=kept is None)
        if layout is not None:
            tell(*_stage("sheet"))
        files = write_id_photo_files(result, out_dir, f"{download_stem(source)}-{spec.id}", layout,
                                     sheet_name=f"sheet_{paper}", lang=VISITOR_LANGUAGE.get())
        width, height = result.plan.size
        summary = t("web.idphoto.summary", document=spec_label(spec, VISITOR_LANGUAGE.get()), width=width, height=height, dpi=result.dpi,
                    kb=f"{len(result.encoded) / 1024:.0f}", verdict=t(f"web.idphoto.overall_{result.report.overall}"))
        if result.corrections and result.corrections.changed:
            summary += f" {result.corrections.summary(VISITOR_LANGUAGE.get())}"
        if wants_sheet and layout is None:
            summary += " " + t("web.idphoto.no_sheet_digital")
        return IdPhotoOutcome(files.photo, files.overlay, files.report_text, files.report_json, files.report_txt,
                              files.sheet_png, files.sheet_pdf, result.report.overall, summary,
                              time.perf_counter() - started, files.paths, dict(result.timings), editor)

    def batch(self, sources: Sequence[str | Path], job: str, out_dir: Path, *,
              restore: RestoreOptions | None = None, background: BackgroundOptions | None = None,
              spec_id: str | None = None, id_background: str | None = None,
              progress: Callable[[int, int, str], None] | None = None,
              max_extract_bytes: int | None = None, lang: str | None = None) -> BatchSummary:
        """One batch job over photos and ``.zip`` archives, results and reports in ``out_dir``,
        its sentences and report.html in ``lang`` (default: the visitor's, of the request served).

        Archives are unpacked into ``out_dir/inputs``, at most ``max_extract_bytes`` bytes when
        given (the caller's room: quota, free space), never more than the per-batch cap. That
        folder is deleted when the job ends, however it ends: unpacked copies left behind would
        fill the disk, and nothing needs them afterwards (results, reports and the summary's
        thumbnails, hence :meth:`BatchSummary.comparisons`, are made while the job runs).
        The job is set up first, so a bad option or missing model unpacks nothing."""
        from pipeline.batch import run_batch
        from pipeline.batch.inputs import expand_inputs
        from pipeline.batch.pipelines import batch_workers
        from webapp.language import VISITOR_LANGUAGE

        if job not in BATCH_JOBS:
            raise InvalidOptionError(f"Unknown batch job {job!r}.", hint=f"Choose one of: {', '.join(BATCH_JOBS)}.")
        if not sources:
            raise InvalidOptionError("No files were given.", hint="Add images, or a .zip of images.")
        process = self._batch_process(job, restore, background, spec_id, id_background)
        inputs = Path(out_dir) / "inputs"
        try:
            lang = lang or VISITOR_LANGUAGE.get()
            items, problems = expand_inputs([Path(s) for s in sources], inputs, max_extract_bytes=max_extract_bytes,
                                            lang=lang)
            return run_batch(items, process, out_dir, job_name=job, progress=progress, extra_rows=problems,
                             workers=min(batch_workers(job, self.engine), WEB_BATCH_WORKERS), lang=lang)
        finally:
            shutil.rmtree(inputs, ignore_errors=True)  # never hide the job's own exception

    def _batch_process(self, job: str, restore: RestoreOptions | None, background: BackgroundOptions | None,
                       spec_id: str | None, id_background: str | None) -> Process:
        """The per-photo function of a batch job, with its options checked and models loaded."""
        from pipeline.batch.jobs import BatchJob

        if job == "restore":
            options = (restore or RestoreOptions()).validated(self.manifest)
        elif job == "background":
            options = (background or BackgroundOptions(mode="colour")).validated()
        elif not spec_id:
            raise InvalidOptionError("Choose the document for the ID photos.")
        else:
            options = IdPhotoOptions(spec=self.specs.get(spec_id), background=id_background or None).validated()
        return BatchJob(job, options).process(self)


def write_example_photo(directory: Path) -> Path:
    """The public-domain astronaut, written at start-up so the examples work offline."""
    directory.mkdir(parents=True, exist_ok=True)
    return Path(save_image(directory / "astronaut.png", astronaut()))


DOWNLOAD_STEM_MAX = 60


def download_stem(source: str | Path) -> str:
    """The start of a result's file name: the visitor's own file name without its extension
    (Gradio keeps it on the upload), in letters, digits, '-' and '_' only, so the download
    is easy to find and no name can reach outside its folder."""
    stem = re.sub(r"[^\w-]+", "-", Path(str(source)).stem, flags=re.UNICODE).strip("-_.")
    return stem[:DOWNLOAD_STEM_MAX] or "photo"


def _model_label(entry: ModelEntry, installed: bool) -> str:
    """The option's text, e.g. "GFPGAN v1.4 (default) · Apache-2.0"; "· not installed" is added
    while its weights are missing from this server."""
    words = LICENCE_WORDS[entry.commercial_use]
    parts = [entry.display_name, t(words) if words else entry.licence]
    return " · ".join(parts if installed else [*parts, t("web.model.not_installed")])


def _kept_analysis(path: Path | None, shape: tuple[int, ...], chosen: tuple[str, str],
                   needs_evidence: bool = False) -> FoundPerson | None:
    """The analysis kept in ``path`` when it is of a photo like this one and made with the same
    choices; None without one (the job then analyses the photo itself). A file that is gone or
    unreadable is made again, as if there were none."""
    if path is None:
        return None
    try:
        found = FoundPerson.load(path)
    except InvalidOptionError:  # gone with the visitor's files, or unreadable: the photo is analysed again
        return None
    return found if found.fits(shape, chosen, needs_evidence) else None


def _stage(stage: str) -> tuple[float, str]:
    """A stage's share done and its words in the visitor's language."""
    share, key = ID_PHOTO_STAGES.get(stage, (0.5, "web.stage.working"))
    return share, t(key)


def _output_suffix(fmt: str) -> str:
    return OUTPUT_FORMATS[output_format(fmt)]


def _resized(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    import cv2

    if (rgb.shape[1], rgb.shape[0]) == size:
        return rgb
    return cv2.resize(rgb, size, interpolation=cv2.INTER_CUBIC)


__all__ = ["Availability", "BackgroundOutcome", "IdPhotoOutcome", "RestoreOutcome", "Studio",
           "write_example_photo"]
