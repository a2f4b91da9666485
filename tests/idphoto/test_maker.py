"""ID photos end to end on the astronaut: exact size, dpi in the file, and head height and
eye line measured *independently on the output* (a fresh detector and matte on the
decoded file, not the numbers used to crop) inside each document's ranges."""
from __future__ import annotations

import io
import json

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from pipeline import cli
from pipeline.core.errors import NoFaceError, TooManyFacesError
from pipeline.cutout.plainwall import fallback_matte
from pipeline.faces.analysis import FaceAnalysis
from pipeline.faces.detect import MTCNNDetector, detect_faces
from pipeline.faces.geometry import measure_head
from pipeline.idphoto.maker import IdPhotoOptions, IdPhotoPipeline, choose_placement, spec_for
from pipeline.idphoto.specs import IdPhotoSpec, load_specs
from pipeline.models.store import ModelStore

# Different shapes: 2x2 in square, ICAO 35x45, China 33x48 with a crown margin,
# Canada 50x70, and a pixel-only online upload.
SPEC_IDS = ["us_passport", "icao_generic", "cn_passport", "ca_passport", "us_dv_lottery"]
# Written out by hand (not computed by the code under test): 2x2 in at 300 dpi, 35x45 mm,
# 33x48 mm and 50x70 mm at 300 dpi, and the DV lottery's 600x600 px upload.
EXPECTED_PIXELS = {"us_passport": (600, 600), "icao_generic": (413, 531), "cn_passport": (390, 567),
                   "ca_passport": (591, 827), "us_dv_lottery": (600, 600)}


@pytest.fixture(scope="module")
def maker(cpu_compute) -> IdPhotoPipeline:
    return IdPhotoPipeline(FaceAnalysis(ModelStore(compute=cpu_compute)))


@pytest.fixture(scope="module")
def checker() -> MTCNNDetector:
    return MTCNNDetector(torch.device("cpu"))


def _inside(value: float, bounds: tuple[float, float]) -> bool:
    return bounds[0] <= value <= bounds[1]


@pytest.mark.parametrize("spec_id", SPEC_IDS)
def test_id_photo_meets_the_document_rules_measured_on_the_output(maker, checker, astronaut_rgb, spec_id):
    spec = load_specs().get(spec_id)
    result = maker.make(astronaut_rgb, IdPhotoOptions(spec=spec))

    delivered = Image.open(io.BytesIO(result.encoded))
    assert delivered.size == EXPECTED_PIXELS[spec_id]
    assert delivered.format == "JPEG"
    assert delivered.info["dpi"] == pytest.approx((300, 300), abs=0.5)
    assert result.report.check("resolution").status == "pass"
    assert not delivered.getexif()

    pixels = np.asarray(delivered.convert("RGB"))
    faces = detect_faces(checker, pixels)
    assert len(faces) == 1
    head = measure_head(faces[0], fallback_matte(pixels, faces))
    assert head.crown_from_matte
    height = pixels.shape[0]
    assert _inside(head.head_height / height, spec.head_ratio_range()), (head.head_height / height, spec.head_ratio_range())
    assert _inside(1 - head.eye_y / height, spec.eye_ratio_range()), (1 - head.eye_y / height, spec.eye_ratio_range())
    if spec.crown_margin_ratio_range():
        assert _inside(head.crown_y / height, spec.crown_margin_ratio_range())
    assert abs(head.axis_x / pixels.shape[1] - 0.5) < 0.03
    assert abs(head.roll_deg) < 2


def test_file_size_limit_of_the_document_is_met(maker, astronaut_rgb):
    spec = load_specs().get("us_visa")
    assert spec.max_file_kb
    result = maker.make(astronaut_rgb, IdPhotoOptions(spec=spec))
    assert len(result.encoded) <= spec.max_file_kb * 1024
    tight = maker.make(astronaut_rgb, IdPhotoOptions(spec=spec, max_kb=30))
    assert len(tight.encoded) <= 30 * 1024 and tight.quality < result.quality


def test_tilted_photo_is_levelled_and_small_faces_warn(maker, checker, astronaut_rgb):
    centre = (256, 120)
    tilted = cv2.warpAffine(astronaut_rgb, cv2.getRotationMatrix2D(centre, 12, 1.0), (512, 512),
                            borderMode=cv2.BORDER_REFLECT)
    result = maker.make(tilted, IdPhotoOptions(spec=load_specs().get("icao_generic")))
    assert abs(result.plan.roll_corrected_deg) > 8
    face = detect_faces(checker, result.photo)[0]
    assert abs(measure_head(face, None).roll_deg) < 2
    assert any("levelled" in str(w) for w in result.warnings)
    assert any("enlarged" in str(w) for w in result.warnings)  # a 512 px photo cannot print sharply at 35x45 mm


def test_crop_beyond_the_photo_is_filled_with_the_background(maker, astronaut_rgb):
    near_top = astronaut_rgb[15:300, 100:380]  # the hair almost touches the top edge
    result = maker.make(near_top, IdPhotoOptions(spec=load_specs().get("icao_generic"), background="#4080C0"))
    top_rows = result.photo[:3].reshape(-1, 3).astype(int)
    assert np.abs(np.median(top_rows, axis=0) - [0x40, 0x80, 0xC0]).max() <= 6


def test_no_face_and_several_faces_are_clear_errors(maker, astronaut_rgb):
    spec = load_specs().get("icao_generic")
    with pytest.raises(NoFaceError):
        maker.make(np.full((400, 300, 3), 200, np.uint8), IdPhotoOptions(spec=spec))
    with pytest.raises(TooManyFacesError) as error:
        maker.make(np.hstack([astronaut_rgb, astronaut_rgb]), IdPhotoOptions(spec=spec))
    assert "only you" in error.value.user_message


def test_placement_prefers_the_middle_and_reports_impossible_rules():
    spec = IdPhotoSpec(id="t", country="T", document="t", width_mm=35, height_mm=45, dpi=300,
                       head_height_mm=(31.5, 36.0), eye_line_mm=(25, 31), source="test")
    head, top, ok = choose_placement(spec, eye_offset=0.47)
    assert ok and head == pytest.approx(0.75, abs=0.01)
    eye = 1 - (top + 0.47 * head)
    assert spec.eye_ratio_range()[0] <= eye <= spec.eye_ratio_range()[1]
    impossible = IdPhotoSpec(id="t", country="T", document="t", width_mm=35, height_mm=45, dpi=300,
                             head_height_mm=(40, 44), eye_line_mm=(35, 40), source="test")
    assert choose_placement(impossible, eye_offset=0.47)[2] is False


def test_custom_sizes(maker, astronaut_rgb):
    assert spec_for(custom="40x50mm", dpi=600).size_px() == (945, 1181)
    result = maker.make(astronaut_rgb, IdPhotoOptions(spec=spec_for(custom="413x531px"), format="png", dpi=350))
    png = Image.open(io.BytesIO(result.encoded))
    assert png.format == "PNG" and png.size == (413, 531)
    assert png.info["dpi"] == pytest.approx((350, 350), abs=0.5)  # pHYs chunk


def test_cli_writes_photo_sheet_report_and_overlay(tmp_path, capsys):
    code = cli.main(["idphoto", "--sample", "--spec", "icao_generic", "--sheet", "4x6", "-o", str(tmp_path),
                     "--device", "cpu"])
    assert code == cli.EXIT_OK, capsys.readouterr().err
    names = sorted(p.name for p in tmp_path.iterdir())
    base = "astronaut_icao_generic"
    assert names == sorted([f"{base}.jpg", f"{base}_overlay.png", f"{base}_report.json", f"{base}_report.txt",
                            f"{base}_sheet.png", f"{base}_sheet.pdf"])
    report = json.loads((tmp_path / f"{base}_report.json").read_text())
    assert report["size_px"] == [413, 531] and report["compliance"]["checks"]
    assert "Head height" in (tmp_path / f"{base}_report.txt").read_text()
    assert Image.open(tmp_path / f"{base}_sheet.png").size == (1200, 1800)


def test_cli_specs_search(capsys):
    assert cli.main(["specs", "china", "visa"]) == cli.EXIT_OK
    out = capsys.readouterr().out
    assert "cn_visa" in out and "us_passport" not in out


def test_chin_and_crown_match_hand_read_positions_on_the_astronaut(checker, astronaut_rgb):
    """Ground truth read off the pixels (luma profiles in the face column), not from our code:
    the hair's top edge is at y = 16 and the chin's lower edge (skin to shadow) at y = 176."""
    faces = detect_faces(checker, astronaut_rgb)
    head = measure_head(faces[0], fallback_matte(astronaut_rgb, faces))
    assert head.crown_from_matte
    assert abs(head.crown_y - 16) <= 3
    assert abs(head.chin_y - 176) <= 5  # a smile lifts the mouth corners the chin is placed from
    assert abs(head.head_height - 160) / 160 < 0.04


def test_requested_dpi_changes_print_pixels_and_the_report_agrees(maker, astronaut_rgb):
    spec = load_specs().get("us_passport")
    result = maker.make(astronaut_rgb, IdPhotoOptions(spec=spec, dpi=600))
    assert Image.open(io.BytesIO(result.encoded)).size == (1200, 1200)
    assert result.report.check("resolution").status == "pass"


def test_documents_that_forbid_white_get_an_allowed_colour(maker, astronaut_rgb):
    spec = load_specs().get("fr_passport")
    assert "white forbidden" in spec.background and not spec.background_hex
    result = maker.make(astronaut_rgb, IdPhotoOptions(spec=spec))
    assert result.background == (0xD9, 0xD9, 0xD9)  # the light-grey preset
    assert "our choice" in str(result.report.check("background_colour").source)
    assert "our choice" in " ".join(result.spec.defaults_applied)


@pytest.mark.parametrize("options, message", [
    (dict(dpi=100000), "dpi must be between"), (dict(max_kb=0), "must be a positive number"),
    (dict(max_kb=float("nan")), "must be a positive number"), (dict(max_kb=float("inf")), "must be a positive number"),
    (dict(format="png", max_kb=100), "needs JPEG"), (dict(background="plaid"), "plaid"),
])
def test_impossible_requests_are_refused_before_any_work(maker, astronaut_rgb, options, message):
    from pipeline.core.errors import InvalidOptionError

    with pytest.raises(InvalidOptionError) as error:
        maker.make(astronaut_rgb, IdPhotoOptions(spec=load_specs().get("icao_generic"), **options))
    assert message in error.value.user_message


@pytest.mark.parametrize("max_kb", [1, 54])
def test_a_limit_at_or_below_the_documents_minimum_is_refused_up_front(max_kb):
    """US online-renewal files must be at least 54 KB: a 54 KB cap can never be met (it used to be
    found out after every photo had been made, with a message about 'two numbers')."""
    from pipeline.core.errors import InvalidOptionError

    with pytest.raises(InvalidOptionError, match="needs files of at least 54 KB"):
        IdPhotoOptions(spec=load_specs().get("us_passport_online"), max_kb=max_kb).validated()
    assert IdPhotoOptions(spec=load_specs().get("us_passport_online"), max_kb=55).validated().max_kb == 55


def test_cli_keeps_dotted_names_and_never_overwrites(tmp_path, astronaut_rgb, capsys):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        Image.fromarray(astronaut_rgb).save(tmp_path / folder / "jane.doe.png")
    out = tmp_path / "out"
    code = cli.main(["idphoto", str(tmp_path / "a"), str(tmp_path / "b"), "--spec", "sa_evisa", "-o", str(out),
                     "--device", "cpu"])
    assert code == cli.EXIT_OK, capsys.readouterr().err
    photos = sorted(p.name for p in out.glob("*.jpg"))
    assert photos == ["jane.doe_sa_evisa.jpg", "jane.doe_sa_evisa_2.jpg"]
    assert (out / "jane.doe_sa_evisa_2_report.txt").read_text(encoding="utf-8")


def test_cli_refuses_a_print_sheet_for_a_digital_upload(tmp_path, capsys):
    code = cli.main(["idphoto", "--sample", "--spec", "us_dv_lottery", "--sheet", "4x6", "-o", str(tmp_path)])
    assert code == cli.EXIT_USAGE
    assert "digital upload" in capsys.readouterr().err


@pytest.mark.parametrize("verdict, strict, expected", [
    ("fail", True, cli.EXIT_STOPPED),  # a script can tell a photo that would be turned away
    ("fail", False, cli.EXIT_OK),
    ("warn", True, cli.EXIT_OK),
])
def test_strict_exits_3_when_a_photo_fails_its_document(tmp_path, monkeypatch, capsys, verdict, strict, expected):
    from pipeline.idphoto.compliance.report import ComplianceReport

    monkeypatch.setattr(ComplianceReport, "overall", property(lambda self: verdict))
    argv = ["idphoto", "--sample", "--spec", "icao_generic", "-o", str(tmp_path), "--device", "cpu"]
    assert cli.main(argv + (["--strict"] if strict else [])) == expected
    assert len(list(tmp_path.glob("*_icao_generic.jpg"))) == 1  # the files are written either way
    assert ("Strict: 1 photo(s) fail" in capsys.readouterr().err) == (expected == cli.EXIT_STOPPED)
