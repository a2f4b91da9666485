"""The face-analysis hub: one place that finds and parses faces for every job.

Restoration, background replacement and ID photos all need faces. They share one
``FaceAnalysis`` (and through it one ``ModelStore``), so each detector and parser is built
once per process, whichever job asks first. Which class runs a model comes from the tables
in :mod:`pipeline.faces.registry`; the hub holds no per-request state.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch

from pipeline.core.errors import InvalidOptionError
from pipeline.core.choices import DETECTOR_AUTO
from pipeline.core.limits import DEFAULT_DETECTION_MAX_SIDE
from pipeline.core.notes import ServerNote
from pipeline.i18n import Message
from pipeline.faces.align import alignment_matrix, warp_to_template
from pipeline.faces.detect import Face, FaceDetector, detect_faces
from pipeline.faces.evidence import FaceEvidence
from pipeline.faces.masks import FaceMasker, fallback_masks
from pipeline.faces.mesh import DenseLandmarks
from pipeline.faces.parsing import FaceParsing
from pipeline.faces.registry import DETECTORS, LANDMARKERS, PARSERS
from pipeline.models.components import SharedComponents
from pipeline.models.locations import fetch_command
from pipeline.models.manifest import ModelEntry
from pipeline.models.store import ModelStore

log = logging.getLogger(__name__)

FALLBACK_MASKER = "feathered-square"
PASTE_FALLBACK_NOTE = ServerNote("warning.faces.paste_fallback")
OFFLINE_DETECTOR_NOTE = ServerNote("warning.faces.offline_detector")


@dataclass(frozen=True)
class PasteMasks:
    """Soft masks for pasting restored faces back, and how they were made."""

    masks: np.ndarray | torch.Tensor  # (N, S, S) float in [0, 1]; a tensor when left on the device
    masker: str
    warning: Message | None = None


class FaceAnalysis:
    """Detectors and the face parser, built once from a shared ``ModelStore``."""

    def __init__(self, store: ModelStore | None = None) -> None:
        self.store = store or ModelStore()
        self.manifest = self.store.manifest
        self.components = SharedComponents()

    def detector(self, name: str) -> FaceDetector:
        """The shared detector for the manifest model ``name``."""
        entry = self.manifest.get(name)
        factory = DETECTORS.get(entry.arch) if entry.kind == "detector" else None
        if factory is None:
            raise InvalidOptionError(
                f"Detector '{name}' is not supported.",
                hint=f"Choose one of: {DETECTOR_AUTO}, {', '.join(self.manifest.names('detector'))}.",
            )
        return self.components.get(f"detector:{name}", lambda: factory(self.store, entry))

    def resolve_detector(self, requested: str) -> tuple[str, list[str]]:
        """'auto' means the manifest's default detector when its weights are there, else the
        first detector whose weights ship inside a package (it works offline)."""
        if requested != DETECTOR_AUTO:
            return requested, []
        preferred = self.manifest.default("detector").name
        if self.store.is_available(preferred):
            return preferred, []
        offline = self._offline_detector() or preferred
        # the visitor gets plain words; how to install the model goes to the log, for the admin
        log.info("%s weights are not installed; detecting with %s. Fetch them with: %s", preferred, offline,
                 fetch_command([preferred]))
        return offline, [OFFLINE_DETECTOR_NOTE]

    def _offline_detector(self) -> str | None:
        bundled = [name for name in self.manifest.names("detector") if self.manifest.get(name).is_bundled]
        return bundled[0] if bundled else None

    def detect(self, rgb: np.ndarray, requested: str = DETECTOR_AUTO,
               max_side: int = DEFAULT_DETECTION_MAX_SIDE) -> tuple[list[Face], str, list[str]]:
        """Faces in full-resolution coordinates, the detector used, and notes about that choice."""
        name, notes = self.resolve_detector(requested)
        return detect_faces(self.detector(name), rgb, max_side), name, notes

    def paste_masks(self, faces: np.ndarray, *, keep_on_device: bool = False) -> PasteMasks:
        """Masks for pasting (N, S, S, 3) restored faces back: the default face parser when its
        weights are there, else feathered squares and a warning that says how to get it."""
        entry = self.manifest.default("parser")
        if PARSERS.get(entry.arch) is None or not self.store.is_available(entry.name):
            log.info("%s weights are not installed; pasting with feathered squares. Fetch them with: %s",
                     entry.name, fetch_command([entry.name]))
            warning = PASTE_FALLBACK_NOTE
            return PasteMasks(fallback_masks(len(faces), faces.shape[1]), FALLBACK_MASKER, warning)
        masker = self._parser(entry)
        masks = masker.masks_tensor(faces)
        return PasteMasks(masks if keep_on_device else masks.cpu().numpy(), masker.name)

    def dense_landmarks(self, rgb: np.ndarray, face: Face) -> DenseLandmarks | None:
        """The dense mesh of ``face`` from the first installed landmarker, or None (no
        landmarker installed here, or it did not find this face)."""
        for name, installed, build in LANDMARKERS:
            if installed():
                return self.components.get(f"landmarker:{name}", build).landmarks(rgb, face)
        return None

    def parse(self, rgb: np.ndarray, face: Face) -> FaceParsing | None:
        """Face-parsing classes of ``face`` when the default parser's weights are installed."""
        entry = self.manifest.default("parser")
        if PARSERS.get(entry.arch) is None or not self.store.is_available(entry.name):
            return None
        masker = self._parser(entry)
        to_crop = alignment_matrix(face.landmarks)
        crop = warp_to_template(rgb, to_crop)
        return FaceParsing(masker.classes(crop[None])[0], to_crop)

    def evidence(self, rgb: np.ndarray, face: Face) -> FaceEvidence:
        """The detection plus whatever denser evidence the installed models give (for measuring)."""
        return FaceEvidence(face, self.dense_landmarks(rgb, face), self.parse(rgb, face))

    def _parser(self, entry: ModelEntry) -> FaceMasker:
        """The shared parser for the manifest model ``entry``, built on first use."""
        return self.components.get(f"parser:{entry.name}", lambda: PARSERS[entry.arch](self.store, entry))
