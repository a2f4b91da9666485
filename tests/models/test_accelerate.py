"""The speed switches: parsed and resolved as data, and each load-time transform keeps the
network's output (float rounding only) while changing what it claims to change."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from pipeline.core.errors import InvalidOptionError
from pipeline.faces.masks import gaussian_blur, gaussian_taps, masks_from_classes
from pipeline.models import accelerate
from pipeline.models.accelerate import CompiledWithFallback, SpeedSettings, fold_batchnorm, parse_speed
from pipeline.models.device import ComputeSettings
from pipeline.models.store import _build_gfpgan_clean, _build_parsenet, prepare_for_inference

CPU32 = ComputeSettings(torch.device("cpu"), torch.float32)
CPU16 = ComputeSettings(torch.device("cpu"), torch.bfloat16)


def test_parse_speed_reads_every_form_and_refuses_nonsense():
    speed = parse_speed("compile=1, channels-last=off,max_batch=8,device_paste=default")
    assert speed.compile is True and speed.channels_last is False and speed.max_batch == 8
    assert speed.device_paste is None
    assert parse_speed("") == SpeedSettings()
    for bad in ("turbo=1", "compile", "compile=maybe", "max_batch=0", "max_batch=x"):
        with pytest.raises(InvalidOptionError):
            parse_speed(bad)


def test_defaults_are_per_device_and_explicit_values_win():
    cpu = SpeedSettings().resolved(CPU32)
    cuda = SpeedSettings().resolved(ComputeSettings(torch.device("cuda"), torch.bfloat16))
    assert cpu == SpeedSettings(**accelerate.DEFAULTS["cpu"])
    assert cuda == SpeedSettings(**accelerate.DEFAULTS["cuda"])
    assert cuda.micro_batch and cuda.device_paste and not cpu.micro_batch and not cpu.device_paste
    assert SpeedSettings(max_batch=3, compile=True).resolved(CPU32).max_batch == 3
    plain = SpeedSettings.plain().resolved(CPU32)
    assert plain.max_batch == 1 and not any(v for k, v in plain.__dict__.items() if k != "max_batch")
    assert set(accelerate.SWITCH_DESCRIPTIONS) == {k for k in SpeedSettings().__dict__ if k != "max_batch"}


def test_environment_variable_sets_the_speed(monkeypatch):
    monkeypatch.setenv("PORTRAIT_LAB_SPEED", "fold_batchnorm=0,max_batch=5")
    assert accelerate.speed_from_environment() == SpeedSettings(fold_batchnorm=False, max_batch=5)


@pytest.fixture(scope="module")
def parsenet_with_statistics() -> nn.Module:
    """ParseNet whose batch-norms hold non-trivial running statistics (random init has 0/1)."""
    torch.manual_seed(5)
    network = _build_parsenet({})
    for module in network.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
    return prepare_for_inference(network, CPU32)


def test_folding_batchnorm_keeps_parsenet_output(parsenet_with_statistics):
    import copy

    folded = copy.deepcopy(parsenet_with_statistics)
    x = torch.randn(1, 3, 512, 512, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        expected = parsenet_with_statistics(x)[0]
        count = fold_batchnorm(folded)
        actual = folded(x)[0]
    assert count > 30
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert torch.allclose(actual, expected, atol=1e-4, rtol=1e-4)


def _gfpgan_and_input():
    torch.manual_seed(3)
    plain = prepare_for_inference(_build_gfpgan_clean({}), CPU32)
    x = torch.randn(1, 3, 512, 512, generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        expected = plain(x, return_rgb=False, randomize_noise=False)[0]
    return plain, x, expected


def test_optimised_gfpgan_keeps_its_output_and_stores_what_was_asked():
    import copy

    plain, x, expected = _gfpgan_and_input()
    fast32 = accelerate.optimise_network(copy.deepcopy(plain), "gfpgan_clean", CPU32,
                                         SpeedSettings(channels_last=True).resolved(CPU32))
    fast16 = accelerate.optimise_network(copy.deepcopy(plain), "gfpgan_clean", CPU16, SpeedSettings().resolved(CPU16))
    assert accelerate.network_dtype(fast32) == torch.float32 and accelerate.network_dtype(fast16) == torch.bfloat16
    assert fast32.conv_body_first.weight.is_contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        out32 = fast32(accelerate.prepare_input(x, fast32, True), return_rgb=False, randomize_noise=False)[0]
    assert (out32 - expected).abs().max() < 1e-3


@pytest.mark.native_bf16  # emulated, one forward takes tens of minutes (tests/conftest.py)
def test_gfpgan_in_bf16_keeps_its_quality_bound():
    import copy

    plain, x, expected = _gfpgan_and_input()
    fast16 = accelerate.optimise_network(copy.deepcopy(plain), "gfpgan_clean", CPU16,
                                         SpeedSettings().resolved(CPU16))
    assert accelerate.network_dtype(fast16) == torch.bfloat16
    with torch.inference_mode():
        out16 = fast16(accelerate.prepare_input(x, fast16, True), return_rgb=False, randomize_noise=False)[0]
    error16 = ((out16.float().clamp(-1, 1) - expected.clamp(-1, 1)) / 2 * 255).pow(2).mean()
    assert 10 * torch.log10(255**2 / error16) > 35  # the bf16 bound of issue 5


def test_compile_falls_back_to_eager_when_compilation_fails():
    network = nn.Linear(4, 2).eval()

    def broken_compiler(module):  # noqa: ANN001, ANN202
        def run(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            raise RuntimeError("no C++ compiler found")
        return run

    wrapped = CompiledWithFallback(network, broken_compiler)
    x = torch.randn(3, 4)
    assert torch.equal(wrapped(x), network(x))
    assert not wrapped.is_compiled and "no C++ compiler" in (wrapped.fallback_reason or "")
    assert torch.equal(wrapped(x), network(x))  # stays eager, no second attempt


def test_compile_is_used_when_it_works():
    network = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU()).eval()
    calls = []

    def dynamo_eager(module):  # noqa: ANN001, ANN202  (real torch.compile, no code generation: fast)
        compiled = torch.compile(module, backend="eager")

        def run(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            calls.append(1)
            return compiled(*args, **kwargs)
        return run

    wrapped = CompiledWithFallback(network, dynamo_eager)
    x = torch.randn(1, 3, 8, 8)
    with torch.inference_mode():
        assert torch.allclose(wrapped(x), network(x)) and torch.allclose(wrapped(x), network(x))
    assert wrapped.is_compiled and len(calls) == 2 and wrapped.fallback_reason is None


def test_a_new_input_shape_that_fails_to_compile_falls_back_too():
    network = nn.Linear(4, 2).eval()
    seen = []

    def compiles_batch_one_only(module):  # noqa: ANN001, ANN202
        def run(x):  # noqa: ANN001, ANN202
            seen.append(x.shape[0])
            if x.shape[0] != 1:
                raise RuntimeError("recompilation failed")
            return module(x)
        return run

    wrapped = CompiledWithFallback(network, compiles_batch_one_only)
    one, three = torch.randn(1, 4), torch.randn(3, 4)
    with torch.inference_mode():
        assert torch.equal(wrapped(one), network(one)) and torch.equal(wrapped(one), network(one))
        assert wrapped.is_compiled
        assert torch.equal(wrapped(three), network(three))  # new shape: recompile fails, eager answers
        assert torch.equal(wrapped(one), network(one))
    assert not wrapped.is_compiled and "recompilation failed" in (wrapped.fallback_reason or "")
    assert seen == [1, 1, 3]  # after the failure the compiled path is never tried again


def test_the_paste_mask_is_gfpgans():
    """Our device-side mask equals facexlib's recipe: colour map, GaussianBlur(101, 11) twice, 10 px cut."""
    rng = np.random.default_rng(0)
    classes = rng.integers(0, 19, size=(2, 512, 512))
    classes[:, 100:400, 120:380] = 1  # a face-sized block of skin among noise
    colour = np.array([0, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 0, 255, 0, 0, 0])
    ours = masks_from_classes(torch.from_numpy(classes)).numpy()
    for index in range(2):
        mask = colour[classes[index]].astype(np.float64)
        mask = cv2.GaussianBlur(cv2.GaussianBlur(mask, (101, 101), 11), (101, 101), 11)
        mask[:10], mask[-10:], mask[:, :10], mask[:, -10:] = 0, 0, 0, 0
        assert np.abs(ours[index] - mask / 255.0).max() < 1e-4
    assert np.allclose(gaussian_taps(101, 11.0), cv2.getGaussianKernel(101, 11).ravel(), atol=1e-12)
    impulse = torch.zeros(1, 64, 64)
    impulse[0, 3, 60] = 1.0  # near the border: mirrored like OpenCV's default border
    expected = cv2.GaussianBlur(impulse[0].numpy().astype(np.float64), (9, 9), 2.0)
    assert np.abs(gaussian_blur(impulse, 9, 2.0)[0].numpy() - expected).max() < 1e-6


@pytest.mark.parametrize("upscale, strength", [(1, 1.0), (2, 0.6), (1, 0.0)])
def test_device_paste_matches_the_opencv_paste(astronaut_rgb, upscale, strength):
    from pipeline.core.metrics import psnr
    from pipeline.faces.align import alignment_matrix, warp_to_template
    from pipeline.faces.detect import MTCNNDetector, detect_faces
    from pipeline.restore.engine import _resize
    from pipeline.restore.paste import paste_faces, paste_faces_on_device

    faces = detect_faces(MTCNNDetector(torch.device("cpu")), astronaut_rgb)
    matrices = [alignment_matrix(face.landmarks) for face in faces]
    crops = np.stack([255 - warp_to_template(astronaut_rgb, m) for m in matrices])  # inverted: the paste shows
    classes = torch.zeros(len(crops), 512, 512, dtype=torch.long)
    classes[:, 90:430, 110:400] = 1
    masks = masks_from_classes(classes)
    canvas = _resize(astronaut_rgb, upscale, cv2.INTER_CUBIC)
    expected = paste_faces(canvas, crops, masks.numpy(), matrices, upscale, strength)
    actual = paste_faces_on_device(canvas, crops, masks, matrices, upscale, strength, torch.device("cpu"))
    assert actual.shape == expected.shape and actual.dtype == np.uint8
    if strength == 0.0:
        assert np.array_equal(actual, canvas) and np.array_equal(expected, canvas)
    else:
        assert psnr(expected, canvas) < 30  # the paste changed the photo
        assert psnr(actual, expected) > 45


@pytest.mark.gpu
def test_cuda_defaults_match_the_plain_cpu_pipeline(random_weights, astronaut_rgb):
    """Every CUDA default switch at once (bf16 weights, channels-last, batched modulation,
    device paste, micro-batching) against the plain fp32 CPU pipeline: within the bf16 bound."""
    from pipeline.core.metrics import psnr
    from pipeline.models.device import choose_compute
    from pipeline.restore.engine import RestorationPipeline, RestoreOptions

    directory, manifest = random_weights
    options = RestoreOptions(detector="mtcnn")
    gpu = RestorationPipeline(manifest, directory, choose_compute("cuda", "auto"))
    cpu = RestorationPipeline(manifest, directory, CPU32, speed=SpeedSettings.plain())
    assert gpu.speed.device_paste and gpu.speed.micro_batch
    assert psnr(gpu.restore(astronaut_rgb, options).image, cpu.restore(astronaut_rgb, options).image) > 35
