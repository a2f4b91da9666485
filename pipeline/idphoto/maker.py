"""ID photos: level the eyes, scale and crop so the head and eye line land inside the
document's ranges, extend with the chosen background, encode at the exact size and dpi,
then verify the result independently (detect and matte again on the output; after a hand fix
the head is measured on the user's corrected matte, placed, and what the user kept that the
second matte calls background is judged as background). The files it gives are written by
``pipeline.idphoto.outputs``.

``plan_crop`` is pure geometry: given the measured head (levelled) and the spec, it
chooses the placement with the most slack on every vertical rule at once (head size, eye
line, crown margin, head inside the frame), so that measuring the result again still lands
inside the ranges. One affine warp then goes straight from the original photo to the
output (a single interpolation).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from typing import Any

import cv2
import numpy as np

from pipeline.core.choices import DETECTOR_AUTO, ID_PHOTO_FORMATS, MATTING_AUTO
from pipeline.core.decode import DecodedImage, decode_image
from pipeline.core.encode import encode_image
from pipeline.core.errors import InvalidOptionError, NoFaceError, TooManyFacesError
from pipeline.core.limits import MAX_DPI, MIN_DPI, check_photo_size
from pipeline.core.timing import timed
from pipeline.cutout.background import BackgroundOptions, Colour, colour_to_hex, composite, parse_colour
from pipeline.cutout.cutter import CutoutPipeline, visible_rgb, wall_alpha
from pipeline.cutout.found import FoundPerson
from pipeline.cutout.matting import MatteResult
from pipeline.faces.align import compose, upscaled_to_input
from pipeline.faces.analysis import FaceAnalysis
from pipeline.faces.detect import Face
from pipeline.faces.evidence import FaceEvidence
from pipeline.faces.geometry import HEAD_TOP_NO_HAIR, HeadGeometry, measure_head
from pipeline.idphoto.compliance.assessment import assess
from pipeline.idphoto.compliance.measurements import largest_face
from pipeline.idphoto.compliance.overlay import draw_overlay
from pipeline.idphoto.compliance.report import ComplianceReport
from pipeline.idphoto.compliance.thresholds import BACKGROUND_MATTE_MAX, SECOND_FACE_TINY_AREA_RATIO
from pipeline.idphoto.filesize import MIN_JPEG_QUALITY, encode_jpeg_under
from pipeline.idphoto.nudge import PlacementNudge, feasible_placements, nudged
from pipeline.idphoto.specs import DEFAULT_DPI, IdPhotoSpec, custom_spec, load_specs
from pipeline.idphoto.tone import ToneChange, ToneOptions, correct_tone
from pipeline.i18n import Message, Text, render

DEFAULT_JPEG_QUALITY = 95
UPSCALE_WARNING = 1.5  # enlarging the face more than this makes prints visibly soft
# Levelling a head tilted less than this is routine (no one can tell), so it is not a warning
# that would make a batch row look like a problem; the report still gives the angle.
NOTED_LEVELLING_DEG = 1.0
LEVEL_MIN_DEGREES = 0.2


@dataclass(frozen=True)
class CropPlan:
    """Source photo -> ID photo transform, and where the head lands (fractions of height)."""

    matrix: np.ndarray  # 2x3, source pixels -> output pixels
    size: tuple[int, int]  # output (width, height)
    scale: float  # output pixels per source pixel
    roll_corrected_deg: float
    head_ratio: float
    eye_ratio_from_bottom: float
    crown_margin_ratio: float
    satisfied: bool  # False: the rules could not all be met; the closest placement was used


def levelling_matrix(centre: tuple[float, float], roll_deg: float) -> np.ndarray:
    """Rotation about ``centre`` that makes the eye line horizontal."""
    return cv2.getRotationMatrix2D(centre, roll_deg, 1.0)


def _transform_points(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return np.hstack([points, np.ones((len(points), 1))]) @ matrix.T


def choose_placement(spec: IdPhotoSpec, eye_offset: float, nudge: PlacementNudge | None = None
                     ) -> tuple[float, float, bool]:
    """(head ratio, crown position from the top, all rules met) for a head whose eyes sit
    ``eye_offset`` of the head height below the crown.

    Among all feasible placements it takes the one with the most slack on every rule at
    once (head size, eye line, crown margin, head inside the frame), so that measuring the
    result again, with its own small errors, still lands inside the ranges. A ``nudge``
    moves from there, never outside the feasible placements.
    """
    low, high = spec.head_ratio_range()
    middle = (low + high) / 2
    feasible = feasible_placements(spec, eye_offset)
    if feasible:
        def slack(placement: tuple[float, float, float]) -> tuple[float, float]:
            head_ratio, top_low, top_high = placement
            return min(head_ratio - low, high - head_ratio, (top_high - top_low) / 2), -abs(head_ratio - middle)
        head_ratio, crown_top = nudged(feasible, max(feasible, key=slack), nudge or PlacementNudge())
        return head_ratio, float(crown_top), True
    eye_low, eye_high = spec.eye_ratio_range()
    preferred = 1 - (eye_low + eye_high) / 2 - eye_offset * middle
    return float(middle), float(min(max(preferred, 0.0), max(0.0, 1 - middle))), False


def plan_crop(evidence: FaceEvidence | Face, matte: np.ndarray | None, spec: IdPhotoSpec, size: tuple[int, int],
              nudge: PlacementNudge | None = None) -> tuple[CropPlan, HeadGeometry]:
    """Measure the head on the levelled photo and place it by the spec's rules (and the user's ``nudge``)."""
    evidence = evidence if isinstance(evidence, FaceEvidence) else FaceEvidence(evidence)
    first = measure_head(evidence, matte, spec.head_top)
    roll = first.roll_deg if abs(first.roll_deg) >= LEVEL_MIN_DEGREES else 0.0
    level = levelling_matrix(first.eye_mid, roll)
    if roll:
        levelled_matte = None if matte is None else cv2.warpAffine(
            matte, level, (matte.shape[1], matte.shape[0]), flags=cv2.INTER_LINEAR, borderValue=0)
        head = measure_head(evidence.transformed(level), levelled_matte, spec.head_top)
    else:
        head = first
    if head.head_height <= 0:
        raise NoFaceError(Message("error.face.too_small"), hint=Message("error.face.too_small_hint"))
    width, height = size
    eye_offset = (head.eye_y - head.crown_y) / head.head_height
    head_ratio, crown_top, satisfied = choose_placement(spec, eye_offset, nudge)
    scale = head_ratio * height / head.head_height
    eye_out = np.array([width / 2, (crown_top + eye_offset * head_ratio) * height])
    place = np.array([[scale, 0.0, eye_out[0] - scale * head.eye_mid[0]],
                      [0.0, scale, eye_out[1] - scale * head.eye_mid[1]]])
    plan = CropPlan(
        matrix=compose(place, level), size=size, scale=float(scale), roll_corrected_deg=float(roll),
        head_ratio=head_ratio, eye_ratio_from_bottom=float(1 - eye_out[1] / height), crown_margin_ratio=crown_top,
        satisfied=satisfied,
    )
    return plan, head


def warp_to_plan(plane: np.ndarray, plan: CropPlan) -> np.ndarray:
    """Apply the plan in one warp; shrink with area averaging first when downscaling (no aliasing)."""
    matrix = plan.matrix
    source = plane
    if plan.scale < 1.0:
        height, width = plane.shape[:2]
        small = (max(1, round(width * plan.scale)), max(1, round(height * plan.scale)))
        source = cv2.resize(plane, small, interpolation=cv2.INTER_AREA)
        matrix = compose(plan.matrix, upscaled_to_input(small[0] / width))
    return cv2.warpAffine(source, matrix, plan.size, flags=cv2.INTER_CUBIC if plane.ndim == 3 else cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE if plane.ndim == 3 else cv2.BORDER_CONSTANT)


def main_face(faces: list[Face]) -> Face:
    """The one face an ID photo is of; others must be insignificant (background people)."""
    if not faces:
        raise NoFaceError(Message("error.face.none"), hint=Message("error.face.none_hint"))
    ordered = sorted(faces, key=lambda f: f.area, reverse=True)
    others = [f for f in ordered[1:] if f.area >= SECOND_FACE_TINY_AREA_RATIO * ordered[0].area]
    if others:
        raise TooManyFacesError(Message("error.face.too_many", {"count": len(others) + 1}),
                                hint=Message("error.face.too_many_hint"))
    return ordered[0]


@dataclass(frozen=True)
class IdPhotoOptions:
    spec: IdPhotoSpec
    background: str | None = None  # preset or hex; None = the spec's colour, else white
    dpi: int | None = None  # None = the spec's
    max_kb: float | None = None  # None = the spec's limit, if any
    format: str = "jpg"  # jpg | png
    detector: str = DETECTOR_AUTO
    matting: str = MATTING_AUTO
    jpeg_quality: int = DEFAULT_JPEG_QUALITY  # the highest quality used; a KB limit may need less
    tone: ToneOptions = ToneOptions()  # automatic face light and colour (on), then the sliders
    nudge: PlacementNudge = PlacementNudge()  # 0, 0: the automatic placement
    strokes: np.ndarray | None = field(default=None, compare=False, repr=False)  # hand corrections of the matte

    def validated(self) -> IdPhotoOptions:
        """Refuse impossible requests before any work is done."""
        if self.format not in ID_PHOTO_FORMATS:
            raise InvalidOptionError(f"Unknown ID-photo format '{self.format}'.", hint="Use jpg or png.")
        if isinstance(self.jpeg_quality, bool) or not isinstance(self.jpeg_quality, int) \
                or not 1 <= self.jpeg_quality <= 100:
            raise InvalidOptionError(f"The JPEG quality must be a whole number from 1 to 100; got {self.jpeg_quality!r}.",
                                     hint="95 keeps a face's detail; lower numbers make smaller, blockier files.")
        if self.format == "jpg" and (self.max_kb or self.spec.max_file_kb) and self.jpeg_quality < MIN_JPEG_QUALITY:
            raise InvalidOptionError(
                f"A JPEG quality of {self.jpeg_quality} is too low for a photo with a file-size limit: the size is "
                f"met by lowering the quality from your setting down to {MIN_JPEG_QUALITY}, never below.",
                hint=f"Give a quality of {MIN_JPEG_QUALITY} or more (or leave it out).")
        if self.dpi is not None and not MIN_DPI <= self.dpi <= MAX_DPI:
            raise InvalidOptionError(f"dpi must be between {MIN_DPI} and {MAX_DPI}, got {self.dpi}.")
        if self.max_kb is not None:
            self._check_max_kb(self.max_kb)
        if self.max_kb is not None and self.format == "png":
            raise InvalidOptionError("A KB limit needs JPEG: PNG is lossless and cannot be made smaller.",
                                     hint="Use --format jpg with --max-kb.")
        if self.background is not None:
            parse_colour(self.background)
        self.tone.validated()
        self.nudge.validated()
        check_photo_size(*self.spec.size_px(self.dpi))
        return self

    def _check_max_kb(self, max_kb: float) -> None:
        """A finite positive limit above the document's own minimum file size."""
        if not math.isfinite(max_kb) or max_kb <= 0:
            raise InvalidOptionError(f"The file-size limit must be a positive number of KB, got {max_kb}.")
        floor = self.spec.min_file_kb
        if floor is not None and max_kb <= floor:
            raise InvalidOptionError(
                Message("error.idphoto.kb_below_floor", {"kb": f"{max_kb:g}", "spec": self.spec.label, "floor": f"{floor:g}"}),
                hint=Message("error.idphoto.kb_below_floor_hint", {"floor": f"{floor:g}"}))


@dataclass
class IdPhotoResult:
    photo: np.ndarray  # what the user's file decodes to (after any size-limited JPEG)
    placed: np.ndarray  # the first generation, before encoding: print sheets are made from it
    encoded: bytes
    format: str
    quality: int | None
    dpi: int
    spec: IdPhotoSpec
    plan: CropPlan
    source_head: HeadGeometry
    report: ComplianceReport
    overlay: np.ndarray
    matting_method: str
    detector: str
    background: tuple[int, int, int]
    warnings: list[Text] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    corrections: ToneChange | None = None  # what was done to the face's light and colour
    # the automatic analysis of the source photo (for a hand fix later) and the matte used on
    # it (corrected by any strokes): not part of the report
    found: FoundPerson | None = field(default=None, repr=False)
    source_matte: np.ndarray | None = field(default=None, repr=False)

    def to_dict(self, lang: str = "en") -> dict[str, Any]:
        """JSON data; the compliance report's words in ``lang`` (one of ``pipeline.i18n.LANGUAGES``)."""
        compliance = self.report.to_dict(lang)
        return {
            "spec": self.spec.id, "document": self.spec.label, "size_px": list(self.plan.size), "dpi": self.dpi,
            "format": self.format, "jpeg_quality": self.quality, "file_kb": round(len(self.encoded) / 1024, 1),
            "background": colour_to_hex(self.background), "matting": self.matting_method, "detector": self.detector,
            "placement": {"head_ratio": round(self.plan.head_ratio, 4),
                          "eye_line_from_bottom": round(self.plan.eye_ratio_from_bottom, 4),
                          "crown_margin": round(self.plan.crown_margin_ratio, 4),
                          "scale": round(self.plan.scale, 4), "levelled_deg": round(self.plan.roll_corrected_deg, 2),
                          "all_rules_met": self.plan.satisfied,
                          "measured_with": dict(self.source_head.methods)},
            "corrections": self.corrections.to_dict(lang) if self.corrections else None,
            "defaults_applied": compliance["defaults_applied"],
            "warnings": [str(render(warning, lang)) for warning in self.warnings],
            "timings_ms": {k: round(v * 1000, 1) for k, v in self.timings.items()},
            "compliance": compliance,
        }


@dataclass
class _Run:
    """Per-call state of one ID photo: never stored on the pipeline."""

    options: IdPhotoOptions
    warnings: list[Text] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    on_stage: Callable[[str], None] | None = None  # told as each stage starts (a progress bar)

    def timed(self, stage: str) -> AbstractContextManager[None]:
        if self.on_stage is not None:
            self.on_stage(stage)
        return timed(self.timings, stage)


@dataclass(frozen=True)
class _HandFix:
    """A hand fix on the output's grid: the user's corrected matte, and what they kept that the
    automatic matte had as clear background (``added``)."""

    matte: np.ndarray
    added: np.ndarray

    @classmethod
    def placed(cls, automatic: np.ndarray, corrected: np.ndarray, plan: CropPlan) -> _HandFix:
        corrected_placed = warp_to_plan(corrected.astype(np.float32), plan)
        automatic_placed = warp_to_plan(automatic.astype(np.float32), plan)
        return cls(corrected_placed, (corrected_placed >= 0.5) & (automatic_placed < BACKGROUND_MATTE_MAX))

    def judged_background(self, painted: np.ndarray | None, independent: np.ndarray) -> np.ndarray | None:
        """Where the background checks look: where the new colour was painted, plus what the user
        kept by hand that a matte of the delivered photo also calls background. A strand of hair
        the network now sees stays out; the old wall kept by a careless stroke is judged (it
        must not pass as a plain background it is not)."""
        if painted is None:
            return None
        return painted | (self.added & (independent < BACKGROUND_MATTE_MAX))


@dataclass(frozen=True)
class _Encoded:
    data: bytes
    quality: int | None


class IdPhotoPipeline:
    """Makes ID photos: 1 find the face and matte, 2 place and crop by the document's rules,
    3 encode to the size and file limits, 4 verify what the user gets. Shares the face hub
    (and its models) with the other jobs."""

    def __init__(self, faces: FaceAnalysis | None = None) -> None:
        self.faces = faces or FaceAnalysis()
        self.cutter = CutoutPipeline(self.faces)

    def make(self, image: DecodedImage | np.ndarray, options: IdPhotoOptions,
             on_stage: Callable[[str], None] | None = None, found: FoundPerson | None = None) -> IdPhotoResult:
        """The ID photo; ``on_stage`` hears each stage's name (detect, landmarks, matte, crop,
        tone, encode, verify) as it starts. ``found``: this photo's automatic analysis kept
        from an earlier request (``IdPhotoResult.found``): detection, landmarks and matting
        do not run again, only the strokes' refinement and what follows."""
        rgb, alpha = (image.rgb, image.alpha) if isinstance(image, DecodedImage) else (image, None)
        run = _Run(options.validated(), on_stage=on_stage)
        spec = run.options.spec
        background = parse_colour(run.options.background or spec.background_colour)
        dpi = spec.output_dpi(run.options.dpi)
        evidence, matte, kept, wall = self._find_and_matte(run, rgb, alpha, found)
        with run.timed("crop"):
            plan, head = plan_crop(evidence, matte.alpha, spec, spec.size_px(run.options.dpi), run.options.nudge)
            run.warnings.extend(placement_warnings(plan, head, rgb.shape[0]))
        with run.timed("tone"):
            photo, corrections = _placed_photo(rgb, matte.alpha, plan, background, run.options.tone,
                                               evidence.face.landmarks, wall)
        with run.timed("encode"):
            encoded = self._encode(run, photo, dpi)
        with run.timed("verify"):
            # a crown the source photo did not show stays an estimate on the output, whose
            # matte ends at the photo's cut edge there
            placed_crown = plan.crown_margin_ratio * plan.size[1] if head.is_estimated("crown") else None
            fix = _HandFix.placed(kept.matte.alpha, matte.alpha, plan) if run.options.strokes is not None else None
            delivered, report, overlay = self._verify(run, encoded.data, dpi, placed_crown,
                                                      painted_background(matte.alpha, plan), encoded.quality, fix)
        run.timings["total"] = sum(run.timings.values())
        return IdPhotoResult(
            photo=delivered, placed=photo, encoded=encoded.data, format=run.options.format, quality=encoded.quality, dpi=dpi,
            spec=spec, plan=plan, source_head=head, report=report, overlay=overlay, matting_method=matte.method,
            detector=kept.detector, background=background, warnings=run.warnings, timings=run.timings,
            corrections=corrections, found=kept, source_matte=matte.alpha,
        )

    def _find_and_matte(self, run: _Run, rgb: np.ndarray, alpha: np.ndarray | None, found: FoundPerson | None
                        ) -> tuple[FaceEvidence, MatteResult, FoundPerson, np.ndarray | None]:
        """Step 1: the applicant's face (exactly one) with its landmarks, and the person's matte
        (corrected by the strokes; with where the old wall may be read, after a fix); a ``found``
        analysis that fits this photo stands in for detection, landmarks and matting."""
        chosen = (run.options.detector, run.options.matting)
        fresh = found is None or not found.fits(rgb.shape, chosen, needs_evidence=True)
        if fresh:
            with run.timed("detect"):
                visible = visible_rgb(rgb, alpha)
                faces, detector, notes = self.faces.detect(visible, run.options.detector)
                face = main_face(faces)
            with run.timed("landmarks"):
                evidence = self.faces.evidence(visible, face)
        with run.timed("matte"):
            if fresh:
                automatic = self.cutter.find(rgb, matting=run.options.matting, faces=[face], alpha=alpha)
                found = replace(automatic, detector=detector, notes=tuple(notes), evidence=evidence, chosen=chosen)
            assert found is not None and found.evidence is not None  # fits() asked for it; a new one has it
            cut = self.cutter.cut_out(rgb, strokes=run.options.strokes, found=replace(found, notes=()))
        run.warnings.extend([*found.notes, *cut.warnings])
        return found.evidence, cut.matte, found, wall_alpha(cut)

    @staticmethod
    def _encode(run: _Run, photo: np.ndarray, dpi: int) -> _Encoded:
        """Step 3: the file in the chosen format, under the document's (or the user's) KB limit."""
        options, spec = run.options, run.options.spec
        limit = options.max_kb or spec.max_file_kb
        if options.format != "jpg":
            if limit:
                run.warnings.append(Message("warning.idphoto.png_limit", {"kb": f"{limit:g}"}))
            return _Encoded(encode_image(photo, format="PNG", dpi=(dpi, dpi)), None)
        if limit:
            sized = encode_jpeg_under(photo, limit, dpi=(dpi, dpi), min_kb=spec.min_file_kb,
                                      max_quality=options.jpeg_quality)
            return _Encoded(sized.data, sized.quality)
        return _Encoded(encode_image(photo, format="JPEG", quality=options.jpeg_quality, dpi=(dpi, dpi)),
                        options.jpeg_quality)

    def _verify(self, run: _Run, encoded: bytes, dpi: int, placed_crown_y: float | None,
                painted: np.ndarray | None = None, quality: int | None = None, fix: _HandFix | None = None
                ) -> tuple[np.ndarray, ComplianceReport, np.ndarray]:
        """Step 4: decode the file the user gets, detect and matte again, and judge that. The
        background is judged where step 2 painted it (``painted``): a matte made again on a
        light painted colour can take light clothes for background. ``quality`` and the user's
        KB limit let the report say which limit forced the compression. ``fix``: a hand fix,
        placed: the head is measured on the user's corrected matte, and what the user kept
        that the network, on the delivered photo too, sees as background is judged as background."""
        options = run.options
        delivered = decode_image(encoded).rgb
        out_faces, _, _ = self.faces.detect(delivered, options.detector)
        applicant = largest_face(out_faces)
        out_matte = self.cutter.matter.matte(delivered, [applicant] if applicant else [], method=options.matting).alpha
        if fix is not None:
            painted = fix.judged_background(painted, out_matte)
            out_matte = fix.matte
        evidence = self.faces.evidence(delivered, applicant) if applicant else None
        report = assess(delivered, out_matte, out_faces, options.spec, dpi=dpi, file_bytes=len(encoded),
                        target_background=parse_colour(options.background) if options.background else None,
                        requested_dpi=options.dpi, evidence=evidence, placed_crown_y=placed_crown_y,
                        painted_background=painted, jpeg_quality=quality, user_max_kb=options.max_kb)
        overlay = delivered.copy()
        if evidence:
            out_head = measure_head(evidence, out_matte, options.spec.head_top)
            if placed_crown_y is not None:
                out_head = out_head.with_estimated_crown(placed_crown_y)
            overlay = draw_overlay(delivered, out_head, options.spec, dpi=dpi)
        return delivered, report, overlay


def placement_warnings(plan: CropPlan, head: HeadGeometry, source_height: int) -> list[Message]:
    """Step 2's notes for the user: what the placement had to estimate, compromise or change."""
    warnings: list[Message] = []
    if head.head_top == HEAD_TOP_NO_HAIR:
        warnings.append(Message("warning.idphoto.crown_no_hair"))
    elif not head.crown_from_matte:
        warnings.append(Message("warning.idphoto.crown_estimated"))
    if not plan.satisfied:
        warnings.append(Message("warning.idphoto.placement_compromise"))
    if plan.scale > UPSCALE_WARNING:
        needed = math.ceil(source_height * plan.scale)
        warnings.append(Message("warning.idphoto.enlarged", {"scale": plan.scale, "pixels": needed}))
    if abs(plan.roll_corrected_deg) >= NOTED_LEVELLING_DEG:  # a smaller tilt is levelled without a word
        warnings.append(Message("warning.idphoto.levelled", {"degrees": plan.roll_corrected_deg}))
    return warnings


def painted_background(alpha: np.ndarray, plan: CropPlan) -> np.ndarray:
    """Where step 2 paints the new background: the placed matte (the same warp as the
    photo's) below the compliance checks' background line."""
    return warp_to_plan(alpha.astype(np.float32), plan) < BACKGROUND_MATTE_MAX


def _placed_photo(rgb: np.ndarray, alpha: np.ndarray, plan: CropPlan, background: Colour,
                  tone: ToneOptions = ToneOptions(), landmarks: np.ndarray | None = None,
                  wall: np.ndarray | None = None) -> tuple[np.ndarray, ToneChange | None]:
    """Step 2's pixels: one warp of photo and matte, the face's light and colour (``tone``, measured
    at the face's ``landmarks``), then the document's background colour, painted last so it stays
    exact. ``wall``: where the old wall may be read (a hand fix's, :func:`pipeline.cutout.cutter.wall_alpha`)."""
    photo_rgb = warp_to_plan(rgb, plan)
    photo_alpha = warp_to_plan(alpha.astype(np.float32), plan)
    change = None
    if landmarks is not None:
        photo_rgb, change = correct_tone(photo_rgb, photo_alpha, _transform_points(plan.matrix, landmarks), tone)
    options = BackgroundOptions(mode="colour", colour=colour_to_hex(background))
    placed_wall = None if wall is None else warp_to_plan(wall.astype(np.float32), plan)
    return composite(photo_rgb, photo_alpha, options, wall_alpha=placed_wall).rgb, change


def spec_for(spec_id: str | None = None, custom: str | None = None, dpi: int | None = None) -> IdPhotoSpec:
    """A spec from the data file, or a custom 'WxHmm' / 'WxHpx' size."""
    if custom:
        text = custom.strip().lower()
        unit = "px" if text.endswith("px") else "mm"
        numbers = text.removesuffix(unit).split("x")
        try:
            width, height = (float(n) for n in numbers)
        except ValueError:
            raise InvalidOptionError(Message("error.idphoto.custom_size_form", {"size": custom})) from None
        return custom_spec(width, height, unit, dpi or DEFAULT_DPI)
    if not spec_id:
        raise InvalidOptionError("Choose a document (--spec) or a custom size (--custom).",
                                 hint="List the documents with: python -m pipeline specs")
    return load_specs().get(spec_id)
