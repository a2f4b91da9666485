"""The faces of one restoration, kept so their strengths can change without the network.

Why this module exists: the network is the expensive step. A visitor who turns one face's
strength down (the Restore tab's face-by-face review) should get a new photo at paste cost,
so the aligned originals, the restored crops, the paste masks, the alignment and the enlarged
background are kept together here, in memory for the request and, by the web app, in the
visitor's session folder (deleted with the session). It holds pixels only, no model.
"""
from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from pipeline.core.atomic_write import write_atomically
from pipeline.core.errors import InvalidOptionError
from pipeline.i18n import Message
from pipeline.restore.paste import Strength, paste_faces, paste_faces_on_device, per_face_strengths

_ARRAYS = ("background", "aligned", "restored", "masks", "matrices")


@dataclass(frozen=True)
class FaceWork:
    """Everything the paste needs for the restored faces of one photo."""

    background: np.ndarray  # (H, W, 3) uint8: the enlarged photo before any face is pasted
    aligned: np.ndarray  # (N, 512, 512, 3) uint8: the original faces, aligned
    restored: np.ndarray  # (N, 512, 512, 3) uint8: the network's output for them
    masks: np.ndarray | torch.Tensor  # (N, 512, 512) float in [0, 1]; a tensor while on the device
    matrices: np.ndarray  # (N, 2, 3): input pixels -> face pixels
    upscale: int
    alpha: np.ndarray | None = None  # (H, W) uint8: the enlarged photo's transparency, kept with it

    def paste(self, strength: Strength, device: torch.device | None = None) -> np.ndarray:
        """The photo with each face blended at its strength (one float, or one per face); on
        ``device`` when given (the ``device_paste`` switch), else with OpenCV."""
        strengths = per_face_strengths(strength, len(self.aligned))
        matrices = list(self.matrices)
        if device is not None:
            return paste_faces_on_device(self.background, self.restored, self.masks, matrices, self.upscale,
                                         strengths, device)
        return paste_faces(self.background, self.restored, self._host_masks(), matrices, self.upscale, strengths)

    def _host_masks(self) -> np.ndarray:
        """The masks as a float32 NumPy array (copied from the device when they are left there)."""
        masks = self.masks.float().cpu().numpy() if isinstance(self.masks, torch.Tensor) else self.masks
        return np.asarray(masks, dtype=np.float32)

    def save(self, path: Path) -> Path:
        """Write to ``path`` (.npz, compressed: the enlarged background dominates its size) in one
        atomic step: a full disk is an ``OutputWriteError`` and leaves no half-written file."""
        arrays = {"background": self.background, "aligned": self.aligned, "restored": self.restored,
                  "masks": self._host_masks(), "matrices": self.matrices}
        if self.alpha is not None:
            arrays["alpha"] = self.alpha
        buffer = io.BytesIO()
        np.savez_compressed(buffer, upscale=np.int64(self.upscale), **arrays)
        write_atomically(path, buffer.getvalue())
        return path

    @classmethod
    def load(cls, path: Path) -> FaceWork:
        """Read what :meth:`save` wrote (never pickled objects); anything else is refused."""
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {name: data[name] for name in _ARRAYS}
                upscale = int(data["upscale"])
                alpha = data["alpha"] if "alpha" in data.files else None
        except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as error:
            raise InvalidOptionError(Message("error.restore.faces_gone"),
                                     hint=Message("error.restore.faces_gone_hint")) from error
        return cls(upscale=upscale, alpha=alpha, **arrays)
