"""Device and precision are chosen once and explained; CUDA paths run where a GPU exists."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from pipeline.device import choose_compute
from pipeline.errors import DeviceUnavailableError, InvalidOptionError


def test_cpu_is_float32():
    compute = choose_compute("cpu", "auto")
    assert compute.device.type == "cpu" and compute.dtype == torch.float32 and not compute.uses_autocast


def test_environment_variables_are_the_fallback(monkeypatch):
    monkeypatch.setenv("PORTRAIT_LAB_DEVICE", "cpu")
    assert choose_compute().device.type == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this check is for machines without CUDA")
def test_asking_for_cuda_without_a_gpu_is_a_clear_error():
    with pytest.raises(DeviceUnavailableError) as error:
        choose_compute("cuda")
    assert "--device cpu" in error.value.user_message


@pytest.mark.parametrize("device, precision", [("tpu", None), ("cpu", "fp8")])
def test_unknown_choices_are_refused(device, precision):
    with pytest.raises(InvalidOptionError):
        choose_compute(device, precision)


@pytest.mark.gpu
def test_cuda_uses_bf16_and_matches_fp32(random_weights, astronaut_rgb):
    from pipeline.engine import RestorationPipeline, RestoreOptions
    from pipeline.metrics import psnr

    directory, manifest = random_weights
    bf16 = choose_compute("cuda", "bf16")
    assert bf16.dtype == torch.bfloat16
    fp32 = choose_compute("cuda", "fp32")
    options = RestoreOptions(detector="mtcnn")
    out_bf16 = RestorationPipeline(manifest, directory, bf16).restore(astronaut_rgb, options).image
    out_fp32 = RestorationPipeline(manifest, directory, fp32).restore(astronaut_rgb, options).image
    assert np.isfinite(out_bf16.astype(float)).all()
    assert psnr(out_bf16, out_fp32) > 30


def test_autocast_follows_the_chosen_precision():
    from pipeline.device import ComputeSettings

    a = torch.ones(4, 4)
    with ComputeSettings(torch.device("cpu"), torch.float32).autocast():
        assert (a @ a).dtype == torch.float32
    with ComputeSettings(torch.device("cpu"), torch.bfloat16).autocast():
        assert (a @ a).dtype == torch.bfloat16
