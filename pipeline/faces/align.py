"""Alignment of faces to the 512x512 FFHQ template GFPGAN was trained on, and back.

The transform is the least-squares similarity (rotation, uniform scale, translation)
from the 5 landmarks to the template (Umeyama's closed form): deterministic and free of
the random sampling of RANSAC/LMEDS, so the same photo always gives the same crop.
"""
from __future__ import annotations

import cv2
import numpy as np

FACE_SIZE = 512
# FFHQ 5-point template at 512 px (eyes, nose, mouth corners), as used by GFPGAN/facexlib.
FFHQ_TEMPLATE_512 = np.array(
    [[192.98138, 239.94708], [318.90277, 240.1936], [256.63416, 314.01935],
     [201.26117, 371.41043], [313.08905, 371.15118]],
    dtype=np.float64,
)
# Grey that GFPGAN saw outside the photo during training; used to pad crops at image borders.
BORDER_FILL = (135, 133, 132)


def similarity_transform(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """2x3 matrix of the similarity that maps ``source`` points onto ``target`` best (least squares)."""
    src = np.asarray(source, dtype=np.float64)
    dst = np.asarray(target, dtype=np.float64)
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    covariance = dst_c.T @ src_c / len(src)
    u, singular, vt = np.linalg.svd(covariance)
    reflection = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        reflection[1, 1] = -1
    rotation = u @ reflection @ vt
    variance = (src_c**2).sum() / len(src)
    scale = (singular * np.diag(reflection)).sum() / variance
    translation = dst_mean - scale * rotation @ src_mean
    return np.hstack([scale * rotation, translation[:, None]])


def alignment_matrix(landmarks: np.ndarray, face_size: int = FACE_SIZE) -> np.ndarray:
    """Image -> aligned-face transform (2x3) for one face's 5 landmarks."""
    return similarity_transform(landmarks, FFHQ_TEMPLATE_512 * (face_size / 512.0))


def warp_to_template(rgb: np.ndarray, matrix: np.ndarray, face_size: int = FACE_SIZE) -> np.ndarray:
    """Crop one aligned face (uint8 RGB, face_size x face_size)."""
    return cv2.warpAffine(
        rgb, matrix, (face_size, face_size), flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT, borderValue=BORDER_FILL,
    )


def compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """Matrix of ``outer(inner(p))`` for two 2x3 affine matrices."""
    full = lambda m: np.vstack([m, [0.0, 0.0, 1.0]])  # noqa: E731
    return (full(outer) @ full(inner))[:2]


def upscaled_to_input(upscale: float) -> np.ndarray:
    """Map output-canvas pixels to input pixels for an image resized by ``upscale`` (cv2 convention)."""
    s = 1.0 / upscale
    return np.array([[s, 0.0, 0.5 * s - 0.5], [0.0, s, 0.5 * s - 0.5]])
