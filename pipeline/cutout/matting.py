"""Portrait matting: a soft alpha matte that separates the person from the background.

Three methods share one result type. MODNet (facexlib's architecture, weights from the
manifest) is the real matting network; it runs at a bounded resolution (short side about
``ref_size``), so a 50 MP photo costs the same as a 0.5 MP one, and its matte is brought
back to full resolution by :func:`pipeline.cutout.edges.refine_alpha`, which makes the
edges follow the full-resolution photo instead of the network's coarse pixel grid.

Without MODNet's weights the studio still works offline, with the first method of
:data:`OFFLINE_MATTINGS` this machine can run: MediaPipe's Selfie Segmentation
(:mod:`pipeline.cutout.selfie`, any background), else the plain-wall GrabCut matting
(:mod:`pipeline.cutout.plainwall`, where MediaPipe has no wheel). Their results are always
labelled (``MatteResult.method`` and a warning that says how good they are), never passed
off as the real thing; how to install MODNet goes to the log, for the administrator.
"""
from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch import nn

from pipeline.core.choices import MATTING_AUTO, MATTING_FALLBACK, MATTING_NETWORK, check_matting_method
from pipeline.core.errors import InvalidOptionError, WeightsCorruptError
from pipeline.core.notes import ServerNote
from pipeline.core.pixels import require_rgb
from pipeline.i18n import Message, Text
from pipeline.cutout.edges import refine_alpha
from pipeline.cutout.plainwall import plain_wall_outcome
from pipeline.cutout.selfie import selfie_available, selfie_matte
from pipeline.faces.detect import Face
from pipeline.models.device import ComputeSettings
from pipeline.models.locations import fetch_command
from pipeline.models.store import ModelStore
from pipeline.models.weight_status import WeightState

log = logging.getLogger(__name__)

METHOD_MODNET = "modnet"
METHOD_SELFIE = "selfie-segmentation"
METHOD_PLAIN_WALL = "fallback-plain-wall"
NOT_PLAIN_WARNING = Message("warning.matting.not_plain")
NO_PERSON_WARNING = Message("warning.matting.no_person")
# Why MODNet was not used, said before what was used instead (plain words: no model ids
# or commands reach visitors; the fetch command is logged for the administrator).
# Catalogue messages: a reason is a clause the fallback warning joins to what was used instead.
MODEL_MISSING = Message("warning.matting.reason.model_missing")
MODEL_UNUSABLE = Message("warning.matting.reason.model_unusable")
OFFLINE_UNAVAILABLE = Message("warning.matting.reason.offline_unavailable")
OFFLINE_NO_PERSON = Message("warning.matting.reason.offline_no_person")

# A fallback matte with less (more) foreground than this is almost certainly wrong: the
# wall was taken for the person (or the other way round).
DEGENERATE_FOREGROUND_MIN = 0.02
DEGENERATE_FOREGROUND_MAX = 0.98

# MODNet resizes its input, never crops it; panoramas beyond this aspect lose short side.
_MAX_ASPECT_FOR_REF_SIZE = 4.0


@dataclass(frozen=True)
class MatteResult:
    """A full-resolution matte and how it was made.

    ``alpha`` is float32 (H, W) in [0, 1]; ``method`` is ``"modnet"``,
    ``"selfie-segmentation"`` or ``"fallback-plain-wall"``; ``warnings`` are sentences for
    the user.
    """

    alpha: np.ndarray
    method: str
    warnings: tuple[Text, ...] = ()

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


# --------------------------------------------------------------------------- offline


def _degenerate(alpha: np.ndarray) -> bool:
    """A matte with hardly any (or hardly anything but) person: the method failed here."""
    fraction = float(np.mean(alpha >= 0.5)) if alpha.size else 0.0
    return not DEGENERATE_FOREGROUND_MIN <= fraction <= DEGENERATE_FOREGROUND_MAX


# Where the person can be, around the faces (multiples of the face box): head and hair above
# and beside, shoulders and torso below. Selfie Segmentation sees its input at 256 px, so on
# a wide panorama or a small person far from the camera it runs on this region, not the
# whole photo, where the person would be a few pixels wide.
PERSON_REGION_SIDES, PERSON_REGION_ABOVE, PERSON_REGION_BELOW = 2.5, 1.5, 6.0


def person_region(shape: tuple[int, ...], faces: Sequence[Face]) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of the photo that can hold the people whose faces were found; the
    whole photo when there are none."""
    height, width = shape[:2]
    if not faces:
        return 0, 0, width, height
    boxes = np.array([face.box for face in faces], dtype=np.float64)
    face_w = float((boxes[:, 2] - boxes[:, 0]).max())
    face_h = float((boxes[:, 3] - boxes[:, 1]).max())
    x0 = boxes[:, 0].min() - PERSON_REGION_SIDES * face_w
    x1 = boxes[:, 2].max() + PERSON_REGION_SIDES * face_w
    y0 = boxes[:, 1].min() - PERSON_REGION_ABOVE * face_h
    y1 = boxes[:, 3].max() + PERSON_REGION_BELOW * face_h
    clipped = (max(0, int(x0)), max(0, int(y0)), min(width, int(np.ceil(x1))), min(height, int(np.ceil(y1))))
    return clipped if clipped[0] < clipped[2] and clipped[1] < clipped[3] else (0, 0, width, height)


def _run_selfie(rgb: np.ndarray, faces: Sequence[Face]) -> tuple[np.ndarray, tuple[Text, ...]]:
    x0, y0, x1, y1 = person_region(rgb.shape, faces)
    alpha = np.zeros(rgb.shape[:2], np.float32)
    alpha[y0:y1, x0:x1] = selfie_matte(np.ascontiguousarray(rgb[y0:y1, x0:x1]))
    return alpha, (NO_PERSON_WARNING,) if _degenerate(alpha) else ()


def _run_plain_wall(rgb: np.ndarray, faces: Sequence[Face]) -> tuple[np.ndarray, tuple[Text, ...]]:
    outcome = plain_wall_outcome(rgb, faces)
    trusted = outcome.background_is_plain and not _degenerate(outcome.alpha)
    return outcome.alpha, () if trusted else (NOT_PLAIN_WARNING,)


def _always() -> bool:
    return True


@dataclass(frozen=True)
class OfflineMatting:
    """A matting that needs no downloaded weights: its label, whether this machine can run
    it, how it runs (the alpha and its own caveats), and, for the warning when it stands in
    for MODNet, what it is worth."""

    method: str
    available: Callable[[], bool]
    run: Callable[[np.ndarray, Sequence[Face]], tuple[np.ndarray, tuple[Text, ...]]]
    used: Message


# The offline methods in order of preference; the last one must always be available.
# Selfie Segmentation measured as good as GrabCut on plain walls and far better on a busy
# one (README, "Offline matting accuracy"); GrabCut stays for machines without MediaPipe.
OFFLINE_MATTINGS: tuple[OfflineMatting, ...] = (
    OfflineMatting(METHOD_SELFIE, selfie_available, _run_selfie,
                   Message("warning.matting.used.selfie")),
    OfflineMatting(METHOD_PLAIN_WALL, _always, _run_plain_wall,
                   Message("warning.matting.used.plain_wall")),
)


# --------------------------------------------------------------------------- chooser


class PortraitMatter:
    """Chooses MODNet when its weights are there, else the first offline matting this
    machine can run, labelled.

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
        """Matte ``rgb`` with ``method`` "auto" (MODNet if installed, else offline),
        "modnet" (missing or damaged weights raise the store's typed error) or "fallback"
        (the best offline matting this machine can run)."""
        check_matting_method(method)
        require_rgb(rgb, "rgb")
        if method == MATTING_NETWORK:
            return self._modnet(rgb)
        if method == MATTING_FALLBACK:
            return self._offline(rgb, faces, reason=None)
        if self.store.is_available(self.model_name):
            try:
                return self._modnet(rgb)
            except WeightsCorruptError as error:
                log.warning("%s could not be loaded (%s); matting offline. Fetch it again with: %s",
                            self.model_name, error.message, fetch_command([self.model_name]))
                return self._offline(rgb, faces, reason=MODEL_UNUSABLE)
        damaged = self.store.status(self.model_name).state is WeightState.CORRUPT
        log.info("%s weights are %s; matting offline. Fetch them with: %s", self.model_name,
                 "damaged" if damaged else "not installed", fetch_command([self.model_name]))
        return self._offline(rgb, faces, reason=MODEL_UNUSABLE if damaged else MODEL_MISSING)

    def _modnet(self, rgb: np.ndarray) -> MatteResult:
        entry = self.store.manifest.get(self.model_name)
        factory = MATTING_NETWORKS.get(entry.arch)
        if factory is None:
            raise InvalidOptionError(f"Matting model '{entry.name}' is not supported.")
        matter = factory(self.store.get(entry.name), self.store.compute, self.ref_size)
        return MatteResult(matter.matte(rgb), matter.name, ())

    def _offline(self, rgb: np.ndarray, faces: Sequence[Face], *, reason: Message | None) -> MatteResult:
        """The first offline matting that can run here (the next one where it finds no
        person); ``reason`` says why MODNet was not used (None: the caller asked for offline)."""
        usable = [(index, option) for index, option in enumerate(OFFLINE_MATTINGS) if option.available()]
        position, choice = usable[0]
        alpha, caveats = choice.run(rgb, faces)
        for later_position, later in usable[1:]:
            if not _degenerate(alpha):
                break
            # a method that finds no person here hands over to the next; if none does better,
            # the preferred one's result (and its "no person" warning) stands
            log.info("offline matting %s found no person here; trying %s", choice.method, later.method)
            later_alpha, later_caveats = later.run(rgb, faces)
            if not _degenerate(later_alpha):
                position, choice, alpha, caveats = later_position, later, later_alpha, later_caveats
        if position > 0 and reason is None:
            reason = OFFLINE_NO_PERSON if position > usable[0][0] else OFFLINE_UNAVAILABLE
        # that this server lacks a model is true of every photo; that this one showed no person is not
        note_type = Message if reason == OFFLINE_NO_PERSON else ServerNote
        warnings = (note_type("warning.matting.fallback", {"reason": reason, "used": choice.used}),) if reason else ()
        return MatteResult(alpha, choice.method, warnings + caveats)


__all__ = [
    "DEGENERATE_FOREGROUND_MAX",
    "DEGENERATE_FOREGROUND_MIN",
    "METHOD_MODNET",
    "METHOD_PLAIN_WALL",
    "METHOD_SELFIE",
    "MODEL_MISSING",
    "MODEL_UNUSABLE",
    "MODNetMatter",
    "MatteResult",
    "NOT_PLAIN_WARNING",
    "NO_PERSON_WARNING",
    "MATTING_NETWORKS",
    "OFFLINE_MATTINGS",
    "OFFLINE_UNAVAILABLE",
    "OfflineMatting",
    "PortraitMatter",
    "modnet_input_size",
]
