"""The compliance report as a page (issue 15, item 5): failures first with their advice in
bold, the rest in closed folds, every report string escaped."""
from __future__ import annotations

import re

from webapp.report_view import report_html


def _check(check_id: str, status: str, advice: str = "", measured: str = "1") -> dict:
    return {"id": check_id, "title": check_id.replace("_", " ").title(), "measured": measured,
            "threshold": "<= 2", "source": "ICAO Doc 9303", "status": status, "advice": advice, "value": 1.0}


REPORT = {
    "spec_id": "icao_generic", "overall": "fail",
    "counts": {"pass": 2, "not_assessed": 1, "warn": 1, "fail": 1},
    "checks": [_check("single_face", "pass"), _check("eye_line", "warn", "Raise the camera"),
               _check("glasses", "not_assessed", "Please check you wear no glasses"),
               _check("mouth_closed", "fail", "Close your lips and retake"), _check("roll", "pass")],
    "defaults_applied": ["300 dpi (the document states none)"],
    "measured_with": {"chin": {"method": "dense", "how": "dense face landmarks",
                               "expected_error": "within about 0.4 % of the head height"}},
}


def test_failures_then_warnings_come_first_with_bold_advice_and_passes_are_folded():
    page = report_html(REPORT, notes=["The head was levelled."])
    first_list = page[page.index("<ul>"):page.index("</ul>")]
    assert first_list.index("Mouth Closed") < first_list.index("Eye Line")  # the failure before the warning
    assert '<span class="pl-advice">Close your lips and retake</span>' in first_list
    assert "Single Face" not in first_list and "Roll" not in first_list
    folds = re.findall(r"<details><summary>(.*?)</summary>", page)
    assert folds == ["Not checked (1)", "Passed (2)", "How the head was measured",
                     "Rules the document does not state (our defaults)", "Notes"]
    assert "<details open" not in page
    assert "1 failed, 1 warning, 2 passed, 1 not checked" in page


def test_each_verdict_is_a_word_for_screen_readers_not_only_a_symbol():
    page = report_html(REPORT)
    for word in ("Fails:", "Warning:", "Not checked:", "Passes:"):
        assert f'<span class="pl-sr-only">{word}</span>' in page


def test_report_strings_are_escaped():
    hostile = dict(REPORT, checks=[_check("mouth_closed", "fail", "<img src=x onerror=alert(1)>",
                                          measured="<script>alert(1)</script>")])
    page = report_html(hostile, notes=["<b>note</b>"])
    assert "<script>" not in page and "<img" not in page and "<b>note" not in page
    assert "&lt;script&gt;" in page
