"""Tiled upscaling (pipeline/restore/tiles.py): every pixel covered once, and with enough
context the tiles join into exactly what one pass over the whole photo gives."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from pipeline.models.compat_basicsr import install_functional_tensor_alias
from pipeline.restore.tiles import plan_tiles, upscale_in_tiles


def _srvgg() -> torch.nn.Module:
    """realesr-general-x4v3's architecture, randomly initialised (seeded)."""
    install_functional_tensor_alias()
    from basicsr.archs.srvgg_arch import SRVGGNetCompact

    torch.manual_seed(0)
    return SRVGGNetCompact(num_in_ch=3, num_out_ch=3, num_feat=64, num_conv=32, upscale=4, act_type="prelu").eval()


@pytest.mark.parametrize("height,width,tile,overlap,multiple", [(72, 88, 32, 10, 1), (64, 50, 16, 5, 2),
                                                                 (7, 300, 64, 0, 1)])
def test_core_tiles_cover_every_pixel_once(height, width, tile, overlap, multiple):
    covered = torch.zeros((height, width), dtype=torch.int32)
    for piece in plan_tiles(height, width, tile, overlap, multiple):
        top, bottom, left, right = piece.core
        covered[top:bottom, left:right] += 1
        r_top, r_bottom, r_left, r_right = piece.region
        assert 0 <= r_top <= top and bottom <= r_bottom <= height and 0 <= r_left <= left and right <= r_right <= width
        assert top - r_top <= overlap + multiple and all(v % multiple == 0 for v in (*piece.core, *piece.region))
    assert bool((covered == 1).all())


def test_tiles_with_the_receptive_radius_equal_one_pass():
    """SRVGG's 34 3x3 convolutions see 34 input pixels each way: 36 of context makes the tiled
    result the untiled one (to float rounding); with none, the joins differ."""
    network = _srvgg()
    image = torch.rand((1, 3, 72, 88), generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        whole = network(image)
        tiled = upscale_in_tiles(network, image, scale=4, tile=32, overlap=36, batch=3)
        seamy = upscale_in_tiles(network, image, scale=4, tile=32, overlap=0)
    assert tiled.shape == whole.shape == (1, 3, 288, 352)
    assert torch.allclose(tiled, whole, atol=1e-5), float((tiled - whole).abs().max())
    assert float((seamy - whole).abs().max()) > 1e-3  # the test can fail


def test_a_gradient_shows_no_seam():
    """A smooth gradient through bicubic upscaling (radius 2): tiled with 4 px of context it
    is the untiled result, with no step at any join; without context the joins show."""
    def bicubic(x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=4, mode="bicubic", align_corners=False)

    ramp = torch.linspace(0, 1, 100).repeat(3, 60, 1).unsqueeze(0)
    whole = bicubic(ramp)
    tiled = upscale_in_tiles(bicubic, ramp, scale=4, tile=16, overlap=4)
    without_context = upscale_in_tiles(bicubic, ramp, scale=4, tile=16, overlap=0)
    assert float((tiled - whole).abs().max()) < 1e-6
    assert float((without_context - whole).abs().max()) > 1e-3


def test_a_folding_network_gets_even_tiles():
    """Real-ESRGAN x2plus (RRDBNet, scale 2) folds 2x2 pixels first: tiles and context stay even."""
    install_functional_tensor_alias()
    from basicsr.archs.rrdbnet_arch import RRDBNet

    torch.manual_seed(0)
    network = RRDBNet(num_in_ch=3, num_out_ch=3, scale=2, num_feat=64, num_block=23, num_grow_ch=32).eval()
    image = torch.rand((1, 3, 24, 30), generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        out = upscale_in_tiles(network, image, scale=2, tile=15, overlap=5, multiple=2)
    assert out.shape == (1, 3, 48, 60) and bool(torch.isfinite(out).all())
    with pytest.raises(ValueError, match="multiple of 2"):
        plan_tiles(25, 30, 16, 4, multiple=2)


@pytest.mark.parametrize("name,scale", [("realesrgan-x2", 2), ("realesr-general-x4", 4)])
def test_the_upsamplers_load_strictly_from_files_in_the_published_layout(tmp_path, cpu_compute, name, scale):
    """Random networks of the real architectures, saved as the published files are wrapped
    (x2plus: params_ema, general-x4v3: params), load through the verifying store, strict."""
    from pipeline.models.manifest import load_manifest
    from pipeline.models.store import ModelStore, save_random_weights

    manifest = save_random_weights(load_manifest(), tmp_path, names=[name])
    entry = manifest.get(name)
    assert entry.kind == "upsampler" and entry.licence == "BSD-3-Clause"
    wrapper = torch.load(tmp_path / entry.file, map_location="cpu", weights_only=True)
    assert list(wrapper) == (["params_ema"] if scale == 2 else ["params"])
    network = ModelStore(manifest, tmp_path, compute=cpu_compute).get(name)
    image = torch.rand((1, 3, 16, 20))
    with torch.inference_mode():
        out = network(image)
    assert out.shape == (1, 3, 16 * scale, 20 * scale)


@pytest.fixture(scope="module")
def upsamplers(tmp_path_factory):
    from pipeline.models.device import ComputeSettings
    from pipeline.models.manifest import load_manifest
    from pipeline.models.store import ModelStore, save_random_weights
    from pipeline.restore.upsampler import BackgroundUpsampler

    folder = tmp_path_factory.mktemp("upsamplers")
    manifest = save_random_weights(load_manifest(), folder, names=["realesrgan-x2", "realesr-general-x4"])
    compute = ComputeSettings(device=torch.device("cpu"), dtype=torch.float32)
    return BackgroundUpsampler(ModelStore(manifest, folder, compute=compute), compute)


@pytest.mark.parametrize("name,outscale", [("realesrgan-x2", 2), ("realesr-general-x4", 2), ("realesr-general-x4", 4)])
def test_the_background_upsampler_gives_the_asked_size(upsamplers, name, outscale):
    """An odd-sized photo (x2plus folds 2x2 pixels: padded, then cropped) comes out exactly
    ``outscale`` times larger, in the asked size even when the network's factor differs."""
    rgb = (np.random.default_rng(3).random((37, 51, 3)) * 255).astype(np.uint8)
    out = upsamplers.upscale(rgb, name, outscale)
    assert out.shape == (37 * outscale, 51 * outscale, 3) and out.dtype == np.uint8


def test_only_an_upsampler_can_upsample(upsamplers):
    from pipeline.core.errors import InvalidOptionError

    with pytest.raises(InvalidOptionError, match="not a background upsampler"):
        upsamplers.upscale(np.zeros((8, 8, 3), np.uint8), "arcface", 2)


def test_cuda_tiles_grow_with_free_memory(monkeypatch):
    """The tile is chosen from the memory free when the call starts (read through torch)."""
    from pipeline.models.device import ComputeSettings
    from pipeline.restore import upsampler

    compute = ComputeSettings(device=torch.device("cuda"), dtype=torch.float32)
    sizes = []
    for free in (2 << 30, 8 << 30, 64 << 30):
        monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device, free=free: (free, 80 << 30))
        sizes.append(upsampler.tile_settings(compute, "rrdbnet"))
    assert [s.tile for s in sizes] == sorted(s.tile for s in sizes) and sizes[0].tile < sizes[-1].tile
    assert all(upsampler.MIN_TILE <= s.tile <= upsampler.MAX_TILE and s.tile % 32 == 0 for s in sizes)
