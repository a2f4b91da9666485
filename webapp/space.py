"""What changes when the app runs on a Hugging Face Space: ZeroGPU and the Gradio SDK's installs.

Kept apart so the rest of the web app reads the same on a Space, in Docker and on a laptop:
``on_gpu`` is a no-op off ZeroGPU, and the start-up install does nothing without ``SPACE_ID``.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipeline.models.accelerate import SpeedSettings, speed_from_environment

REPO = Path(__file__).resolve().parents[1]
NODEPS_PACKAGES = ("gfpgan", "basicsr", "facexlib", "facenet_pytorch")

try:  # ZeroGPU Spaces: borrow a GPU for the duration of each heavy call
    import spaces  # type: ignore[import-not-found]

    on_gpu: Callable[[Callable[..., Any]], Callable[..., Any]] = spaces.GPU(duration=120)
    # The spaces package marks ZeroGPU hardware with SPACES_ZERO_GPU=true; elsewhere its
    # decorator does nothing and a dedicated GPU keeps every speed default.
    ZERO_GPU = os.environ.get("SPACES_ZERO_GPU", "").strip().lower() in ("1", "t", "true")
except ImportError:  # anywhere else the decorator is not needed
    def on_gpu(fn: Callable[..., Any]) -> Callable[..., Any]:
        return fn

    ZERO_GPU = False


def engine_speed() -> SpeedSettings:
    """The speed switches from the environment; on ZeroGPU without the micro-batcher, whose
    worker thread would outlive the GPU that ZeroGPU lends to one decorated call at a time."""
    speed = speed_from_environment()
    return dataclasses.replace(speed, micro_batch=False) if ZERO_GPU else speed


def install_nodeps_packages_on_space() -> None:
    """Hugging Face's Gradio SDK installs requirements.txt only. The four packages whose
    published dependency lists are stale (requirements-nodeps.txt says why) must be installed
    without them, so on a Space that is done once, at start-up, before any model loads."""
    if not os.environ.get("SPACE_ID"):
        return
    if all(importlib.util.find_spec(name) is not None for name in NODEPS_PACKAGES):
        return
    requirements = REPO / "requirements-nodeps.txt"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "-r",
                    str(requirements)], check=True)
