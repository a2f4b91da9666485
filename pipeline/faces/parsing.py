"""Face parsing for measurement: which pixel of an aligned face is skin, neck, glasses, hat.

The restorer uses ParseNet's classes only to blend faces back (:mod:`pipeline.faces.masks`);
ID photos also need them as evidence: the lowest skin above the neck is the chin (a second
opinion beside the dense landmarks), and glasses or a hat are compliance findings. The
classes come from the aligned 512 px crop the parser was trained on, and every position is
mapped back to the photo through the inverse of the alignment.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# ParseNet's CelebAMask-HQ classes used as evidence (see masks.PARSENET_FACE_CLASSES).
SKIN, NOSE, GLASSES, MOUTH, UPPER_LIP, LOWER_LIP, HAIR, HAT, NECK = 1, 2, 3, 10, 11, 12, 13, 14, 17
CLOTH = 18  # clothes; a scarf or hood over the head is parsed as this
# What lies on the face's axis between the mouth and the chin.
LOWER_FACE = (SKIN, NOSE, MOUTH, UPPER_LIP, LOWER_LIP)
# The mouth's level on the aligned crop (FFHQ template: mouth corners at y 371 of 512).
MOUTH_LEVEL = 371 / 512
# Columns around the face's vertical axis that decide the chin, as a share of the crop width
# (the chin's lowest point sits on the axis; the jaw curves up on either side).
CHIN_BAND_HALF_WIDTH = 0.04
# A row counts as face where at least this share of the band is skin, lips or mouth.
CHIN_ROW_SKIN_SHARE = 0.5


@dataclass(frozen=True)
class FaceParsing:
    """ParseNet classes of one face on its aligned crop, and the crop's place in the photo."""

    classes: np.ndarray  # (S, S) int class ids
    to_crop: np.ndarray  # 2x3: photo pixels -> crop pixels

    @property
    def size(self) -> int:
        return int(self.classes.shape[0])

    def to_photo(self, points: np.ndarray) -> np.ndarray:
        """Crop pixels -> photo pixels."""
        inverse = cv2.invertAffineTransform(self.to_crop)
        pts = np.atleast_2d(np.asarray(points, dtype=np.float64))
        return pts @ inverse[:, :2].T + inverse[:, 2]

    def share(self, class_id: int, region: tuple[slice, slice] | None = None) -> float:
        """Fraction of the crop (or of a region of it) parsed as ``class_id``."""
        classes = self.classes if region is None else self.classes[region]
        return float(np.mean(classes == class_id)) if classes.size else 0.0

    def chin(self) -> np.ndarray | None:
        """(x, y) in photo pixels of the lowest skin on the face's axis, or None when the
        parsing shows no skin there (a beard, a scarf, or no face at all)."""
        size = self.size
        half = max(1, int(round(CHIN_BAND_HALF_WIDTH * size)))
        centre = size // 2
        band = np.isin(self.classes[:, centre - half:centre + half + 1], LOWER_FACE)
        face_rows = band.mean(axis=1) >= CHIN_ROW_SKIN_SHARE
        row = int(MOUTH_LEVEL * size)
        if not face_rows[row]:
            return None
        while row + 1 < size and face_rows[row + 1]:
            row += 1
        if row + 1 >= size:
            return None  # the face runs off the crop: no chin edge seen
        return self.to_photo(np.array([[centre, row + 0.5]]))[0]
