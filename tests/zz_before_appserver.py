"""Start the real web app in-process on 127.0.0.1 for tests.

Models: random-weight GFPGAN v1.4 and ParseNet of the real architectures (the real files
cannot be downloaded here); faces come from the bundled MTCNN detector and backgrounds
from the offline fallback matting, so every endpoint runs on the real astronaut photo.
RetinaFace and MODNet are deliberately left out: random detectors find no real faces, and
their absence exercises the missing-weights banner and the fallbacks.
"""
from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import torch

import pytest

from pipeline.models.device import ComputeSettings
from pipeline.models.manifest import load_manifest
from pipeline.models.store import save_random_weights
from pipeline.restore.engine import RestorationPipeline
from webapp.config import AppConfig
from webapp.studio import Studio

RANDOM_MODELS = ["gfpgan-v1.4", "parsenet", "arcface", "realesr-general-x4"]  # the small upsampler: 4.9 MB


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def random_weight_studio(directory: Path) -> Studio:
    manifest = save_random_weights(load_manifest(), directory, RANDOM_MODELS)
    compute = ComputeSettings(device=torch.device("cpu"), dtype=torch.float32)
    return Studio(RestorationPipeline(manifest=manifest, weights_directory=directory, compute=compute))


@contextmanager
def running_app(temp_root: Path, studio: Studio, **settings) -> Iterator[tuple[object, str]]:
    """Yield (PortraitLabApp, local URL); the server is closed afterwards."""
    from webapp.server import build_app

    config = replace(AppConfig(), host="127.0.0.1", port=free_port(), temp_root=temp_root, **settings)
    portrait_lab = build_app(config, studio)
    url = portrait_lab.launch(block=False, quiet=True)
    try:
        yield portrait_lab, url
    finally:
        portrait_lab.close()


# -- the browser the web tests drive ------------------------------------------------------------
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"  # screenshots for people to look at
CHROMIUM = Path(os.environ.get("PORTRAIT_LAB_CHROMIUM", "/usr/bin/chromium"))  # Debian's package
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@contextmanager
def chromium_browser() -> Iterator[object]:
    """Headless Debian Chromium driven by Playwright; the test is skipped, with the reason, when
    either is missing."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as error:
        pytest.skip(f"Playwright for Python is not installed ({error}); pip install playwright")
    if not CHROMIUM.is_file():
        pytest.skip(f"no Chromium at {CHROMIUM}; install it with: apt-get install chromium "
                    "(or point PORTRAIT_LAB_CHROMIUM at one)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def open_tab(page, name: str, settle_ms: int = 300) -> None:
    """Click the tab whose label starts with ``name``, through the "More tabs" menu when the
    window is too narrow for every tab; then let the panel's transitions settle."""
    pattern = re.compile(rf"^{re.escape(name)}")
    tab = page.get_by_role("tab", name=pattern).first
    if tab.count() and tab.is_visible():
        tab.click()
    else:
        page.get_by_role("button", name="More tabs").click()
        page.get_by_role("button", name=pattern).first.click()
    page.get_by_role("tab", name=pattern, selected=True).first.wait_for(state="attached")
    page.wait_for_timeout(settle_ms)
