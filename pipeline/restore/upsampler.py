"""The background upsampler (issue 16): a Real-ESRGAN network over the whole photo, in tiles.

When a photo is upscaled, the restored faces are pasted onto this instead of onto a bicubic
enlargement, as GFPGAN's own tools do (``--bg_upsampler realesrgan``). The networks are the
manifest's ``upsampler`` entries, loaded once by the shared store; one call holds no state
on the object, so two requests may upscale at once.

Tile size: on CUDA, from the memory free when the call starts (a share of it, divided by an
estimate of the bytes one input pixel costs the architecture; the estimates are not yet
measured on a GPU); on CPU a fixed size that keeps the peak small. Joins are exact where the
context covers the network's receptive radius (SRVGG) and close elsewhere (RRDBNet's radius
is larger than any practical context): see :mod:`pipeline.restore.tiles`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from pipeline.core.errors import InvalidOptionError
from pipeline.models.device import ComputeSettings
from pipeline.models.store import ModelStore
from pipeline.restore.tiles import upscale_in_tiles

UPSAMPLER_NONE = "none"
# Bytes of device memory one input pixel of a tile costs, by architecture (activations at the
# network's widest point, output included; estimates from the layer widths, unmeasured on a GPU).
BYTES_PER_INPUT_PIXEL = {"rrdbnet": 40_000, "srvgg": 4_000}
# Input pixels a network folds together before its first layer (RRDBNet x2: pixel-unshuffle 2x2).
FOLD = {"rrdbnet": {2: 2, 1: 4}}
CPU_TILE = 256
CONTEXT = 32  # pixels of real context around each tile (SRVGG's radius is 34: nearly exact)
MIN_TILE, MAX_TILE = 128, 1024
FREE_MEMORY_SHARE = 0.5


@dataclass(frozen=True)
class TileSettings:
    tile: int
    overlap: int
    batch: int


def tile_settings(compute: ComputeSettings, arch: str) -> TileSettings:
    """Tiles as large as the device has room for (CUDA), or a small fixed size (CPU)."""
    if compute.device.type != "cuda":
        return TileSettings(CPU_TILE, CONTEXT, 1)
    free, _total = torch.cuda.mem_get_info(compute.device)
    per_pixel = BYTES_PER_INPUT_PIXEL.get(arch, max(BYTES_PER_INPUT_PIXEL.values()))
    side = int(math.sqrt(FREE_MEMORY_SHARE * free / per_pixel)) - 2 * CONTEXT
    tile = max(MIN_TILE, min(MAX_TILE, side - side % 32))
    # several small tiles at once where one large tile would not fill the memory
    batch = max(1, min(8, int(FREE_MEMORY_SHARE * free / (per_pixel * (tile + 2 * CONTEXT) ** 2))))
    return TileSettings(tile, CONTEXT, batch)


class BackgroundUpsampler:
    """Upscales whole photos with the manifest's upsampler networks, shared through ``store``."""

    def __init__(self, store: ModelStore, compute: ComputeSettings) -> None:
        self.store = store
        self.compute = compute

    def upscale(self, rgb: np.ndarray, name: str, outscale: float) -> np.ndarray:
        """``rgb`` (H, W, 3 uint8) enlarged ``outscale`` times by the network ``name``; a network
        of another factor is followed by an area (or cubic) resize to the asked size."""
        entry = self.store.manifest.get(name)
        if entry.kind != "upsampler":
            raise InvalidOptionError(f"'{name}' is not a background upsampler.",
                                     hint=f"Choose one of: {', '.join(self.store.manifest.names('upsampler'))}.")
        scale = int(entry.arch_options.get("scale", 4))
        network = self.store.get(name)
        fold = FOLD.get(entry.arch, {}).get(scale, 1)
        settings = tile_settings(self.compute, entry.arch)
        height, width = rgb.shape[:2]
        tensor = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float().div_(255)
        padded = _pad_to_multiple(tensor, fold).to(self.compute.device)
        with torch.inference_mode(), self.compute.autocast():
            out = upscale_in_tiles(network, padded, scale, settings.tile, settings.overlap, multiple=fold,
                                   batch=settings.batch)
            out = out[:, :, :height * scale, :width * scale].float().clamp(0, 1)
            image = (out[0].permute(1, 2, 0).cpu().numpy() * 255 + 0.5).astype(np.uint8)
        target = (round(width * outscale), round(height * outscale))
        if target != (width * scale, height * scale):
            shrink = target[0] < width * scale
            image = cv2.resize(image, target, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
        return image


def _pad_to_multiple(tensor: torch.Tensor, multiple: int) -> torch.Tensor:
    """Reflect-pad the bottom and right edges up to a multiple of ``multiple`` (cropped after)."""
    height, width = tensor.shape[-2:]
    pad_h, pad_w = (-height) % multiple, (-width) % multiple
    if not (pad_h or pad_w):
        return tensor
    return F.pad(tensor, (0, pad_w, 0, pad_h), mode="reflect" if min(height, width) > 1 else "replicate")
