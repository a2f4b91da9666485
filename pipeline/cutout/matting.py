"""Portrait matting: a soft alpha matte that separates the person from the background.

Two methods share one result type. MODNet (facexlib's architecture, weights from the
manifest) is the real matting network; it runs at a bounded resolution (short side about
``ref_size``), so a 50 MP photo costs the same as a 0.5 MP one, and its matte is brought
back to full resolution by :func:`refine_alpha`, a guided filter that makes the edges
follow the full-resolution photo instead of the network's coarse pixel grid.

Without MODNet's weights the studio still works offline with :func:`fallback_matte`, a
classical GrabCut segmentation that only does well on portraits against a plain wall.
Its results are always labelled (``MatteResult.method`` and a warning that says how to
get MODNet), never passed off as the real thing.
"""
from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch import nn

from pipeline.models import weights
from pipeline.faces.detect import Face
from pipeline.models.device import ComputeSettings
from pipeline.core.errors import InvalidOptionError, WeightsCorruptError
from pipeline.core.imageio import require_rgb
from pipeline.models.store import ModelStore

MATTING_METHODS = ("auto", "modnet", "fallback")
METHOD_MODNET = "modnet"
METHOD_FALLBACK = "fallback-plain-wall"
NOT_PLAIN_WARNING = "The background is not plain enough for the fallback matting; results may be poor."

# A fallback matte with less (more) foreground than this is almost certainly wrong: the
# wall was taken for the person (or the other way round).
DEGENERATE_FOREGROUND_MIN = 0.02
DEGENERATE_FOREGROUND_MAX = 0.98

# GrabCut's cost grows with the pixel count; the fallback segments a copy bounded to this
# side and lets the guided filter bring the edges back to full resolution.
_FALLBACK_MAX_SIDE = 640
_GRABCUT_ITERATIONS = 5
# MODNet resizes its input, never crops it; panoramas beyond this aspect lose short side.
_MAX_ASPECT_FOR_REF_SIZE = 4.0


@dataclass(frozen=True)
class MatteResult:
    """A full-resolution matte and how it was made.

    ``alpha`` is float32 (H, W) in [0, 1]; ``method`` is ``"modnet"`` or
    ``"fallback-plain-wall"``; ``warnings`` are sentences for the user.
    """

    alpha: np.ndarray
    method: str
    warnings: tuple[str, ...] = ()

    @property
    def foreground_fraction(self) -> float:
        return float(np.mean(self.alpha >= 0.5)) if self.alpha.size else 0.0


# --------------------------------------------------------------------------- guided filter


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

    # The grid the linear models are fitted on: the matte's own grid when it is coarser
    # than the photo, or a grid subsampled by radius/4 (He & Sun) when that is coarser.
    grid_factor = max(upsampling, float(max(1, radius // 4)))
    if grid_factor == upsampling and upsampling > 1.0:
        grid_width, grid_height = low_width, low_height
    else:
        grid_width = max(1, int(round(width / grid_factor)))
        grid_height = max(1, int(round(height / grid_factor)))
    to_unit = np.float32(1.0 / 255.0)
    if (grid_height, grid_width) == (height, width):
        guide_grid = rgb_full.astype(np.float32) * to_unit
    else:
        # shrinking the uint8 photo directly: its rounding (variance ~1e-6) is far below eps
        guide_grid = cv2.resize(rgb_full, (grid_width, grid_height), interpolation=cv2.INTER_AREA)
        guide_grid = guide_grid.astype(np.float32) * to_unit
    if (grid_height, grid_width) == (low_height, low_width):
        target_grid = alpha_low
    else:
        shrinking = grid_height * grid_width < low_height * low_width
        target_grid = cv2.resize(
            alpha_low, (grid_width, grid_height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
        )
    grid_radius = max(1, int(round(radius / grid_factor)))

    a, b = _guided_coefficients(guide_grid, target_grid, grid_radius, eps)
    mean_a = _box(a, grid_radius)
    mean_b = _box(b, grid_radius)
    # q = a . I + b at full resolution, one colour channel at a time: a 40 MP photo then
    # needs a few full-size float planes, not several full-size three-channel copies.
    def full_size(plane: np.ndarray) -> np.ndarray:
        if plane.shape == (height, width):
            return np.ascontiguousarray(plane)
        return cv2.resize(plane, (width, height), interpolation=cv2.INTER_LINEAR)

    refined = full_size(mean_b)
    for channel in range(3):
        refined += full_size(mean_a[..., channel]) * (rgb_full[..., channel].astype(np.float32) * to_unit)
    np.clip(refined, 0.0, 1.0, out=refined)
    return refined.astype(np.float32, copy=False)


# --------------------------------------------------------------------------- MODNet


def modnet_input_size(height: int, width: int, ref_size: int = 512) -> tuple[int, int]:
    """(height, width) MODNet runs at: short side ~ref_size, both multiples of 32.

    MODNet was trained on ~512 px portraits; its semantic branch needs the person at about
    that scale, and its 5 stride-2 stages need sides divisible by 32. Very elongated images
    are capped at ``4 * ref_size`` on the long side so the cost stays bounded.
    """
    if height < 1 or width < 1:
        raise ValueError(f"image size must be positive, got {height}x{width}")
    scale = ref_size / min(height, width)
    scale = min(scale, _MAX_ASPECT_FOR_REF_SIZE * ref_size / max(height, width))

    def to_multiple_of_32(side: int) -> int:
        return max(32, int(round(side * scale / 32.0)) * 32)

    return to_multiple_of_32(height), to_multiple_of_32(width)


class MODNetMatter:
    """MODNet on one image: a shared, read-only network; no per-request state."""

    name = METHOD_MODNET

    def __init__(self, network: nn.Module, compute: ComputeSettings, ref_size: int = 512) -> None:
        if ref_size < 32 or ref_size % 32:
            raise ValueError(f"ref_size must be a positive multiple of 32, got {ref_size}")
        self.network = network
        self.compute = compute
        self.ref_size = ref_size

    def matte_low_resolution(self, rgb: np.ndarray) -> np.ndarray:
        """MODNet's own matte at its inference size (float32, values in [0, 1])."""
        require_rgb(rgb, "rgb")
        height, width = rgb.shape[:2]
        input_height, input_width = modnet_input_size(height, width, self.ref_size)
        shrinking = input_height * input_width < height * width
        resized = cv2.resize(
            rgb, (input_width, input_height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
        )
        batch = torch.from_numpy(np.ascontiguousarray(resized)).to(self.compute.device)
        batch = batch.permute(2, 0, 1).unsqueeze(0).float() / 255.0
        batch = (batch - 0.5) / 0.5  # MODNet's normalisation: [-1, 1]
        # bf16 autocast on CUDA only: on CPU bf16 was measured for GFPGAN/ParseNet, not for MODNet.
        precision = self.compute.autocast() if self.compute.device.type == "cuda" else contextlib.nullcontext()
        with torch.inference_mode(), precision:
            _, _, matte = self.network(batch, True)
            low_resolution = matte[0, 0].float().clamp(0.0, 1.0).cpu().numpy()
        return low_resolution.astype(np.float32, copy=False)

    def matte(self, rgb: np.ndarray) -> np.ndarray:
        """Full-resolution float32 (H, W) alpha in [0, 1]."""
        return refine_alpha(self.matte_low_resolution(rgb), rgb)


# --------------------------------------------------------------------------- fallback


@dataclass(frozen=True)
class _FallbackOutcome:
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


def _fallback_with_diagnostics(rgb: np.ndarray, faces: Sequence[Face] = ()) -> _FallbackOutcome:
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
        return _FallbackOutcome(empty, background_is_plain=False)

    seeds = mask == cv2.GC_FGD
    background_model = np.zeros((1, 65), np.float64)
    foreground_model = np.zeros((1, 65), np.float64)
    bgr = np.ascontiguousarray(small[..., ::-1])
    cv2.grabCut(bgr, mask, None, background_model, foreground_model, _GRABCUT_ITERATIONS, cv2.GC_INIT_WITH_MASK)
    foreground = np.isin(mask, (cv2.GC_FGD, cv2.GC_PR_FGD))
    foreground = _keep_person_components(foreground, seeds)
    alpha = refine_alpha(foreground.astype(np.float32), rgb)
    return _FallbackOutcome(alpha, background_is_plain)


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
    return _fallback_with_diagnostics(rgb, faces).alpha


# --------------------------------------------------------------------------- chooser


class PortraitMatter:
    """Chooses MODNet when its weights are there, else the labelled fallback.

    Holds nothing per request: the network lives in the shared ``ModelStore`` (loaded
    once, on first use), so one instance serves concurrent requests.
    """

    def __init__(self, store: ModelStore, ref_size: int = 512) -> None:
        if ref_size < 32 or ref_size % 32:
            raise ValueError(f"ref_size must be a positive multiple of 32, got {ref_size}")
        self.store = store
        self.ref_size = ref_size
        self.model_name = store.manifest.default("matting").name

    def matte(self, rgb: np.ndarray, faces: Sequence[Face] = (), *, method: str = "auto") -> MatteResult:
        """Matte ``rgb`` with ``method`` "auto" (MODNet if installed, else fallback),
        "modnet" (missing or damaged weights raise the store's typed error) or "fallback"."""
        if method not in MATTING_METHODS:
            raise InvalidOptionError(
                f"Unknown matting method {method!r}.", hint=f"Choose one of: {', '.join(MATTING_METHODS)}."
            )
        require_rgb(rgb, "rgb")
        if method == "modnet":
            return self._modnet(rgb)
        if method == "fallback":
            return self._fallback(rgb, faces, reason=None)
        if self.store.is_available(self.model_name):
            try:
                return self._modnet(rgb)
            except WeightsCorruptError as error:
                return self._fallback(rgb, faces, reason=self._unusable_weights_reason(error))
        return self._fallback(rgb, faces, reason=self._missing_weights_reason())

    def _modnet(self, rgb: np.ndarray) -> MatteResult:
        matter = MODNetMatter(self.store.get(self.model_name), self.store.compute, self.ref_size)
        return MatteResult(matter.matte(rgb), METHOD_MODNET, ())

    def _fallback(self, rgb: np.ndarray, faces: Sequence[Face], *, reason: str | None) -> MatteResult:
        outcome = _fallback_with_diagnostics(rgb, faces)
        warnings: list[str] = [reason] if reason else []
        fraction = float(np.mean(outcome.alpha >= 0.5))
        degenerate = not DEGENERATE_FOREGROUND_MIN <= fraction <= DEGENERATE_FOREGROUND_MAX
        if degenerate or not outcome.background_is_plain:
            warnings.append(NOT_PLAIN_WARNING)
        return MatteResult(outcome.alpha, METHOD_FALLBACK, tuple(warnings))

    def _missing_weights_reason(self) -> str:
        status = self.store.status(self.model_name)
        state = "damaged" if status.state is weights.WeightState.CORRUPT else "not installed"
        return (
            f"MODNet weights are {state}; used the plain-wall fallback matting, which needs a plain, "
            f"even background (fetch them with: {weights.fetch_command([self.model_name])})."
        )

    def _unusable_weights_reason(self, error: WeightsCorruptError) -> str:
        return (
            f"MODNet weights could not be loaded ({error.message}); used the plain-wall fallback matting, "
            f"which needs a plain, even background (fetch them again with: "
            f"{weights.fetch_command([self.model_name])})."
        )


# --------------------------------------------------------------------------- helpers


__all__ = [
    "DEGENERATE_FOREGROUND_MAX",
    "DEGENERATE_FOREGROUND_MIN",
    "MATTING_METHODS",
    "METHOD_FALLBACK",
    "METHOD_MODNET",
    "MODNetMatter",
    "MatteResult",
    "NOT_PLAIN_WARNING",
    "PortraitMatter",
    "fallback_matte",
    "modnet_input_size",
    "refine_alpha",
]
