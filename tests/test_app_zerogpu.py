"""ZeroGPU support: with a `spaces` package present, every model-running handler is wrapped by
`spaces.GPU`; without it, the app builds unchanged (the rest of the suite runs that way)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

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
import app
from pipeline.appconfig import AppConfig
portrait_lab = app.build_app(AppConfig(temp_root=Path(sys.argv[2])))
portrait_lab.storage.stop_sweeper()
print(json.dumps(sorted(wrapped)))
"""


def _wrapped(mode: str, tmp_path: Path) -> list[str]:
    done = subprocess.run([sys.executable, "-c", PROBE, mode, str(tmp_path / mode)], cwd=ROOT, capture_output=True,
                          text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_model_handlers_are_wrapped_by_spaces_gpu_when_present(tmp_path: Path) -> None:
    assert _wrapped("with", tmp_path) == ["background", "batch", "id_photo", "restore"]


def test_app_builds_without_the_spaces_package(tmp_path: Path) -> None:
    assert _wrapped("without", tmp_path) == []
