"""Person cut-out: detect faces (they seed and check the matte), matte, composite.

Shared by the ``background`` command, the ID-photo pipeline and the app, so every entry
point gets the same guarantees: the fallback matting always knows where the face is, and
a matte that contains no person is an error the user sees, never an empty picture.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .background import BackgroundOptions, Composite, composite
from .detect import Face
from .engine import RestorationPipeline
from .errors import NoFaceError
from .matting import MatteResult, PortraitMatter

MIN_PERSON_FRACTION = 0.01  # less than this share of the photo is no person at all


@dataclass(frozen=True)
class Cutout:
    faces: list[Face]
    detector: str
    matte: MatteResult
    warnings: tuple[str, ...]


class CutoutPipeline:
    """Detect + matte with shared models (no per-request state)."""

    def __init__(self, engine: RestorationPipeline | None = None) -> None:
        self.engine = engine or RestorationPipeline()
        self.matter = PortraitMatter(self.engine.store)

    def detect(self, rgb: np.ndarray, detector: str = "auto") -> tuple[list[Face], str, list[str]]:
        return self.engine.detect(rgb, detector)

    def cut_out(self, rgb: np.ndarray, *, detector: str = "auto", matting: str = "auto",
                faces: list[Face] | None = None) -> Cutout:
        notes: list[str] = []
        name = "given"
        if faces is None:
            faces, name, notes = self.detect(rgb, detector)
        matte = self.matter.matte(rgb, faces, method=matting)
        warnings = [*notes, *matte.warnings]
        if not faces:
            warnings.append("No face was found; the person was separated from the background without one.")
        if float(np.mean(matte.alpha >= 0.5)) < MIN_PERSON_FRACTION:
            raise NoFaceError(
                "No person could be separated from the background in this photo.",
                hint="Use a portrait in which your face is visible"
                + ("; for the offline fallback, stand in front of a plain wall." if matte.method != "modnet" else "."),
            )
        return Cutout(faces=faces, detector=name, matte=matte, warnings=tuple(warnings))

    def replace_background(self, rgb: np.ndarray, options: BackgroundOptions, *, detector: str = "auto",
                           matting: str = "auto") -> tuple[Composite, Cutout]:
        cut = self.cut_out(rgb, detector=detector, matting=matting)
        return composite(rgb, cut.matte.alpha, options.validated()), cut
