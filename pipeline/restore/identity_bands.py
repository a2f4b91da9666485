"""What an identity score means: the bands, their sentences and the guard's threshold.

Why this module exists apart from :mod:`pipeline.restore.identity`: reports, the batch table
and the command line explain scores without loading torch or a network.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from pipeline.i18n import DEFAULT_LANGUAGE, translate

# Calibration, from published ArcFace verification thresholds. Both sources threshold the
# squared L2 distance d2 = sum((e1 - e2) ** 2) of L2-normalised embeddings; for unit vectors
# d2 = 2 - 2 cos, so cos = 1 - d2 / 2.
# - These weights: TreB1eN/InsightFace_Pytorch, evaluate_model.ipynb (https://github.com/TreB1eN/
#   InsightFace_Pytorch/blob/master/evaluate_model.ipynb), model ir_se50.pth, prints
#   "lfw - accuray:0.9951666666666666, threshold:1.392" (10-fold LFW; verifacation.py
#   calculate_roc: dist = np.sum(np.square(diff), 1)). cos = 1 - 1.392 / 2 = 0.304, rounded
#   to the two decimals reports show: 0.30. Below it, the network itself would call the two
#   crops different people. (Its harder benchmarks give lower thresholds: AgeDB-30 1.532,
#   CALFW 1.5, VGG2-FP 1.653, i.e. cos 0.23, 0.25, 0.17; LFW's is the strictest.)
# - insightface: deploy/test.py (https://github.com/deepinsight/insightface/blob/master/deploy/
#   test.py) has "--threshold default=1.24, help='ver dist threshold'" on
#   dist = np.sum(np.square(f1-f2)); its maintainer calls it an "empirical value from lfw
#   10-fold cross validation" (https://github.com/deepinsight/insightface/issues/23).
#   cos = 1 - 1.24 / 2 = 0.38: a stricter bar, from ArcFace's own authors.
IDENTITY_THRESHOLD = 0.30  # the guard lowers a face's strength until its score reaches this
SAME_PERSON_SCORE = 0.38


@dataclass(frozen=True)
class IdentityBand:
    """One band of scores: ``floor`` is the lowest score in it; ``name`` names its words in
    the catalogues (``doc.identity.<name>``: a short verdict, and ``..._meaning``: a sentence),
    so the web page says them in the visitor's language and the CLI in English."""

    floor: float
    name: str

    def verdict_in(self, lang: str | None = DEFAULT_LANGUAGE) -> str:
        """The short label (tables, CSV, captions) in ``lang``."""
        return translate(f"doc.identity.{self.name}", lang)

    def meaning_in(self, lang: str | None = DEFAULT_LANGUAGE) -> str:
        """One plain sentence for visitors in ``lang``."""
        return translate(f"doc.identity.{self.name}_meaning", lang)

    @property
    def verdict(self) -> str:
        return self.verdict_in(DEFAULT_LANGUAGE)

    @property
    def meaning(self) -> str:
        return self.meaning_in(DEFAULT_LANGUAGE)


# Highest band first; a score belongs to the first band whose floor it reaches.
IDENTITY_BANDS: tuple[IdentityBand, ...] = (
    IdentityBand(SAME_PERSON_SCORE, "same"),
    IdentityBand(IDENTITY_THRESHOLD, "probably_same"),
    IdentityBand(-1.0, "changed"),
)


def identity_band(score: float) -> IdentityBand:
    """The band ``score`` falls in (the last band catches everything)."""
    return next((band for band in IDENTITY_BANDS if score >= band.floor), IDENTITY_BANDS[-1])


def shown_score(score: float) -> float:
    """Two decimals, rounded down, so a shown score never reads as a band it is not in."""
    return math.floor(score * 100.0 + 1e-9) / 100.0


def _shown(score: float) -> str:
    return f"{shown_score(score):.2f}"


def describe_score(score: float, lang: str | None = DEFAULT_LANGUAGE) -> str:
    """One line for visitors: the score and what it means, e.g. "0.62: same person. The ..."."""
    band = identity_band(score)
    return translate("doc.identity.described", lang, score=_shown(score), verdict=band.verdict_in(lang),
                     meaning=band.meaning_in(lang))


def identity_legend(lang: str | None = DEFAULT_LANGUAGE) -> str:
    """The bands in one line, for reports: "0.38 or more: same person; 0.30 to 0.38: ..."."""
    parts, upper = [], None
    for band in IDENTITY_BANDS:
        verdict = band.verdict_in(lang)
        if upper is None:
            parts.append(translate("doc.identity.legend_top", lang, floor=f"{band.floor:.2f}", verdict=verdict))
        elif band is IDENTITY_BANDS[-1]:
            parts.append(translate("doc.identity.legend_bottom", lang, upper=f"{upper:.2f}", verdict=verdict))
        else:
            parts.append(translate("doc.identity.legend_band", lang, floor=f"{band.floor:.2f}", upper=f"{upper:.2f}",
                                   verdict=verdict))
        upper = band.floor
    return translate("doc.identity.legend", lang, bands=translate("doc.identity.legend_separator", lang).join(parts))
