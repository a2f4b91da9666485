"""Restoration of aligned 512x512 faces (GFPGAN, RestoreFormer), all faces of a call in one batch.

Pre/post-processing matches gfpgan's ``GFPGANer`` exactly (RGB, [-1, 1] input; output
clamped to [-1, 1], scaled and rounded to uint8), which tests/restore/test_restore_reference.py
(GFPGAN) and tests/restore/test_model_choice.py (RestoreFormer) check against the reference.
Noise: GFPGANer draws fresh StyleGAN noise on every call, so the same photo comes out
slightly different each time. We default to the fixed noise maps stored in the checkpoint
("fixed") so results are reproducible; "random" behaves like the reference.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Literal, Protocol

import numpy as np
import torch
from torch import nn

from pipeline.models.accelerate import SpeedSettings, autocast_for, faces_input
from pipeline.models.device import ComputeSettings
from pipeline.models.manifest import ModelEntry
from pipeline.models.store import ModelStore
from pipeline.restore.modconv import use_batched_modulation

NoiseMode = Literal["fixed", "random"]
DEFAULT_MAX_BATCH = 16  # faces per network call when no SpeedSettings says otherwise


def _check_faces(faces: np.ndarray) -> None:
    """Refuse anything but (N, 512, 512, 3) uint8 faces before it reaches a (shared) network call."""
    if faces.ndim != 4 or faces.shape[1:] != (512, 512, 3) or faces.dtype != np.uint8:
        raise ValueError(f"expected (N, 512, 512, 3) uint8 faces, got {faces.shape} {faces.dtype}")


class FaceRestorer(Protocol):
    """Turns N aligned faces (N, 512, 512, 3) uint8 RGB into N restored faces."""

    name: str

    def restore_batch(self, faces: np.ndarray, noise: NoiseMode = "fixed") -> np.ndarray: ...


class NetworkRestorer(FaceRestorer, Protocol):
    """A restorer that runs one shared network at most ``max_batch`` faces per call."""

    max_batch: int


def _in_batches(faces: np.ndarray, max_batch: int, run: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``run`` over ``faces`` at most ``max_batch`` at a time, the outputs joined in order."""
    _check_faces(faces)
    outputs = [run(faces[i:i + max_batch]) for i in range(0, len(faces), max_batch)]
    return np.concatenate(outputs, axis=0) if outputs else faces.copy()


def _to_faces(restored: torch.Tensor) -> np.ndarray:
    """A [-1, 1] NCHW output -> (N, 512, 512, 3) uint8, as basicsr's tensor2img (min_max=(-1, 1))."""
    restored = (restored.float().clamp(-1.0, 1.0) + 1.0) / 2.0
    restored = (restored * 255.0).round().to(torch.uint8)
    return restored.permute(0, 2, 3, 1).contiguous().cpu().numpy()


class GFPGANRestorer:
    """Runs a shared, read-only GFPGAN network; holds no per-request state."""

    def __init__(self, name: str, network: nn.Module, compute: ComputeSettings,
                 max_batch: int = DEFAULT_MAX_BATCH, batched_modulation: bool | None = None,
                 channels_last: bool = False) -> None:
        self.name = name
        self.network = network
        self.compute = compute
        self.max_batch = max_batch
        self.channels_last = channels_last
        if batched_modulation is None:  # the device's default, from the one table of speed defaults
            batched_modulation = bool(SpeedSettings().resolved(compute).batched_modulation)
        self.batched_modulation = batched_modulation
        use_batched_modulation(self.network, self.batched_modulation)

    def restore_batch(self, faces: np.ndarray, noise: NoiseMode = "fixed") -> np.ndarray:
        return _in_batches(faces, self.max_batch, lambda chunk: self._run(chunk, noise))

    def _run(self, faces: np.ndarray, noise: NoiseMode) -> np.ndarray:
        batch = faces_input(faces, self.network, self.compute.device, self.channels_last)
        with torch.inference_mode(), autocast_for(self.network, self.compute):
            restored = self.network(batch, return_rgb=False, randomize_noise=(noise == "random"))[0]
        return _to_faces(restored)


class RestoreFormerRestorer:
    """Runs a shared, read-only RestoreFormer network (gfpgan's ``restoreformer_arch``); holds
    no per-request state. Its ``forward(face)`` returns ``(image, None)``, as GFPGANer reads it.

    Always float32, never autocast: its vector quantiser picks each feature's nearest codebook
    entry by an argmin over distances, and bf16 rounding of those distances picks other entries
    (GFPGANer runs it in float32 too). It draws no noise, so ``noise`` changes nothing.
    """

    def __init__(self, name: str, network: nn.Module, compute: ComputeSettings,
                 max_batch: int = DEFAULT_MAX_BATCH) -> None:
        self.name = name
        self.network = network
        self.compute = compute
        self.max_batch = max_batch

    def restore_batch(self, faces: np.ndarray, noise: NoiseMode = "fixed") -> np.ndarray:
        return _in_batches(faces, self.max_batch, self._run)

    def _run(self, faces: np.ndarray) -> np.ndarray:
        batch = faces_input(faces, self.network, self.compute.device, channels_last=False)
        with torch.inference_mode():
            restored, _ = self.network(batch)
        return _to_faces(restored)


class MicroBatchedRestorer:
    """A shared restorer whose concurrent callers' faces go through the network together
    (``micro_batch`` switch): two visitors with 1 face each cost one batch-2 call, not two.

    No waiting by default (``max_wait_s=0``): a lone request starts at once, and requests
    that arrive while a call runs are merged into the next one, so batches grow with load
    without adding latency when there is none.
    """

    def __init__(self, inner: NetworkRestorer, max_wait_s: float = 0.0) -> None:
        from pipeline.restore.microbatch import MicroBatcher

        self.name = inner.name
        self.inner = inner
        self.batcher = MicroBatcher(inner.restore_batch, inner.max_batch, max_wait_s, name=inner.name)

    def restore_batch(self, faces: np.ndarray, noise: NoiseMode = "fixed") -> np.ndarray:
        _check_faces(faces)  # here, so one bad submission can never spoil a batch shared with others
        return self.batcher.submit(faces, key=noise)


class IdentityRestorer:
    """Returns the aligned faces unchanged: isolates detect-align-paste geometry in tests/QA."""

    name = "identity"

    def restore_batch(self, faces: np.ndarray, noise: NoiseMode = "fixed") -> np.ndarray:
        return faces.copy()


def _gfpgan(store: ModelStore, entry: ModelEntry) -> FaceRestorer:
    speed = store.speed
    return GFPGANRestorer(entry.name, store.get(entry.name), store.compute, max_batch=int(speed.max_batch or 1),
                          batched_modulation=speed.batched_modulation, channels_last=bool(speed.channels_last))


def _restoreformer(store: ModelStore, entry: ModelEntry) -> FaceRestorer:
    return RestoreFormerRestorer(entry.name, store.get(entry.name), store.compute,
                                 max_batch=int(store.speed.max_batch or 1))


# Which class runs each restorer, keyed by the manifest's ``arch`` (like faces.registry).
RestorerFactory = Callable[[ModelStore, ModelEntry], FaceRestorer]
RESTORERS: dict[str, RestorerFactory] = {
    "gfpgan_clean": _gfpgan,
    "restoreformer": _restoreformer,
}
