"""The Restore tab's face-by-face review: each face before and after, its identity score, and
its own strength, changed without running the network again.

Why this module exists: after a restoration the faces (:class:`FaceWork`) are written to the
visitor's job folder, so they live and die with the session like every other file of theirs;
between clicks the page keeps only a :class:`FaceReview` (paths and numbers) in server-side
state. Re-blending one face reads that file, pastes every face at its strength and scores the
changed faces: paste cost, not network cost.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from pipeline.core.encode import save_image
from pipeline.restore.facework import FaceWork
from pipeline.restore.guard import GuardedStrength, blend_crops
from pipeline.i18n import DEFAULT_LANGUAGE, translate
from pipeline.restore.identity_bands import IDENTITY_THRESHOLD, identity_band, shown_score
from webapp.language import VISITOR_LANGUAGE, t

FACES_FILE = "faces.npz"
SCORE_MEANING = translate("web.review.score_meaning", DEFAULT_LANGUAGE)  # English, as the tests read it
CARD_SIDE = 256  # each half of a card: the aligned face shrunk from 512


@dataclass(frozen=True)
class FaceReview:
    """What the review needs between clicks: where the faces are, the photo's before image,
    the download's name, and each face's strength and score (in the faces' order)."""

    faces_file: Path
    before: Path
    stem: str  # the restored photo's file name without suffix ("portrait-restored")
    suffix: str
    strengths: tuple[float, ...]
    scores: tuple[float, ...] | None  # None: no identity model on this server
    cards: tuple[tuple[str, str], ...] = ()  # (image path, caption) per face, as last drawn
    selected: int = 0  # the face the panel shows: the last one changed
    notes: tuple[str, ...] = ()  # the restoration's own notes (size, background, detector), kept

    def choices(self) -> list[tuple[str, int]]:
        return [(t("web.review.face", number=index + 1), index) for index in range(len(self.strengths))]


def with_cards(work: FaceWork, review: FaceReview, out_dir: Path) -> FaceReview:
    """The review with its cards drawn into ``out_dir``: per face, the aligned original beside
    the face as pasted, and a caption with its score and strength."""
    after = blend_crops(work.aligned, work.restored, list(review.strengths))
    cards = []
    for index, (before_face, after_face) in enumerate(zip(work.aligned, after)):
        pair = np.concatenate([_shrunk(before_face), _shrunk(after_face)], axis=1)
        path = save_image(out_dir / f"face-{index + 1}.jpg", pair, quality=90)
        cards.append((str(path), card_caption(review, index)))
    return replace(review, cards=tuple(cards))


def card_caption(review: FaceReview, index: int) -> str:
    """"Face 1 · strength 1.00 · 0.62 same person"; without the model, no score."""
    parts = [t("web.review.face", number=index + 1), t("web.review.strength", strength=f"{review.strengths[index]:.2f}")]
    if review.scores is not None:
        score = review.scores[index]
        parts.append(f"{shown_score(score):.2f} {identity_band(score).verdict_in(VISITOR_LANGUAGE.get())}")
    return " · ".join(parts)


def identity_lines(review: FaceReview, guarded: Sequence[GuardedStrength] | None = None) -> list[str]:
    """Per face, its score and meaning; where the guard lowered a face's strength (``guarded``,
    in the faces' order), both strengths and both scores."""
    if review.scores is None:
        return []
    lines = [t("web.review.score_meaning")]
    for index, score in enumerate(review.scores):
        band = identity_band(score)
        line = "- " + t("web.review.face_score", face=t("web.review.face", number=index + 1),
                        score=f"{shown_score(score):.2f}", verdict=band.verdict_in(VISITOR_LANGUAGE.get()),
                        meaning=band.meaning_in(VISITOR_LANGUAGE.get()))
        if score < IDENTITY_THRESHOLD and review.strengths[index] > 0.0:
            line += " " + t("web.review.lower_it")
        if guarded is not None and guarded[index].acted:
            line += " " + t("web.review.guarded", asked=f"{guarded[index].asked:.2f}",
                            used=f"{review.strengths[index]:.2f}",
                            before=f"{shown_score(guarded[index].score_asked):.2f}", after=f"{shown_score(score):.2f}")
        lines.append(line)
    return lines


def changed_headline(review: FaceReview) -> str:
    """A warning to put first when a pasted face no longer looks like the person ("" if none)."""
    if review.scores is None:
        return ""
    changed = sum(1 for score, strength in zip(review.scores, review.strengths)
                  if score < IDENTITY_THRESHOLD and strength > 0.0)
    return "⚠ " + t("web.review.changed", count=changed) + " " if changed else ""


def with_strength(review: FaceReview, face: int, strength: float) -> FaceReview:
    """The review with one face's strength changed (scores are measured again by the caller)."""
    if not 0 <= face < len(review.strengths):
        raise IndexError(face)
    strengths = list(review.strengths)
    strengths[face] = min(1.0, max(0.0, float(strength)))
    return replace(review, strengths=tuple(strengths), selected=face)


def _shrunk(face: np.ndarray) -> np.ndarray:
    return cv2.resize(face, (CARD_SIDE, CARD_SIDE), interpolation=cv2.INTER_AREA)
