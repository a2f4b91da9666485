"""ZeroGPU support: with a `spaces` package present, every model-running handler is wrapped by
`spaces.GPU`; without it, the app builds unchanged (the rest of the suite runs that way)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys, types
from pathlib import Path
wrapped = []
spaces = types.ModuleType("spaces")
def GPU(duration=60):
    def decorate(fn):
        wrapped.append(fn.__name__)
        return fn
    return decorate
spaces.GPU = GPU
if sys.argv[1] == "with":
    sys.modules["spaces"] = spaces
from webapp.config import AppConfig
from webapp.server import build_app
portrait_lab = build_app(AppConfig(temp_root=Path(sys.argv[2])))
portrait_lab.storage.stop_sweeper()
print(json.dumps([sorted(wrapped), portrait_lab.studio.engine.speed.micro_batch]))
"""


def _wrapped(mode: str, tmp_path: Path, zero_gpu: bool = True) -> tuple[list[str], bool]:
    # Micro-batching asked for everywhere (it is off by default on CPU): only ZeroGPU turns it off.
    environment = {**os.environ, "PORTRAIT_LAB_SPEED": "micro_batch=1"}
    environment.pop("SPACES_ZERO_GPU", None)
    if zero_gpu:
        environment["SPACES_ZERO_GPU"] = "true"
    done = subprocess.run([sys.executable, "-c", PROBE, mode, str(tmp_path / mode)], cwd=ROOT, capture_output=True,
                          text=True, timeout=180, env=environment)
    assert done.returncode == 0, done.stderr[-2000:]
    wrapped, micro_batch = json.loads(done.stdout.strip().splitlines()[-1])
    return wrapped, micro_batch


HANDLERS = ["background", "batch", "id_photo", "restore"]


def test_model_handlers_are_wrapped_by_spaces_gpu_when_present(tmp_path: Path) -> None:
    # ...and the micro-batcher is off: ZeroGPU lends the GPU to one decorated call at a time.
    assert _wrapped("with", tmp_path) == (HANDLERS, False)


def test_a_dedicated_gpu_space_with_the_spaces_package_keeps_micro_batching(tmp_path: Path) -> None:
    assert _wrapped("with", tmp_path, zero_gpu=False) == (HANDLERS, True)


def test_app_builds_without_the_spaces_package(tmp_path: Path) -> None:
    assert _wrapped("without", tmp_path) == ([], True)
