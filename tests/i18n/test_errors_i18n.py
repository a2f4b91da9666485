"""The pipeline's typed errors and the batch report speak the visitor's language: the same
facts (sizes, counts, names) in every language, the operator's sentences (commands, server
paths) still kept from visitors, report.html in the batch's language while report.csv keeps
the ids scripts read."""
from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.batch import run_batch
from pipeline.batch.inputs import expand_inputs
from pipeline.batch.jobs import JobOutput
from pipeline.batch.report import BatchRow, write_reports
from pipeline.core.decode import decode_image
from pipeline.core.encode import encode_image
from pipeline.core.errors import ImageTooLargeError, InvalidImageError, NoFaceError, PortraitLabError
from pipeline.i18n import Message

CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]")


def _png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (width, height), 128).save(buffer, format="PNG")
    return buffer.getvalue()


def _refusal(source, **kwargs) -> PortraitLabError:
    with pytest.raises(PortraitLabError) as caught:
        decode_image(source, **kwargs)
    return caught.value


@pytest.mark.parametrize("lang", ["ja", "zh-CN"])
def test_a_too_large_image_is_refused_in_the_visitors_language_with_its_numbers(lang):
    error = _refusal(_png(3000, 2000), max_pixels=1_000_000)
    assert isinstance(error, ImageTooLargeError)
    english, local = error.visitor_message, error.visitor_message_in(lang)
    assert "3000×2000" in english and "1 MP" in english  # English unchanged for the CLI and the log
    assert CJK.search(local) and local != english
    assert "3000×2000" in local and "6 MP" in local and "1 MP" in local
    assert re.search(r"\d+×\d+", local.split("3000×2000", 1)[1])  # the hint's largest size that fits


@pytest.mark.parametrize("lang", ["ja", "zh-CN"])
def test_a_broken_file_is_refused_in_the_visitors_language(tmp_path, lang):
    broken = tmp_path / "holiday.jpg"
    broken.write_bytes(b"this is not a photo at all" * 20)
    error = _refusal(broken)
    assert isinstance(error, InvalidImageError)
    local = error.visitor_message_in(lang)
    assert CJK.search(local) and ".jpg" in local and "JPEG" in local  # the suffix and the formats hint
    assert not re.search(r"[A-Za-z]{4,} [a-z]{3,} [a-z]{3,}", local.replace("JPEG", ""))  # no English sentence left


@pytest.mark.parametrize("lang", ["ja", "zh-CN"])
def test_no_face_is_said_in_the_visitors_language(lang):
    from pipeline.idphoto.maker import main_face

    with pytest.raises(NoFaceError) as caught:
        main_face([])
    local = caught.value.visitor_message_in(lang)
    assert CJK.search(local) and local != caught.value.visitor_message
    assert caught.value.visitor_message.startswith("No face was found in this photo.")


def test_operator_sentences_are_still_kept_from_visitors_in_every_language():
    error = PortraitLabError(Message("error.face.none"), hint="Fetch it with: python -m pipeline weights fetch.")
    for lang in ("en", "ja", "zh-TW", "fr"):
        shown = error.visitor_message_in(lang)
        assert "python -m" not in shown and shown == Message("error.face.none").text(lang)
    in_path = PortraitLabError(Message("error.decode.unreadable", {"reason": "denied"}),
                               hint="The weights live in /srv/models/gfpgan/.")
    assert "/srv/" not in in_path.visitor_message_in("ko") and "denied" in in_path.visitor_message_in("ko")
    only_operator = PortraitLabError("Run python -m pipeline weights fetch.")
    assert only_operator.visitor_message_in("ja") == Message("error.fallback").text("ja")
    assert "python -m" in only_operator.user_message_in("ja")  # the CLI and the log keep it


def test_japanese_sentences_are_joined_without_a_space():
    error = NoFaceError(Message("error.face.none"), hint=Message("error.face.none_hint"))
    assert error.visitor_message_in("ja") == Message("error.face.none").text("ja") + Message("error.face.none_hint").text("ja")
    assert error.visitor_message_in("es").count(". ") == 1


def _rows() -> list[BatchRow]:
    return [BatchRow("a.png", "ok", seconds=0.5, metrics={"file_kb": 41}),
            BatchRow("b.png", "error", "写真に顔がありません。")]


def _report(tmp_path: Path, **kwargs) -> tuple[str, list[str]]:
    rows = _rows()
    counts = {"ok": 1, "warning": 0, "error": 1, "skipped": 0}
    csv_path, html_path, _ = write_reports(tmp_path, "idphoto", rows, counts, [], 0.0, make_zip=False, **kwargs)
    header = next(csv.reader(io.StringIO(csv_path.read_text(encoding="utf-8-sig"))))
    return html_path.read_text(encoding="utf-8"), header


def test_the_batch_report_is_written_in_the_batchs_language(tmp_path):
    page, header = _report(tmp_path, lang="zh-CN")
    assert '<html lang="zh-CN">' in page
    assert "批量处理报告" in page and "证件照" in page  # the title and the job
    assert "<th>状态</th>" in page and "<th>文件</th>" in page and "<th>处理前</th>" in page
    assert "正常: 1" in page and "错误: 1" in page and ">错误</span>" in page  # status words
    assert "共 2 个文件" in page and "文件大小（KB）" in page  # summary sentence, a metric's name
    assert "<th>Status</th>" not in page and "file(s)" not in page
    assert header == ["name", "status", "message", "output", "seconds", "file_kb"]  # ids for scripts


def test_the_batch_report_is_english_by_default(tmp_path):
    page, header = _report(tmp_path)
    assert '<html lang="en">' in page and "<th>Status</th>" in page and "ok: 1" in page
    assert "2 file(s), total time" in page and "File size (KB)" in page
    assert header == ["name", "status", "message", "output", "seconds", "file_kb"]


def _no_face_job(image) -> JobOutput:
    if image.size == (9, 9):
        raise NoFaceError(Message("error.face.none"), hint=Message("error.face.none_hint"))
    return JobOutput(data=encode_image(image.rgb, format="PNG"), suffix=".png", preview=image.rgb)


def test_a_batch_rows_sentences_and_table_follow_its_language(tmp_path):
    photos = []
    for size in (9, 16):
        path = tmp_path / f"p{size}.png"
        Image.fromarray(np.full((size, size, 3), 128, np.uint8)).save(path)
        photos.append(path)
    (tmp_path / "notes.txt").write_text("x")
    items, refused = expand_inputs([*photos, tmp_path / "notes.txt"], tmp_path / "work", lang="ja")
    summary = run_batch(items, _no_face_job, tmp_path / "out", job_name="idphoto", extra_rows=refused, lang="ja")
    by_name = {row.name: row for row in summary.rows}
    assert by_name["p9.png"].message == NoFaceError(Message("error.face.none"),
                                                    hint=Message("error.face.none_hint")).visitor_message_in("ja")
    assert CJK.search(by_name["notes.txt"].message) and "'.txt'" not in by_name["notes.txt"].message
    assert "「.txt」" in by_name["notes.txt"].message
    assert summary.table_headers()[:3] == ["ファイル", "状態", "メモ"]
    assert {line[1] for line in summary.table()} == {"エラー", "正常"}
    assert '<html lang="ja">' in summary.html_path.read_text(encoding="utf-8")
