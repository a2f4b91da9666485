"""Full batches from many photos: with several photos in flight, the micro-batcher packs faces
of different photos into one network call, and every result is what the one-at-a-time path
makes (real MTCNN faces). Around the network the two paths are exact (a restorer that returns
each face as it came: any face given back to the wrong photo would show). The GFPGAN network
itself rounds differently with the batch size, by at most one level in fp32 (4 of 270,000
pixels when measured): that bound is tests/restore/test_restore_reference.py's
test_fixed_noise_is_deterministic_and_batching_changes_nothing."""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.batch import run_batch
from pipeline.batch.inputs import BatchItem
from pipeline.batch.jobs import restore_job
from pipeline.core.decode import decode_image
from pipeline.models.accelerate import SpeedSettings
from pipeline.restore.engine import RestorationPipeline, RestoreOptions
from pipeline.restore.restorers import GFPGANRestorer, IdentityRestorer, MicroBatchedRestorer

PHOTOS = 2


class _RecordingRestorer:
    """A restorer remembering how many faces each network call held."""

    def __init__(self, inner: GFPGANRestorer | IdentityRestorer) -> None:
        self.inner, self.name, self.max_batch = inner, inner.name, 4
        self.sizes: list[int] = []
        self._lock = threading.Lock()

    def restore_batch(self, faces: np.ndarray, noise: str = "fixed") -> np.ndarray:
        with self._lock:
            self.sizes.append(len(faces))
        return self.inner.restore_batch(faces, noise)


@pytest.fixture(scope="module")
def single_face_photos(tmp_path_factory, astronaut_rgb) -> list[BatchItem]:
    folder = tmp_path_factory.mktemp("one-face-each")
    items = []
    for index in range(PHOTOS):
        crop = np.ascontiguousarray(astronaut_rgb[index * 12:300 + index * 12, 90 + index * 10:390 + index * 10])
        path = folder / f"face{index}.png"
        Image.fromarray(crop).save(path)
        items.append(BatchItem(path.name, path))
    return items


@pytest.fixture(scope="module")
def gfpgan_only(random_weights, tmp_path_factory) -> tuple[Path, object]:
    """The random-weight GFPGAN alone (no face parser, no identity model): the batching is the
    subject here, and the other networks would only multiply the time."""
    directory, manifest = random_weights
    folder = tmp_path_factory.mktemp("gfpgan-only")
    file = manifest.get("gfpgan-v1.4").file
    (folder / file).symlink_to(directory / file)
    return folder, manifest


def _results(summary, out: Path) -> dict[str, np.ndarray]:
    assert [row.status for row in summary.rows] != [] and all(row.output for row in summary.rows)
    return {row.name: decode_image(out / row.output).rgb for row in summary.rows}


def _run_both(manifest, directory, cpu_compute, photos, out: Path, build_inner) -> tuple[dict, dict, list[int], list]:
    """The same photos one at a time, then all in flight at once through a micro-batcher."""
    options = RestoreOptions(detector="mtcnn")
    plain = RestorationPipeline(manifest, directory, cpu_compute)
    plain._restorer_factory = lambda model: build_inner(plain, model)
    one = run_batch(photos, restore_job(plain, options), out / "one", job_name="restore", make_zip=False)

    batched = RestorationPipeline(manifest, directory, cpu_compute, speed=SpeedSettings(micro_batch=True, max_batch=4))
    recorder: list[_RecordingRestorer] = []

    def micro_batched(model: str) -> MicroBatchedRestorer:
        recorder.append(_RecordingRestorer(build_inner(batched, model)))
        return MicroBatchedRestorer(recorder[0], max_wait_s=0.5)  # wait for company: the test must see a full call

    batched._restorer_factory = micro_batched
    together = run_batch(photos, restore_job(batched, options), out / "many", job_name="restore", workers=PHOTOS,
                         make_zip=False)
    assert sum(recorder[0].sizes) == PHOTOS and max(recorder[0].sizes) > 1, recorder[0].sizes  # photos shared a call
    return _results(one, out / "one"), _results(together, out / "many"), recorder[0].sizes, [one, together]


def test_around_the_network_the_batched_path_is_exact(gfpgan_only, cpu_compute, single_face_photos, tmp_path):
    directory, manifest = gfpgan_only
    expected, got, _, summaries = _run_both(manifest, directory, cpu_compute, single_face_photos, tmp_path,
                                            lambda engine, model: IdentityRestorer())
    assert expected.keys() == got.keys()
    for name in expected:
        assert np.array_equal(expected[name], got[name]), name
    assert [row.metrics for row in summaries[0].rows] == [row.metrics for row in summaries[1].rows]
