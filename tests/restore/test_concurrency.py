"""Two threads restoring different images on one shared pipeline get exactly the results
they get one after the other (no per-request state on shared models)."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from pipeline.models.accelerate import SpeedSettings
from pipeline.restore.engine import RestorationPipeline, RestoreOptions
from pipeline.restore.restorers import MicroBatchedRestorer

OPTIONS = RestoreOptions(detector="mtcnn")


@pytest.fixture(scope="module")
def micro_batched_pipeline(random_weights, cpu_compute):
    """The GPU default: faces of concurrent requests share network calls (here on CPU)."""
    directory, manifest = random_weights
    return RestorationPipeline(manifest, directory, cpu_compute, speed=SpeedSettings(micro_batch=True, max_batch=4))


@pytest.fixture(scope="module")
def sequential(random_pipeline, astronaut_rgb):
    """The two images and their results one after the other, made once for both pipelines: they
    share the weights, and a micro-batched restoration of one request is the plain one (its
    faces alone in the batch; bit-identical on this CPU), so each threaded run is held to it."""
    first = astronaut_rgb
    second = np.ascontiguousarray(np.hstack([astronaut_rgb[:, ::-1], astronaut_rgb])[::2, ::2])  # other size, 2 faces
    images = (first, second)
    return images, [random_pipeline.restore(image, OPTIONS) for image in images]


def _loaded(pipeline: RestorationPipeline) -> RestorationPipeline:
    """Every network a restoration uses loaded before the threads start, as after a sequential run."""
    pipeline.load_models(OPTIONS)
    for kind in ("parser", "recognition"):
        pipeline.store.get(pipeline.manifest.default(kind).name)
    return pipeline


@pytest.mark.parametrize("which", ["random_pipeline", "micro_batched_pipeline"])
def test_two_threads_match_sequential_results(request, which, sequential):
    images, expected_results = sequential
    random_pipeline = _loaded(request.getfixturevalue(which))

    results: dict[int, object] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def work(index: int, image: np.ndarray) -> None:
        try:
            barrier.wait()
            results[index] = random_pipeline.restore(image, OPTIONS)
        except BaseException as error:  # collected and re-raised by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(i, img)) for i, img in enumerate(images)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors, errors
    for index, expected in enumerate(expected_results):
        got = results[index]
        assert got.image.shape == expected.image.shape
        assert np.abs(got.image.astype(int) - expected.image.astype(int)).max() <= 1
        assert [f.face.box for f in got.faces] == [f.face.box for f in expected.faces]
    assert expected_results[0].image.shape != expected_results[1].image.shape
    if which == "micro_batched_pipeline":
        restorer = random_pipeline.restorer(random_pipeline.manifest.default("restorer").name)
        assert isinstance(restorer, MicroBatchedRestorer)
        assert 1 <= restorer.batcher.calls <= 2  # only the 2 concurrent requests ran here: at most 1 call each
