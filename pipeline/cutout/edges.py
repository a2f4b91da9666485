"""Soft, photo-aligned matte edges: a colour guided filter that upsamples a coarse matte.

Both mattings need it: MODNet runs at about 512 px and the plain-wall fallback cuts a
bounded copy, and each hands :func:`refine_alpha` a matte whose edges must follow the
full-resolution photo (a strand of hair, the shoulder line), not the coarse grid.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.core.pixels import require_rgb

_TO_UNIT = np.float32(1.0 / 255.0)


def _box(values: np.ndarray, radius: int) -> np.ndarray:
    """Mean over a (2r+1)^2 window; cv2's running-sum box filter costs O(1) per pixel."""
    return cv2.boxFilter(values, -1, (2 * radius + 1, 2 * radius + 1), normalize=True, borderType=cv2.BORDER_REFLECT)


def _guided_coefficients(
    guide: np.ndarray, target: np.ndarray, radius: int, eps: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per-window linear model ``target ~ a . guide + b`` of the colour guided filter.

    Colour guidance (not grey) because hair against a wall of the same brightness often
    differs only in hue. The 3x3 covariance systems are solved in closed form (cofactors),
    which is many times faster than ``np.linalg.solve`` on millions of tiny systems.
    """
    mean_guide = _box(guide, radius)  # (h, w, 3)
    mean_target = _box(target, radius)  # (h, w)
    cov_guide_target = _box(guide * target[..., None], radius) - mean_guide * mean_target[..., None]

    def covariance(i: int, j: int) -> np.ndarray:
        return _box(guide[..., i] * guide[..., j], radius) - mean_guide[..., i] * mean_guide[..., j]

    s00 = covariance(0, 0) + eps
    s01 = covariance(0, 1)
    s02 = covariance(0, 2)
    s11 = covariance(1, 1) + eps
    s12 = covariance(1, 2)
    s22 = covariance(2, 2) + eps
    # Inverse of the symmetric matrix [[s00 s01 s02] [s01 s11 s12] [s02 s12 s22]].
    c00 = s11 * s22 - s12 * s12
    c01 = s02 * s12 - s01 * s22
    c02 = s01 * s12 - s02 * s11
    c11 = s00 * s22 - s02 * s02
    c12 = s01 * s02 - s00 * s12
    c22 = s00 * s11 - s01 * s01
    determinant = s00 * c00 + s01 * c01 + s02 * c02
    cov0, cov1, cov2 = cov_guide_target[..., 0], cov_guide_target[..., 1], cov_guide_target[..., 2]
    a = np.stack(
        [
            c00 * cov0 + c01 * cov1 + c02 * cov2,
            c01 * cov0 + c11 * cov1 + c12 * cov2,
            c02 * cov0 + c12 * cov1 + c22 * cov2,
        ],
        axis=-1,
    ) / determinant[..., None]
    b = mean_target - np.einsum("hwc,hwc->hw", a, mean_guide)
    return a.astype(np.float32), b.astype(np.float32)


def refine_alpha(
    alpha_low: np.ndarray, rgb_full: np.ndarray, *, radius: int | None = None, eps: float = 1e-4
) -> np.ndarray:
    """Upsample a (low-resolution) matte to the photo's size with edges that follow the photo.

    Bilinear upsampling alone leaves a blurry band of the low-resolution pixel size around
    the person. A colour guided filter (He et al., "Guided Image Filtering") models alpha,
    in every small window, as a linear function of the colours. Fitted where the matte is
    sharp, i.e. on the matte's own grid against a copy of the photo shrunk to that grid,
    and then applied to the full-resolution photo (the fast guided filter of He & Sun
    2015, as used for learned upsampling by Wu et al. 2018), the model puts the transition
    on the colour edge (a strand of hair, the shoulder line) instead of the coarse grid,
    while flat regions keep their value. Fitting against the bilinear-upsampled matte
    instead would compare a blurry target with a sharp guide and barely sharpen anything.

    ``radius`` is the window radius in full-resolution pixels; by default twice the
    upsampling factor (at least 2), i.e. a 5x5 window on the matte's grid. A matte that is
    already full size is filtered directly (subsampled by radius/4 when the radius is
    large, for speed). ``eps`` regularises the fit on colours in [0, 1]: smaller keeps
    more edge detail, larger smooths more. Returns float32 (H, W) in [0, 1].
    """
    alpha_low = np.asarray(alpha_low, dtype=np.float32)
    if alpha_low.ndim != 2 or alpha_low.size == 0:
        raise ValueError(f"alpha_low must be a non-empty (h, w) array, got shape {alpha_low.shape}")
    require_rgb(rgb_full, "rgb_full")
    if not eps > 0:
        raise ValueError(f"eps must be positive, got {eps}")
    height, width = rgb_full.shape[:2]
    low_height, low_width = alpha_low.shape
    upsampling = max(height / low_height, width / low_width, 1.0)
    if radius is None:
        radius = max(2, int(round(2 * upsampling)))
    if radius < 1:
        raise ValueError(f"radius must be at least 1, got {radius}")
    grid = _fitting_grid(rgb_full.shape[:2], alpha_low.shape, upsampling, radius)
    guide_grid, target_grid = _on_grid(rgb_full, alpha_low, grid)
    grid_radius = max(1, int(round(radius / grid.factor)))
    a, b = _guided_coefficients(guide_grid, target_grid, grid_radius, eps)
    return _apply_at_full_size(_box(a, grid_radius), _box(b, grid_radius), rgb_full)


@dataclass(frozen=True)
class _Grid:
    """Where the guided filter's linear models are fitted: (height, width) and the factor
    between it and the photo."""

    height: int
    width: int
    factor: float


def _fitting_grid(photo: tuple[int, ...], matte: tuple[int, ...], upsampling: float, radius: int) -> _Grid:
    """The matte's own grid when it is coarser than the photo, or a grid subsampled by
    radius/4 (He & Sun) when that is coarser."""
    height, width = photo
    factor = max(upsampling, float(max(1, radius // 4)))
    if factor == upsampling and upsampling > 1.0:
        return _Grid(matte[0], matte[1], factor)
    return _Grid(max(1, int(round(height / factor))), max(1, int(round(width / factor))), factor)


def _on_grid(rgb_full: np.ndarray, alpha_low: np.ndarray, grid: _Grid) -> tuple[np.ndarray, np.ndarray]:
    """The photo (colours in [0, 1]) and the matte, both resampled to the fitting grid."""
    size = (grid.width, grid.height)
    if (grid.height, grid.width) == rgb_full.shape[:2]:
        guide = rgb_full.astype(np.float32) * _TO_UNIT
    else:
        # shrinking the uint8 photo directly: its rounding (variance ~1e-6) is far below eps
        guide = cv2.resize(rgb_full, size, interpolation=cv2.INTER_AREA).astype(np.float32) * _TO_UNIT
    if (grid.height, grid.width) == alpha_low.shape:
        return guide, alpha_low
    shrinking = grid.height * grid.width < alpha_low.size
    target = cv2.resize(alpha_low, size, interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    return guide, target


def _apply_at_full_size(mean_a: np.ndarray, mean_b: np.ndarray, rgb_full: np.ndarray) -> np.ndarray:
    """q = a . I + b at full resolution, one colour channel at a time: a 40 MP photo then
    needs a few full-size float planes, not several full-size three-channel copies."""
    height, width = rgb_full.shape[:2]

    def full_size(plane: np.ndarray) -> np.ndarray:
        if plane.shape == (height, width):
            return np.ascontiguousarray(plane)
        return cv2.resize(plane, (width, height), interpolation=cv2.INTER_LINEAR)

    refined = full_size(mean_b)
    for channel in range(3):
        refined += full_size(mean_a[..., channel]) * (rgb_full[..., channel].astype(np.float32) * _TO_UNIT)
    np.clip(refined, 0.0, 1.0, out=refined)
    return refined.astype(np.float32, copy=False)

