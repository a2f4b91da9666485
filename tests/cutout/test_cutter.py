"""Person cut-out shared by the background command, ID photos and the app."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pipeline import cli
from pipeline.core.errors import NoFaceError
from pipeline.cutout.cutter import CutoutPipeline
from pipeline.faces.analysis import FaceAnalysis
from pipeline.models.store import ModelStore


@pytest.fixture(scope="module")
def cutter(cpu_compute) -> CutoutPipeline:
    return CutoutPipeline(FaceAnalysis(ModelStore(compute=cpu_compute)))


def test_cut_out_finds_the_person_with_the_offline_tools(cutter, astronaut_rgb):
    cut = cutter.cut_out(astronaut_rgb)
    alpha = cut.matte.alpha
    assert len(cut.faces) == 1 and cut.detector == "mtcnn"
    x1, y1, x2, y2 = (int(v) for v in cut.faces[0].box)
    assert alpha[y1:y2, x1:x2].mean() > 0.9  # the face is foreground
    assert alpha[:15, :].mean() < 0.2 and alpha[:, -15:].mean() < 0.3  # the wall above and beside is not
    assert any("offline matting" in str(warning) for warning in cut.warnings)  # labelled as the offline matting


def test_no_person_is_an_error_not_an_empty_picture(cutter):
    wall = np.full((300, 400, 3), 210, np.uint8)
    with pytest.raises(NoFaceError) as error:
        cutter.cut_out(wall)
    assert "Use a portrait in which your face is visible" in error.value.user_message


def test_background_command_writes_a_transparent_cutout(tmp_path, capsys):
    code = cli.main(["background", "--sample", "--mode", "transparent", "-o", str(tmp_path), "--device", "cpu"])
    assert code == cli.EXIT_OK, capsys.readouterr().err
    image = Image.open(tmp_path / "astronaut_transparent.png")
    assert image.mode == "RGBA" and image.size == (512, 512)
    alpha = np.asarray(image)[..., 3]
    assert 0.1 < (alpha > 127).mean() < 0.9


def test_background_command_refuses_transparent_jpeg(tmp_path, capsys):
    code = cli.main(["background", "--sample", "--mode", "transparent", "--format", "jpg", "-o", str(tmp_path)])
    assert code == cli.EXIT_USAGE
    assert "transparency" in capsys.readouterr().err
