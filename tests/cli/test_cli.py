"""The command line: help, weights listing, and a restore batch with per-file errors."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline import cli
from pipeline.cli import commands as cli_commands
from pipeline.cli import parser as cli_parser
from pipeline.cli import run as cli_run

from pipeline.models import store
from pipeline.models.locations import ENV_WEIGHTS_DIR

REPO = Path(__file__).resolve().parents[2]


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=300, env={**os.environ, **(env or {})})


def test_help_lists_the_commands():
    result = _run("--help")
    assert result.returncode == 0
    for command in ("restore", "weights", "info"):
        assert command in result.stdout


def test_weights_list_reports_missing_files_and_the_fetch_command(tmp_path):
    result = _run("weights", "list", env={ENV_WEIGHTS_DIR: str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert str(tmp_path) in result.stdout
    for name in ("gfpgan-v1.4", "retinaface-r50", "parsenet", "mtcnn"):
        assert name in result.stdout
    assert "missing" in result.stdout and "bundled" in result.stdout
    assert "python -m pipeline weights fetch" in result.stdout


def test_restore_without_weights_stops_with_a_clear_message(tmp_path):
    result = _run("restore", "--sample", "-o", str(tmp_path / "out"), "--device", "cpu",
                  env={ENV_WEIGHTS_DIR: str(tmp_path)})
    assert result.returncode == cli_run.EXIT_USAGE
    assert "GFPGANv1.4.pth" in result.stderr and "weights fetch gfpgan-v1.4" in result.stderr
    assert "Traceback" not in result.stderr


def test_restore_batch_reports_bad_files_and_carries_on(random_weights, astronaut_rgb, tmp_path, monkeypatch, capsys):
    directory, manifest = random_weights
    for reader in (cli_parser, cli_commands, store):  # the three that read the manifest while a run starts
        monkeypatch.setattr(reader, "load_manifest", lambda path=None: manifest)
    monkeypatch.setenv(ENV_WEIGHTS_DIR, str(directory))
    inputs = tmp_path / "in"
    inputs.mkdir()
    exif = Image.Exif()
    exif[0x010F] = "SecretCameraMaker"
    exif[0x8825] = {1: "N", 2: (51.0, 30.0, 0.0)}  # GPS
    Image.fromarray(astronaut_rgb).save(inputs / "astronaut.jpg", quality=95, exif=exif)
    Image.fromarray(np.full((200, 300, 3), 180, np.uint8)).save(inputs / "wall.png")
    (inputs / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (inputs / "notes.txt").write_text("ignored: not an image suffix")
    out = tmp_path / "out"
    report = tmp_path / "report.json"

    code = cli.main(["restore", str(inputs), str(tmp_path / "missing.png"), "-o", str(out), "--detector", "mtcnn",
                     "--device", "cpu", "--report", str(report)])
    captured = capsys.readouterr()
    assert code == cli_run.EXIT_SOME_FAILED
    assert sorted(p.name for p in out.iterdir()) == ["astronaut_restored.png", "wall_restored.png"]
    assert "broken.jpg" in captured.err and "Traceback" not in captured.err
    assert "missing.png: no such file or folder" in captured.err
    assert "No face found" in captured.err
    # random weights: the restored face is no longer the person, and the run says so (a warning)
    assert "face 1: identity 0." in captured.err and "identity changed" in captured.err
    assert "Restored 2 of 4 image(s), 1 face(s); 2 failed, 2 with warnings" in captured.out
    restored = Image.open(out / "astronaut_restored.png")
    assert restored.size == (512, 512)
    assert not restored.getexif() and b"SecretCameraMaker" not in (out / "astronaut_restored.png").read_bytes()
    data = json.loads(report.read_text())
    assert len(data["results"][str(inputs / "astronaut.jpg")]["faces"]) == 1
    assert set(data["failed"]) == {str(inputs / "broken.jpg"), str(tmp_path / "missing.png")}
    face = data["results"][str(inputs / "astronaut.jpg")]["faces"][0]
    assert face["identity_score"] < 0.30 and "identity changed" in face["identity_meaning"]


def test_restore_with_the_background_upsampler_and_the_identity_guard(random_weights, astronaut_rgb, tmp_path,
                                                                      monkeypatch, capsys):
    """--background-upsampler and --identity-guard reach the pipeline; the report shows what
    enlarged the background and both strengths and scores of a guarded face."""
    directory, manifest = random_weights
    for reader in (cli_parser, cli_commands, store):
        monkeypatch.setattr(reader, "load_manifest", lambda path=None: manifest)
    monkeypatch.setenv(ENV_WEIGHTS_DIR, str(directory))
    photo = tmp_path / "astronaut.png"
    Image.fromarray(astronaut_rgb[::2, ::2]).save(photo)
    report = tmp_path / "report.json"
    code = cli.main(["restore", str(photo), "-o", str(tmp_path / "out"), "--detector", "mtcnn", "--device", "cpu",
                     "--upscale", "2", "--background-upsampler", "realesr-general-x4", "--identity-guard",
                     "--report", str(report)])
    captured = capsys.readouterr()
    assert code == cli_run.EXIT_OK, captured.err
    result = json.loads(report.read_text())["results"][str(photo)]
    assert result["background_upsampler"] == "realesr-general-x4" and result["size"] == [512, 512]
    guard = result["faces"][0]["identity_guard"]
    assert guard["guard_acted"] and guard["used_strength"] < guard["asked_strength"] == 1.0
    assert guard["identity_used"] >= 0.30 > guard["identity_asked"]
    assert "(guard: strength 1.00 -> " in captured.err
    with pytest.raises(SystemExit) as usage:  # argparse: a usage error, before anything loads
        cli.main(["restore", str(photo), "-o", str(tmp_path / "o2"), "--background-upsampler", "bicubic"])
    assert usage.value.code == 2 and "choose from 'none', 'realesrgan-x2'" in capsys.readouterr().err


def test_restore_with_nothing_to_do_is_a_usage_error(tmp_path, capsys):
    assert cli.main(["restore", "-o", str(tmp_path)]) == cli_run.EXIT_USAGE
    assert "No images to restore" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["restore", "--sample", "-o", "x", "--strength", "2"],
                                  ["weights", "fetch", "no-such-model"]])
def test_bad_arguments_give_one_clear_line(argv, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(ENV_WEIGHTS_DIR, str(tmp_path))
    code = cli.main(argv)
    err = capsys.readouterr().err
    assert code in (cli_run.EXIT_USAGE, cli_run.EXIT_SOME_FAILED)
    assert err.strip() and "Traceback" not in err


def test_a_transparent_background_file_holds_nothing_of_the_removed_background(tmp_path):
    out = tmp_path / "out"
    assert cli.main(["background", "--sample", "--mode", "transparent", "-o", str(out)]) == 0
    (result,) = out.glob("*.png")
    with Image.open(result) as image:
        rgba = np.asarray(image.convert("RGBA"))
    hidden = rgba[..., 3] == 0
    assert hidden.mean() > 0.2  # the astronaut's room, flag and shuttle are gone...
    assert np.all(rgba[hidden][:, :3] == 255)  # ...also from the RGB an alpha-blind viewer shows


@pytest.mark.parametrize("command", ["background", "idphoto"])
def test_images_too_small_or_narrow_for_a_face_get_a_sentence(tmp_path, capsys, command):
    """MTCNN used to crash in torch.cat() on these; now each gets the minimum size."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    for width, height in ((1, 1), (16, 16), (1, 5000), (40, 8000)):
        Image.fromarray(np.full((height, width, 3), 128, np.uint8)).save(inputs / f"tiny-{width}x{height}.png")
    extra = ["--spec", "icao_generic"] if command == "idphoto" else []
    code = cli.main([command, str(inputs), "-o", str(tmp_path / "out"), *extra])
    err = capsys.readouterr().err
    assert code != 0 and "Traceback" not in err and "torch.cat" not in err and "Unexpected" not in err, err
    assert err.count("too small or too narrow to hold a face") == 4, err
    assert "at least 20 px on its shorter side" in err


def test_an_output_path_that_is_a_file_or_cannot_be_made_gets_a_sentence(tmp_path, capsys, monkeypatch):
    taken = tmp_path / "results.png"
    taken.write_bytes(b"a file")
    assert cli.main(["background", "--sample", "-o", str(taken)]) == cli_run.EXIT_USAGE
    err = capsys.readouterr().err
    assert "is a file, not a folder" in err and "Traceback" not in err

    def refuse(self, *args, **kwargs):  # as in a read-only folder (root here could write anyway)
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "mkdir", refuse)
    assert cli.main(["idphoto", "--sample", "--spec", "icao_generic", "-o", str(tmp_path / "locked" / "out")]) == cli_run.EXIT_USAGE
    err = capsys.readouterr().err
    assert "cannot be created (permission denied)" in err and "Traceback" not in err


def test_a_retry_count_below_one_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as stopped:
        cli.main(["weights", "fetch", "gfpgan-v1.4", "--retries", "-1"])
    assert stopped.value.code == 2
    assert "--retries: must be at least 0, not -1" in capsys.readouterr().err


def test_ctrl_c_while_the_cli_loads_says_interrupted(monkeypatch, capsys):
    import runpy
    import types

    class Interrupting(types.ModuleType):  # Ctrl-C arrives while `from .cli import main` runs
        def __getattr__(self, name):
            if name == "main":
                raise KeyboardInterrupt
            raise AttributeError(name)

    monkeypatch.setitem(sys.modules, "pipeline.cli", Interrupting("pipeline.cli"))
    try:
        with pytest.raises(SystemExit) as stopped:
            runpy.run_module("pipeline", run_name="__main__")
    except KeyboardInterrupt:
        pytest.fail("Ctrl-C while the CLI loads escaped as a traceback")
    assert stopped.value.code == 130
    assert capsys.readouterr().err == "Interrupted.\n"
