"""Checks that only make sense with the real, verified published weights."""
from __future__ import annotations

import numpy as np
import pytest

from pipeline.core.metrics import psnr
from pipeline.restore.engine import RestorationPipeline, RestoreOptions


@pytest.mark.real_weights
def test_real_gfpgan_restores_a_degraded_astronaut(astronaut_rgb):
    import cv2

    degraded = cv2.resize(cv2.resize(astronaut_rgb, (128, 128), interpolation=cv2.INTER_AREA), (512, 512),
                          interpolation=cv2.INTER_CUBIC)
    result = RestorationPipeline().restore(degraded, RestoreOptions())
    assert result.detector == "retinaface-r50" and len(result.faces) == 1
    x1, y1, x2, y2 = (int(v) for v in result.faces[0].face.box)
    # restoration moves the face towards the sharp original
    assert psnr(result.image[y1:y2, x1:x2], astronaut_rgb[y1:y2, x1:x2]) > psnr(degraded[y1:y2, x1:x2],
                                                                                 astronaut_rgb[y1:y2, x1:x2]) - 1
    assert np.abs(result.image.astype(int) - degraded.astype(int)).max() > 30
