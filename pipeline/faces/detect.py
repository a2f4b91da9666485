"""Face detection: boxes, five landmarks and a score for every face.

Two detectors share one interface (``FaceDetector``; which class runs which manifest model is
the table in :mod:`pipeline.faces.registry`). RetinaFace R50 (facexlib's network, weights from the
manifest) is the accurate default; MTCNN (facenet-pytorch, whose weights ship inside the
wheel) works offline with no downloads at all. Both run on a copy of the image bounded
to ``max_side`` pixels, so a 50 MP photo costs the same as a 1.3 MP one, and their
coordinates are mapped back to the full-resolution image.

Landmark order everywhere: left eye, right eye, nose, left mouth corner, right mouth
corner, where "left" means the left side of the image.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np
import torch
from torch import nn

from pipeline.core.errors import InvalidImageError, InvalidOptionError
from pipeline.core.limits import DEFAULT_DETECTION_MAX_SIDE, MIN_DETECTION_SIDE
from pipeline.i18n import Message



@dataclass(frozen=True)
class Face:
    """One detected face in full-resolution pixel coordinates (pixel centres at integers)."""

    box: tuple[float, float, float, float]  # x1, y1, x2, y2
    landmarks: np.ndarray  # (5, 2) float32
    score: float

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    @property
    def area(self) -> float:
        return max(self.width, 0.0) * max(self.height, 0.0)

    @property
    def centre(self) -> tuple[float, float]:
        return ((self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2)

    @property
    def eye_distance(self) -> float:
        return float(np.linalg.norm(self.landmarks[1] - self.landmarks[0]))

    def to_dict(self) -> dict[str, object]:
        return {
            "box": [round(v, 2) for v in self.box],
            "landmarks": [[round(float(x), 2), round(float(y), 2)] for x, y in self.landmarks],
            "score": round(self.score, 5),
        }


class FaceDetector(Protocol):
    """Detects faces on an RGB uint8 image already bounded in size; stateless per call."""

    name: str

    def detect(self, rgb: np.ndarray) -> list[Face]: ...


class RetinaFaceDetector:
    """RetinaFace with our own stateless pre/post-processing.

    facexlib's ``RetinaFace.detect_faces`` stores the scale and priors of the current
    image on the shared module, which breaks under concurrent requests; here only the
    network's pure ``forward`` is used and everything else stays local to the call.
    """

    name = "retinaface-r50"
    _BGR_MEAN = (104.0, 117.0, 123.0)

    def __init__(self, network: nn.Module, device: torch.device, conf_threshold: float = 0.8,
                 nms_threshold: float = 0.4) -> None:
        self.network = network
        self.device = device
        self.conf_threshold = conf_threshold
        self.nms_threshold = nms_threshold

    def detect(self, rgb: np.ndarray) -> list[Face]:
        from facexlib.detection.retinaface_utils import PriorBox, decode, decode_landm, py_cpu_nms

        height, width = rgb.shape[:2]
        bgr = np.ascontiguousarray(rgb[..., ::-1].transpose(2, 0, 1), dtype=np.float32)
        tensor = torch.from_numpy(bgr).unsqueeze(0).to(self.device)
        tensor = tensor - torch.tensor(self._BGR_MEAN, device=self.device).view(1, 3, 1, 1)
        config = self.network.cfg
        with torch.inference_mode():
            loc, conf, landmark_offsets = self.network(tensor)
            priors = PriorBox(config, image_size=(height, width)).forward().to(self.device)
            boxes = decode(loc.squeeze(0), priors, config["variance"])
            boxes = boxes * torch.tensor([width, height] * 2, device=self.device, dtype=boxes.dtype)
            landmarks = decode_landm(landmark_offsets.squeeze(0), priors, config["variance"])
            landmarks = landmarks * torch.tensor([width, height] * 5, device=self.device, dtype=landmarks.dtype)
            scores = conf.squeeze(0)[:, 1]
        boxes_np, landmarks_np, scores_np = (t.float().cpu().numpy() for t in (boxes, landmarks, scores))
        keep = scores_np > self.conf_threshold
        boxes_np, landmarks_np, scores_np = boxes_np[keep], landmarks_np[keep], scores_np[keep]
        order = scores_np.argsort()[::-1]
        boxes_np, landmarks_np, scores_np = boxes_np[order], landmarks_np[order], scores_np[order]
        dets = np.hstack([boxes_np, scores_np[:, None]]).astype(np.float32)
        kept = py_cpu_nms(dets, self.nms_threshold) if len(dets) else []
        return [
            Face(box=tuple(float(v) for v in boxes_np[i]), landmarks=landmarks_np[i].reshape(5, 2).astype(np.float32),
                 score=float(scores_np[i]))
            for i in kept
        ]


class MTCNNDetector:
    """MTCNN from facenet-pytorch: offline (weights inside the wheel), 5 landmarks."""

    name = "mtcnn"

    def __init__(self, device: torch.device, min_face_size: int = 20,
                 thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7), min_score: float = 0.9) -> None:
        from facenet_pytorch import MTCNN

        self.device = device
        self.min_score = min_score
        # post_process/select_largest only affect cropping helpers, not detect().
        self._mtcnn = MTCNN(keep_all=True, device=device, min_face_size=min_face_size,
                            thresholds=list(thresholds))

    def detect(self, rgb: np.ndarray) -> list[Face]:
        with torch.inference_mode():
            boxes, probs, points = self._mtcnn.detect(np.ascontiguousarray(rgb), landmarks=True)
        if boxes is None:
            return []
        faces = [
            Face(box=tuple(float(v) for v in box), landmarks=np.asarray(pts, dtype=np.float32).reshape(5, 2),
                 score=float(prob))
            for box, prob, pts in zip(boxes, probs, points)
            if prob is not None and prob >= self.min_score
        ]
        return sorted(faces, key=lambda face: face.score, reverse=True)


def bounded_copy(rgb: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """A copy no larger than ``max_side`` on its long side, and the scale applied."""
    if max_side < 64:
        raise InvalidOptionError(f"Detection size {max_side} is too small.", hint="Use at least 64 pixels.")
    height, width = rgb.shape[:2]
    scale = min(1.0, max_side / max(height, width))
    if scale >= 1.0:
        return rgb, 1.0
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), size[0] / width


def map_to_full_resolution(face: Face, scale: float) -> Face:
    """Undo ``bounded_copy``'s resize with the pixel-centre convention cv2.resize uses."""
    if scale == 1.0:
        return face
    box = tuple(float((v + 0.5) / scale - 0.5) for v in face.box)
    landmarks = ((face.landmarks + 0.5) / scale - 0.5).astype(np.float32)
    return Face(box=box, landmarks=landmarks, score=face.score)  # type: ignore[arg-type]


def detect_faces(detector: FaceDetector, rgb: np.ndarray, max_side: int = DEFAULT_DETECTION_MAX_SIDE) -> list[Face]:
    """Detect on a bounded copy; return faces in full-resolution coordinates."""
    small, scale = bounded_copy(rgb, max_side)
    _require_room_for_a_face(rgb.shape[:2], small.shape[:2], max_side)
    return [map_to_full_resolution(face, scale) for face in detector.detect(small)]


def _require_room_for_a_face(size: tuple[int, ...], seen: tuple[int, ...], max_side: int) -> None:
    """Refuse, with the sizes that would work, an image too small or too narrow to hold a
    face once it is brought to the detection size."""
    if min(seen) >= MIN_DETECTION_SIDE:
        return
    height, width = size
    longest_ratio = max_side / MIN_DETECTION_SIDE
    raise InvalidImageError(
        Message("error.face.image_too_small", {"width": width, "height": height}),
        hint=Message("error.face.image_too_small_hint", {"side": MIN_DETECTION_SIDE, "ratio": f"{longest_ratio:g}"}))


def select_faces(
    faces: list[Face],
    image_size: tuple[int, int],
    *,
    only_centre_face: bool = False,
    max_faces: int | None = None,
    min_eye_distance: float = 5.0,
) -> tuple[list[Face], list[Message]]:
    """Apply the user's face choices; return the faces to process and warnings to show."""
    warnings: list[Message] = []
    usable = [face for face in faces if face.eye_distance >= min_eye_distance]
    if len(usable) < len(faces):
        warnings.append(Message("warning.faces.too_small", {"count": len(faces) - len(usable)}))
    if only_centre_face and usable:
        cx, cy = image_size[0] / 2, image_size[1] / 2
        usable = [min(usable, key=lambda f: (f.centre[0] - cx) ** 2 + (f.centre[1] - cy) ** 2)]
    usable.sort(key=lambda face: face.area, reverse=True)
    if max_faces is not None and len(usable) > max_faces:
        warnings.append(Message("warning.faces.over_limit", {"found": len(usable), "limit": max_faces}))
        usable = usable[:max_faces]
    return usable, warnings
