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
import threading
from contextlib import nullcontext
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from pipeline.core.choices import UPSAMPLER_NONE
from pipeline.core.errors import ImageTooLargeError, InvalidOptionError
from pipeline.core.limits import MAX_OUTPUT_PIXELS
from pipeline.i18n import Message
from pipeline.models.device import ComputeSettings
from pipeline.models.manifest import Manifest
from pipeline.models.store import ModelStore
from pipeline.restore.tiles import upscale_in_tiles

# Why the upsampler is off unless chosen on a machine without CUDA (visitors read this).
OFF_WITHOUT_GPU = Message("warning.restore.upsampler_off_without_gpu")
# Bytes of device memory one input pixel of a tile costs, by architecture (activations at the
# network's widest point, output included; estimates from the layer widths, unmeasured on a GPU).
BYTES_PER_INPUT_PIXEL = {"rrdbnet": 40_000, "srvgg": 4_000}
# Input pixels a network folds together before its first layer (RRDBNet x2: pixel-unshuffle 2x2).
FOLD = {"rrdbnet": {2: 2, 1: 4}}
CPU_TILE = 256
CONTEXT = 32  # pixels of real context around each tile (SRVGG's radius is 34: nearly exact)
MIN_TILE, MAX_TILE = 128, 1024
FREE_MEMORY_SHARE = 0.5
# Without CUDA, the largest photo (input pixels) a network may enlarge: Real-ESRGAN x2plus
# managed 0.03 input MP/s on a 2-core CPU in bf16 (README Performance: about 33 s per megapixel
# when the machine is idle, minutes when it is busy), and one visitor's job holds the shared pool
# that long. Larger photos get a plain sentence and the quick way.
CPU_MAX_INPUT_PIXELS = 1_000_000
TOO_SLOW_WITHOUT_GPU = Message("error.upscale.too_slow_without_gpu")


def default_upsampler(manifest: Manifest, compute: ComputeSettings) -> str:
    """The manifest's default upsampler on CUDA; "none" elsewhere, where a CPU takes about half a
    minute per megapixel at best (README Performance). The CUDA speed is not yet measured."""
    return manifest.default("upsampler").name if compute.device.type == "cuda" else UPSAMPLER_NONE


def check_upsampler(name: str, manifest: Manifest) -> str:
    """``name`` if it is "none" or a manifest upsampler; a visitor's sentence otherwise."""
    names = manifest.names("upsampler")
    if name != UPSAMPLER_NONE and name not in names:
        raise InvalidOptionError(f"'{name}' is not a background upsampler.",
                                 hint=f"Choose one of: {UPSAMPLER_NONE}, {', '.join(names)}.")
    return name


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
        # One upscale at a time on a GPU: each sizes its tiles from the memory free when it
        # starts, so two at once would both count the same free memory.
        self._device_turn = threading.Lock()

    def check_size(self, name: str, width: int, height: int) -> None:
        """Refuse, before any work, a photo the network would enlarge past the output limit at
        its own factor, or (without CUDA) one too large to finish in reasonable time."""
        scale = int(self.store.manifest.get(name).arch_options.get("scale", 4))
        if width * height * scale**2 > MAX_OUTPUT_PIXELS:
            raise ImageTooLargeError(
                Message("error.upscale.too_large_for_sharpener", {"width": width, "height": height}),
                hint=Message("error.upscale.quick_background_hint"))
        if self.compute.device.type != "cuda" and width * height > CPU_MAX_INPUT_PIXELS:
            raise ImageTooLargeError(
                TOO_SLOW_WITHOUT_GPU,
                hint=Message("error.upscale.smaller_photo_hint", {"megapixels": f"{CPU_MAX_INPUT_PIXELS / 1e6:.0f}"}))

    def upscale(self, rgb: np.ndarray, name: str, outscale: float) -> np.ndarray:
        """``rgb`` (H, W, 3 uint8) enlarged ``outscale`` times by the network ``name``; a network
        of another factor is followed by an area (or cubic) resize to the asked size."""
        if check_upsampler(name, self.store.manifest) == UPSAMPLER_NONE:
            raise ValueError("'none' is no network: resize the photo instead")
        entry = self.store.manifest.get(name)
        scale = int(entry.arch_options.get("scale", 4))
        height, width = rgb.shape[:2]
        self.check_size(name, width, height)
        network = self.store.get(name)
        fold = FOLD.get(entry.arch, {}).get(scale, 1)
        tensor = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float().div_(255)
        padded = _pad_to_multiple(tensor, fold).to(self.compute.device)
        with self._device_turn if self.compute.device.type == "cuda" else nullcontext():
            out = self._run(network, padded, scale, fold, tile_settings(self.compute, entry.arch))
        with torch.inference_mode():  # in place from here: no full-size copies
            out = out[0, :, :height * scale, :width * scale].float()
            image = out.clamp_(0, 1).mul_(255).add_(0.5).to(torch.uint8).permute(1, 2, 0).cpu().numpy()
        target = (round(width * outscale), round(height * outscale))
        if target != (width * scale, height * scale):
            shrink = target[0] < width * scale
            image = cv2.resize(image, target, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
        return image


    def _run(self, network: torch.nn.Module, image: torch.Tensor, scale: int, fold: int,
             settings: TileSettings) -> torch.Tensor:
        """The tiled pass; on a CUDA out-of-memory error, again with tiles half as large."""
        while True:
            try:
                with torch.inference_mode(), self.compute.autocast():
                    return upscale_in_tiles(network, image, scale, settings.tile, settings.overlap, multiple=fold,
                                            batch=settings.batch)
            except torch.cuda.OutOfMemoryError:
                if settings.tile // 2 < MIN_TILE // 2:
                    raise
                torch.cuda.empty_cache()
                settings = TileSettings(settings.tile // 2, settings.overlap, 1)


def _pad_to_multiple(tensor: torch.Tensor, multiple: int) -> torch.Tensor:
    """Reflect-pad the bottom and right edges up to a multiple of ``multiple`` (cropped after)."""
    height, width = tensor.shape[-2:]
    pad_h, pad_w = (-height) % multiple, (-width) % multiple
    if not (pad_h or pad_w):
        return tensor
    return F.pad(tensor, (0, pad_w, 0, pad_h), mode="reflect" if min(height, width) > 1 else "replicate")
