"""Everything known about one face: the detection, and the dense mesh and face parsing when
they exist. The measuring code takes this one object, so it never needs to know which
models were installed, only which evidence came back."""
from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from pipeline.faces.align import compose
from pipeline.faces.detect import Face
from pipeline.faces.mesh import DenseLandmarks
from pipeline.faces.parsing import FaceParsing


@dataclass(frozen=True)
class FaceEvidence:
    face: Face
    dense: DenseLandmarks | None = None
    parsing: FaceParsing | None = None

    def transformed(self, matrix: np.ndarray) -> FaceEvidence:
        """The same evidence after a 2x3 similarity transform of the photo (e.g. levelling)."""
        corners = np.array([self.face.box[:2], self.face.box[2:]], dtype=np.float64)
        moved = corners @ matrix[:, :2].T + matrix[:, 2]
        box = (float(moved[:, 0].min()), float(moved[:, 1].min()), float(moved[:, 0].max()), float(moved[:, 1].max()))
        landmarks = (self.face.landmarks.astype(np.float64) @ matrix[:, :2].T + matrix[:, 2]).astype(np.float32)
        parsing = None
        if self.parsing is not None:
            parsing = replace(self.parsing, to_crop=compose(self.parsing.to_crop, cv2.invertAffineTransform(matrix)))
        return FaceEvidence(Face(box, landmarks, self.face.score),
                            None if self.dense is None else self.dense.transformed(matrix), parsing)
