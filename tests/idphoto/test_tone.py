"""Issue 15, item 2: fix the photo, not only judge it (the face's light and colour, the sliders).

The real portraits (a child, a young adult, the astronaut) are darkened or given a colour cast,
made into ID photos, and compared with the untouched photo: the correction moves the face back
toward it, within its stated bounds, and the report (made on the delivered file) agrees. An
untouched photo is left exactly as it was, and the painted background keeps its exact colour.
"""
from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest

from pipeline import cli
from pipeline.core.errors import InvalidOptionError
from pipeline.faces.analysis import FaceAnalysis
from pipeline.idphoto.compliance.measurements import face_region_mask, luma
from pipeline.idphoto.maker import IdPhotoOptions, IdPhotoPipeline, IdPhotoResult
from pipeline.idphoto.outputs import write_id_photo_files
from pipeline.idphoto.nudge import PlacementNudge
from pipeline.idphoto.specs import load_specs
from pipeline.idphoto.tone import GAMMA_RANGE, TARGET_MEAN, WB_GAIN_RANGE, ToneOptions, correct_tone
from pipeline.models.store import ModelStore

SPECS = load_specs()
SPEC = SPECS.get("icao_generic")
NAMES = ["astronaut", "boy_red.jpg", "man_white.jpg"]
# What a photo is made into: a dim room (x0.45), a very dark one (x0.25, the exposure check
# warns), a warm light (red up, blue down) and a cool one (the reverse).
VARIANTS = {
    "untouched": (1.0, 1.0, 1.0),
    "dim": (0.45, 0.45, 0.45),
    "dark": (0.25, 0.25, 0.25),
    "warm": (1.15, 1.0, 0.85),
    "cool": (0.87, 1.0, 1.15),
}


@pytest.fixture(scope="module")
def maker(cpu_compute) -> IdPhotoPipeline:
    return IdPhotoPipeline(FaceAnalysis(ModelStore(compute=cpu_compute)))


def variant(portraits, name: str, kind: str) -> np.ndarray:
    rgb = next(portrait.rgb for portrait in portraits if portrait.name == name)
    return np.clip(np.rint(rgb.astype(np.float64) * np.array(VARIANTS[kind])), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def made(maker, portraits):
    """made(name, variant, auto=True, **sliders) -> IdPhotoResult, each made once per module."""
    results: dict[tuple, IdPhotoResult] = {}

    def make(name: str, kind: str, auto: bool = True, **sliders: float) -> IdPhotoResult:
        key = (name, kind, auto, tuple(sorted(sliders.items())))
        if key not in results:
            options = IdPhotoOptions(spec=SPEC, tone=ToneOptions(auto=auto, **sliders))
            results[key] = maker.make(variant(portraits, name, kind), options)
        return results[key]

    return make


def log_ratios(result: IdPhotoResult, when: str) -> np.ndarray:
    tone = getattr(result.corrections, when)
    return np.log([tone.green_red, tone.blue_red])


# --- automatic correction ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_a_dim_face_is_brightened_toward_the_untouched_photo(made, name):
    """x0.45: face mean 0.29-0.34 (the untouched faces: 0.64-0.75). On the old code nothing
    was corrected (there was no ``corrections``; the photo left as it came)."""
    original = made(name, "untouched").corrections.before.mean
    result = made(name, "dim")
    change = result.corrections
    assert change.curve_exponent < 1.0 and change.curve_exponent >= GAMMA_RANGE[0]
    assert change.before.mean < 0.36
    assert abs(change.after.mean - original) < abs(change.before.mean - original) - 0.1
    assert change.after.mean == pytest.approx(TARGET_MEAN, abs=0.02)
    # the report, made on the delivered file, sees the corrected face
    assert result.report.check("exposure").value == pytest.approx(change.after.mean, abs=0.03)
    assert "Brightened the face (mean 0." in change.summary() and "gamma" not in change.summary().lower()
    # the automatic step off: the face is as photographed
    assert made(name, "dim", auto=False).report.check("exposure").value == pytest.approx(change.before.mean, abs=0.03)


@pytest.mark.parametrize("name", NAMES)
def test_the_exposure_row_goes_from_warning_to_pass_on_a_dark_face(made, name):
    off, on = made(name, "dark", auto=False), made(name, "dark")
    assert off.report.check("exposure").status == "warn", off.report.check("exposure")
    assert on.report.check("exposure").status == "pass", on.report.check("exposure")
    assert on.report.check("exposure").value > off.report.check("exposure").value + 0.15


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("kind, cast", [("warm", "warm"), ("cool", "cool blue")])
def test_a_colour_cast_is_corrected_toward_the_untouched_photo(made, name, kind, cast):
    """The face's green/red and blue/red move back toward the untouched face's, by gains
    inside the stated bounds; the face's brightness stays (within 0.02)."""
    original = log_ratios(made(name, "untouched"), "before")
    result = made(name, kind)
    change = result.corrections
    assert change.cast == cast
    before, after = log_ratios(result, "before"), log_ratios(result, "after")
    assert np.linalg.norm(after - original) < 0.6 * np.linalg.norm(before - original), (before, after, original)
    assert all(WB_GAIN_RANGE[0] <= gain <= WB_GAIN_RANGE[1] for gain in change.channel_gains)
    assert change.after.mean == pytest.approx(change.before.mean, abs=0.02)
    assert f"Removed a {cast} colour cast" in change.summary()


@pytest.mark.parametrize("name", NAMES)
def test_an_untouched_photo_is_left_exactly_as_it_was(made, name):
    on, off = made(name, "untouched"), made(name, "untouched", auto=False)
    assert not on.corrections.changed and on.corrections.curve_exponent == 1.0 and on.corrections.cast is None
    assert np.array_equal(on.placed, off.placed)
    assert on.encoded == off.encoded
    assert on.corrections.summary() == ""


def darker_in_linear_light(rgb: np.ndarray, gain: float, lift: float = 0.0) -> np.ndarray:
    linear = (rgb.astype(np.float64) / 255.0) ** 2.2 * gain
    return np.clip(np.rint(lift + 255.0 * linear ** (1 / 2.2) * (255.0 - lift) / 255.0), 0, 255).astype(np.uint8)


def test_a_face_too_dark_to_recognise_is_not_brightened_and_says_why(maker, portraits):
    """Brightening cannot bring back detail, and the report must still fail it."""
    dark = darker_in_linear_light(variant(portraits, "man_white.jpg", "untouched"), 0.015, lift=20)
    result = maker.make(dark, IdPhotoOptions(spec=SPEC))
    assert result.corrections.curve_exponent == 1.0
    assert "retake the photo in better light" in result.corrections.summary()
    assert result.report.check("exposure").status == "fail"


# --- the painted background stays exact; the numbers reach the report -----------------------------------------------
def test_the_background_is_painted_after_the_correction_so_its_colour_stays_exact(made):
    result = made("astronaut", "warm", brightness=0.6, contrast=0.4)
    assert result.corrections.cast == "warm"
    background = np.array(result.background)
    for corner in (result.placed[:20, :20], result.placed[:20, -20:]):  # above the shoulders, beside the head
        assert (corner.reshape(-1, 3) == background).all(), corner[0, 0]


def test_the_before_and_after_numbers_are_in_the_json_the_text_and_the_page(made, tmp_path):
    from webapp.report_view import report_page_from_file

    result = made("man_white.jpg", "dim")
    data = result.to_dict()["corrections"]
    assert data["before"]["mean"] < 0.36 < data["after"]["mean"]
    assert data["changed"] is True and data["summary"].startswith("Brightened the face")
    files = write_id_photo_files(result, tmp_path, "dim")
    assert "Brightened the face (mean" in files.report_text
    assert json.loads(files.report_json.read_text())["corrections"]["after"]["mean"] == data["after"]["mean"]
    assert "Brightened the face (mean" in report_page_from_file(files.report_json)


# --- sliders -------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def face_crop(maker, portraits):
    """The astronaut's face, its landmarks and its face region (no matte)."""
    rgb = variant(portraits, "astronaut", "untouched")
    faces, _, _ = maker.faces.detect(rgb)
    face = max(faces, key=lambda f: f.area)
    return rgb, face.landmarks, face_region_mask(rgb.shape[:2], face.landmarks, None)


def _face_luma(rgb: np.ndarray, region: np.ndarray) -> np.ndarray:
    return luma(rgb)[region] / 255.0


@pytest.mark.parametrize("value", [-0.5, 0.5, 1.0])
def test_brightness_moves_the_face_mean_its_way(face_crop, value):
    rgb, landmarks, region = face_crop
    out, change = correct_tone(rgb, None, landmarks, ToneOptions(auto=False, brightness=value))
    shift = _face_luma(out, region).mean() - _face_luma(rgb, region).mean()
    assert math.copysign(1, shift) == math.copysign(1, value) and abs(shift) > 0.04
    assert change.after.mean == pytest.approx(_face_luma(out, region).mean(), abs=1e-6)


@pytest.mark.parametrize("value", [-0.5, 0.5])
def test_contrast_moves_the_face_spread_its_way(face_crop, value):
    rgb, landmarks, region = face_crop
    out, _ = correct_tone(rgb, None, landmarks, ToneOptions(auto=False, contrast=value))
    ratio = _face_luma(out, region).std() / _face_luma(rgb, region).std()
    assert (ratio > 1.15) if value > 0 else (ratio < 0.85), ratio


def test_sharpness_raises_the_laplacian_variance(face_crop):
    rgb, landmarks, region = face_crop
    variance = [cv2.Laplacian(luma(correct_tone(rgb, None, landmarks, ToneOptions(auto=False, sharpness=s))[0]),
                              cv2.CV_32F)[region].var() for s in (0.0, 0.5, 1.0)]
    assert variance[0] < variance[1] < variance[2] and variance[2] > 1.5 * variance[0], variance


def test_neutral_sliders_without_the_automatic_step_return_the_very_same_array(face_crop):
    rgb, landmarks, _ = face_crop
    out, change = correct_tone(rgb, None, landmarks, ToneOptions(auto=False))
    assert out is rgb and not change.changed


def test_the_sliders_are_said_in_plain_words(made):
    change = made("astronaut", "untouched", brightness=0.3, sharpness=0.5).corrections
    assert change.summary() == "Applied your brightness +0.30, sharpness +0.50."


# --- refusals ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("options, words", [
    (ToneOptions(brightness=1.5), "brightness must be a number from -1 to 1"),
    (ToneOptions(contrast=float("nan")), "contrast must be a number from -1 to 1"),
    (ToneOptions(contrast=-1.01), "contrast must be a number from -1 to 1"),
    (ToneOptions(sharpness=-0.1), "sharpness must be a number from 0 to 1"),
    (ToneOptions(sharpness="0.5"), "sharpness must be a number"),  # type: ignore[arg-type]
    (ToneOptions(brightness=True), "brightness must be a number"),  # type: ignore[arg-type]
    (ToneOptions(auto="yes"), "automatic correction is on or off"),  # type: ignore[arg-type]
])
def test_impossible_tone_values_are_refused_in_a_sentence(options, words):
    with pytest.raises(InvalidOptionError, match=words):
        IdPhotoOptions(spec=SPEC, tone=options).validated()


# --- the command line ----------------------------------------------------------------------------------------------
def test_cli_flags_reach_the_options(tmp_path, monkeypatch):
    seen: list[IdPhotoOptions] = []

    def capture(self, image, options):  # noqa: ANN001
        seen.append(options)
        raise KeyboardInterrupt  # stop after the first photo: the options are what is tested

    monkeypatch.setattr(IdPhotoPipeline, "make", capture)
    argv = ["idphoto", "--sample", "--spec", "icao_generic", "-o", str(tmp_path), "--device", "cpu",
            "--no-auto-correct", "--brightness", "0.25", "--contrast", "-0.5", "--sharpness", "0.75",
            "--head-size", "1", "--head-position", "-0.5"]
    cli.main(argv)
    assert seen[0].tone == ToneOptions(auto=False, brightness=0.25, contrast=-0.5, sharpness=0.75)
    assert seen[0].nudge == PlacementNudge(head_size=1.0, vertical=-0.5)
    cli.main(argv[:8])
    assert seen[1].tone == ToneOptions() and seen[1].tone.auto and seen[1].nudge == PlacementNudge()


@pytest.mark.parametrize("flag, value", [("--brightness", "2"), ("--sharpness", "-0.2"), ("--head-size", "nan"),
                                         ("--head-position", "1.5"), ("--contrast", "x")])
def test_cli_refuses_out_of_range_flags_before_any_work(tmp_path, capsys, flag, value):
    with pytest.raises(SystemExit) as stopped:
        cli.main(["idphoto", "--sample", "--spec", "icao_generic", "-o", str(tmp_path), flag, value])
    assert stopped.value.code == cli.EXIT_USAGE
    assert flag in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


# --- the web app's entry point (the UI is wired by its owner; this is Studio.id_photo) -----------------------------
def test_studio_passes_the_options_and_says_what_was_corrected(portraits, cpu_compute, tmp_path):
    from PIL import Image

    from pipeline.models.manifest import load_manifest
    from pipeline.restore.engine import RestorationPipeline
    from webapp.studio import Studio

    studio = Studio(RestorationPipeline(manifest=load_manifest(), weights_directory=tmp_path / "none",
                                        compute=cpu_compute))
    source = tmp_path / "dim.png"
    Image.fromarray(variant(portraits, "man_white.jpg", "dim")).save(source)
    (tmp_path / "a").mkdir()
    outcome = studio.id_photo(source, "icao_generic", tmp_path / "a")
    assert "Brightened the face (mean 0.29 \u2192 0.50)." in outcome.summary, outcome.summary
    (tmp_path / "b").mkdir()
    kept = studio.id_photo(source, "icao_generic", tmp_path / "b", tone=ToneOptions(auto=False, contrast=0.3),
                           nudge=PlacementNudge(head_size=1.0))
    assert "Brightened" not in kept.summary and "Applied your contrast +0.30." in kept.summary
    assert json.loads(kept.report_json.read_text())["placement"]["head_ratio"] > \
        json.loads(outcome.report_json.read_text())["placement"]["head_ratio"]
    with pytest.raises(InvalidOptionError, match="sharpness"):
        studio.id_photo(source, "icao_generic", tmp_path, tone=ToneOptions(sharpness=3.0))
