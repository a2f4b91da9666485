"""Two threads restoring different images on one shared pipeline get exactly the results
they get one after the other (no per-request state on shared models)."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from pipeline.models.accelerate import SpeedSettings
from pipeline.restore.engine import RestorationPipeline, RestoreOptions
from pipeline.restore.restorers import MicroBatchedRestorer


@pytest.fixture(scope="module")
def micro_batched_pipeline(random_weights, cpu_compute):
    """The GPU default: faces of concurrent requests share network calls (here on CPU)."""
    directory, manifest = random_weights
    return RestorationPipeline(manifest, directory, cpu_compute, speed=SpeedSettings(micro_batch=True, max_batch=4))


@pytest.mark.parametrize("which", ["random_pipeline", "micro_batched_pipeline"])
def test_two_threads_match_sequential_results(request, which, astronaut_rgb):
    random_pipeline = request.getfixturevalue(which)
    first = astronaut_rgb
    second = np.ascontiguousarray(np.hstack([astronaut_rgb[:, ::-1], astronaut_rgb])[::2, ::2])  # other size, 2 faces
    options = RestoreOptions(detector="mtcnn")
    sequential = [random_pipeline.restore(image, options) for image in (first, second)]

    results: dict[int, object] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def work(index: int, image: np.ndarray) -> None:
        try:
            barrier.wait()
            results[index] = random_pipeline.restore(image, options)
        except BaseException as error:  # collected and re-raised by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(i, img)) for i, img in enumerate((first, second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors, errors
    for index, expected in enumerate(sequential):
        got = results[index]
        assert got.image.shape == expected.image.shape
        assert np.abs(got.image.astype(int) - expected.image.astype(int)).max() <= 1
        assert [f.face.box for f in got.faces] == [f.face.box for f in expected.faces]
    assert sequential[0].image.shape != sequential[1].image.shape
    if which == "micro_batched_pipeline":
        restorer = random_pipeline.restorer(random_pipeline.manifest.default("restorer").name)
        assert isinstance(restorer, MicroBatchedRestorer)
        assert 1 <= restorer.batcher.calls <= 4  # 2 sequential calls + at most 2 concurrent ones
