"""GFPGAN and ParseNet answering each distinct input once, for tests that send the same photo
through the app or the CLI many times (fixture ``networks_answer_once`` in tests/conftest.py).

Why: on a CPU these two networks cost seconds per face, and most of the web and CLI tests check
what surrounds them (pages, API outputs, files, metadata, messages), not their output. Both are
deterministic here (inference mode, GFPGAN's fixed noise), so the same aligned faces always get
the same answer: the first call runs the network, later ones get a copy of that answer. A
different face, other arguments, another network or GFPGAN's fresh-noise mode run it for real.
Not for tests of the networks themselves, of their sharing between threads, or of load.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import pytest
import torch


def answer_once(compute: Callable, answers: dict) -> Callable:
    """``compute(self, faces, *rest)`` giving a copy of its earlier answer for the same network
    (``self.network``), byte-identical faces and the same arguments."""
    def answer(self, faces: np.ndarray, *rest):  # noqa: ANN202 - a tensor or an array, as compute's
        if "random" in rest:  # GFPGAN's fresh noise on every call: nothing to remember
            return compute(self, faces, *rest)
        key = (compute.__qualname__, self.network, faces.shape, faces.dtype.str,
               hashlib.sha256(np.ascontiguousarray(faces).tobytes()).digest(), rest)
        if key not in answers:
            answers[key] = compute(self, faces, *rest)
        found = answers[key]
        return found.clone() if isinstance(found, torch.Tensor) else found.copy()

    return answer


@contextmanager
def networks_answering_once() -> Iterator[dict]:
    """While open, ParseNet's class maps and GFPGAN's restored faces are computed once per input;
    yields the answers (keyed by method, network, faces and arguments)."""
    from pipeline.faces.masks import ParseNetMasker
    from pipeline.restore.restorers import GFPGANRestorer

    answers: dict = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ParseNetMasker, "_classes", answer_once(ParseNetMasker._classes, answers))
        patch.setattr(GFPGANRestorer, "_run", answer_once(GFPGANRestorer._run, answers))
        yield answers
