"""The batched (scale, shared conv, scale) modulated convolution equals the reference
grouped form, layer by layer and through the whole GFPGAN v1.4 network."""
from __future__ import annotations

import pytest
import torch

from pipeline.models.compat_basicsr import install_functional_tensor_alias
from pipeline.models.manifest import load_manifest
from pipeline.models.store import build_network
from pipeline.restore.modconv import use_batched_modulation


@pytest.fixture(scope="module")
def modulated_conv_class() -> type:
    install_functional_tensor_alias()
    from gfpgan.archs.stylegan2_clean_arch import ModulatedConv2d

    return ModulatedConv2d


@pytest.mark.parametrize("sample_mode", [None, "upsample", "downsample"])
@pytest.mark.parametrize("demodulate", [True, False])
def test_layer_matches_the_grouped_reference(modulated_conv_class, sample_mode, demodulate) -> None:
    torch.manual_seed(3)
    layer = modulated_conv_class(8, 16, 3, num_style_feat=32, demodulate=demodulate, sample_mode=sample_mode)
    with torch.no_grad():
        layer.modulation.weight.normal_()  # styles far from 1, so a wrong formula shows
    x, style = torch.randn(3, 8, 16, 16), torch.randn(3, 32)
    with torch.inference_mode():
        reference = layer(x, style)
        assert use_batched_modulation(layer) == 1
        batched = layer(x, style)
        assert use_batched_modulation(layer, enabled=False) == 1
        restored = layer(x, style)
    assert batched.shape == reference.shape
    torch.testing.assert_close(batched, reference, rtol=1e-4, atol=1e-5)
    assert torch.equal(restored, reference)  # switching back gives the reference code path


def test_whole_gfpgan_network_gives_the_same_faces() -> None:
    torch.manual_seed(0)
    network = build_network(load_manifest().get("gfpgan-v1.4")).eval()
    faces = torch.rand(2, 3, 512, 512) * 2 - 1
    with torch.inference_mode():
        reference = network(faces, return_rgb=False, randomize_noise=False)[0]
        assert use_batched_modulation(network) == 23
        batched = network(faces, return_rgb=False, randomize_noise=False)[0]
    assert (batched - reference).abs().max().item() < 1e-4  # far below one grey level (2/255)


def test_restorer_uses_the_batched_form_on_cuda_and_the_reference_on_cpu(modulated_conv_class) -> None:
    from pipeline.models.device import ComputeSettings
    from pipeline.restore.restorers import GFPGANRestorer

    def network() -> torch.nn.Module:
        return torch.nn.Sequential(modulated_conv_class(4, 4, 3, num_style_feat=8))

    cuda = GFPGANRestorer("x", network(), ComputeSettings(device=torch.device("cuda"), dtype=torch.bfloat16))
    cpu = GFPGANRestorer("x", network(), ComputeSettings(device=torch.device("cpu"), dtype=torch.float32))
    forced = GFPGANRestorer("x", network(), ComputeSettings(device=torch.device("cpu"), dtype=torch.float32),
                            batched_modulation=True)
    assert "forward" in cuda.network[0].__dict__ and cuda.batched_modulation
    assert "forward" not in cpu.network[0].__dict__ and not cpu.batched_modulation
    assert "forward" in forced.network[0].__dict__
