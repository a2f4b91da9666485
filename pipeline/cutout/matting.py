"""Portrait matting: a soft alpha matte that separates the person from the background.

Two methods share one result type. MODNet (facexlib's architecture, weights from the
manifest) is the real matting network; it runs at a bounded resolution (short side about
``ref_size``), so a 50 MP photo costs the same as a 0.5 MP one, and its matte is brought
back to full resolution by :func:`pipeline.cutout.edges.refine_alpha`, which makes the
edges follow the full-resolution photo instead of the network's coarse pixel grid.

Without MODNet's weights the studio still works offline with the plain-wall fallback
(:mod:`pipeline.cutout.plainwall`), which only does well against a plain wall. Its
results are always labelled (``MatteResult.method`` and a warning that says how to get
MODNet), never passed off as the real thing.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch import nn

from pipeline.core.choices import MATTING_AUTO, MATTING_FALLBACK, MATTING_NETWORK, check_matting_method
from pipeline.core.errors import InvalidOptionError, WeightsCorruptError
from pipeline.core.pixels import require_rgb
from pipeline.cutout.edges import refine_alpha
from pipeline.cutout.plainwall import plain_wall_outcome
from pipeline.faces.detect import Face
from pipeline.models.device import ComputeSettings
from pipeline.models.locations import fetch_command
from pipeline.models.store import ModelStore
from pipeline.models.weight_status import WeightState

METHOD_MODNET = "modnet"
METHOD_FALLBACK = "fallback-plain-wall"
NOT_PLAIN_WARNING = "The background is not plain enough for the fallback matting; results may be poor."

# A fallback matte with less (more) foreground than this is almost certainly wrong: the
# wall was taken for the person (or the other way round).
DEGENERATE_FOREGROUND_MIN = 0.02
DEGENERATE_FOREGROUND_MAX = 0.98

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


# Which class runs each matting network, keyed by the manifest's ``arch``: a new network
# is a manifest entry plus one row here.
MatterFactory = Callable[[nn.Module, ComputeSettings, int], "MODNetMatter"]
MATTING_NETWORKS: dict[str, MatterFactory] = {
    "modnet": MODNetMatter,
}


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

    def matte(self, rgb: np.ndarray, faces: Sequence[Face] = (), *, method: str = MATTING_AUTO) -> MatteResult:
        """Matte ``rgb`` with ``method`` "auto" (MODNet if installed, else fallback),
        "modnet" (missing or damaged weights raise the store's typed error) or "fallback"."""
        check_matting_method(method)
        require_rgb(rgb, "rgb")
        if method == MATTING_NETWORK:
            return self._modnet(rgb)
        if method == MATTING_FALLBACK:
            return self._fallback(rgb, faces, reason=None)
        if self.store.is_available(self.model_name):
            try:
                return self._modnet(rgb)
            except WeightsCorruptError as error:
                return self._fallback(rgb, faces, reason=self._unusable_weights_reason(error))
        return self._fallback(rgb, faces, reason=self._missing_weights_reason())

    def _modnet(self, rgb: np.ndarray) -> MatteResult:
        entry = self.store.manifest.get(self.model_name)
        factory = MATTING_NETWORKS.get(entry.arch)
        if factory is None:
            raise InvalidOptionError(f"Matting model '{entry.name}' is not supported.")
        matter = factory(self.store.get(entry.name), self.store.compute, self.ref_size)
        return MatteResult(matter.matte(rgb), matter.name, ())

    def _fallback(self, rgb: np.ndarray, faces: Sequence[Face], *, reason: str | None) -> MatteResult:
        outcome = plain_wall_outcome(rgb, faces)
        warnings: list[str] = [reason] if reason else []
        fraction = float(np.mean(outcome.alpha >= 0.5))
        degenerate = not DEGENERATE_FOREGROUND_MIN <= fraction <= DEGENERATE_FOREGROUND_MAX
        if degenerate or not outcome.background_is_plain:
            warnings.append(NOT_PLAIN_WARNING)
        return MatteResult(outcome.alpha, METHOD_FALLBACK, tuple(warnings))

    def _missing_weights_reason(self) -> str:
        status = self.store.status(self.model_name)
        state = "damaged" if status.state is WeightState.CORRUPT else "not installed"
        return (
            f"MODNet weights are {state}; used the plain-wall fallback matting, which needs a plain, "
            f"even background (fetch them with: {fetch_command([self.model_name])})."
        )

    def _unusable_weights_reason(self, error: WeightsCorruptError) -> str:
        return (
            f"MODNet weights could not be loaded ({error.message}); used the plain-wall fallback matting, "
            f"which needs a plain, even background (fetch them again with: "
            f"{fetch_command([self.model_name])})."
        )


__all__ = [
    "DEGENERATE_FOREGROUND_MAX",
    "DEGENERATE_FOREGROUND_MIN",
    "METHOD_FALLBACK",
    "METHOD_MODNET",
    "MODNetMatter",
    "MatteResult",
    "NOT_PLAIN_WARNING",
    "MATTING_NETWORKS",
    "PortraitMatter",
    "modnet_input_size",
]
