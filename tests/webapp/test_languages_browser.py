"""The page in the visitor's language, in a real browser at phone size (issue 18).

- A browser set to Chinese or Japanese gets the page in that language with no tofu boxes:
  Chromium's own record of the fonts it drew each label with (DevTools'
  ``CSS.getPlatformFontsForNode``) names a family with that script's glyphs, the language's
  own variant first. Screenshots go to ``test-artifacts/languages-*.png``.
- The picker overrides the browser's language, and the choice survives a reload (it is kept
  in the browser, never on the server).
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from appserver import ARTIFACTS  # noqa: E402

from pipeline.i18n import LANGUAGES, catalogue, translate  # noqa: E402

PHONE = {"width": 390, "height": 844}
# The variant Noto CJK (a Linux desktop's CJK family) offers for each language.
NOTO_VARIANT = {"zh-CN": "SC", "zh-TW": "TC", "ja": "JP", "ko": "KR"}


def _families_with(lang: str) -> set[str]:
    """Installed font families that have ``lang``'s glyphs (fontconfig's own answer)."""
    if shutil.which("fc-list") is None:
        return set()
    listed = subprocess.run(["fc-list", f":lang={lang.lower()}", "family"], capture_output=True, text=True).stdout
    return {name.strip() for line in listed.splitlines() for name in line.split(",") if name.strip()}


def _english_key(text: str) -> str:
    """The ``ui.*`` key whose English text is ``text`` (so the test follows the catalogue's names)."""
    return next(key for key, value in catalogue("en").items() if key.startswith("ui.") and value == text)


def _open(browser, url: str, locale: str):
    context = browser.new_context(locale=locale, viewport=PHONE)
    page = context.new_page()
    page.goto(url)
    # The page is ready when its tabs and the picker are drawn and, for a browser not in
    # English, the page has switched language (an English browser has nothing to switch).
    page.wait_for_function("() => document.querySelector('#language-picker input') && "
                           "document.querySelector('[role=tab]') && "
                           "(document.documentElement.lang && document.documentElement.lang !== 'en' "
                           "|| navigator.language.startsWith('en'))", timeout=60_000)
    page.wait_for_timeout(800)
    return context, page


def _platform_fonts(page, selector: str) -> list[str]:
    """The fonts Chromium drew ``selector``'s text with, most glyphs first."""
    session = page.context.new_cdp_session(page)
    session.send("DOM.enable")
    session.send("CSS.enable")
    root = session.send("DOM.getDocument", {"depth": -1})["root"]["nodeId"]
    node = session.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
    fonts = session.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
    return [font["familyName"] for font in sorted(fonts, key=lambda font: -font["glyphCount"])]


@pytest.mark.parametrize("lang", ["zh-CN", "ja"])
def test_the_id_photo_tab_speaks_the_browser_s_language_without_tofu(browser, bare_server, lang):
    _, url, _ = bare_server
    cjk_families = _families_with(lang)
    if not cjk_families:
        pytest.skip(f"no font with {lang} glyphs is installed (apt-get install fonts-noto-cjk); "
                    "a visitor's phone or desktop has one")
    context, page = _open(browser, url, lang)
    try:
        tab_name = translate(_english_key("ID Photo"), lang)
        html_lang = page.evaluate("document.documentElement.lang")
        picker_label = page.locator("#language-picker label, #language-picker [data-testid=block-info]").first.inner_text()
        tab = page.get_by_role("tab", name=tab_name)
        tab_shown = tab.count() > 0 and tab.first.is_visible()
        tab.first.evaluate("el => el.setAttribute('data-font-probe', '1')")
        tab_fonts = _platform_fonts(page, "[data-font-probe]")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"languages-idphoto-{lang}.png"))
    finally:
        context.close()
    assert html_lang == lang
    assert picker_label.strip() == translate("ui.language.picker", lang)
    assert tab_shown, f"no tab named {tab_name!r}"
    assert tab_fonts and tab_fonts[0] in cjk_families, f"{tab_name!r} drawn with {tab_fonts}, none has {lang} glyphs"
    assert NOTO_VARIANT[lang] in tab_fonts[0] or not any("Noto" in f for f in cjk_families), \
        f"{lang} text drawn with {tab_fonts[0]}, not the {lang} forms of the characters"


GRADIO_ENGLISH_UPLOAD = "Drop Image Here"  # Gradio's own words, which follow only its first language


def _upload_words(page) -> str:
    return page.locator("[role=tabpanel]:visible .wrap").first.inner_text()


def test_the_picker_overrides_the_browser_and_the_choice_survives_a_reload(browser, bare_server):
    _, url, _ = bare_server
    context, page = _open(browser, url, "ja-JP")
    try:
        shown_first = page.locator("#language-picker input").input_value()
        page.locator("#language-picker input").click()
        page.get_by_role("option", name=LANGUAGES["es"].native).click()
        # an untouched page reloads in the new language, Gradio's own words included
        page.wait_for_function("() => document.documentElement.lang === 'es' && "
                               "document.querySelector('#language-picker input')?.value === 'Español'",
                               timeout=60_000)
        page.wait_for_timeout(800)
        tabs = [tab.inner_text() for tab in page.get_by_role("tab").all()]
        upload = _upload_words(page)
        cookie = page.evaluate("document.cookie")
        page.reload()
        page.wait_for_function("() => document.documentElement.lang === 'es'", timeout=60_000)
        page.wait_for_timeout(500)
        after_reload = page.locator("#language-picker input").input_value()
    finally:
        context.close()
    assert shown_first == LANGUAGES["ja"].native
    assert translate(_english_key("ID Photo"), "es") in tabs and translate(_english_key("Batch"), "es") in tabs
    assert GRADIO_ENGLISH_UPLOAD not in upload and "ドロップ" not in upload, upload
    assert "portrait_lab_lang=es" in cookie
    assert after_reload == LANGUAGES["es"].native


def test_a_hong_kong_browser_gets_traditional_chinese_from_the_first_paint(browser, bare_server):
    """zh-HK is no language Gradio knows: without the page's own first script, Gradio would
    start in English and keep its own words (the upload box, tab names) in English."""
    _, url, _ = bare_server
    context, page = _open(browser, url, "zh-HK")
    try:
        tabs = [tab.inner_text() for tab in page.get_by_role("tab").all()]
        upload = _upload_words(page)
        html_lang = page.evaluate("document.documentElement.lang")
    finally:
        context.close()
    assert html_lang == "zh-TW"
    assert tabs[:2] == [translate(_english_key("ID Photo"), "zh-TW"), translate(_english_key("Background"), "zh-TW")]
    assert GRADIO_ENGLISH_UPLOAD not in upload, upload


def test_all_five_tabs_fit_one_phone_row_in_every_language(browser, bare_server):
    """Longer names (Spanish, French) must not push tabs into Gradio's "more" menu on a phone."""
    _, url, _ = bare_server
    rows = {}
    for code in LANGUAGES:
        context, page = _open(browser, url, code)
        try:
            rows[code] = [tab.inner_text() for tab in page.get_by_role("tab").all() if tab.is_visible()]
        finally:
            context.close()
    crowded = {code: tabs for code, tabs in rows.items() if len(tabs) != 5}
    assert not crowded, f"tabs hidden behind the menu at 390 px: {crowded}"


def test_a_pick_on_a_page_with_work_on_it_switches_without_a_reload(browser, bare_server):
    """A photo or a search on the page: the pick must not reload it (that would lose them)."""
    _, url, _ = bare_server
    context, page = _open(browser, url, "en-US")
    try:
        page.locator("#id-spec-search input, #id-spec-search textarea").first.fill("japan")
        page.evaluate("window.stillTheSamePage = true")
        page.locator("#language-picker input").click()
        page.get_by_role("option", name=LANGUAGES["ko"].native).click()
        page.wait_for_function("() => document.documentElement.lang === 'ko'", timeout=10_000)
        page.wait_for_timeout(1500)
        same_page = page.evaluate("window.stillTheSamePage === true")
        query = page.locator("#id-spec-search input, #id-spec-search textarea").first.input_value()
        tabs = [tab.inner_text() for tab in page.get_by_role("tab").all()]
    finally:
        context.close()
    assert same_page and query == "japan"
    assert translate(_english_key("ID Photo"), "ko") in tabs  # the labels switched all the same


def test_a_refused_upload_is_explained_in_the_page_s_language(browser, bare_server, tmp_path):
    """The sentence is the server's (in the request's language); the box's heading is Gradio's,
    English in any language until the page's script names it."""
    _, url, _ = bare_server
    notes = tmp_path / "notes.jpg"
    notes.write_text("not a photo")
    context, page = _open(browser, url, "ja")
    try:
        page.locator("[role=tabpanel]:visible input[type=file]").first.set_input_files(str(notes))
        page.wait_for_selector(".toast-body", timeout=30_000)
        page.wait_for_timeout(300)
        heading = page.locator(".toast-title").first.inner_text().strip()
        text = page.locator("[data-testid=toast-text]").first.inner_text()
        close = page.locator(".toast-close").first.get_attribute("aria-label")
    finally:
        context.close()
    assert heading == translate("ui.page.toast_warning", "ja")
    assert close == translate("ui.page.close", "ja")
    assert re.search(r"[\u3040-\u30ff]", text) and "image" not in text.lower(), text
