"""Identity guard (issue 16): a face whose restoration no longer shows the same person is
restored less, that face alone, until it does.

Inside the face the paste produces ``s * restored + (1 - s) * original`` (``restore.paste``,
where the face mask is 1), so the score of strength ``s`` is the identity score of that blend,
made here in the aligned 512 space and rounded to uint8 like the paste. For each face whose
score at the asked strength is under the threshold, a bisection over ``[0, asked]`` finds the
highest strength whose measured score clears it: strength 0 is the original crop itself,
whose score is 1.0 by construction (the same embedding on both sides; no network call), so
the bracket always starts valid. Each step scores every unresolved face's candidate in one
batch; after ``steps`` steps the strength returned is a measured, passing one, within
``asked / 2 ** steps`` below a failing one. The score need not fall monotonically with the
strength; the guarantee is only that the returned strength passes and the one just above it
(``asked / 2 ** steps`` higher) did not.

A pure function of its inputs and a scorer: nothing here keeps state between calls.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from pipeline.restore.identity import cosine_scores
from pipeline.restore.identity_bands import IDENTITY_THRESHOLD
from pipeline.restore.paste import Strength, per_face_strengths

GUARD_STEPS = 6  # bisection steps: the strength is found to within asked / 64


class Embedder(Protocol):
    """What the guard needs of a scorer: unit embeddings of aligned 512 crops, one row per crop
    (``restore.identity.IdentityScorer`` is one)."""

    def embeddings(self, aligned: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class GuardedStrength:
    """One face's strengths and identity scores, before and after the guard."""

    asked: float
    used: float
    score_asked: float
    score_used: float
    acted: bool  # True when the guard lowered this face's strength

    def to_dict(self) -> dict[str, float | bool]:
        return {"asked_strength": self.asked, "used_strength": self.used, "identity_asked": self.score_asked,
                "identity_used": self.score_used, "guard_acted": self.acted}


def blend_crops(original: np.ndarray, restored: np.ndarray, strengths: Sequence[float] | np.ndarray) -> np.ndarray:
    """Per face, ``s * restored + (1 - s) * original`` in uint8 (rounded like the paste)."""
    weights = np.asarray(strengths, dtype=np.float32).reshape(-1, 1, 1, 1)
    base = original.astype(np.float32)
    return np.clip(np.rint(base + (restored.astype(np.float32) - base) * weights), 0, 255).astype(np.uint8)


def _check_pair(original: np.ndarray, restored: np.ndarray) -> None:
    if original.shape != restored.shape or original.dtype != np.uint8 or restored.dtype != np.uint8:
        raise ValueError(f"original {original.shape} {original.dtype} and restored {restored.shape} "
                         f"{restored.dtype} crops must be uint8 arrays of one shape")


def _checked_strengths(strength: Strength, count: int) -> np.ndarray:
    strengths = np.asarray(per_face_strengths(strength, count), dtype=np.float64)
    if np.any(strengths < 0.0) or np.any(strengths > 1.0):
        raise ValueError(f"strengths must lie in [0, 1], got {strengths.tolist()}")
    return strengths


def _scored(original: np.ndarray, restored: np.ndarray, strengths: np.ndarray,
            scorer: Embedder) -> tuple[np.ndarray, np.ndarray]:
    """Each face's score at its strength (1.0 at strength 0: the original crop itself, no network
    call) and its original crop's embedding (zeros where not computed), all in one batch."""
    scores = np.ones(len(original), dtype=np.float32)
    reference = np.zeros((len(original), 0), dtype=np.float32)
    active = np.flatnonzero(strengths > 0.0)
    if len(active):
        embedded = scorer.embeddings(np.concatenate([original[active],
                                                     blend_crops(original[active], restored[active],
                                                                 strengths[active])]))
        reference = np.zeros((len(original), embedded.shape[1]), dtype=np.float32)
        reference[active] = embedded[:len(active)]
        scores[active] = cosine_scores(embedded[:len(active)], embedded[len(active):])
    return scores, reference


def scores_at(original: np.ndarray, restored: np.ndarray, strength: Strength, scorer: Embedder) -> np.ndarray:
    """(N,) identity score of each face at its strength; 1.0 where the strength is 0 (the blend
    is the original crop: no network call for it). All faces in one batch."""
    _check_pair(original, restored)
    return _scored(original, restored, _checked_strengths(strength, len(original)), scorer)[0]


def guard_strengths(
    original: np.ndarray,
    restored: np.ndarray,
    strength: Strength,
    scorer: Embedder,
    threshold: float = IDENTITY_THRESHOLD,
    steps: int = GUARD_STEPS,
) -> list[GuardedStrength]:
    """For each face, the strength to paste with: the asked one where its identity score at
    that strength reaches ``threshold``, else the highest strength in [0, asked] found to reach
    it (``steps`` bisection steps, every unresolved face in one batch per step).

    ``original`` and ``restored`` are (N, 512, 512, 3) uint8 aligned crops; ``strength`` is one
    float or one per face. Network calls: none when every strength is 0, one when every face
    passes, else ``1 + steps``.
    """
    _check_pair(original, restored)
    asked = _checked_strengths(strength, len(original))
    score_asked, reference = _scored(original, restored, asked, scorer)
    failing = np.flatnonzero(score_asked < threshold)
    used, score_used = asked.copy(), score_asked.copy()
    if len(failing):
        used[failing], score_used[failing] = _bisect(original[failing], restored[failing], asked[failing],
                                                     reference[failing], scorer, threshold, steps)
    return [GuardedStrength(float(asked[i]), float(used[i]), float(score_asked[i]), float(score_used[i]),
                            bool(used[i] != asked[i])) for i in range(len(original))]


def _bisect(original: np.ndarray, restored: np.ndarray, asked: np.ndarray, reference: np.ndarray,
            scorer: Embedder, threshold: float, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Bracket [passing, failing] per face, from [0 (score 1.0), asked], halved ``steps`` times."""
    low, high = np.zeros_like(asked), asked.copy()
    low_score = np.ones(len(asked), dtype=np.float32)
    for _ in range(steps):
        middle = (low + high) / 2.0
        score = cosine_scores(reference, scorer.embeddings(blend_crops(original, restored, middle)))
        passes = score >= threshold
        low, low_score = np.where(passes, middle, low), np.where(passes, score, low_score)
        high = np.where(passes, high, middle)
    return low, low_score
