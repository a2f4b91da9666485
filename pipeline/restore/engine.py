"""The restoration pipeline: detect -> align -> restore (batched) -> mask -> paste.

``RestorationPipeline`` owns the shared, read-only models (through ``ModelStore``); all
per-request data (options, timings, warnings) lives in a ``_Request`` created for each
call, so any number of threads can call ``restore`` on one pipeline at once.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
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
from pipeline.faces.align import alignment_matrix, warp_to_template
from pipeline.faces.analysis import FaceAnalysis
from pipeline.faces.detect import Face, select_faces
from pipeline.models.accelerate import SpeedSettings
from pipeline.models.components import SharedComponents
from pipeline.models.device import ComputeSettings
from pipeline.models.manifest import Manifest
from pipeline.models.store import ModelStore
from pipeline.restore.paste import paste_faces, paste_faces_on_device
from pipeline.restore.restorers import RESTORERS, FaceRestorer, MicroBatchedRestorer, NoiseMode


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
        return RestoreOptions(**{**self.__dict__, "model": model})


@dataclass(frozen=True)
class FaceReport:
    """What happened to one detected face."""

    face: Face
    restored: bool

    def to_dict(self) -> dict[str, Any]:
        return {**self.face.to_dict(), "restored": self.restored}


@dataclass
class RestorationResult:
    """Output image plus everything a user or QA report needs to know about the run."""

    image: np.ndarray  # (H, W, 3) uint8 RGB
    alpha: np.ndarray | None
    faces: list[FaceReport]
    timings: dict[str, float]
    warnings: list[str]
    model: str
    detector: str
    masker: str
    device: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "size": [int(self.image.shape[1]), int(self.image.shape[0])],
            "faces": [report.to_dict() for report in self.faces],
            "timings_ms": {k: round(v * 1000, 2) for k, v in self.timings.items()},
            "warnings": list(self.warnings),
            "model": self.model,
            "detector": self.detector,
            "masker": self.masker,
            "device": self.device,
        }


@dataclass
class _Request:
    """Per-call state: never stored on the pipeline or the models."""

    options: RestoreOptions
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

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

    # -- the pipeline ---------------------------------------------------------------------
    def restore(self, image: DecodedImage | np.ndarray, options: RestoreOptions | None = None) -> RestorationResult:
        request = _Request(options=(options or RestoreOptions()).validated(self.manifest))
        rgb, alpha = (image.rgb, image.alpha) if isinstance(image, DecodedImage) else (image, None)
        require_rgb(rgb)
        opts = request.options
        height, width = rgb.shape[:2]
        if width * height * opts.upscale**2 > MAX_OUTPUT_PIXELS:
            raise ImageTooLargeError(
                f"Upscaling {width}x{height} by {opts.upscale} would make a "
                f"{width * height * opts.upscale**2 / 1e6:.0f} MP image; the limit is {MAX_OUTPUT_PIXELS / 1e6:.0f} MP.",
                hint="Choose a smaller upscale factor.",
            )
        total_start = time.perf_counter()
        restorer = self.restorer(opts.model)  # fail early (missing weights) before any work
        with request.timed("detect"):
            found, detector_name, detector_warnings = self.faces.detect(rgb, opts.detector, opts.detection_max_side)
        request.warnings.extend(detector_warnings)
        chosen, selection_warnings = select_faces(
            found, (width, height), only_centre_face=opts.only_centre_face, max_faces=opts.max_faces
        )
        request.warnings.extend(selection_warnings)

        with request.timed("upscale"):
            canvas = _resize(rgb, opts.upscale, cv2.INTER_CUBIC)
            out_alpha = None if alpha is None else _resize(alpha, opts.upscale, cv2.INTER_LINEAR)

        masker_name = "none"
        if not chosen:
            request.warnings.append("No face found: the image is returned unchanged.")
        elif opts.strength > 0.0:
            with request.timed("align"):
                matrices = [alignment_matrix(face.landmarks) for face in chosen]
                aligned = np.stack([warp_to_template(rgb, matrix) for matrix in matrices])
            with request.timed("restore"):
                restored = restorer.restore_batch(aligned, opts.noise)
            with request.timed("mask"):
                pasting = self.faces.paste_masks(restored, keep_on_device=bool(self.speed.device_paste))
                masks, masker_name = pasting.masks, pasting.masker
                request.warnings.extend([pasting.warning] if pasting.warning else [])
                self.compute.synchronize()  # masks may stay on the GPU: charge their time here
            with request.timed("paste"):
                if self.speed.device_paste:
                    canvas = paste_faces_on_device(canvas, restored, masks, matrices, opts.upscale, opts.strength,
                                                   self.compute.device)
                else:
                    canvas = paste_faces(canvas, restored, masks, matrices, opts.upscale, opts.strength)
        request.timings["total"] = time.perf_counter() - total_start
        chosen_ids = {id(face) for face in chosen}
        reports = [FaceReport(face, restored=id(face) in chosen_ids and opts.strength > 0.0) for face in found]
        return RestorationResult(
            image=canvas, alpha=out_alpha, faces=reports, timings=request.timings, warnings=request.warnings,
            model=opts.model or "", detector=detector_name, masker=masker_name, device=self.compute.describe(),
        )


def _resize(plane: np.ndarray, factor: int, interpolation: int) -> np.ndarray:
    if factor == 1:
        return plane.copy()
    height, width = plane.shape[:2]
    return cv2.resize(plane, (width * factor, height * factor), interpolation=interpolation)
