"""The restoration pipeline: detect -> align -> restore (batched) -> mask -> paste.

``RestorationPipeline`` owns the shared, read-only models (through ``ModelStore``); all
per-request data (options, timings, warnings) lives in a ``_Request`` created for each
call, so any number of threads can call ``restore`` on one pipeline at once.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from pipeline.core.decode import DecodedImage
from pipeline.core.errors import ImageTooLargeError, InvalidOptionError
from pipeline.core.choices import DETECTOR_AUTO
from pipeline.core.limits import DEFAULT_DETECTION_MAX_SIDE, DEFAULT_MAX_FACES, MAX_OUTPUT_PIXELS, check_detection_size
from pipeline.core.pixels import require_rgb
from pipeline.core.timing import timed
from pipeline.i18n import Message, Text, render
from pipeline.faces.align import alignment_matrix, warp_to_template
from pipeline.faces.analysis import FaceAnalysis
from pipeline.faces.detect import Face, select_faces
from pipeline.models.accelerate import SpeedSettings
from pipeline.models.components import SharedComponents
from pipeline.models.device import ComputeSettings
from pipeline.models.manifest import Manifest
from pipeline.models.store import ModelStore
from pipeline.restore.facework import FaceWork
from pipeline.restore.guard import GuardedStrength, guard_strengths, scores_at
from pipeline.restore.identity import IdentityScorer
from pipeline.restore.identity_bands import describe_score
from pipeline.restore.restorers import RESTORERS, FaceRestorer, MicroBatchedRestorer, NoiseMode
from pipeline.restore.upsampler import (OFF_WITHOUT_GPU, UPSAMPLER_NONE, BackgroundUpsampler, check_upsampler,
                                        default_upsampler)

GUARD_UNAVAILABLE = Message("warning.restore.guard_unavailable")


@dataclass(frozen=True)
class RestoreOptions:
    """What the user asked for; validated against the manifest before any work starts."""

    model: str | None = None  # manifest name of a restorer; None = the manifest's default
    strength: float = 1.0  # 0 = photo unchanged, 1 = full restoration
    upscale: int = 1  # 1-4: output size factor (background resized, faces restored at full detail)
    only_centre_face: bool = False
    max_faces: int | None = DEFAULT_MAX_FACES
    detector: str = DETECTOR_AUTO  # "auto" or a manifest detector name
    detection_max_side: int = DEFAULT_DETECTION_MAX_SIDE
    noise: NoiseMode = "fixed"
    # what enlarges the background when upscale > 1: "none" (bicubic) or a manifest upsampler;
    # None = the device's default (see upsampler.default_upsampler: off without CUDA)
    background_upsampler: str | None = None
    # lower a face's strength, for that face alone, until its identity score clears the threshold
    identity_guard: bool = False

    def validated(self, manifest: Manifest) -> RestoreOptions:
        if not 0.0 <= self.strength <= 1.0:
            raise InvalidOptionError(f"Strength must be between 0 and 1, got {self.strength}.")
        if self.upscale not in (1, 2, 3, 4):
            raise InvalidOptionError(f"Upscale must be 1, 2, 3 or 4, got {self.upscale}.")
        if self.max_faces is not None and self.max_faces < 1:
            raise InvalidOptionError(f"The face limit must be at least 1, got {self.max_faces}.")
        check_detection_size(self.detection_max_side)
        if self.noise not in ("fixed", "random"):
            raise InvalidOptionError(f"Noise must be 'fixed' or 'random', got {self.noise!r}.")
        model = self.model or manifest.default("restorer").name
        if model not in manifest.names("restorer"):
            raise InvalidOptionError(
                f"Unknown restoration model '{model}'.", hint=f"Choose one of: {', '.join(manifest.names('restorer'))}."
            )
        if self.detector != DETECTOR_AUTO and self.detector not in manifest.names("detector"):
            raise InvalidOptionError(
                f"Unknown detector '{self.detector}'.",
                hint=f"Choose one of: auto, {', '.join(manifest.names('detector'))}.",
            )
        if self.background_upsampler is not None:
            check_upsampler(self.background_upsampler, manifest)
        return RestoreOptions(**{**self.__dict__, "model": model})


@dataclass(frozen=True)
class FaceReport:
    """What happened to one detected face; ``identity`` is None when it was not restored or
    the identity model is not installed."""

    face: Face
    restored: bool
    identity: GuardedStrength | None = None

    def to_dict(self) -> dict[str, Any]:
        report = {**self.face.to_dict(), "restored": self.restored}
        if self.identity is not None:
            report["identity_score"] = round(self.identity.score_used, 4)
            report["identity_meaning"] = describe_score(self.identity.score_used)
            report["strength"] = round(self.identity.used, 4)
            if self.identity.acted:
                report["identity_guard"] = self.identity.to_dict()
        return report


@dataclass
class RestorationResult:
    """Output image plus everything a user or QA report needs to know about the run."""

    image: np.ndarray  # (H, W, 3) uint8 RGB
    alpha: np.ndarray | None
    faces: list[FaceReport]
    timings: dict[str, float]
    warnings: list[Text]
    model: str
    detector: str
    masker: str
    device: str
    background: str = UPSAMPLER_NONE  # the upsampler that enlarged the background, "none" = bicubic
    work: FaceWork | None = None  # the restored faces, kept for a change of strength without the network
    # in ``work``'s face order: the strength each face was pasted at, and its identity (or None)
    strengths: list[float] = field(default_factory=list)
    identities: list[GuardedStrength] | None = None

    def to_dict(self, lang: str = "en") -> dict[str, Any]:
        """JSON data; the warnings in ``lang``."""
        return {
            "size": [int(self.image.shape[1]), int(self.image.shape[0])],
            "faces": [report.to_dict() for report in self.faces],
            "timings_ms": {k: round(v * 1000, 2) for k, v in self.timings.items()},
            "warnings": [str(render(warning, lang)) for warning in self.warnings],
            "model": self.model,
            "detector": self.detector,
            "masker": self.masker,
            "device": self.device,
            "background_upsampler": self.background,
        }


@dataclass
class _Request:
    """Per-call state: never stored on the pipeline or the models."""

    options: RestoreOptions
    upsampler_defaulted: bool = False  # the device chose the background upsampler, not the caller
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[Text] = field(default_factory=list)

    def timed(self, stage: str) -> AbstractContextManager[None]:
        return timed(self.timings, stage)


class RestorationPipeline:
    """Face restoration with models loaded once and shared by every request.

    Faces come from a ``FaceAnalysis`` hub, which the cut-out and ID-photo pipelines can
    share; restorers are built once per model and kept in the same kind of shared cache.
    """

    def __init__(
        self,
        manifest: Manifest | None = None,
        weights_directory: Path | None = None,
        compute: ComputeSettings | None = None,
        restorer_factory: Callable[[str], FaceRestorer] | None = None,
        speed: SpeedSettings | None = None,
        *,
        faces: FaceAnalysis | None = None,
    ) -> None:
        if faces is not None and (manifest, weights_directory, compute, speed) != (None, None, None, None):
            raise ValueError("pass either a FaceAnalysis hub or the settings to build one, not both")
        self.faces = faces or FaceAnalysis(ModelStore(manifest, weights_directory, compute, speed))
        self.store = self.faces.store
        self.manifest = self.store.manifest
        self.compute = self.store.compute
        self.speed = self.store.speed
        self._restorer_factory = restorer_factory
        self._restorers = SharedComponents()
        self.upsampler = BackgroundUpsampler(self.store, self.compute)
        self.identity = IdentityScorer(self.store)

    def restorer(self, model: str) -> FaceRestorer:
        create = self._build_restorer if self._restorer_factory is None else self._restorer_factory
        return self._restorers.get(model, lambda: create(model))

    def _build_restorer(self, model: str) -> FaceRestorer:
        entry = self.manifest.get(model)
        factory = RESTORERS.get(entry.arch)
        if factory is None:
            raise InvalidOptionError(f"Restoration model '{model}' is not supported.")
        restorer = factory(self.store, entry)
        return MicroBatchedRestorer(restorer) if self.speed.micro_batch else restorer

    def load_models(self, options: RestoreOptions) -> tuple[FaceRestorer, str]:
        """The restorer and background upsampler ``options`` need, loaded now (once, shared):
        missing weights stop a job here, before any photo. Returns the restorer and the
        upsampler the background will really get ("none" at 1x)."""
        options = self._resolved(options)
        restorer = self.restorer(options.model or "")
        background = options.background_upsampler if options.upscale > 1 else UPSAMPLER_NONE
        if background != UPSAMPLER_NONE:
            self.store.get(background or "")
        return restorer, background or UPSAMPLER_NONE

    # -- the pipeline ---------------------------------------------------------------------
    def restore(self, image: DecodedImage | np.ndarray, options: RestoreOptions | None = None) -> RestorationResult:
        asked = options or RestoreOptions()
        request = _Request(options=self._resolved(asked), upsampler_defaulted=asked.background_upsampler is None)
        rgb, alpha = (image.rgb, image.alpha) if isinstance(image, DecodedImage) else (image, None)
        require_rgb(rgb)
        opts = request.options
        height, width = rgb.shape[:2]
        if width * height * opts.upscale**2 > MAX_OUTPUT_PIXELS:
            raise ImageTooLargeError(
                Message("error.upscale.too_large", {
                    "width": width, "height": height, "factor": opts.upscale,
                    "megapixels": f"{width * height * opts.upscale**2 / 1e6:.0f}", "limit": f"{MAX_OUTPUT_PIXELS / 1e6:.0f}"}),
                hint=Message("error.upscale.smaller_factor_hint"),
            )
        total_start = time.perf_counter()
        restorer, background = self.load_models(opts)  # fail early (missing weights) before any work
        if background != UPSAMPLER_NONE:
            self.upsampler.check_size(background, width, height)  # and a photo it cannot enlarge in time
        with request.timed("detect"):
            found, detector_name, detector_warnings = self.faces.detect(rgb, opts.detector, opts.detection_max_side)
        request.warnings.extend(detector_warnings)
        chosen, selection_warnings = select_faces(
            found, (width, height), only_centre_face=opts.only_centre_face, max_faces=opts.max_faces
        )
        request.warnings.extend(selection_warnings)

        with request.timed("upscale"):
            canvas = self._background(rgb, background, opts.upscale, request)
            out_alpha = None if alpha is None else _resize(alpha, opts.upscale, cv2.INTER_LINEAR)

        masker_name, work, identities, strengths = "none", None, None, []
        if not chosen:
            request.warnings.append(Message("warning.restore.no_face"))
        elif opts.strength > 0.0:
            work, masker_name = self._restore_faces(rgb, chosen, restorer, canvas, out_alpha, request)
            with request.timed("identity"):
                identities = self._identities(work, request)
            strengths = [guarded.used for guarded in identities] if identities else [opts.strength] * len(chosen)
            with request.timed("paste"):
                canvas = self.paste(work, strengths)
        request.timings["total"] = time.perf_counter() - total_start
        return RestorationResult(
            image=canvas, alpha=out_alpha, faces=_face_reports(found, chosen, opts.strength, identities),
            timings=request.timings, warnings=request.warnings, model=opts.model or "", detector=detector_name,
            masker=masker_name, device=self.compute.describe(), background=background, work=work,
            strengths=strengths, identities=identities,
        )

    def _restore_faces(self, rgb: np.ndarray, chosen: list[Face], restorer: FaceRestorer, canvas: np.ndarray,
                       alpha: np.ndarray | None, request: _Request) -> tuple[FaceWork, str]:
        """Align, restore (one batch) and mask the chosen faces: everything but the paste."""
        with request.timed("align"):
            matrices = np.stack([alignment_matrix(face.landmarks) for face in chosen])
            aligned = np.stack([warp_to_template(rgb, matrix) for matrix in matrices])
        with request.timed("restore"):
            restored = restorer.restore_batch(aligned, request.options.noise)
        with request.timed("mask"):
            pasting = self.faces.paste_masks(restored, keep_on_device=bool(self.speed.device_paste))
            request.warnings.extend([pasting.warning] if pasting.warning else [])
            self.compute.synchronize()  # masks may stay on the GPU: charge their time here
        work = FaceWork(background=canvas, aligned=aligned, restored=restored, masks=pasting.masks,
                        matrices=matrices, upscale=request.options.upscale, alpha=alpha)
        return work, pasting.masker

    def _identities(self, work: FaceWork, request: _Request) -> list[GuardedStrength] | None:
        """Each face's identity score at the asked strength, or with the guard the strength
        that keeps the person recognisable; None (and a note if the guard was asked for)
        when the identity model is not installed."""
        strength = request.options.strength
        if not self.identity.is_available():
            if request.options.identity_guard:
                request.warnings.append(GUARD_UNAVAILABLE)
            return None
        if request.options.identity_guard:
            return guard_strengths(work.aligned, work.restored, strength, self.identity)
        scores = scores_at(work.aligned, work.restored, strength, self.identity)
        return [GuardedStrength(strength, strength, float(score), float(score), False) for score in scores]

    def paste(self, work: FaceWork, strength: float | list[float]) -> np.ndarray:
        """The photo with ``work``'s faces at ``strength`` (one, or one per face), on the GPU
        when the ``device_paste`` switch says so. The face-by-face review calls this alone."""
        return work.paste(strength, self.compute.device if self.speed.device_paste else None)

    def identity_scores(self, work: FaceWork, strengths: list[float],
                        faces: list[int] | None = None) -> list[float] | None:
        """The identity score of each of ``faces`` (default: all) at its strength, in that order;
        None without the identity model."""
        if not self.identity.is_available():
            return None
        chosen = list(range(len(strengths))) if faces is None else faces
        scores = scores_at(work.aligned[chosen], work.restored[chosen], [strengths[i] for i in chosen], self.identity)
        return [float(score) for score in scores]

    def _resolved(self, options: RestoreOptions) -> RestoreOptions:
        """Validated, with the device's default background upsampler filled in."""
        options = options.validated(self.manifest)
        if options.background_upsampler is None:
            options = replace(options, background_upsampler=default_upsampler(self.manifest, self.compute))
        return options

    def _background(self, rgb: np.ndarray, upsampler: str, upscale: int, request: _Request) -> np.ndarray:
        """The enlarged photo the faces are pasted onto: a Real-ESRGAN network's, or bicubic.
        When the default left the network off on a machine without CUDA, the result says why."""
        if upsampler != UPSAMPLER_NONE:
            return self.upsampler.upscale(rgb, upsampler, upscale)
        if upscale > 1 and self.compute.device.type != "cuda" and request.upsampler_defaulted:
            request.warnings.append(OFF_WITHOUT_GPU)
        return _resize(rgb, upscale, cv2.INTER_CUBIC)


def _face_reports(found: list[Face], chosen: list[Face], strength: float,
                  identities: list[GuardedStrength] | None) -> list[FaceReport]:
    """One report per detected face, in detection order; the restored ones carry their identity."""
    by_face = {id(face): index for index, face in enumerate(chosen)} if strength > 0.0 else {}
    return [FaceReport(face, restored=id(face) in by_face,
                       identity=identities[by_face[id(face)]] if identities and id(face) in by_face else None)
            for face in found]


def _resize(plane: np.ndarray, factor: int, interpolation: int) -> np.ndarray:
    if factor == 1:
        return plane.copy()
    height, width = plane.shape[:2]
    return cv2.resize(plane, (width * factor, height * factor), interpolation=interpolation)
