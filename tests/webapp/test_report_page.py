"""The compliance report as a page, in Chromium (issue 15, item 5): under the verdict, the
failure first with its advice in bold, everything else in closed folds, and no sideways
scrolling at a 390 px phone width. (The HTML itself: tests/webapp/test_report_view.py.)"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from appserver import ARTIFACTS  # noqa: E402

PHONE = (390, 844)


def test_the_report_reads_as_a_page_on_a_phone(browser, bare_server, photo):
    app, url, base = bare_server
    page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="en-US")
    try:
        page.goto(url, wait_until="load")
        page.get_by_role("tab", name="ID Photo").first.click()
        panel = page.locator("[role=tabpanel]:visible")
        panel.locator("input[type=file]").first.set_input_files(str(photo))
        panel.get_by_role("button", name="Make ID photo").click()
        report = page.locator("#id-verdict .pl-report")
        report.wait_for(timeout=180_000)
        first_row = report.locator("li").first
        first_text = first_row.inner_text()
        advice_bold = first_row.locator(".pl-advice").evaluate("el => getComputedStyle(el).fontWeight")
        folds = report.locator("details")
        fold_count = folds.count()
        open_folds = sum(folds.nth(i).evaluate("el => el.open") for i in range(fold_count))
        passed_visible = report.get_by_text("Single face").first.is_visible()
        page.set_viewport_size({"width": PHONE[0], "height": PHONE[1]})
        page.wait_for_timeout(400)
        report.scroll_into_view_if_needed()
        overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        box = report.bounding_box()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "report-page-phone.png"), full_page=False)
    finally:
        page.close()
    # the astronaut smiles with her lips apart: that failure leads, with what to do about it
    assert "Mouth closed" in first_text and "close your lips" in first_text
    assert int(advice_bold) >= 600
    assert fold_count >= 2 and open_folds == 0 and not passed_visible  # passes folded away
    assert overflow <= 1, f"the page scrolls {overflow} px sideways at {PHONE[0]} px"
    assert box is not None and box["width"] <= PHONE[0]
