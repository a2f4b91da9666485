"""Person cut-out: detect faces (they seed and check the matte), matte, composite.

Shared by the ``background`` command, the ID-photo pipeline and the app, so every entry
point gets the same guarantees: the fallback matting always knows where the face is, and
a matte that contains no person is an error the user sees, never an empty picture.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from pipeline.core.choices import DETECTOR_AUTO, MATTING_AUTO
from pipeline.core.decode import DecodedImage
from pipeline.core.encode import HIDDEN_RGB
from pipeline.core.errors import NoFaceError
from pipeline.cutout.background import BackgroundOptions, Composite, composite
from pipeline.cutout.found import FoundPerson
from pipeline.cutout.matting import METHOD_PLAIN_WALL, MatteResult, PortraitMatter
from pipeline.cutout.strokes import read_strokes, refine_with_strokes
from pipeline.faces.analysis import FaceAnalysis
from pipeline.faces.detect import Face
from pipeline.i18n import Message, Text

MIN_PERSON_FRACTION = 0.01  # less than this share of the photo is no person at all
# An input is already a cut-out when at least this share of it is fully clear and at least
# this share fully opaque: a faint watermark or a soft vignette is not a cut-out.
CUTOUT_MIN_SHARE = 0.05
CLEAR_ALPHA, SOLID_ALPHA = 8, 247  # uint8 levels counted as fully clear / fully opaque
OWN_MATTE_METHOD = "own-transparency"
OWN_MATTE_NOTE = Message("warning.cutout.own_matte")


def own_matte(alpha: np.ndarray | None) -> MatteResult | None:
    """The matte an input brings with it when it is already a cut-out, else None.

    Matting a cut-out again would read the colours hidden under its transparent pixels
    (black, white or leftovers, whatever the editor stored) and invent a halo."""
    if alpha is None:
        return None
    if float(np.mean(alpha <= CLEAR_ALPHA)) < CUTOUT_MIN_SHARE or float(np.mean(alpha >= SOLID_ALPHA)) < CUTOUT_MIN_SHARE:
        return None
    return MatteResult(alpha=alpha.astype(np.float32) / 255.0, method=OWN_MATTE_METHOD, warnings=(OWN_MATTE_NOTE,))


def visible_rgb(rgb: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """The photo as a viewer sees it, over the neutral colour: detectors must not see what
    a cut-out hides under its transparent pixels."""
    if alpha is None:
        return rgb
    weight = alpha.astype(np.float32)[..., None] / 255.0
    neutral = np.asarray(HIDDEN_RGB, np.float32)
    return (rgb.astype(np.float32) * weight + neutral * (1.0 - weight) + 0.5).astype(np.uint8)


@dataclass(frozen=True)
class Cutout:
    faces: list[Face]
    detector: str
    matte: MatteResult  # the matte used: corrected by the strokes when there were any
    warnings: tuple[Text, ...]
    found: FoundPerson  # the automatic analysis, kept so a hand fix can start from it


class CutoutPipeline:
    """Detect + matte with shared models (no per-request state)."""

    def __init__(self, faces: FaceAnalysis | None = None) -> None:
        self.faces = faces or FaceAnalysis()
        self.matter = PortraitMatter(self.faces.store)

    def find(self, rgb: np.ndarray, *, detector: str = DETECTOR_AUTO, matting: str = MATTING_AUTO,
             faces: list[Face] | None = None, alpha: np.ndarray | None = None) -> FoundPerson:
        """The automatic analysis: faces (unless given) and the matte; an input ``alpha`` that
        makes the photo a cut-out already is used as the matte instead."""
        notes: list[Text] = []
        name = "given"
        if faces is None:
            faces, name, notes = self.faces.detect(visible_rgb(rgb, alpha), detector)
        matte = own_matte(alpha) or self.matter.matte(visible_rgb(rgb, alpha), faces, method=matting)
        return FoundPerson(shape=(int(rgb.shape[0]), int(rgb.shape[1])), faces=tuple(faces), detector=name,
                           matte=matte, notes=tuple(notes), chosen=(detector, matting))

    def cut_out(self, rgb: np.ndarray, *, detector: str = DETECTOR_AUTO, matting: str = MATTING_AUTO,
                faces: list[Face] | None = None, alpha: np.ndarray | None = None,
                strokes: np.ndarray | None = None, found: FoundPerson | None = None) -> Cutout:
        """:meth:`find` (or a ``found`` analysis of this photo, kept from an earlier request: no
        detector or network runs), then the hand corrections of a stroke mask (``strokes``,
        :func:`pipeline.cutout.strokes.read_stroke_image`), so everything after (the person
        check, the background, an ID photo's placement) works on the corrected cut-out."""
        if found is None:
            found = self.find(rgb, detector=detector, matting=matting, faces=faces, alpha=alpha)
        matte = found.matte
        if strokes is not None:
            matte = replace(matte, alpha=refine_with_strokes(rgb, matte.alpha, read_strokes(strokes, rgb.shape)))
        warnings = [*found.notes, *matte.warnings]
        if not found.faces:
            warnings.append(Message("warning.cutout.no_face"))
        if float(np.mean(matte.alpha >= 0.5)) < MIN_PERSON_FRACTION:
            if matte is not found.matte and float(np.mean(found.matte.alpha >= 0.5)) >= MIN_PERSON_FRACTION:
                # the person was there until the strokes took them out: the strokes are what to change
                raise NoFaceError(Message("error.cutout.strokes_removed_all"),
                                  hint=Message("error.cutout.strokes_removed_all_hint"))
            raise NoFaceError(
                Message("error.cutout.no_person"),
                hint=Message("error.cutout.plain_wall_hint" if matte.method == METHOD_PLAIN_WALL
                             else "error.cutout.no_person_hint"),
            )
        return Cutout(faces=list(found.faces), detector=found.detector, matte=matte, warnings=tuple(warnings),
                      found=found)

    def replace_background(self, image: DecodedImage | np.ndarray, options: BackgroundOptions, *,
                           detector: str = DETECTOR_AUTO, matting: str = MATTING_AUTO,
                           found: FoundPerson | None = None) -> tuple[Composite, Cutout]:
        """The person on the new background; ``found``: this photo's kept analysis (see :meth:`cut_out`)."""
        rgb, alpha = (image.rgb, image.alpha) if isinstance(image, DecodedImage) else (image, None)
        cut = self.cut_out(rgb, detector=detector, matting=matting, alpha=alpha, strokes=options.strokes,
                           found=found)
        return composite(rgb, cut.matte.alpha, options.validated(), wall_alpha=wall_alpha(cut)), cut


def wall_alpha(cut: Cutout) -> np.ndarray | None:
    """Where the old wall may be read after a hand fix: background in both the automatic and
    the corrected matte, so a removed chair (or suit) is not taken for the wall that spilled
    into the hair, nor is hair brought back. None without a fix (the composite reads its matte)."""
    if cut.matte is cut.found.matte:
        return None
    return np.maximum(cut.found.matte.alpha, cut.matte.alpha)
