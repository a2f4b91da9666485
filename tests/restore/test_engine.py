"""The restoration engine end to end on the real astronaut photo: detection (real MTCNN),
alignment, random-weight GFPGAN of the real architecture, masks and paste-back."""
from __future__ import annotations

import numpy as np
import pytest

from pipeline.core.decode import DecodedImage
from pipeline.core.errors import ImageTooLargeError, InvalidOptionError
from pipeline.restore.engine import RestoreOptions


def test_restore_finds_restores_and_pastes_the_face(random_pipeline, astronaut_rgb):
    result = random_pipeline.restore(astronaut_rgb, RestoreOptions(detector="mtcnn"))
    assert result.image.shape == astronaut_rgb.shape and result.image.dtype == np.uint8
    assert [face.restored for face in result.faces] == [True]
    x1, y1, x2, y2 = (int(v) for v in result.faces[0].face.box)
    changed = np.abs(result.image.astype(int) - astronaut_rgb.astype(int)).max(axis=2) > 8
    assert changed[y1:y2, x1:x2].mean() > 0.3  # the face was replaced...
    assert changed[400:, :100].mean() < 0.01  # ...and a far corner of the photo was not
    assert {"detect", "restore"} <= set(result.timings)


def test_strength_zero_leaves_the_photo_unchanged(random_pipeline, astronaut_rgb):
    result = random_pipeline.restore(astronaut_rgb, RestoreOptions(detector="mtcnn", strength=0.0))
    assert np.abs(result.image.astype(int) - astronaut_rgb.astype(int)).max() <= 1


def test_upscale_and_alpha_are_carried_through(random_pipeline, astronaut_rgb):
    alpha = np.full(astronaut_rgb.shape[:2], 255, np.uint8)
    alpha[:, :40] = 0
    image = DecodedImage(rgb=astronaut_rgb, alpha=alpha, source_format="PNG", notes=())
    result = random_pipeline.restore(image, RestoreOptions(detector="mtcnn", upscale=2))
    assert result.image.shape == (1024, 1024, 3)
    assert result.alpha is not None and result.alpha.shape == (1024, 1024)
    assert result.alpha[:, :70].max() == 0 and result.alpha[:, 100:].min() == 255


@pytest.mark.parametrize("options, message", [
    (RestoreOptions(strength=1.5), "Strength"),
    (RestoreOptions(detection_max_side=64), "detection size"),
    (RestoreOptions(detector="parsenet"), "Unknown detector"),
    (RestoreOptions(model="no-such-model"), "Unknown restoration model"),
])
def test_bad_options_are_refused_before_any_work(random_pipeline, astronaut_rgb, options, message):
    with pytest.raises(InvalidOptionError, match=message):
        random_pipeline.restore(astronaut_rgb, options)


def test_an_upscaled_result_over_the_output_limit_is_refused(random_pipeline, monkeypatch):
    from pipeline.restore import engine

    monkeypatch.setattr(engine, "MAX_OUTPUT_PIXELS", 1_000_000)
    with pytest.raises(ImageTooLargeError):
        random_pipeline.restore(np.zeros((600, 600, 3), np.uint8), RestoreOptions(upscale=2))


def test_every_restorer_in_the_manifest_has_a_runner():
    from pipeline.models.manifest import load_manifest
    from pipeline.restore.restorers import RESTORERS

    manifest = load_manifest()
    assert [name for name in manifest.names("restorer") if manifest.get(name).arch not in RESTORERS] == []
