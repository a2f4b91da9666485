"""Masks that say which pixels of an aligned, restored face to paste back.

With ParseNet weights the mask is GFPGAN's own (facexlib's paste-back with parsing): the
face classes of ParseNet's per-pixel argmax (skin, brows, eyes, nose, mouth, ears, hair,
glasses, earrings; not background, hat, neck, necklace or clothes), blurred twice with a
101-tap Gaussian of sigma 11, and cut to zero within 10 px of the crop's border. We keep
that definition so our output matches the reference (bench/restore_bench.py measures the
PSNR), but compute it differently: the whole batch at once on the compute device, the
blur as two separable convolutions, no uint8/float64 round trips.

Without ParseNet weights a feathered square keeps the tool working, with a warning.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from pipeline.models.accelerate import autocast_for, faces_input
from pipeline.models.device import ComputeSettings

# ParseNet (CelebAMask-HQ order): 0 background, 1 skin, 2 nose, 3 glasses, 4 l_eye, 5 r_eye,
# 6 l_brow, 7 r_brow, 8 l_ear, 9 r_ear, 10 mouth, 11 u_lip, 12 l_lip, 13 hair, 14 hat,
# 15 earring, 16 necklace, 17 neck, 18 cloth. The classes facexlib pastes (colour 255).
PARSENET_FACE_CLASSES = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 15)
PARSENET_CLASSES = 19
MASK_BLUR_TAPS = 101  # facexlib: cv2.GaussianBlur(mask, (101, 101), 11), applied twice
MASK_BLUR_SIGMA = 11.0
MASK_BLUR_PASSES = 2
MASK_BORDER_CUT = 10  # px of the 512 crop zeroed after blurring


@lru_cache(maxsize=8)
def gaussian_taps(taps: int = MASK_BLUR_TAPS, sigma: float = MASK_BLUR_SIGMA) -> np.ndarray:
    """Normalised 1-D Gaussian, the same taps as cv2.getGaussianKernel(taps, sigma)."""
    x = np.arange(taps, dtype=np.float64) - (taps - 1) / 2.0
    kernel = np.exp(-(x * x) / (2.0 * sigma * sigma))
    kernel /= kernel.sum()
    kernel.setflags(write=False)
    return kernel


def gaussian_blur(masks: torch.Tensor, taps: int = MASK_BLUR_TAPS, sigma: float = MASK_BLUR_SIGMA,
                  passes: int = 1) -> torch.Tensor:
    """Separable Gaussian blur of (N, H, W) float masks, borders mirrored like OpenCV's default
    (BORDER_REFLECT_101 = torch's 'reflect'). Runs on the masks' device."""
    kernel = torch.from_numpy(gaussian_taps(taps, sigma).astype(np.float32)).to(masks.device)
    half = taps // 2
    out = masks[:, None].float()
    for _ in range(passes):
        out = F.conv2d(F.pad(out, (half, half, 0, 0), mode="reflect"), kernel.view(1, 1, 1, taps))
        out = F.conv2d(F.pad(out, (0, 0, half, half), mode="reflect"), kernel.view(1, 1, taps, 1))
    return out[:, 0]


def masks_from_classes(classes: torch.Tensor) -> torch.Tensor:
    """(N, H, W) ParseNet class ids -> GFPGAN's soft paste masks in [0, 1] (N, H, W) float32."""
    paste = torch.zeros(PARSENET_CLASSES, dtype=torch.float32, device=classes.device)
    paste[list(PARSENET_FACE_CLASSES)] = 1.0
    masks = gaussian_blur(paste[classes], passes=MASK_BLUR_PASSES)
    cut = MASK_BORDER_CUT
    masks[:, :cut], masks[:, -cut:], masks[:, :, :cut], masks[:, :, -cut:] = 0.0, 0.0, 0.0, 0.0
    return masks


@lru_cache(maxsize=4)
def border_fade(face_size: int = 512, margin_fraction: float = 0.06) -> np.ndarray:
    """1 inside, smoothly 0 at the crop's border (float32, read-only)."""
    margin = max(2.0, face_size * margin_fraction)
    ramp = np.clip((np.arange(face_size, dtype=np.float32) + 0.5) / margin, 0.0, 1.0)
    ramp = np.minimum(ramp, ramp[::-1])
    ramp = ramp * ramp * (3 - 2 * ramp)  # smoothstep: no visible kink
    fade = np.outer(ramp, ramp).astype(np.float32)
    fade.setflags(write=False)
    return fade


def fallback_masks(count: int, face_size: int = 512) -> np.ndarray:
    """Feathered squares for when no face parser is available."""
    return np.broadcast_to(border_fade(face_size), (count, face_size, face_size)).copy()


class FaceMasker(Protocol):
    """Paste masks for restored faces; shared, with no per-request state."""

    name: str

    def masks_tensor(self, faces: np.ndarray) -> torch.Tensor: ...

    def classes(self, faces: np.ndarray) -> np.ndarray: ...


class ParseNetMasker:
    """GFPGAN's paste masks from ParseNet run on the restored faces (batched, on the device)."""

    name = "parsenet"

    def __init__(self, network: nn.Module, compute: ComputeSettings, channels_last: bool = False,
                 max_batch: int = 16) -> None:
        self.network = network
        self.compute = compute
        self.channels_last = channels_last
        self.max_batch = max_batch

    def masks_tensor(self, faces: np.ndarray) -> torch.Tensor:
        """(N, S, S, 3) uint8 RGB faces -> (N, S, S) float32 masks on the compute device."""
        out = [self._classes(faces[i:i + self.max_batch]) for i in range(0, len(faces), self.max_batch)]
        return masks_from_classes(torch.cat(out))

    def classes(self, faces: np.ndarray) -> np.ndarray:
        """(N, S, S, 3) uint8 RGB aligned faces -> (N, S, S) class ids on the CPU (measurement)."""
        return np.concatenate([self._classes(faces[i:i + self.max_batch]).cpu().numpy()
                               for i in range(0, len(faces), self.max_batch)])

    def _classes(self, faces: np.ndarray) -> torch.Tensor:
        batch = faces_input(faces, self.network, self.compute.device, self.channels_last)
        with torch.inference_mode(), autocast_for(self.network, self.compute):
            logits = self.network(batch)[0]
        return logits.argmax(dim=1)
