"""Identity score (issue 16): is the restored face still the same person as the original?

For each face, the cosine similarity between ArcFace embeddings of the original aligned crop
and the restored crop. The network is the manifest's "recognition" model: facexlib's IR-SE50
``Backbone``, whose weights facexlib took from TreB1eN/InsightFace_Pytorch (facexlib's README,
"Recognition"). It is loaded once by the shared ``ModelStore``; the scorer holds no
per-request state.

Input: the aligned 512x512 FFHQ-template crops the restore job already has. ArcFace wants
its own 112x112 five-point template, so each crop goes through one fixed similarity between
the two templates (least squares, fitted below from both templates' published points). The
templates are different shapes, so no similarity puts all five points exactly on ArcFace's
(the best one leaves 1.0 to 2.5 px at 112); on real faces the crop made this way puts the
landmarks within 0.31 px (measured, the astronaut; 0.06 and 0.19 px on the two portraits) of
where ArcFace's own alignment of the photo puts them (tests/restore/test_identity.py). The 512 crop is first shrunk with area averaging to the
scale of the warp, so the warp itself samples about 1:1 and does not alias.

Preprocessing, as the weights' own project does it (facexlib 0.3.0 ships only the network
and a loader; the project whose weights it ships did the preprocessing):
- 112x112 input (the Backbone's last layer is ``Linear(512 * 7 * 7, 512)``);
- BGR channel order: its training images came from MXNet records unpacked by OpenCV (BGR)
  and its evaluation data were converted with ``cv2.cvtColor(img, cv2.COLOR_RGB2BGR)``
  (data/data_pipe.py ``load_mx_rec`` and ``load_bin``); ByteDance's InfiniteYou feeds this
  same facexlib model BGR crops too (``extract_arcface_bgr_embedding``);
- ``ToTensor()`` then ``Normalize([0.5] * 3, [0.5] * 3)``: [0, 255] -> [-1, 1] (config.py
  ``test_transform``).
The network's output is L2-normalised (``Backbone.forward`` ends in ``l2_norm``); we normalise
again in float32 after the (possibly reduced-precision) call. Flip test-time augmentation is
not used (the calibration run below used it; the difference is small and it halves the cost).
"""
from __future__ import annotations

import math

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from pipeline.faces.align import FACE_SIZE, FFHQ_TEMPLATE_512, compose, similarity_transform, upscaled_to_input
from pipeline.models.accelerate import autocast_for, prepare_input
from pipeline.models.store import ModelStore

RECOGNITION_KIND = "recognition"  # the manifest kind whose default model scores identity
ARCFACE_SIZE = 112
# ArcFace's five points (eyes, nose tip, mouth corners) for a 96x112 crop:
# REFERENCE_FACIAL_POINTS in TreB1eN/InsightFace_Pytorch mtcnn_pytorch/src/align_trans.py.
_REFERENCE_96X112 = np.array(
    [[30.29459953, 51.69630051], [65.53179932, 51.50139999], [48.02519989, 71.73660278],
     [33.54930115, 92.3655014], [62.72990036, 92.20410156]], dtype=np.float64)
# The 112x112 crop that project aligns faces to (mtcnn.py: get_reference_facial_points(default_square=True)
# widens 96 to 112, moving every x by (112 - 96) / 2); equal to insightface's ``arcface_dst``.
ARCFACE_TEMPLATE_112 = _REFERENCE_96X112 + np.array([(ARCFACE_SIZE - 96) / 2.0, 0.0])
# 512 FFHQ-template crop -> 112 ArcFace crop: the least-squares similarity between the templates.
TEMPLATE_512_TO_112 = similarity_transform(FFHQ_TEMPLATE_512, ARCFACE_TEMPLATE_112)
_SCALE = float(math.hypot(TEMPLATE_512_TO_112[0, 0], TEMPLATE_512_TO_112[1, 0]))  # about 0.29
_SHRUNK = round(FACE_SIZE * _SCALE)  # the 512 crop is area-shrunk to this side first (150 px)
_SHRUNK_TO_112 = compose(TEMPLATE_512_TO_112, upscaled_to_input(_SHRUNK / FACE_SIZE))
MAX_FACES_PER_CALL = 64  # one network call per this many crops (bounds memory for crowds)

def _check_aligned(crops: np.ndarray) -> None:
    if crops.ndim != 4 or crops.shape[1:] != (FACE_SIZE, FACE_SIZE, 3) or crops.dtype != np.uint8:
        raise ValueError(f"expected (N, {FACE_SIZE}, {FACE_SIZE}, 3) uint8 aligned crops, got {crops.shape} "
                         f"{crops.dtype}")


def arcface_crops(aligned: np.ndarray) -> np.ndarray:
    """(N, 512, 512, 3) uint8 FFHQ-template crops -> (N, 112, 112, 3) uint8 ArcFace crops (RGB)."""
    _check_aligned(aligned)
    out = np.empty((len(aligned), ARCFACE_SIZE, ARCFACE_SIZE, 3), dtype=np.uint8)
    for index, crop in enumerate(aligned):
        small = cv2.resize(crop, (_SHRUNK, _SHRUNK), interpolation=cv2.INTER_AREA)
        out[index] = cv2.warpAffine(small, _SHRUNK_TO_112, (ARCFACE_SIZE, ARCFACE_SIZE), flags=cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_REPLICATE)
    return out


def arcface_input(crops: np.ndarray) -> torch.Tensor:
    """(N, 112, 112, 3) uint8 RGB -> (N, 3, 112, 112) float32 BGR in [-1, 1], as ToTensor() and
    Normalize([0.5] * 3, [0.5] * 3) make it from a BGR image."""
    bgr = torch.from_numpy(np.ascontiguousarray(crops[..., ::-1]))
    return bgr.permute(0, 3, 1, 2).float().div(255.0).sub(0.5).div(0.5)


def cosine_scores(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Row-wise cosine of two (N, D) arrays of unit embeddings, in [-1, 1]."""
    return np.clip(np.sum(first * second, axis=1), -1.0, 1.0).astype(np.float32)


class IdentityScorer:
    """ArcFace embeddings and identity scores of aligned crops, with the store's shared network."""

    def __init__(self, store: ModelStore, model: str | None = None) -> None:
        self.store = store
        self.model = model or store.manifest.default(RECOGNITION_KIND).name

    def is_available(self) -> bool:
        """True when the recognition weights are loaded or present (no loading here)."""
        return self.store.is_available(self.model)

    def embeddings(self, aligned: np.ndarray) -> np.ndarray:
        """(N, 512) float32 unit embeddings of N aligned 512 crops: one network call for up to
        ``MAX_FACES_PER_CALL`` crops, on the store's device and precision."""
        crops = arcface_crops(aligned)
        if len(crops) == 0:
            return np.zeros((0, 512), dtype=np.float32)
        network = self.store.get(self.model)
        compute = self.store.compute
        parts = []
        for start in range(0, len(crops), MAX_FACES_PER_CALL):
            batch = prepare_input(arcface_input(crops[start:start + MAX_FACES_PER_CALL]).to(compute.device),
                                  network, False)
            with torch.inference_mode(), autocast_for(network, compute):
                parts.append(F.normalize(network(batch).float(), dim=1).cpu())
        return torch.cat(parts).numpy()

    def scores(self, original: np.ndarray, restored: np.ndarray) -> np.ndarray:
        """(N,) cosine similarity of each original crop and its restored crop (both sets in one call)."""
        if original.shape != restored.shape:
            raise ValueError(f"original {original.shape} and restored {restored.shape} crops differ in shape")
        both = self.embeddings(np.concatenate([original, restored]))
        return cosine_scores(both[:len(original)], both[len(original):])
