"""What detection, landmarks and the matting network found in one photo, kept for hand fixes.

Why this module exists: a visitor who paints a keep or remove stroke ("Fix the cut-out")
should get a new cut-out at the cost of the stroke refinement, not of the face detector, the
dense mesh and the matting network again. So the automatic result (faces, the ID photo's
evidence, the matte before any stroke) is kept here: in memory for the request and, by the
web app, as one file in the visitor's session folder (deleted with the session). Pixels and
numbers only: never a pickled object, so a file cannot run code when it is read back.
"""
from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.core.atomic_write import write_atomically
from pipeline.core.errors import InvalidOptionError
from pipeline.core.notes import ServerNote
from pipeline.cutout.matting import MatteResult
from pipeline.faces.detect import Face
from pipeline.faces.evidence import FaceEvidence
from pipeline.faces.mesh import DenseLandmarks
from pipeline.faces.parsing import FaceParsing
from pipeline.i18n import Message, Text

FORMAT_VERSION = 1


@dataclass(frozen=True)
class FoundPerson:
    """One photo's automatic analysis: what a hand fix starts from.

    ``matte`` is the network's (or the offline method's) matte before any stroke; ``notes``
    are the detection's notes; ``evidence`` is the ID photo's (the main face with its dense
    mesh and parsing), None for a background job. ``detector`` and ``matting`` are the
    choices it was made with, so a request with other choices does not reuse it."""

    shape: tuple[int, int]  # the photo's (height, width)
    faces: tuple[Face, ...]
    detector: str  # the detector that found them
    matte: MatteResult
    notes: tuple[Text, ...] = ()
    evidence: FaceEvidence | None = None
    chosen: tuple[str, str] = ("", "")  # (detector, matting) as asked for

    def fits(self, shape: tuple[int, ...], chosen: tuple[str, str], needs_evidence: bool = False) -> bool:
        """Whether this analysis may stand for a new request's on a photo of ``shape``."""
        return (tuple(shape[:2]) == self.shape and chosen == self.chosen
                and (self.evidence is not None or not needs_evidence))

    def save(self, path: Path) -> Path:
        """Write to ``path`` (.npz, compressed) in one atomic step: a full disk is an
        ``OutputWriteError`` and leaves no half-written file."""
        arrays: dict[str, np.ndarray] = {"alpha": self.matte.alpha.astype(np.float32)}
        if self.faces:
            arrays["boxes"] = np.array([face.box for face in self.faces], np.float64)
            arrays["landmarks"] = np.stack([face.landmarks for face in self.faces]).astype(np.float32)
            arrays["scores"] = np.array([face.score for face in self.faces], np.float64)
        meta: dict[str, Any] = {"version": FORMAT_VERSION, "shape": list(self.shape), "detector": self.detector,
                                "method": self.matte.method, "chosen": list(self.chosen),
                                "warnings": [_text_json(w) for w in self.matte.warnings],
                                "notes": [_text_json(n) for n in self.notes]}
        if self.evidence is not None:
            face = self.evidence.face
            arrays["evidence_box"] = np.array(face.box, np.float64)
            arrays["evidence_landmarks"] = face.landmarks.astype(np.float32)
            meta["evidence_score"] = face.score
            if self.evidence.dense is not None:
                arrays["dense"] = self.evidence.dense.points.astype(np.float64)
            if self.evidence.parsing is not None:
                arrays["parsing_classes"] = self.evidence.parsing.classes
                arrays["parsing_to_crop"] = self.evidence.parsing.to_crop.astype(np.float64)
        buffer = io.BytesIO()
        np.savez_compressed(buffer, meta=np.array(json.dumps(meta)), **arrays)
        write_atomically(path, buffer.getvalue())
        return path

    @classmethod
    def load(cls, path: Path) -> FoundPerson:
        """Read what :meth:`save` wrote; anything else (a missing, cut or foreign file) is the
        visitor's "make it again" sentence."""
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {name: data[name] for name in data.files}
            meta = json.loads(str(arrays.pop("meta")))
            if meta.get("version") != FORMAT_VERSION:
                raise ValueError(f"format {meta.get('version')!r}")
            return cls._from(meta, arrays)
        except (OSError, KeyError, ValueError, TypeError, EOFError, zipfile.BadZipFile) as error:
            raise InvalidOptionError(f"{path.name} is not an analysis this version kept.") from error

    @classmethod
    def _from(cls, meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> FoundPerson:
        faces: tuple[Face, ...] = ()
        if "boxes" in arrays:
            faces = tuple(Face(tuple(map(float, box)), landmarks, float(score))  # type: ignore[arg-type]
                          for box, landmarks, score in zip(arrays["boxes"], arrays["landmarks"], arrays["scores"]))
        evidence = None
        if "evidence_box" in arrays:
            face = Face(tuple(map(float, arrays["evidence_box"])), arrays["evidence_landmarks"],  # type: ignore[arg-type]
                        float(meta["evidence_score"]))
            dense = DenseLandmarks(arrays["dense"]) if "dense" in arrays else None
            parsing = (FaceParsing(arrays["parsing_classes"], arrays["parsing_to_crop"])
                       if "parsing_classes" in arrays else None)
            evidence = FaceEvidence(face, dense, parsing)
        alpha = arrays["alpha"].astype(np.float32)
        shape = (int(meta["shape"][0]), int(meta["shape"][1]))
        if alpha.shape != shape:
            raise ValueError(f"matte {alpha.shape} for a photo of {shape}")
        matte = MatteResult(alpha=alpha, method=str(meta["method"]),
                            warnings=tuple(_text_from(w) for w in meta["warnings"]))
        return cls(shape=shape, faces=faces, detector=str(meta["detector"]), matte=matte,
                   notes=tuple(_text_from(n) for n in meta["notes"]), evidence=evidence,
                   chosen=(str(meta["chosen"][0]), str(meta["chosen"][1])))


def _text_json(text: Any) -> Any:
    """A note as JSON: a message keeps its key, its values (messages too) and whether it is
    about the server."""
    if isinstance(text, Message):
        return {"key": text.key, "values": {k: _text_json(v) for k, v in text.values.items()},
                "server": isinstance(text, ServerNote)}
    if isinstance(text, (list, tuple)):
        return [_text_json(item) for item in text]
    return text


def _text_from(data: Any) -> Any:
    if isinstance(data, dict):
        kind = ServerNote if data.get("server") else Message
        return kind(str(data["key"]), {k: _text_from(v) for k, v in data["values"].items()})
    if isinstance(data, list):
        return tuple(_text_from(item) for item in data)
    return data
