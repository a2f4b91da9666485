"""Matting without any weights: GrabCut seeded by the faces, for portraits against a plain wall.

The studio must work offline and on a fresh server before MODNet's weights arrive. This is
the classical stand-in; :class:`pipeline.cutout.matting.PortraitMatter` labels its results
and warns when the wall was not plain enough to trust them.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.core.pixels import require_rgb
from pipeline.cutout.edges import refine_alpha
from pipeline.faces.detect import Face

# GrabCut's cost grows with the pixel count; the fallback segments a copy bounded to this
# side and lets the guided filter bring the edges back to full resolution.
_FALLBACK_MAX_SIDE = 640
_GRABCUT_ITERATIONS = 5


@dataclass(frozen=True)
class PlainWallOutcome:
    """The fallback's matte, and whether the wall behind the person looked plain enough to trust it."""

    alpha: np.ndarray
    background_is_plain: bool


@dataclass(frozen=True)
class _WallModel:
    """Plane fitted to the wall's CIELAB colour over the image (handles a lighting gradient)."""

    coefficients: np.ndarray  # (3 features, 3 channels)
    noise: float  # robust spread of the border's distances to the plane, in delta-E
    inlier_fraction: float  # share of border samples that fit the plane

    def distance(self, lab: np.ndarray) -> np.ndarray:
        height, width = lab.shape[:2]
        predicted = _plane_features(height, width).reshape(-1, 3) @ self.coefficients
        return np.linalg.norm(lab.reshape(-1, 3) - predicted, axis=1).reshape(height, width)


def _plane_features(height: int, width: int) -> np.ndarray:
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    return np.stack([np.ones_like(xs), xs / max(width - 1, 1), ys / max(height - 1, 1)], axis=-1)


def _wall_sample_mask(height: int, width: int) -> np.ndarray:
    """Top edge and the upper part of the side edges: where a portrait shows the wall.

    The bottom edge is left out (the body stands on it) and so is the lower part of the
    sides, where shoulders usually reach the frame.
    """
    strip = max(2, round(0.03 * min(height, width)))
    mask = np.zeros((height, width), dtype=bool)
    mask[:strip, :] = True
    side_end = max(strip, int(0.8 * height))
    mask[:side_end, :strip] = True
    mask[:side_end, width - strip:] = True
    return mask


def _fit_wall(lab: np.ndarray, sample_mask: np.ndarray) -> tuple[_WallModel, np.ndarray]:
    """Robust plane fit of the wall colour; returns the model and the inlier sample mask.

    Hair or a shoulder touching the border would pull a plain least-squares fit, so the
    fit is repeated on the samples that agree with it (residual under 3 robust sigmas).
    """
    height, width = lab.shape[:2]
    features = _plane_features(height, width)[sample_mask]
    colours = lab[sample_mask]
    inliers = np.ones(len(colours), dtype=bool)
    coefficients = np.zeros((3, 3), dtype=np.float32)
    noise = 0.0
    for _ in range(4):
        if inliers.sum() < 3:
            break
        coefficients, *_ = np.linalg.lstsq(features[inliers], colours[inliers], rcond=None)
        residual = np.linalg.norm(colours - features @ coefficients, axis=1)
        noise = float(1.4826 * np.median(residual[inliers]))
        inliers = residual <= max(3.0 * noise, 3.0)
    inlier_mask = np.zeros_like(sample_mask)
    inlier_mask[sample_mask] = inliers
    model = _WallModel(np.asarray(coefficients, dtype=np.float32), noise, float(inliers.mean()))
    return model, inlier_mask


def _draw_face_seeds(mask: np.ndarray, faces: Sequence[Face], scale: float) -> None:
    """Mark what a face implies: the face itself is surely the person, so are the neck
    and the upper chest below it; hair above it and the torso further down probably are."""
    height, width = mask.shape
    reach = 4 * max(height, width)  # OpenCV draws with int32: a wild box must not overflow it
    for face in faces:
        x1, y1, x2, y2 = (float(np.clip(value * scale, -reach, reach)) for value in face.box)
        if not all(np.isfinite((x1, y1, x2, y2))):
            continue  # a box without a position marks nothing
        face_width, face_height = max(x2 - x1, 1.0), max(y2 - y1, 1.0)
        centre_x, centre_y = (x1 + x2) / 2, (y1 + y2) / 2

        def rectangle(left: float, top: float, right: float, bottom: float, label: int) -> None:
            left_i, right_i = int(np.clip(left, 0, width)), int(np.clip(right, 0, width))
            top_i, bottom_i = int(np.clip(top, 0, height)), int(np.clip(bottom, 0, height))
            if right_i > left_i and bottom_i > top_i:
                region = mask[top_i:bottom_i, left_i:right_i]
                if label == cv2.GC_PR_FGD:  # never downgrade a sure label
                    region[region != cv2.GC_FGD] = cv2.GC_PR_FGD
                else:
                    region[...] = label

        # hair above the face, the shoulders and torso below it: probably the person
        rectangle(centre_x - 0.5 * face_width, y1 - 0.35 * face_height, centre_x + 0.5 * face_width, y1,
                  cv2.GC_PR_FGD)
        rectangle(centre_x - 1.0 * face_width, y2 + 0.4 * face_height, centre_x + 1.0 * face_width, height,
                  cv2.GC_PR_FGD)
        # neck and upper chest: surely the person
        rectangle(centre_x - 0.22 * face_width, y2 - 0.1 * face_height, centre_x + 0.22 * face_width,
                  y2 + 1.5 * face_height, cv2.GC_FGD)
        axes = (max(1, int(0.36 * face_width)), max(1, int(0.42 * face_height)))
        cv2.ellipse(mask, (int(round(centre_x)), int(round(centre_y))), axes, 0, 0, 360, int(cv2.GC_FGD), -1)
        for x, y in np.asarray(face.landmarks, dtype=np.float32).reshape(-1, 2) * scale:
            if 0 <= x < width and 0 <= y < height:
                cv2.circle(mask, (int(round(x)), int(round(y))), max(1, int(0.06 * face_width)), int(cv2.GC_FGD), -1)


def _initial_trimap(
    lab: np.ndarray, faces: Sequence[Face], scale: float
) -> tuple[np.ndarray, _WallModel]:
    """GrabCut's starting labels from the wall colour model and the faces."""
    height, width = lab.shape[:2]
    samples = _wall_sample_mask(height, width)
    wall, wall_inliers = _fit_wall(lab, samples)
    distance = wall.distance(lab)
    foreground_threshold = max(4.0 * wall.noise, 10.0)
    mask = np.full((height, width), cv2.GC_PR_BGD, dtype=np.uint8)
    mask[distance > foreground_threshold] = cv2.GC_PR_FGD
    _draw_face_seeds(mask, faces, scale)
    # The border samples that match the wall are the only pixels we call surely background:
    # everything else may be a white shirt in front of a white wall.
    mask[wall_inliers & (mask != cv2.GC_FGD)] = cv2.GC_BGD
    return mask, wall


def _keep_person_components(foreground: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """Drop specks and islands (a lamp, a picture frame) that are not part of the person.

    Components touching a face seed are kept, and so are the large ones; small holes
    inside the person (a wall-coloured reflection) are filled, large ones (the gap between
    an arm and the body) are real background and stay.
    """
    count, labels, stats, _ = cv2.connectedComponentsWithStats(foreground.astype(np.uint8), connectivity=8)
    if count <= 1:
        return foreground
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = areas >= 0.1 * areas.max()
    if seeds.any():
        seeded = np.unique(labels[seeds & foreground])
        keep[:] = False
        keep[seeded[seeded > 0] - 1] = True
    kept = keep[labels - 1] & (labels > 0)

    holes = (~kept).astype(np.uint8)
    _, hole_labels, hole_stats, _ = cv2.connectedComponentsWithStats(holes, connectivity=4)
    height, width = foreground.shape
    left, top = hole_stats[:, cv2.CC_STAT_LEFT], hole_stats[:, cv2.CC_STAT_TOP]
    right = left + hole_stats[:, cv2.CC_STAT_WIDTH]
    bottom = top + hole_stats[:, cv2.CC_STAT_HEIGHT]
    touches_border = (left == 0) | (top == 0) | (right == width) | (bottom == height)
    fill = (hole_stats[:, cv2.CC_STAT_AREA] < 0.002 * foreground.size) & ~touches_border
    fill[0] = False  # label 0 is the person itself
    return kept | fill[hole_labels]


def plain_wall_outcome(rgb: np.ndarray, faces: Sequence[Face] = ()) -> PlainWallOutcome:
    require_rgb(rgb, "rgb")
    height, width = rgb.shape[:2]
    scale = min(1.0, _FALLBACK_MAX_SIDE / max(height, width))
    small = rgb if scale == 1.0 else cv2.resize(
        rgb, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_AREA
    )
    lab = cv2.cvtColor(small.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    mask, wall = _initial_trimap(lab, faces, scale)
    background_is_plain = wall.noise <= 8.0 and wall.inlier_fraction >= 0.5

    has_foreground = np.isin(mask, (cv2.GC_FGD, cv2.GC_PR_FGD)).any()
    has_background = np.isin(mask, (cv2.GC_BGD, cv2.GC_PR_BGD)).any()
    if not (has_foreground and has_background):
        # Nothing differs from the wall (or nothing looks like it): no basis for a cut.
        empty = np.zeros((height, width), dtype=np.float32)
        return PlainWallOutcome(empty, background_is_plain=False)

    seeds = mask == cv2.GC_FGD
    background_model = np.zeros((1, 65), np.float64)
    foreground_model = np.zeros((1, 65), np.float64)
    bgr = np.ascontiguousarray(small[..., ::-1])
    cv2.grabCut(bgr, mask, None, background_model, foreground_model, _GRABCUT_ITERATIONS, cv2.GC_INIT_WITH_MASK)
    foreground = np.isin(mask, (cv2.GC_FGD, cv2.GC_PR_FGD))
    foreground = _keep_person_components(foreground, seeds)
    alpha = refine_alpha(foreground.astype(np.float32), rgb)
    return PlainWallOutcome(alpha, background_is_plain)


def fallback_matte(rgb: np.ndarray, faces: Sequence[Face] = ()) -> np.ndarray:
    """A matte without any weights, for portraits against a plain, even wall.

    How: a plane is fitted (robustly) to the wall's CIELAB colour along the top and upper
    side edges (not the bottom, where the body is); pixels far from it are probably the
    person; the faces (boxes and landmarks) seed the face, neck and chest as surely the
    person and hair/torso as probably; OpenCV's GrabCut then learns colour models from
    those labels and cuts along the strongest edges; stray islands are dropped; and
    :func:`refine_alpha` turns the hard cut into soft, photo-aligned edges.

    It never raises for a hard image: on a busy background it returns its best mask,
    which may be poor or (almost) empty. :class:`PortraitMatter` detects that (wall not
    plain, or under 2 % / over 98 % foreground) and adds :data:`NOT_PLAIN_WARNING`.
    """
    return plain_wall_outcome(rgb, faces).alpha
