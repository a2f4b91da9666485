"""The ID-photo compliance report speaks the reader's language (issue 18, point 3): the same
photo's report has the same check ids and verdicts in every language, its words are
translated (no English left in the titles, measurements, limits and advice), the CLI writes
it in ``--lang`` (English by default) and the page renders a saved report in the visitor's
language."""
from __future__ import annotations

import json
import re

import pytest

from idphoto.test_compliance import draw_portrait, run
from pipeline import cli
from pipeline.cli.parser import build_parser
from webapp.language import speaking
from webapp.report_view import report_html

WORDS = ("title", "measured", "threshold", "advice")
# Names that stay as they are in every language: formats, standards, the product, colour codes.
KEPT = re.compile(r"#[0-9A-Fa-f]{6}|\b(?:JPEG|ICAO|OFIQ|CIEDE2000|Portrait Lab)\b")
ENGLISH_WORD = re.compile(r"[A-Za-z]{4,}")


@pytest.fixture(scope="module")
def reports():
    """A photo that fails (a small head, a file over the limit) and one with no face found, so
    every kind of row is there: failures and their advice, passes, checks not assessed."""
    portrait = draw_portrait(head_share=0.40)
    return [run(portrait, file_bytes=260 * 1024), run(portrait, faces=[])]


def _english_left(check: dict) -> list[str]:
    return [f"{check['id']}.{name}: {check[name]!r}" for name in WORDS
            if ENGLISH_WORD.search(KEPT.sub("", str(check[name])))]


@pytest.mark.parametrize("lang", ["ja", "zh-CN"])
def test_the_report_in_another_language_keeps_ids_and_verdicts_and_leaves_no_english(reports, lang):
    for report in reports:
        english, translated = report.to_dict(), report.to_dict(lang)
        assert translated["lang"] == lang and english["lang"] == "en"
        assert [(c["id"], c["status"]) for c in translated["checks"]] == \
            [(c["id"], c["status"]) for c in english["checks"]]
        assert translated["overall"] == english["overall"] and translated["counts"] == english["counts"]
        assert any(c["advice"] for c in translated["checks"])
        left = [line for check in translated["checks"] for line in _english_left(check)]
        assert not left, "\n".join(left)
        text = report.to_text(lang)
        assert "Failures" not in text and "allowed:" not in text and "How the head was measured" not in text


def test_japanese_says_chin_to_crown_for_the_head_height(reports):
    report = reports[0]
    head = next(c for c in report.to_dict("ja")["checks"] if c["id"] == "head_height")
    assert "顎から頭頂まで" in head["title"]
    assert head["status"] == "fail" and "カメラに近づいて" in head["advice"]
    assert "頭の高さ（顎から頭頂まで）" in report.to_text("ja")


def test_english_stays_the_report_s_default(reports):
    report = reports[0]
    assert report.to_dict() == report.to_dict("en")
    assert report.to_text().splitlines()[0].endswith("FAIL")
    assert str(report.check("head_height").title) == "Head height (chin to crown)"


def test_the_page_renders_a_saved_english_report_in_the_visitor_s_language(reports):
    saved = json.loads(json.dumps(reports[0].to_dict()))  # as the JSON file holds it: English
    with speaking("ja"):
        page = report_html(saved)
    assert "顎から頭頂まで" in page and "カメラに近づいて" in page and "合格" in page
    assert "Head height" not in page and "Allowed:" not in page
    assert "Head height (chin to crown)" in report_html(saved)  # outside a request: English


def test_the_cli_writes_the_report_in_lang_and_defaults_to_english(tmp_path, capsys):
    parser = build_parser()
    assert parser.parse_args(["idphoto", "--spec", "icao_generic", "-o", "out"]).lang == "en"
    assert parser.parse_args(["batch", "idphoto", "in", "--spec", "icao_generic", "-o", "out",
                              "--lang", "zh-TW"]).lang == "zh-TW"
    assert cli.main(["idphoto", "--sample", "--spec", "icao_generic", "-o", str(tmp_path), "--lang", "ja"]) in (0, 1)
    capsys.readouterr()
    result = json.loads(next(tmp_path.glob("*_report.json")).read_text(encoding="utf-8"))
    compliance = result["compliance"]
    assert compliance["lang"] == "ja"
    advised = [c for c in compliance["checks"] if c["advice"]]
    assert advised and all(re.search(r"[\u3040-\u30ff]", c["advice"]) for c in advised), advised
    assert all(re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", c["title"]) for c in compliance["checks"])
    text = next(tmp_path.glob("*_report.txt")).read_text(encoding="utf-8")
    assert "頭の高さ（顎から頭頂まで）" in text and "証明写真" in text.splitlines()[0]
