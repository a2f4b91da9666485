"""Which class runs each face detector and face parser: tables keyed by the manifest's ``arch``.

The manifest says what a model is (``arch``) and where its weights come from; these tables
say how to run it, so no pipeline code branches on a model name. Adding a detector or parser
(ARCHITECTURE.md, "Adding things", has the whole list): a manifest entry; the network's
constructor in ``models.store.ARCH_BUILDERS`` (and, if its published file wraps the weights,
``models.store.PUBLISHED_LAYOUTS``); a class with the ``FaceDetector`` or ``FaceMasker``
protocol; and one row here.
"""
from __future__ import annotations

from collections.abc import Callable

from pipeline.faces.detect import FaceDetector, MTCNNDetector, RetinaFaceDetector
from pipeline.faces.masks import FaceMasker, ParseNetMasker
from pipeline.faces.mesh import METHOD_MESH, FaceMeshLandmarker, mesh_available
from pipeline.models.manifest import ModelEntry
from pipeline.models.store import ModelStore

DetectorFactory = Callable[[ModelStore, ModelEntry], FaceDetector]
ParserFactory = Callable[[ModelStore, ModelEntry], FaceMasker]


def _mtcnn(store: ModelStore, entry: ModelEntry) -> FaceDetector:
    # The weights ship inside facenet-pytorch: nothing to load from the store.
    return MTCNNDetector(store.compute.device)


def _retinaface(store: ModelStore, entry: ModelEntry) -> FaceDetector:
    return RetinaFaceDetector(store.get(entry.name), store.compute.device)


def _parsenet(store: ModelStore, entry: ModelEntry) -> FaceMasker:
    return ParseNetMasker(store.get(entry.name), store.compute, channels_last=bool(store.speed.channels_last),
                          max_batch=int(store.speed.max_batch or 1))


DETECTORS: dict[str, DetectorFactory] = {
    "mtcnn": _mtcnn,
    "retinaface_resnet50": _retinaface,
}

PARSERS: dict[str, ParserFactory] = {
    "parsenet": _parsenet,
}


# Dense landmarkers, best first: (name, is it installed here?, how to build it). Their models
# ship inside a wheel, so they need no manifest entry; where the wheel has no build (ARM,
# Python 3.13+) the 5-point estimate is used and labelled as one.
LANDMARKERS: tuple[tuple[str, Callable[[], bool], Callable[[], FaceMeshLandmarker]], ...] = (
    (METHOD_MESH, mesh_available, FaceMeshLandmarker),
)
