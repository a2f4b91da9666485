"""The installed environment avoids the traps listed in shared/reference/weights.md."""
from __future__ import annotations

import importlib
import importlib.metadata
import sys

import pytest
import torch


def test_only_opencv_4_headless_provides_cv2():
    import cv2

    assert cv2.__version__.startswith("4."), cv2.__version__
    assert importlib.metadata.version("opencv-python-headless").startswith("4.")
    for other in ("opencv-python", "opencv-contrib-python"):
        with pytest.raises(importlib.metadata.PackageNotFoundError):
            importlib.metadata.distribution(other)


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
    assert all((data / name).is_file() for name in ("pnet.pt", "rnet.pt", "onet.pt"))
