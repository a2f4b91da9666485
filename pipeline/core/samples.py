"""Sample images that are free to use: scikit-image's public-domain NASA astronaut portrait."""
from __future__ import annotations

import numpy as np


def astronaut() -> np.ndarray:
    """Eileen Collins, NASA (public domain), 512x512 RGB uint8, shipped inside scikit-image."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut(), dtype=np.uint8)
