"""The pipeline's warnings, a document's background words and the unknown-document error
reach the visitor in the visitor's language (English stays the ``str()`` of each)."""
from __future__ import annotations

import csv

import cv2
import pytest

from pipeline.batch.jobs import _Listed
from pipeline.core.errors import UnknownSpecError
from pipeline.core.notes import ServerNote, split_notes
from pipeline.faces.analysis import OFFLINE_DETECTOR_NOTE, FaceAnalysis
from pipeline.faces.detect import select_faces
from pipeline.i18n import LANGUAGES, Message, render
from pipeline.idphoto.maker import IdPhotoOptions, IdPhotoPipeline
from pipeline.idphoto.outputs import write_id_photo_files
from pipeline.idphoto.search import BACKGROUNDS_PATH, background_words, rules_parts
from pipeline.idphoto.specs import SPECS_PATH, load_specs
from pipeline.models.store import ModelStore
from pipeline.restore.engine import GUARD_UNAVAILABLE


@pytest.fixture(scope="module")
def tilted_id_photo(cpu_compute, astronaut_rgb):
    """The astronaut tilted 12 degrees: levelled, and enlarged for 35x45 mm (as in test_maker)."""
    tilted = cv2.warpAffine(astronaut_rgb, cv2.getRotationMatrix2D((256, 120), 12, 1.0), (512, 512),
                            borderMode=cv2.BORDER_REFLECT)
    maker = IdPhotoPipeline(FaceAnalysis(ModelStore(compute=cpu_compute)))
    return maker.make(tilted, IdPhotoOptions(spec=load_specs().get("icao_generic")))


def test_id_photo_warnings_read_in_japanese_on_the_page_and_in_the_report(tilted_id_photo, tmp_path):
    warnings = [render(w, "ja") for w in tilted_id_photo.warnings]
    assert any("水平に補正しました" in w for w in warnings) and any("倍に拡大" in w for w in warnings)
    assert any("levelled" in str(w) for w in tilted_id_photo.warnings)  # str() stays English for the CLI
    files = write_id_photo_files(tilted_id_photo, tmp_path, "photo", lang="ja")
    report = files.report_txt.read_text(encoding="utf-8")
    assert "水平に補正しました" in report and "levelled" not in report
    assert "水平に補正しました" in files.report_json.read_text(encoding="utf-8")


def test_rules_line_and_report_quote_the_background_words_in_the_language():
    spec = load_specs().get("icao_generic")  # "plain, uniform, light-coloured"
    assert "单一、均匀的浅色" in rules_parts(spec, "zh-CN")[-1]
    assert "plain, uniform, light-coloured" in rules_parts(spec, "en")[-1]


def test_every_documents_background_words_have_every_language():
    with SPECS_PATH.open(encoding="utf-8") as handle:
        words = {row["background"].strip() for row in csv.DictReader(handle)} - {""}
    with BACKGROUNDS_PATH.open(encoding="utf-8") as handle:
        table = {row["en"]: row for row in csv.DictReader(handle)}
    assert words <= set(table)
    for english in words:
        for lang in LANGUAGES:
            assert table[english][lang].strip() and background_words(english, lang) == table[english][lang]


def test_restore_and_face_warnings_are_messages_rendered_in_korean():
    _, warnings = select_faces([], (100, 100), max_faces=0)
    assert render(GUARD_UNAVAILABLE, "ko").startswith("본인 유사도 보호를")
    assert render(Message("warning.restore.no_face"), "ko") == "얼굴을 찾지 못해 이미지를 변경 없이 돌려드립니다."
    assert str(Message("warning.restore.no_face")) == "No face found: the image is returned unchanged."
    assert render(Message("warning.faces.over_limit", {"found": 5, "limit": 2}), "ko").startswith("얼굴 5개를 찾았고")


def test_server_notes_stay_apart_and_render_in_the_batch_language():
    photo, server = split_notes([OFFLINE_DETECTOR_NOTE, Message("warning.cutout.no_face"), OFFLINE_DETECTOR_NOTE])
    assert server == [OFFLINE_DETECTOR_NOTE] and isinstance(server[0], ServerNote) and len(photo) == 1
    assert "オフライン" in render(server[0], "ja")
    compliance = Message("warning.batch.compliance", {"verdict": Message("report.verdict.fail"),
                                                      "checks": _Listed("", {"items": ("A", Message("warning.list_separator"))})})
    assert str(compliance) == "Compliance: FAIL (A, , )." and "A、" in render(compliance, "ja")


def test_unknown_document_is_said_in_the_language_and_echoes_at_most_80_characters():
    with pytest.raises(UnknownSpecError) as raised:
        load_specs().get("x" * 500)
    assert "x" * 80 not in raised.value.message and "x" * 70 in raised.value.message
    assert "規格はありません" in raised.value.user_message_in("ja")
    with pytest.raises(UnknownSpecError) as close:
        load_specs().get("us_pasport")
    assert "us_passport" in close.value.user_message_in("fr") and "Vouliez-vous dire" in close.value.user_message_in("fr")


def test_the_web_background_result_says_the_matting_fallback_in_the_visitors_language(tmp_path, astronaut_rgb):
    """No weights installed: the offline matting's note under the result is in Japanese."""
    import torch

    from pipeline.core.encode import save_image
    from pipeline.cutout.background import BackgroundOptions
    from pipeline.models.device import ComputeSettings
    from pipeline.models.manifest import load_manifest
    from pipeline.restore.engine import RestorationPipeline
    from webapp.language import speaking
    from webapp.studio import Studio

    (tmp_path / "weights").mkdir()
    studio = Studio(RestorationPipeline(manifest=load_manifest(), weights_directory=tmp_path / "weights",
                                        compute=ComputeSettings(device=torch.device("cpu"), dtype=torch.float32)))
    source = save_image(tmp_path / "astronaut.png", astronaut_rgb)
    with speaking("ja"):
        outcome = studio.replace_background(source, BackgroundOptions(mode="colour"), tmp_path)
    text = next(value for value in vars(outcome).values() if isinstance(value, str) and "\n- " in value)
    assert "オフラインの切り抜きを使用しました" in text and "matting" not in text
