"""Device and precision are chosen once and explained; CUDA paths run where a GPU exists."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from pipeline.core.errors import DeviceUnavailableError, InvalidOptionError
from pipeline.models import device as device_module
from pipeline.models.device import choose_compute


@pytest.mark.parametrize("native_bf16, expected", [(False, torch.float32), (True, torch.bfloat16)])
def test_cpu_auto_uses_bf16_only_where_the_cpu_has_it(monkeypatch, native_bf16, expected):
    monkeypatch.setattr(device_module, "cpu_has_native_bf16", lambda: native_bf16)
    compute = choose_compute("cpu", "auto")
    assert compute.device.type == "cpu" and compute.dtype == expected
    assert choose_compute("cpu", "fp32").dtype == torch.float32
    assert choose_compute("cpu", "bf16").dtype == torch.bfloat16  # explicit: honoured even if emulated


@pytest.mark.parametrize("flags, expected", [
    ("fpu sse avx2 avx512f avx512bw", False),
    ("fpu avx512f avx512_bf16 avx512_vnni", True),
    ("fpu amx_bf16 amx_tile", True),
])
def test_native_bf16_is_read_from_the_cpu_flags(tmp_path, flags, expected):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nmodel name\t: Test CPU\nflags\t\t: {flags}\n")
    assert device_module.cpu_has_native_bf16(cpuinfo) is expected
    assert device_module.cpu_has_native_bf16(tmp_path / "missing") is False


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
    from pipeline.core.metrics import psnr
    from pipeline.restore.engine import RestorationPipeline, RestoreOptions

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
    from pipeline.models.device import ComputeSettings

    a = torch.ones(4, 4)
    with ComputeSettings(torch.device("cpu"), torch.float32).autocast():
        assert (a @ a).dtype == torch.float32
    with ComputeSettings(torch.device("cpu"), torch.bfloat16).autocast():
        assert (a @ a).dtype == torch.bfloat16


@pytest.mark.parametrize("capability, expected", [
    ((7, 5), torch.float32),  # T4: bf16 only emulated (slow), so fp32
    ((7, 0), torch.float32),  # V100
    ((8, 0), torch.bfloat16),  # A100
    ((8, 9), torch.bfloat16),  # L4
    ((9, 0), torch.bfloat16),  # H100/H200
])
def test_cuda_auto_uses_bf16_only_where_the_gpu_has_it(monkeypatch, capability, expected):
    """torch.cuda.is_bf16_supported() says True on a T4 (it counts emulation): "auto" must not
    trust it, or the hardware the README suggests runs GFPGAN in slow emulated bf16."""
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    assert device_module._parse_precision("auto", torch.device("cuda")) == expected
    assert device_module._parse_precision("fp32", torch.device("cuda")) == torch.float32
    assert device_module._parse_precision("bf16", torch.device("cuda")) == torch.bfloat16  # explicit: honoured


def test_explicit_bf16_on_a_gpu_without_it_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (6, 1))
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: False)
    assert device_module._parse_precision("auto", torch.device("cuda")) == torch.float32
    with pytest.raises(DeviceUnavailableError, match="does not support bfloat16"):
        device_module._parse_precision("bf16", torch.device("cuda"))
