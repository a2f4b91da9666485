"""Fixtures the web-app tests share."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from appserver import chromium_browser, running_app  # noqa: E402

from pipeline.core.encode import save_image  # noqa: E402
from pipeline.models.device import ComputeSettings  # noqa: E402
from pipeline.models.manifest import load_manifest  # noqa: E402
from pipeline.restore.engine import RestorationPipeline  # noqa: E402
from webapp.studio import Studio  # noqa: E402


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium (Playwright), one per test module; skipped with the reason when missing."""
    with chromium_browser() as chromium:
        yield chromium


def bare_studio(weights: Path) -> Studio:
    weights.mkdir(parents=True, exist_ok=True)
    compute = ComputeSettings(device=torch.device("cpu"), dtype=torch.float32)
    return Studio(RestorationPipeline(manifest=load_manifest(), weights_directory=weights, compute=compute))


@pytest.fixture(scope="module")
def bare_server(tmp_path_factory):
    """The real app on 127.0.0.1 with no weights installed (no fetching either)."""
    base = tmp_path_factory.mktemp("bare-app")
    studio = bare_studio(base / "weights")
    saved = os.environ.get("GRADIO_TEMP_DIR")
    with running_app(base / "root", studio) as (app, url):
        yield app, url, base
    if saved is not None:  # build_app points Gradio's upload folder at its own root
        os.environ["GRADIO_TEMP_DIR"] = saved


@pytest.fixture(scope="module")
def photo(tmp_path_factory, astronaut_rgb) -> Path:
    path = tmp_path_factory.mktemp("first-screen-photo") / "astronaut.png"
    save_image(path, astronaut_rgb)
    return path
