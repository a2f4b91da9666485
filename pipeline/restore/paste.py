"""Pastes restored faces back into the (upscaled) photo through the inverse alignment.

Each face is warped only into its own bounding rectangle of the output (not the whole
canvas), so cost grows with face size, not photo size. ``strength`` scales the paste
mask: 0 leaves the photo bit-for-bit unchanged, 1 is the full restoration, and values
between are a true per-pixel blend of restored and original. It is one float for every face
or one per face (the identity guard lowers some faces' strength; a face at 0 is skipped).
``paste_faces`` uses OpenCV on the CPU; ``paste_faces_on_device`` does the same on the GPU
(the ``device_paste`` switch).
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from pipeline.faces.align import compose, upscaled_to_input

Strength = float | Sequence[float]  # one for every face, or one per face


def per_face_strengths(strength: Strength, count: int) -> list[float]:
    """One strength per face: a single number repeated (kept as given, so a lone float pastes
    exactly as before), or a sequence that must have one entry per face."""
    if np.ndim(strength) == 0:
        return [strength] * count  # type: ignore[list-item]
    strengths = [float(value) for value in strength]  # type: ignore[union-attr]
    if len(strengths) != count:
        raise ValueError(f"got {len(strengths)} strengths for {count} faces")
    return strengths


def _face_rectangle(output_to_face: np.ndarray, face_size: int, canvas: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """Integer rectangle (x0, y0, x1, y1) of the output covered by the face crop, or None."""
    face_to_output = cv2.invertAffineTransform(output_to_face)
    corners = np.array([[0, 0, 1], [face_size, 0, 1], [0, face_size, 1], [face_size, face_size, 1]], dtype=np.float64)
    points = corners @ face_to_output.T
    x0, y0 = np.floor(points.min(axis=0)).astype(int) - 1
    x1, y1 = np.ceil(points.max(axis=0)).astype(int) + 2
    x0, y0 = max(x0, 0), max(y0, 0)
    x1, y1 = min(x1, canvas[0]), min(y1, canvas[1])
    if x0 >= x1 or y0 >= y1:
        return None
    return int(x0), int(y0), int(x1), int(y1)


def _placements(
    alignment_matrices: list[np.ndarray], face_size: int, canvas: tuple[int, int], upscale: float
) -> Iterator[tuple[int, tuple[int, int, int, int], np.ndarray]]:
    """For each face that lands on the canvas: its index, its rectangle (x0, y0, x1, y1) of the
    output and the 2x3 map from rectangle pixels to face pixels. Shared by both pastes."""
    output_to_input = upscaled_to_input(upscale)
    for index, matrix in enumerate(alignment_matrices):
        output_to_face = compose(matrix, output_to_input)
        rectangle = _face_rectangle(output_to_face, face_size, canvas)
        if rectangle is None:
            continue
        x0, y0 = rectangle[:2]
        yield index, rectangle, compose(output_to_face, np.array([[1.0, 0.0, x0], [0.0, 1.0, y0]]))


def paste_faces(
    canvas: np.ndarray,
    faces: np.ndarray,
    masks: np.ndarray,
    alignment_matrices: list[np.ndarray],
    upscale: float,
    strength: Strength,
) -> np.ndarray:
    """Blend ``faces`` (N, S, S, 3) into a copy of ``canvas`` (the photo resized by ``upscale``).

    ``alignment_matrices`` map input-image pixels to face pixels (from ``align``); ``strength``
    is one float or one per face.
    """
    result = canvas.copy()
    strengths = per_face_strengths(strength, len(faces))
    if len(faces) == 0 or max(strengths) <= 0.0:
        return result
    height, width = canvas.shape[:2]
    for index, (x0, y0, x1, y1), local in _placements(alignment_matrices, faces.shape[1], (width, height), upscale):
        if strengths[index] <= 0.0:
            continue  # this face stays as it was
        face, mask = faces[index], masks[index]
        size = (x1 - x0, y1 - y0)
        flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        warped_face = cv2.warpAffine(face, local, size, flags=flags, borderMode=cv2.BORDER_REPLICATE)
        warped_mask = cv2.warpAffine(mask, local, size, flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        alpha = (np.clip(warped_mask, 0.0, 1.0) * strengths[index])[..., None]
        region = result[y0:y1, x0:x1].astype(np.float32)
        blended = region + (warped_face.astype(np.float32) - region) * alpha
        result[y0:y1, x0:x1] = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
    return result


def paste_faces_on_device(
    canvas: np.ndarray,
    faces: np.ndarray,
    masks: np.ndarray | torch.Tensor,
    alignment_matrices: list[np.ndarray],
    upscale: float,
    strength: Strength,
    device: torch.device,
) -> np.ndarray:
    """``paste_faces`` with the warps and blends on ``device`` (the GPU): per face, only its
    rectangle of the photo goes to the device and back (never the whole, possibly huge,
    canvas); bilinear ``grid_sample`` with OpenCV's pixel-centre convention (replicated
    border for the face, zero for the mask); ``strength`` is one float or one per face."""
    result = canvas.copy()
    strengths = per_face_strengths(strength, len(faces))
    if len(faces) == 0 or max(strengths) <= 0.0:
        return result
    height, width = canvas.shape[:2]
    face_size = faces.shape[1]
    face_batch = torch.from_numpy(np.ascontiguousarray(faces)).to(device).permute(0, 3, 1, 2).float()
    mask_batch = torch.as_tensor(masks).to(device=device, dtype=torch.float32)[:, None]
    for index, (x0, y0, x1, y1), rectangle_to_face in _placements(alignment_matrices, face_size, (width, height),
                                                                 upscale):
        if strengths[index] <= 0.0:
            continue  # this face stays as it was
        local = torch.as_tensor(rectangle_to_face, dtype=torch.float32, device=device)
        ys, xs = torch.meshgrid(torch.arange(y1 - y0, device=device, dtype=torch.float32),
                                torch.arange(x1 - x0, device=device, dtype=torch.float32), indexing="ij")
        u = local[0, 0] * xs + local[0, 1] * ys + local[0, 2]
        v = local[1, 0] * xs + local[1, 1] * ys + local[1, 2]
        grid = torch.stack([(2.0 * u + 1.0) / face_size - 1.0, (2.0 * v + 1.0) / face_size - 1.0], dim=-1)[None]
        face = F.grid_sample(face_batch[index:index + 1], grid, mode="bilinear", padding_mode="border",
                             align_corners=False)[0]
        mask = F.grid_sample(mask_batch[index:index + 1], grid, mode="bilinear", padding_mode="zeros",
                             align_corners=False)[0]
        region = torch.from_numpy(np.ascontiguousarray(result[y0:y1, x0:x1])).to(device).permute(2, 0, 1).float()
        blended = region + (face - region) * (mask.clamp(0.0, 1.0) * strengths[index])
        result[y0:y1, x0:x1] = blended.round_().clamp_(0, 255).to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    return result
