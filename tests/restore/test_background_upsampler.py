"""The background upsampler inside restoration (issue 16, item 1): the faces are pasted onto
Real-ESRGAN's enlargement when one is chosen, onto bicubic otherwise, and without CUDA the
network is off by default and the result says why."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from pipeline.core.errors import InvalidOptionError, PortraitLabError
from pipeline.models.device import ComputeSettings
from pipeline.restore.engine import RestorationPipeline, RestoreOptions
from pipeline.restore.restorers import IdentityRestorer
from pipeline.restore.upsampler import OFF_WITHOUT_GPU, default_upsampler

UPSAMPLER = "realesr-general-x4"  # the small one (SRVGG): quick on a CPU


@pytest.fixture(scope="module")
def engine(random_weights, cpu_compute) -> RestorationPipeline:
    directory, manifest = random_weights
    return RestorationPipeline(manifest=manifest, weights_directory=directory, compute=cpu_compute,
                               restorer_factory=lambda name: IdentityRestorer())


@pytest.fixture(scope="module")
def no_face() -> np.ndarray:
    """A photo with no face in it (MTCNN finds none): the whole output is the background."""
    ramp = np.linspace(0, 255, 64, dtype=np.float32)
    return np.stack([np.tile(ramp, (48, 1)), np.tile(ramp[::-1], (48, 1)), np.full((48, 64), 90.0)],
                    axis=-1).astype(np.uint8)


def _restore(engine, rgb, **options):
    return engine.restore(rgb, RestoreOptions(detector="mtcnn", **options))


def test_a_chosen_upsampler_makes_the_background(engine, no_face):
    result = _restore(engine, no_face, upscale=2, background_upsampler=UPSAMPLER)
    expected = engine.upsampler.upscale(no_face, UPSAMPLER, 2)
    bicubic = cv2.resize(no_face, (128, 96), interpolation=cv2.INTER_CUBIC)
    assert result.background == UPSAMPLER and result.to_dict()["background_upsampler"] == UPSAMPLER
    assert np.array_equal(result.image, expected)
    assert not np.array_equal(result.image, bicubic)  # the test can fail: random weights differ from bicubic
    assert OFF_WITHOUT_GPU not in result.warnings


def test_without_cuda_the_default_is_bicubic_and_says_why(engine, no_face):
    result = _restore(engine, no_face, upscale=2)
    assert result.background == "none"
    assert np.array_equal(result.image, cv2.resize(no_face, (128, 96), interpolation=cv2.INTER_CUBIC))
    assert OFF_WITHOUT_GPU in result.warnings
    assert "graphics card" in str(OFF_WITHOUT_GPU) and "/" not in str(OFF_WITHOUT_GPU)  # a visitor's sentence


@pytest.mark.parametrize("options", [dict(upscale=2, background_upsampler="none"), dict(upscale=1),
                                     dict(upscale=1, background_upsampler=UPSAMPLER)])
def test_no_reason_is_given_when_none_was_needed(engine, no_face, options):
    """Bicubic asked for, or no enlargement at all (the upsampler only works at 2x-4x)."""
    result = _restore(engine, no_face, **options)
    assert result.background == "none" and OFF_WITHOUT_GPU not in result.warnings
    if options["upscale"] == 1:
        assert np.array_equal(result.image, no_face)


def test_an_unknown_upsampler_is_refused_before_any_work(engine, no_face):
    with pytest.raises(InvalidOptionError, match="not a background upsampler"):
        _restore(engine, no_face, upscale=2, background_upsampler="arcface")


def test_missing_upsampler_weights_stop_the_job_at_once(random_weights, cpu_compute, tmp_path, no_face):
    _, manifest = random_weights
    bare = RestorationPipeline(manifest=manifest, weights_directory=tmp_path, compute=cpu_compute,
                               restorer_factory=lambda name: IdentityRestorer())
    with pytest.raises(PortraitLabError) as caught:
        bare.load_models(RestoreOptions(upscale=2, background_upsampler=UPSAMPLER))
    assert "weights" in str(caught.value).lower() or "download" in str(caught.value).lower()


def test_cuda_gets_the_manifests_default_and_a_cpu_gets_none(random_weights):
    _, manifest = random_weights
    cuda = ComputeSettings(device=torch.device("cuda"), dtype=torch.bfloat16)
    cpu = ComputeSettings(device=torch.device("cpu"), dtype=torch.float32)
    assert default_upsampler(manifest, cuda) == manifest.default("upsampler").name == "realesrgan-x2"
    assert default_upsampler(manifest, cpu) == "none"


def test_without_cuda_a_large_photo_is_refused_before_any_work(engine, monkeypatch):
    """A CPU takes minutes per megapixel: past the limit, a plain sentence, no detection run."""
    from pipeline.core.errors import ImageTooLargeError
    from pipeline.restore import upsampler

    monkeypatch.setattr(upsampler, "CPU_MAX_INPUT_PIXELS", 40 * 40)
    monkeypatch.setattr(engine.faces, "detect", lambda *args: pytest.fail("detection ran"))
    with pytest.raises(ImageTooLargeError) as refused:
        _restore(engine, np.zeros((48, 64, 3), np.uint8), upscale=2, background_upsampler=UPSAMPLER)
    assert "no graphics card" in refused.value.visitor_message


def test_a_network_that_would_pass_the_output_limit_is_refused(engine, monkeypatch):
    """x4 asked for 2x still builds 4x internally: the limit counts the network's own factor."""
    from pipeline.core.errors import ImageTooLargeError
    from pipeline.restore import upsampler

    monkeypatch.setattr(upsampler, "MAX_OUTPUT_PIXELS", 48 * 64 * 4 * 4 - 1)
    with pytest.raises(ImageTooLargeError):
        engine.upsampler.check_size(UPSAMPLER, 64, 48)
    engine.upsampler.check_size("realesrgan-x2", 64, 48)  # x2: within the limit
