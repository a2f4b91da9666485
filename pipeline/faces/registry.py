"""Which class runs each face detector and face parser: tables keyed by the manifest's ``arch``.

The manifest says what a model is (``arch``) and where its weights come from; these tables
say how to run it. Adding a detector or parser is a manifest entry plus one row here, with
no ``if`` on model names anywhere in the pipelines.
"""
from __future__ import annotations

from collections.abc import Callable

from pipeline.faces.detect import FaceDetector, MTCNNDetector, RetinaFaceDetector
from pipeline.faces.masks import ParseNetMasker
from pipeline.models.manifest import ModelEntry
from pipeline.models.store import ModelStore

DetectorFactory = Callable[[ModelStore, ModelEntry], FaceDetector]
ParserFactory = Callable[[ModelStore, ModelEntry], ParseNetMasker]


def _mtcnn(store: ModelStore, entry: ModelEntry) -> FaceDetector:
    # The weights ship inside facenet-pytorch: nothing to load from the store.
    return MTCNNDetector(store.compute.device)


def _retinaface(store: ModelStore, entry: ModelEntry) -> FaceDetector:
    return RetinaFaceDetector(store.get(entry.name), store.compute.device)


def _parsenet(store: ModelStore, entry: ModelEntry) -> ParseNetMasker:
    return ParseNetMasker(store.get(entry.name), store.compute, channels_last=bool(store.speed.channels_last),
                          max_batch=int(store.speed.max_batch or 1))


DETECTORS: dict[str, DetectorFactory] = {
    "mtcnn": _mtcnn,
    "retinaface_resnet50": _retinaface,
}

PARSERS: dict[str, ParserFactory] = {
    "parsenet": _parsenet,
}
