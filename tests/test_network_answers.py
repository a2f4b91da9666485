"""The test-only memo of tests/network_answers.py: byte-identical faces get the network's own
answer (a copy, so no caller can change a later one) and the network runs once for them; any
other face, network or GFPGAN's fresh-noise mode runs it again; closing puts the methods back."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from network_answers import answer_once, networks_answering_once

from pipeline.faces.masks import ParseNetMasker
from pipeline.models.manifest import load_manifest
from pipeline.models.store import build_network, prepare_for_inference

REAL_CLASSES = ParseNetMasker._classes  # as the pipeline has it (no module of this run patches it at import)


@pytest.fixture(scope="module")
def masker(cpu_compute) -> ParseNetMasker:
    """A randomly initialised ParseNet (no file needed) whose class maps differ from pixel to pixel."""
    torch.manual_seed(0)
    return ParseNetMasker(prepare_for_inference(build_network(load_manifest().get("parsenet")), cpu_compute),
                          cpu_compute)


def test_the_same_faces_get_the_networks_own_answer_once(masker):
    faces = np.random.default_rng(0).integers(0, 256, (1, 128, 128, 3), dtype=np.uint8)  # 512 in the app
    other = faces.copy()
    other[0, 70, 70, 0] ^= 1  # one bit of one pixel
    calls: list[int] = []
    hook = masker.network.register_forward_hook(lambda *_: calls.append(1))
    try:
        real = REAL_CLASSES(masker, faces)
        assert real.unique().numel() > 1  # a map that a wrong answer could differ from
        with networks_answering_once() as answers:
            first = masker._classes(faces)
            first.zero_()  # a caller changing its answer...
            again = masker._classes(faces)
            assert len(calls) == 2  # the real call above, then one for both of these
            masker._classes(other)
            assert len(calls) == 3 and len(answers) == 2
        assert ParseNetMasker._classes is REAL_CLASSES
    finally:
        hook.remove()
    assert torch.equal(again, real)  # ...changes no later one, which is the network's own


def test_fresh_noise_and_another_network_run_again():
    class Restorer:
        def __init__(self) -> None:
            self.network, self.calls = object(), 0

        def run(self, faces: np.ndarray, noise: str) -> np.ndarray:
            self.calls += 1
            return faces + 1

    answers: dict = {}
    run = answer_once(Restorer.run, answers)
    one, two = Restorer(), Restorer()
    faces = np.zeros((1, 4, 4, 3), np.uint8)
    for restorer, noise in ((one, "fixed"), (one, "fixed"), (one, "random"), (one, "random"), (two, "fixed")):
        assert np.array_equal(run(restorer, faces, noise), faces + 1)
    assert (one.calls, two.calls) == (3, 1) and len(answers) == 2
