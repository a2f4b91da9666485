"""The pixel arrays every stage hands on: one check, one wording.

Why this module exists: decoding promises an ``(H, W, 3)`` ``uint8`` array (plus an
optional ``(H, W)`` ``uint8`` alpha) and every later stage relies on it. The test lives
here once, so that the stages cannot drift into different rules or different sentences.
"""
from __future__ import annotations

from typing import Any

import numpy as np


def is_rgb_array(rgb: Any) -> bool:
    """The one test of the pixels every stage passes on: a non-empty (H, W, 3) uint8 array."""
    return (isinstance(rgb, np.ndarray) and rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3
            and rgb.shape[0] > 0 and rgb.shape[1] > 0)


def describe_array(value: Any) -> str:
    """How an error names what it got instead: dtype and shape for an array, else the type."""
    return f"{value.dtype} array of shape {value.shape}" if isinstance(value, np.ndarray) else type(value).__name__


def require_rgb(rgb: Any, name: str = "rgb") -> None:
    """``is_rgb_array`` for callers that handed over pixels: anything else is a programming
    error (ValueError), never a user's."""
    if not is_rgb_array(rgb):
        raise ValueError(f"{name} must be a non-empty uint8 array of shape (H, W, 3); got a {describe_array(rgb)}.")


def validate_pixel_arrays(rgb: Any, alpha: Any) -> None:
    """Reject arrays that are not what every stage promises (a programming error)."""
    require_rgb(rgb)
    if alpha is None:
        return
    if not isinstance(alpha, np.ndarray) or alpha.dtype != np.uint8 or alpha.shape != rgb.shape[:2]:
        raise ValueError(f"alpha must be a uint8 array of shape {rgb.shape[:2]} (H, W); got a {describe_array(alpha)}.")
