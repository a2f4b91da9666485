"""The CLI on careless and unlucky input (issue 11): checks up front, exact exit codes, odd
files and names, transparency, no overwrites, whole sets, full disks and interrupts."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline import cli
from pipeline.cli import commands as cli_commands
from pipeline.cli import run as cli_run

from pipeline.core.limits import ENV_MAX_PIXELS
from pipeline.models.download import ENV_WEIGHTS_MIRROR
from pipeline.models.locations import ENV_WEIGHTS_DIR

REPO = Path(__file__).resolve().parents[2]
ID_SET = (".jpg", "_overlay.png", "_report.txt", "_report.json")


@pytest.fixture
def small_face(astronaut_rgb: np.ndarray) -> np.ndarray:
    """The astronaut at 256 px: a real face, processed in about a second."""
    return np.asarray(Image.fromarray(astronaut_rgb).resize((256, 256), Image.Resampling.LANCZOS))


@pytest.fixture
def no_models(monkeypatch):
    """Fail the test if any model would be loaded: the checks must come first."""
    from pipeline.restore import engine

    def refuse(*args, **kwargs):
        raise AssertionError("a model pipeline was built before the options were checked")

    monkeypatch.setattr(engine.RestorationPipeline, "__init__", refuse)


def _usage_error(argv: list[str], capsys) -> str:
    """Run ``argv``; it must end with exit code 2 and one sentence, whether argparse or we refuse."""
    try:
        code = cli.main(argv)
    except SystemExit as stopped:  # argparse refuses with exit status 2
        code = stopped.code
    err = capsys.readouterr().err
    assert code == cli_run.EXIT_USAGE, err
    assert "Traceback" not in err and err.strip()
    return err


# -- options and settings are checked before any image is processed ---------------------------
@pytest.mark.parametrize("argv, expected", [
    (["idphoto", "--sample", "--spec", "icao_generic", "--max-kb", "nan"], "--max-kb: must be a finite number"),
    (["idphoto", "--sample", "--spec", "icao_generic", "--max-kb", "inf"], "--max-kb: must be a finite number"),
    (["idphoto", "--sample", "--spec", "icao_generic", "--max-kb", "0"], "--max-kb: must be more than 0"),
    (["idphoto", "--sample", "--spec", "us_passport_online", "--max-kb", "54"], "needs files of at least 54 KB"),
    (["idphoto", "--sample", "--spec", "icao_generic", "--detector", "gfpgan-v1.4"], "invalid choice: 'gfpgan-v1.4'"),
    (["idphoto", "--sample", "--custom", "10000x10000px"], "over the 40 MP limit"),
    (["idphoto", "--sample", "--custom", "35x45mm", "--dpi", "1200", "--sheet", "1000x1000mm"], "limit is 160 MP"),
    (["restore", "--sample", "--detection-size", "0"], "detection size must be a whole number from 128"),
    (["restore", "--sample", "--strength", "nan"], "--strength: must be a finite number"),
    (["background", "--sample", "--blur", "inf"], "--blur: must be a finite number"),
    (["weights", "fetch", "no-such-model"], "Unknown model(s): no-such-model"),
])
def test_bad_options_are_refused_before_any_work(argv, expected, tmp_path, capsys, no_models):
    out = tmp_path / "out"
    err = _usage_error([*argv, "-o", str(out)] if argv[0] != "weights" else argv, capsys)
    assert expected in err
    assert not out.exists() or not any(out.iterdir())


def test_an_unknown_detector_lists_only_detectors(capsys, tmp_path, no_models):
    err = _usage_error(["idphoto", "--sample", "--spec", "icao_generic", "--detector", "x", "-o", str(tmp_path)], capsys)
    assert "mtcnn" in err and "retinaface-r50" in err and "gfpgan" not in err.split("invalid choice")[1]


def test_a_bad_pixel_limit_setting_is_refused_before_any_work(tmp_path, capsys, monkeypatch, no_models):
    monkeypatch.setenv(ENV_MAX_PIXELS, "abc")
    for argv in (["restore", "--sample"], ["background", "--sample"], ["idphoto", "--sample", "--spec", "icao_generic"]):
        err = _usage_error([*argv, "-o", str(tmp_path / "out")], capsys)
        assert f"{ENV_MAX_PIXELS} must be a positive whole number" in err


def test_output_and_report_paths_are_checked_before_any_work(tmp_path, capsys, no_models):
    err = _usage_error(["restore", "--sample", "-o", "/proc/portrait-lab-out"], capsys)
    assert "cannot be created" in err  # /proc is read-only for everyone, root included
    err = _usage_error(["restore", "--sample", "-o", str(tmp_path / "out"), "--report", str(tmp_path)], capsys)
    assert "is a folder" in err
    err = _usage_error(["restore", "--sample", "-o", str(tmp_path / "out"), "--report", "/proc/x/report.json"], capsys)
    assert "report cannot be written" in err


def test_weights_fetch_of_an_unknown_name_downloads_nothing(capsys, monkeypatch):
    fetched: list[str] = []
    monkeypatch.setattr(cli_commands, "fetch_with_lock", lambda entry, retries: fetched.append(entry.name))
    _usage_error(["weights", "fetch", "gfpgan-v1.4", "typo"], capsys)
    assert fetched == []  # the valid name was not fetched either: the typo is fixed first


def test_help_specs_and_weights_list_do_not_import_torch(tmp_path):
    """They answer at once; loading torch (0.7 GB, seconds) for them was pure waste."""
    script = (
        "import sys, contextlib, io\n"
        "from pipeline.cli import main\n"
        "for argv in (['specs', 'passport'], ['weights', 'list'], ['--help'], ['idphoto', '--help']):\n"
        "    with contextlib.redirect_stdout(io.StringIO()):\n"
        "        try:\n"
        "            main(argv)\n"
        "        except SystemExit:\n"
        "            pass\n"
        "print('torch' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120,
                            env={**os.environ, ENV_WEIGHTS_DIR: str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


# -- inputs that are not images, and odd names ------------------------------------------------
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes need a POSIX system")
def test_pipes_devices_and_empty_folders_are_named_not_hung_on(tmp_path, capsys):
    fifo = tmp_path / "photo.png"
    os.mkfifo(fifo)
    zero = tmp_path / "zero.jpg"
    zero.symlink_to("/dev/zero")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no images here")
    (empty / "sub").mkdir()
    code = cli.main(["background", str(fifo), str(zero), str(empty), "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == cli_run.EXIT_SOME_FAILED, err
    assert err.count("not a regular file (a pipe, device or socket)") == 2
    assert "no images in this folder" in err and "add --recursive" in err
    assert "no such file" not in err


def test_an_empty_folder_alone_is_a_failure_not_success(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert cli.main(["restore", str(tmp_path / "empty"), "-o", str(tmp_path / "out")]) == cli_run.EXIT_SOME_FAILED
    assert "0 of 1 image(s)" in capsys.readouterr().out


def test_odd_file_names_give_safe_output_names(tmp_path, capsys, small_face):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("-rf.png", "two\nlines.png", "x" * 215 + ".png"):
        Image.fromarray(small_face).save(inputs / name)
    out = tmp_path / "out"
    code = cli.main(["background", str(inputs), "-o", str(out), "--mode", "colour", "--matting", "fallback",
                     "--format", "jpg", "--device", "cpu"])
    err = capsys.readouterr().err
    assert code in (cli_run.EXIT_OK, cli_run.EXIT_SOME_FAILED), err
    assert "internal error" not in err and "Traceback" not in err
    names = sorted(p.name for p in out.iterdir())
    assert "rf_colour.jpg" in names and "two_lines_colour.jpg" in names, names
    long_name = next(name for name in names if name.startswith("xxx"))
    assert long_name.endswith("_colour.jpg") and len(long_name.encode()) <= 255
    assert "two\\nlines.png" in err or "two\nlines" not in err  # no fake second line in the log


# -- transparency ----------------------------------------------------------------------------
def test_a_fully_transparent_image_is_refused(tmp_path, capsys):
    path = tmp_path / "clear.png"
    Image.fromarray(np.zeros((300, 300, 4), np.uint8)).save(path)
    code = cli.main(["idphoto", str(path), "--spec", "icao_generic", "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == cli_run.EXIT_SOME_FAILED
    assert "fully transparent" in err
    assert not any((tmp_path / "out").iterdir())


def test_a_cut_out_brings_its_own_matte(tmp_path, capsys, small_face):
    """A transparent PNG (ours or another tool's) is not matted again from its hidden colours:
    its own alpha is the matte, so a second cut-out keeps exactly the first one's edge."""
    rng = np.random.default_rng(1)
    alpha = np.zeros((256, 256), np.uint8)
    alpha[:, 64:192] = 255
    alpha[:, 62:64] = alpha[:, 192:194] = 128
    rgb = np.where((alpha == 0)[..., None], rng.integers(0, 255, (256, 256, 3), dtype=np.uint8), small_face)
    source = tmp_path / "cutout.png"
    Image.fromarray(np.dstack([rgb, alpha])).save(source)
    out = tmp_path / "out"
    code = cli.main(["background", str(source), "-o", str(out), "--mode", "transparent", "--feather", "0",
                     "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == cli_run.EXIT_OK, err
    assert "already a cut-out" in err
    with Image.open(out / "cutout_transparent.png") as image:
        result = np.asarray(image.convert("RGBA"))
    assert np.abs(result[..., 3].astype(int) - alpha).max() <= 1
    assert np.all(result[alpha == 0][:, :3] == 255)


# -- whole sets, no overwrites, full disks and interrupts --------------------------------------
def test_a_png_run_after_a_jpeg_run_leaves_the_first_set_alone(tmp_path, capsys):
    out = tmp_path / "out"
    assert cli.main(["idphoto", "--sample", "--spec", "icao_generic", "-o", str(out), "--device", "cpu"]) == 0
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    assert cli.main(["idphoto", "--sample", "--spec", "icao_generic", "-o", str(out), "--format", "png",
                     "--device", "cpu"]) == 0
    capsys.readouterr()
    assert all((out / name).read_bytes() == data for name, data in first.items())
    second = sorted(set(p.name for p in out.iterdir()) - set(first))
    assert second == sorted(f"astronaut_icao_generic_2{suffix}" for suffix in (".png", *ID_SET[1:]))
    report = json.loads((out / "astronaut_icao_generic_2_report.json").read_text())
    assert report["format"] == "png"


def test_an_internal_error_is_a_sentence_and_the_batch_goes_on(tmp_path, capsys, monkeypatch, small_face):
    from pipeline.cutout.cutter import CutoutPipeline

    def broken(*args, **kwargs):
        raise RuntimeError("tensor shape [1, 3, 0] at /secret/path")

    monkeypatch.setattr(CutoutPipeline, "replace_background", broken)
    Image.fromarray(small_face).save(tmp_path / "a.png")
    code = cli.main(["background", str(tmp_path / "a.png"), "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == cli_run.EXIT_SOME_FAILED
    assert "internal error (RuntimeError)" in err and "--debug" in err
    assert "/secret/path" not in err and "Traceback" not in err


def test_ctrl_c_during_a_batch_says_how_many_were_finished(tmp_path, capsys, monkeypatch, small_face):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for index in range(3):
        Image.fromarray(small_face).save(inputs / f"p{index}.png")
    real_load = cli_run._load
    calls = {"n": 0}

    def load_then_interrupt(source):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real_load(source)

    monkeypatch.setattr(cli_run, "_load", load_then_interrupt)
    out = tmp_path / "out"
    code = cli.main(["background", str(inputs), "-o", str(out), "--mode", "colour", "--format", "jpg"])
    err = capsys.readouterr().err
    assert code == cli_run.EXIT_INTERRUPTED
    assert f"Interrupted: 1 of 3 image(s) were finished; output in {out}." in err
    assert [p.name for p in out.iterdir()] == ["p0_colour.jpg"]


def test_sigterm_mid_run_leaves_only_whole_sets(tmp_path, small_face):
    """A real `kill` of a running idphoto batch: exit 130, a count, and every photo that
    appeared has its overlay and reports (none of the staging files stay)."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    for index in range(6):
        Image.fromarray(small_face).save(inputs / f"p{index}.png")
    out = tmp_path / "out"
    process = subprocess.Popen([sys.executable, "-m", "pipeline", "idphoto", str(inputs), "--spec", "icao_generic",
                                "-o", str(out), "--device", "cpu"], cwd=REPO, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list(out.glob("*.jpg")) and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    if process.returncode == 0:
        pytest.skip("the batch finished before the signal arrived")
    assert process.returncode == cli_run.EXIT_INTERRUPTED, err
    assert "Interrupted:" in err and "of 6 image(s) were finished" in err and "Traceback" not in err
    photos = sorted(out.glob("*.jpg"))
    assert photos, err
    for photo in photos:
        stem = photo.name.removesuffix(".jpg")
        assert all((out / f"{stem}{suffix}").exists() for suffix in ID_SET)
    assert len(list(out.iterdir())) == len(photos) * len(ID_SET)  # no staging files, no strays


def _mount_tiny_tmpfs(mount_point: Path, size: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs (a real full disk) needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount_point)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"this machine refused a tmpfs mount: {mounted.stderr.strip()}")


def test_a_full_disk_stops_the_run_with_a_sentence_and_no_half_set(tmp_path, capsys):
    out = tmp_path / "tiny"
    out.mkdir()
    _mount_tiny_tmpfs(out, "96k")
    try:
        code = cli.main(["idphoto", "--sample", "--spec", "icao_generic", "--sheet", "4x6", "-o", str(out),
                         "--device", "cpu"])
        err = capsys.readouterr().err
        assert code == cli_run.EXIT_STOPPED, err
        assert f"The disk holding {out} is full" in err and "Errno" not in err
        assert "0 of 1 image(s) were finished" in err
        assert list(out.iterdir()) == []
    finally:
        subprocess.run(["umount", str(out)], check=True)


# -- found by the hostile review of this change ---------------------------------------------
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes need a POSIX system")
def test_a_pipe_as_background_image_is_refused_not_waited_on(tmp_path):
    fifo = tmp_path / "backdrop.png"
    os.mkfifo(fifo)
    result = subprocess.run([sys.executable, "-m", "pipeline", "background", "--sample", "--mode", "image",
                             "--image", str(fifo), "-o", str(tmp_path / "out")], cwd=REPO, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == cli_run.EXIT_USAGE, result.stderr
    assert "not a regular file (a pipe, device or socket)" in result.stderr


def test_odd_paths_get_sentences_not_internal_errors(tmp_path, capsys, no_models):
    too_long = tmp_path / ("n" * 300)
    err = _usage_error(["restore", "--sample", "-o", str(too_long)], capsys)
    assert "file name too long" in err
    err = _usage_error(["restore", "--sample", "-o", str(tmp_path / "out"), "--report", str(too_long)], capsys)
    assert "file name too long" in err
    err = _usage_error(["restore", "--sample", "-o", str(tmp_path / "out"), "--report", "/dev/null"], capsys)
    assert "not a regular file" in err
    err = _usage_error(["restore", "--sample", "-o", ""], capsys)
    assert "-o/--output: must not be empty" in err
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    err = _usage_error(["restore", "--sample", "-o", str(loop)], capsys)
    assert "a link that leads nowhere (a loop)" in err


def test_an_input_name_too_long_or_unreadable_is_a_sentence(tmp_path, capsys):
    code = cli.main(["background", str(tmp_path / ("n" * 300 + ".png")), "/proc/self/mem", "-o", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == cli_run.EXIT_SOME_FAILED
    assert "cannot be used (file name too long)" in err
    assert "not a regular file" in err or "cannot be read (input/output error)" in err
    assert "[Errno" not in err and "internal error" not in err


def test_id_photo_sizes_are_checked_against_the_limits_before_any_work(tmp_path, capsys, monkeypatch, no_models):
    err = _usage_error(["idphoto", "--sample", "--custom", "1x1px", "-o", str(tmp_path / "a")], capsys)
    assert "too small to hold a face that can be checked" in err
    monkeypatch.setenv(ENV_MAX_PIXELS, "300000")
    err = _usage_error(["idphoto", "--sample", "--spec", "us_passport", "-o", str(tmp_path / "b")], capsys)
    assert "600x600 px photo" in err and "over the 0.3 MP limit" in err


def test_a_bad_device_is_refused_before_the_output_folder_is_made(tmp_path, capsys):
    out = tmp_path / "out"
    err = _usage_error(["background", "--sample", "--device", "foo", "-o", str(out)], capsys)
    assert "foo" in err and not out.exists()


def _run_cli(*args: str | bytes, env: dict[str, str] | None = None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=REPO, capture_output=True, timeout=120,
                          env={**os.environ, **(env or {})}, **kwargs)


def test_names_that_are_not_text_and_a_full_stdout_are_sentences(tmp_path):
    result = _run_cli("specs", b"\xff", env={"PYTHONIOENCODING": "utf-8"})
    assert result.returncode == cli_run.EXIT_SOME_FAILED and b"Traceback" not in result.stderr
    assert b"\\udcff" in result.stdout  # shown as an escape
    if Path("/dev/full").exists():
        with open("/dev/full", "w") as full:
            result = subprocess.run([sys.executable, "-m", "pipeline", "specs"], cwd=REPO, stdout=full,
                                    stderr=subprocess.PIPE, timeout=120)
        assert result.returncode == cli_run.EXIT_STOPPED
        assert result.stderr.decode().strip() == "Error: the run stopped: no space left on device."


def test_weights_fetch_failures_read_as_sentences(tmp_path):
    bad_mirror = _run_cli("weights", "fetch", "parsenet", "--retries", "0",
                          env={ENV_WEIGHTS_DIR: str(tmp_path), ENV_WEIGHTS_MIRROR: "http://[::1"})
    unwritable = _run_cli("weights", "fetch", "parsenet", "--retries", "0",
                          env={ENV_WEIGHTS_DIR: "/proc/portrait-lab-weights"})
    for result in (bad_mirror, unwritable):
        err = result.stderr.decode()
        assert result.returncode == cli_run.EXIT_SOME_FAILED, err
        assert "[Errno" not in err and "internal error" not in err and "Traceback" not in err
    assert "is not a valid URL" in bad_mirror.stderr.decode()
    assert "Cannot create the weights directory /proc/portrait-lab-weights (" in unwritable.stderr.decode()
