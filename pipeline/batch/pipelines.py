"""The three jobs' pipelines on one shared face hub, built on first use: what the CLI's
batch command and each Ray actor run a :class:`pipeline.batch.jobs.BatchJob` on (the web
app's studio offers the same three attributes). Only the pipeline a job needs is built, so
a restore batch never loads the matting models."""
from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

# Photos in flight where nothing batches them: decoding and encoding overlap the network, and
# more threads would only share the cores torch already uses.
UNBATCHED_WORKERS = 2

if TYPE_CHECKING:
    from pipeline.cutout.cutter import CutoutPipeline
    from pipeline.faces.analysis import FaceAnalysis
    from pipeline.idphoto.maker import IdPhotoPipeline
    from pipeline.models.device import ComputeSettings
    from pipeline.restore.engine import RestorationPipeline


class LocalPipelines:
    """Restoration, cut-out and ID photo sharing one model store and face hub."""

    def __init__(self, compute: ComputeSettings) -> None:
        self.compute = compute

    @cached_property
    def faces(self) -> FaceAnalysis:
        from pipeline.faces.analysis import FaceAnalysis
        from pipeline.models.store import ModelStore

        return FaceAnalysis(ModelStore(compute=self.compute))

    @cached_property
    def engine(self) -> RestorationPipeline:
        from pipeline.restore.engine import RestorationPipeline

        return RestorationPipeline(faces=self.faces)

    @cached_property
    def cutter(self) -> CutoutPipeline:
        from pipeline.cutout.cutter import CutoutPipeline

        return CutoutPipeline(self.faces)

    @cached_property
    def id_maker(self) -> IdPhotoPipeline:
        from pipeline.idphoto.maker import IdPhotoPipeline

        return IdPhotoPipeline(self.faces)


def batch_workers(kind: str, engine: RestorationPipeline) -> int:
    """How many photos a batch keeps in flight: where the restorer packs the faces of
    concurrent photos into one call (a CUDA GPU by default), enough to fill that call
    (its max_batch); elsewhere UNBATCHED_WORKERS."""
    speed = engine.speed
    if kind == "restore" and speed.micro_batch and (speed.max_batch or 1) > 1:
        return int(speed.max_batch)
    return UNBATCHED_WORKERS
