"""The last English words a visitor saw are in their language: the document's rules line,
the identity verdicts, and the storage quota's refusals (issue 18)."""
from __future__ import annotations

import re

import pytest

from pipeline.core.errors import DiskSpaceError
from pipeline.idphoto.search import rules_text
from pipeline.idphoto.specs import load_specs
from pipeline.restore.identity_bands import describe_score, identity_band, identity_legend
from webapp.language import speaking
from webapp.quotas import DiskLimits, DiskQuota
from webapp.uploads import UploadLedger, UploadMeter

SPECS = load_specs()
HANGUL = re.compile(r"[\uac00-\ud7af]")


def test_a_print_document_s_rules_read_in_japanese_and_english_is_unchanged():
    spec = SPECS.get("jp_passport")
    japanese = rules_text(spec, "ja")
    assert "印刷" in japanese and "背景" in japanese and "mm" in japanese and japanese.endswith("。")
    assert "Print" not in japanese and "head" not in japanese
    assert rules_text(spec).startswith("Print, ") and "% of the photo height" in rules_text(spec)


def test_an_upload_s_pixel_range_and_file_sizes_read_in_korean():
    korean = rules_text(SPECS.get("uk_passport_digital"), "ko")
    assert "온라인" in korean and "600x750 px 이상" in korean and "at least" not in korean


def test_the_web_rules_line_follows_the_visitor_s_language():
    from webapp.tabs.idphoto import spec_rules

    class Studio:  # only what spec_rules asks of the studio
        spec = staticmethod(SPECS.get)

    with speaking("fr"):
        french = spec_rules(Studio(), "fr_passport")
    assert french.startswith("Tirage papier") and "fond" in french and "cheveux exclus" in french


def test_identity_verdicts_and_legend_in_chinese_and_english_for_the_cli():
    assert identity_band(0.62).verdict_in("zh-CN") == "同一人"
    assert "已不像本人" in identity_legend("zh-CN") and "；" in identity_legend("zh-CN")
    assert describe_score(0.29, "zh-CN").startswith("0.29：已不像本人。")
    assert describe_score(0.62) == "0.62: same person. The restored face still matches the original."
    assert identity_legend() == ("0.38 or more: same person; 0.30 to 0.38: probably the same person; "
                                 "below 0.30: identity changed.")


def test_the_over_quota_refusals_read_in_korean(tmp_path):
    quota = DiskQuota(tmp_path, DiskLimits(visitor_bytes=1000), UploadLedger(), lambda owner: [])
    with pytest.raises(DiskSpaceError) as refused:
        quota.require_room("visitor", incoming=5000)
    korean = refused.value.visitor_message_in("ko")
    assert HANGUL.search(korean) and "You are using" not in korean
    assert refused.value.user_message.startswith("You are using")
    meter = UploadMeter(UploadLedger(), "visitor", quota.uploads.mark("visitor"), 10, 10**9, 1000, (1.0, 1.0))
    with pytest.raises(DiskSpaceError) as too_big:
        meter.add(100)
    assert HANGUL.search(too_big.value.user_message_in("ko")) and "This upload" not in too_big.value.user_message_in("ko")


def test_a_spoken_line_is_rendered_again_from_the_inputs_it_names():
    """The rules line follows a language pick for the document the visitor chose, not the default."""
    import gradio as gr

    from webapp.language import t
    from webapp.tabs.idphoto import spec_rules
    from webapp.ui import wire_spoken

    class Studio:
        spec = staticmethod(SPECS.get)

    with gr.Blocks() as blocks:
        picker = gr.Dropdown(["en", "ja"])
        spec = gr.Dropdown(["jp_passport", "fr_passport"], value="jp_passport")
        verdict, rules = gr.Markdown(), gr.Markdown()
        wire_spoken(picker, [(verdict, lambda: t("doc.identity.same")),
                             (rules, lambda spec_id: spec_rules(Studio(), spec_id), (spec,))])
    render = next(iter(blocks.fns.values()))
    assert [block._id for block in render.inputs] == [picker._id, spec._id]
    same, line = render.fn("ja", "fr_passport")
    assert same == "同一人物" and line.startswith(rules_text(SPECS.get("fr_passport"), "ja"))


def test_the_empty_batch_table_s_headers_follow_the_language_but_a_filled_one_stays():
    import pandas

    from webapp.tabs.batch import starting_table

    with speaking("ja"):
        empty = starting_table(pandas.DataFrame([["", "", ""]], columns=["File", "Status", "Notes"]))
        filled = starting_table(pandas.DataFrame([["a.jpg", "ok", ""]], columns=["File", "Status", "Notes"]))
    headers = empty["value"]["headers"]
    assert len(headers) == 3 and all(re.search(r"[\u3040-\u30ff\u3400-\u9fff]", header) for header in headers)
    assert "value" not in filled


def test_the_tone_summary_reads_in_japanese_and_stays_english_for_the_cli():
    from pipeline.idphoto.tone import TOO_DARK, FaceTone, ToneChange, ToneOptions

    def tone(mean: float) -> FaceTone:
        return FaceTone(mean, 0.0, 0.0, mean, 7.0, 1.0, 1.0, 0.0, 0.0)

    change = ToneChange(ToneOptions(brightness=0.2), tone(0.3), tone(0.45), 0.8, (1.0, 1.0, 1.0), "warm")
    assert change.summary() == ("Brightened the face (mean 0.30 → 0.45) and removed a warm colour cast. "
                                "Applied your brightness +0.20.")
    japanese = change.summary("ja")
    assert "明るく" in japanese and "色かぶり" in japanese and "明るさ +0.20" in japanese and " " not in japanese[-12:]
    dark = ToneChange(ToneOptions(), tone(0.1), tone(0.1), 1.0, reasons=(TOO_DARK,))
    assert dark.summary() == TOO_DARK and "撮り直して" in dark.summary("ja")
