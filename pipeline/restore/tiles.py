"""Running an upscaling network over a large photo in tiles (issue 16, the background upsampler).

A photo is cut into a grid of core tiles; each is run with ``overlap`` pixels of real context
around it (less at the photo's edges, where the whole photo has no more either), and only
the core's output is kept. When ``overlap`` reaches the network's receptive radius, every
output pixel sees exactly what it would see in one pass over the whole photo, so the joins
are exact, not blended; with less context the difference stays at the tile edges and small.
Tiles of the same shape run as one batch.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

Network = Callable[[torch.Tensor], torch.Tensor]  # (N, C, h, w) -> (N, C, h*scale, w*scale)


@dataclass(frozen=True)
class Tile:
    """One core tile (where its output goes) and the region run for it (core plus context),
    in input pixels: (top, bottom, left, right), bottom and right exclusive."""

    core: tuple[int, int, int, int]
    region: tuple[int, int, int, int]


def plan_tiles(height: int, width: int, tile: int, overlap: int, multiple: int = 1) -> list[Tile]:
    """The grid of core tiles of at most ``tile`` pixels, each with ``overlap`` pixels of
    context, every coordinate a multiple of ``multiple`` (a network that folds pixels, such as
    Real-ESRGAN x2's pixel-unshuffle, needs even sizes). ``height`` and ``width`` must be
    multiples of it too."""
    if tile <= 0 or overlap < 0 or multiple <= 0:
        raise ValueError("tile must be positive, overlap not negative")
    if height % multiple or width % multiple:
        raise ValueError(f"the image size must be a multiple of {multiple}")
    step = max(multiple, tile - tile % multiple)
    context = -(-overlap // multiple) * multiple  # rounded up to the multiple
    tiles = []
    for top in range(0, height, step):
        for left in range(0, width, step):
            bottom, right = min(top + step, height), min(left + step, width)
            region = (max(0, top - context), min(height, bottom + context),
                      max(0, left - context), min(width, right + context))
            tiles.append(Tile((top, bottom, left, right), region))
    return tiles


def upscale_in_tiles(network: Network, image: torch.Tensor, scale: int, tile: int, overlap: int,
                     multiple: int = 1, batch: int = 4) -> torch.Tensor:
    """``network`` over ``image`` (1, C, H, W) in tiles; the same as one pass when ``overlap``
    covers the network's receptive radius. At most ``batch`` tiles run at once."""
    if image.dim() != 4 or image.shape[0] != 1:
        raise ValueError("upscale_in_tiles takes one image as a (1, C, H, W) tensor")
    _, channels, height, width = image.shape
    output = image.new_zeros((1, channels, height * scale, width * scale))
    by_shape: dict[tuple[int, int], list[Tile]] = {}
    for piece in plan_tiles(height, width, tile, overlap, multiple):
        top, bottom, left, right = piece.region
        by_shape.setdefault((bottom - top, right - left), []).append(piece)
    for group in by_shape.values():
        for start in range(0, len(group), batch):
            _run_group(network, image, output, group[start:start + batch], scale)
    return output


def _run_group(network: Network, image: torch.Tensor, output: torch.Tensor, group: list[Tile], scale: int) -> None:
    """One batch of same-shaped regions through the network; each core's output into place."""
    regions = torch.cat([image[:, :, t.region[0]:t.region[1], t.region[2]:t.region[3]] for t in group])
    results = network(regions)
    for result, piece in zip(results, group):
        top, bottom, left, right = piece.core
        dy, dx = (top - piece.region[0]) * scale, (left - piece.region[2]) * scale
        output[0, :, top * scale:bottom * scale, left * scale:right * scale] = \
            result[:, dy:dy + (bottom - top) * scale, dx:dx + (right - left) * scale].to(output.dtype)
