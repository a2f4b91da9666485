"""The per-photo function of each batch job (restore, new background, ID photo): options and
models are checked once, when the job is built, so a bad option or missing weights stop the
batch before any photo instead of failing every one. Each photo then becomes a
:class:`JobOutput`: the encoded file (from pixels alone, never the input's metadata), a
preview for the after-thumbnail, our own measurements and the warnings for the report.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import cv2
import numpy as np

from pipeline.core.choices import DETECTOR_AUTO, MATTING_AUTO, check_matting_method
from pipeline.core.decode import DecodedImage
from pipeline.core.encode import OUTPUT_FORMATS, encode_image, keeps_alpha, output_format
from pipeline.core.errors import InvalidOptionError
from pipeline.core.metrics import psnr
from pipeline.i18n import Message, Text, render, translate
from pipeline.restore.identity_bands import IDENTITY_THRESHOLD, identity_band, shown_score

if TYPE_CHECKING:  # hints only: torch-heavy modules load when a caller builds a pipeline
    from pipeline.cutout.background import BackgroundOptions
    from pipeline.cutout.cutter import CutoutPipeline
    from pipeline.idphoto.maker import IdPhotoOptions, IdPhotoPipeline
    from pipeline.restore.engine import RestorationPipeline, RestorationResult, RestoreOptions



@dataclass
class JobOutput:
    """What a job makes of one photo: the file's bytes and suffix, the picture for the
    after-thumbnail (``preview`` RGB, optional ``preview_alpha``), measurements and warnings."""

    data: bytes
    suffix: str
    preview: np.ndarray
    metrics: dict[str, Any] = field(default_factory=dict)
    warnings: list[Text] = field(default_factory=list)
    preview_alpha: np.ndarray | None = None


Process = Callable[[DecodedImage], JobOutput]


def restore_job(engine: RestorationPipeline, options: RestoreOptions, fmt: str = "png") -> Process:
    """Face restoration per photo. Options and the model are checked here, so missing weights
    or a bad option stop the batch once instead of failing every photo."""
    key = output_format(fmt)
    options = options.validated(engine.manifest)
    engine.restorer(options.model)

    def process(image: DecodedImage) -> JobOutput:
        result = engine.restore(image, options)
        height, width = result.image.shape[:2]
        reference = image.rgb
        if reference.shape != result.image.shape:  # upscaled: compare with the input resized the same way
            reference = cv2.resize(reference, (width, height), interpolation=cv2.INTER_CUBIC)
        metrics = {
            "faces_found": len(result.faces),
            "faces_restored": sum(1 for face in result.faces if face.restored),
            "output_size": f"{width}x{height}",
            "psnr_vs_input_db": _rounded(psnr(result.image, reference), 2),
            "model": result.model,
            "detector": result.detector,
            **_identity_metrics(result),
        }
        data = encode_image(result.image, result.alpha, format=key)
        return JobOutput(data=data, suffix=OUTPUT_FORMATS[key], preview=result.image, metrics=metrics,
                         warnings=list(result.warnings) + _identity_warnings(result),
                         preview_alpha=result.alpha if keeps_alpha(key) else None)

    return process


def _identity_metrics(result: RestorationResult) -> dict[str, object]:
    """The lowest identity score of the photo's restored faces and its band: the face a QA
    reviewer should look at first. Empty without restored faces or the identity model."""
    scores = [face.identity.score_used for face in result.faces if face.identity is not None]
    if not scores:
        return {}
    band = identity_band(min(scores))
    return {"identity_lowest": shown_score(min(scores)), "identity_verdict": band.verdict}


def _identity_warnings(result: RestorationResult) -> list[Message]:
    """A face whose identity changed makes the row a warning, so it is not passed over."""
    changed = [face.identity.score_used for face in result.faces
               if face.identity is not None and face.identity.score_used < IDENTITY_THRESHOLD]
    if not changed:
        return []
    return [Message("warning.batch.identity_changed", {"count": len(changed), "score": f"{shown_score(min(changed)):.2f}",
                                                        "threshold": f"{IDENTITY_THRESHOLD:.2f}"})]


@dataclass(frozen=True)
class _Listed(Message):
    """Texts joined with the reader's list separator ("a, b" or "a、b"), as one message value."""

    def text(self, lang: str | None = None) -> str:
        return translate("warning.list_separator", lang).join(str(render(item, lang)) for item in self.values["items"])


def background_job(cutter: CutoutPipeline, options: BackgroundOptions, fmt: str = "png", *,
                   detector: str = DETECTOR_AUTO, matting: str = MATTING_AUTO) -> Process:
    """New background per photo; a transparent result needs a format that keeps alpha."""
    key = output_format(fmt)
    options = options.validated()
    if options.mode == "transparent" and not keeps_alpha(key):
        raise InvalidOptionError(Message("error.background.no_transparency", {"format": key.upper()}),
                                 hint=Message("error.background.no_transparency_hint"))
    check_matting_method(matting)

    def process(image: DecodedImage) -> JobOutput:
        result, cut = cutter.replace_background(image, options, detector=detector, matting=matting)
        metrics = {
            "matting": cut.matte.method,
            "person_fraction": _rounded(float(np.mean(cut.matte.alpha >= 0.5)), 3),
            "faces": len(cut.faces),
            "mode": options.mode,
        }
        data = encode_image(result.rgb, result.alpha, format=key)
        return JobOutput(data=data, suffix=OUTPUT_FORMATS[key], preview=result.rgb, metrics=metrics,
                         warnings=list(cut.warnings), preview_alpha=result.alpha)

    return process


def idphoto_job(maker: IdPhotoPipeline, options: IdPhotoOptions) -> Process:
    """ID photo per photo; a compliance verdict other than pass makes the row a warning, so a
    photo that would be rejected at the counter never looks finished."""
    options = options.validated()

    def process(image: DecodedImage) -> JobOutput:
        result = maker.make(image, options)
        report = result.report
        counts = {status: sum(check.status == status for check in report.checks) for status in ("fail", "warn")}
        try:
            head_ratio = report.check("head_height").value
        except KeyError:
            head_ratio = None
        width, height = result.plan.size
        metrics = {
            "compliance": report.overall,
            "checks_failed": counts["fail"],
            "checks_warned": counts["warn"],
            "file_kb": round(len(result.encoded) / 1024, 1),
            "size_px": f"{width}x{height}",
            "dpi": result.dpi,
            "head_ratio": _rounded(head_ratio if head_ratio is not None else result.plan.head_ratio, 3),
            "spec": result.spec.id,
        }
        warnings = list(result.warnings)
        if report.overall != "pass":
            failing = tuple(c.title for c in report.checks if c.status == report.overall)
            warnings.insert(0, Message("warning.batch.compliance", {"verdict": Message(f"report.verdict.{report.overall}"),
                                                                    "checks": _Listed("", {"items": failing})}))
        return JobOutput(data=result.encoded, suffix=f".{result.format}", preview=result.photo, metrics=metrics,
                         warnings=warnings)

    return process


class JobPipelines(Protocol):
    """The pipelines a batch job runs on (the web app's studio, the CLI's or a Ray actor's
    :class:`pipeline.batch.pipelines.LocalPipelines`): loaded once, shared by every photo."""

    engine: RestorationPipeline
    cutter: CutoutPipeline
    id_maker: IdPhotoPipeline


@dataclass(frozen=True)
class BatchJob:
    """A batch job as data: which job, its options, the output format. It pickles, so a Ray
    actor on another machine builds the same per-photo function from it, and its
    :meth:`fingerprint` tells a resumed run whether a folder's results are this job's."""

    kind: str  # a key of BATCH_JOB_BUILDERS
    options: Any  # RestoreOptions, BackgroundOptions or IdPhotoOptions
    fmt: str = "png"  # restore and background; an ID photo's format is in its options
    detector: str = DETECTOR_AUTO
    matting: str = MATTING_AUTO

    def process(self, pipelines: JobPipelines) -> Process:
        """The per-photo function, options checked and models loaded (missing weights stop here)."""
        builder = BATCH_JOB_BUILDERS.get(self.kind)
        if builder is None:
            raise InvalidOptionError(f"Unknown batch job {self.kind!r}.",
                                     hint=f"Choose one of: {', '.join(BATCH_JOB_BUILDERS)}.")
        return builder(self, pipelines)

    def fingerprint(self) -> str:
        """A short digest of everything that shapes the results (arrays by their bytes)."""
        text = json.dumps(_canonical(self), sort_keys=True, default=str)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


# Optional fields added after batches were first fingerprinted: left out while unset, so a batch
# started before they existed still resumes (the hand-correction strokes of issue 19).
UNSET_NOT_FINGERPRINTED = frozenset({"strokes"})


def _canonical(value: Any) -> Any:
    """Plain values for the fingerprint: dataclasses as dicts, arrays as their digest."""
    if isinstance(value, np.ndarray):
        return f"array:{value.shape}:{hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()}"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _canonical(getattr(value, f.name)) for f in dataclasses.fields(value)
                if not (f.name in UNSET_NOT_FINGERPRINTED and getattr(value, f.name) is None)}
    if isinstance(value, (list, tuple)):
        return [_canonical(item) for item in value]
    return value


BATCH_JOB_BUILDERS: dict[str, Callable[[BatchJob, JobPipelines], Process]] = {
    "restore": lambda job, p: restore_job(p.engine, job.options, job.fmt),
    "background": lambda job, p: background_job(p.cutter, job.options, job.fmt, detector=job.detector,
                                                matting=job.matting),
    "idphoto": lambda job, p: idphoto_job(p.id_maker, job.options),
}


def _rounded(value: float, digits: int) -> float:
    return value if not math.isfinite(value) else round(float(value), digits)
