"""Soft masks that say which pixels of an aligned face to paste back.

With ParseNet weights, the mask is the per-pixel probability of the face classes (skin,
brows, eyes, nose, mouth, ears, hair; not hat, neck or clothes), smoothed, so the
restored face blends into the photo without a visible seam. Without them, a feathered
square (what GFPGAN does without parsing) keeps the tool working, with a warning.
Every mask fades to zero towards the crop's border so no crop edge can ever show.
"""
from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np
import torch
from torch import nn

from .device import ComputeSettings

# ParseNet (CelebAMask-HQ order): 0 background, 1 skin, 2 nose, 3 glasses, 4 l_eye, 5 r_eye,
# 6 l_brow, 7 r_brow, 8 l_ear, 9 r_ear, 10 mouth, 11 u_lip, 12 l_lip, 13 hair, 14 hat,
# 15 earring, 16 necklace, 17 neck, 18 cloth. Same selection as facexlib's paste-back.
PARSENET_FACE_CLASSES = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 15)


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


class ParseNetMasker:
    """Soft face masks from ParseNet run on the restored faces (batched)."""

    name = "parsenet"

    def __init__(self, network: nn.Module, compute: ComputeSettings, blur_sigma: float = 6.0) -> None:
        self.network = network
        self.compute = compute
        self.blur_sigma = blur_sigma

    def masks(self, faces: np.ndarray) -> np.ndarray:
        batch = torch.from_numpy(faces).to(self.compute.device).permute(0, 3, 1, 2).contiguous().float() / 255.0
        batch = (batch - 0.5) / 0.5
        with torch.inference_mode():
            logits = self.network(batch)[0]
            probabilities = torch.softmax(logits.float(), dim=1)
            face_probability = probabilities[:, list(PARSENET_FACE_CLASSES)].sum(dim=1)
        masks = face_probability.cpu().numpy().astype(np.float32)
        fade = border_fade(faces.shape[1])
        return np.stack([cv2.GaussianBlur(m, (0, 0), self.blur_sigma) * fade for m in masks])
