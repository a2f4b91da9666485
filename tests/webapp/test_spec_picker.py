"""The ID Photo tab's document picker (issue 15, item 4): found the way people type.

Unit checks of the picker's choices and of the text under it (``Studio.spec_choices``,
``tabs.idphoto.find_documents`` and ``spec_rules`` on the real spec table), then one visit in
headless Chromium: typing into "Find your document" chooses the best match, the list's own
filter shows the most asked-for documents first, and the sources stay in a closed fold.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from appserver import ARTIFACTS, running_app  # noqa: E402

from pipeline.idphoto.specs import load_specs  # noqa: E402
from pipeline.models.device import ComputeSettings  # noqa: E402
from pipeline.models.manifest import load_manifest  # noqa: E402
from pipeline.restore.engine import RestorationPipeline  # noqa: E402
from webapp.studio import Studio  # noqa: E402
from webapp.tabs.idphoto import find_documents, spec_rules  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
SOURCES_FOLD = re.compile(r"<details><summary>Sources</summary>(.*?)</details>", re.S)


@pytest.fixture(scope="module")
def studio(tmp_path_factory) -> Studio:
    """The real Studio on the real spec table; no weights (the picker needs none)."""
    empty = tmp_path_factory.mktemp("no-weights")
    compute = ComputeSettings(device=torch.device("cpu"), dtype=torch.float32)
    return Studio(RestorationPipeline(manifest=load_manifest(), weights_directory=empty, compute=compute))


def _ids(choices: list[tuple[str, str]]) -> list[str]:
    return [value for _, value in choices]


# -- the choices ----------------------------------------------------------------------------
def test_the_list_starts_with_the_most_asked_for_documents(studio):
    choices = studio.spec_choices()
    assert _ids(choices)[:4] == ["us_passport", "us_passport_online", "us_visa", "schengen_visa"]
    assert len(choices) == len(load_specs().specs)
    # The list's own filter matches a piece of a label: "us" now meets the USA before
    # Australia and Germany's "Personalausweis".
    us = [value for label, value in choices if "us" in label.lower()]
    assert us[:4] == ["us_passport", "us_passport_online", "us_visa", "us_visa_print"]
    assert {"au_passport", "de_passport"} <= set(us[4:])
    assert all(not re.search(r"\d\.\d\d", label) for label, _ in choices)  # mm whole or to one decimal


@pytest.mark.parametrize("query, best, country", [
    ("us", "us_passport", "USA"), ("united states", "us_passport", "USA"), ("usa", "us_passport", "USA"),
    ("britain", "uk_passport_print", "United Kingdom"), ("gb", "uk_passport_print", "United Kingdom"),
    ("deutschland", "de_passport", None), ("中国", "cn_visa", "China"), ("china visa", "cn_visa", "China"),
    ("french passport", "fr_passport", "France"),
])
def test_a_search_chooses_the_best_match_and_lists_the_others(studio, query, best, country):
    picked = find_documents(studio, query, "icao_generic")
    assert picked["value"] == best
    assert _ids(picked["choices"])[0] == best
    if country:
        assert {studio.spec(value).country for value in _ids(picked["choices"])} == {country}
    assert "match" in picked["info"]


def test_an_empty_search_keeps_the_choice_and_an_unmatched_one_clears_it(studio):
    """A search that finds nothing must not leave the previous document chosen: a hurried
    visitor would make the wrong document's photo."""
    every = studio.spec_choices()
    assert find_documents(studio, "", "jp_passport") == {"choices": every, "value": "jp_passport", "info": ""}
    nothing = find_documents(studio, "zzz nowhere", "jp_passport")
    assert nothing["value"] is None and nothing["choices"] == every
    assert nothing["info"].startswith("No document matches") and "none is chosen" in nothing["info"]
    assert "Choose" in spec_rules(studio, None) or spec_rules(studio, None) == ""


@pytest.mark.parametrize(("query", "meant"), [("pasaprte japon", "jp_passport"), ("visdo schengen", "schengen_visa"),
                                               ("chnia visa", "cn_visa"),
                                               ("pasport", "us_passport")])  # a tie goes to the most asked for
def test_a_near_miss_in_any_language_chooses_what_it_meant_and_says_so(studio, query, meant):
    picked = find_documents(studio, query, "icao_generic")
    assert picked["value"] == meant
    assert "did you mean" in picked["info"] and "check it" in picked["info"]


# -- the text under the picker ----------------------------------------------------------------
@pytest.mark.parametrize("spec_id", [spec.id for spec in load_specs().specs])
def test_sources_are_only_in_the_closed_fold(studio, spec_id):
    text = spec_rules(studio, spec_id)
    spec = studio.spec(spec_id)
    fold = SOURCES_FOLD.search(text)
    assert fold and "<details open" not in text, text
    main = SOURCES_FOLD.sub("", text)
    addresses = re.findall(r"[\w-]+(?:\.[\w-]+)+/\S*", spec.source)
    assert addresses and not any(address in main for address in addresses), main
    assert "Source" not in main


def test_the_rules_line_shows_print_or_upload_pixels_and_file_sizes(studio):
    online = SOURCES_FOLD.sub("", spec_rules(studio, "us_passport_online"))
    assert "Online upload" in online and "54 KB-10 MB" in online and "600x600 to 1200x1200 px" in online
    printed = SOURCES_FOLD.sub("", spec_rules(studio, "us_passport"))
    assert printed.startswith("Print, 50.8x50.8 mm") and "KB" not in printed
    assert "at most 240 KB" in spec_rules(studio, "us_visa")


# -- in the browser ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def page_url(studio, tmp_path_factory, browser):
    with running_app(tmp_path_factory.mktemp("picker-root"), studio) as (_, url):
        yield browser, url


def _type(page, box, text: str) -> None:
    """Replace a box's text key by key, as a visitor types."""
    box.click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Backspace")
    box.press_sequentially(text, delay=30)


def _wait_for_choice(page, start: str) -> None:
    page.wait_for_function("start => document.querySelector('[aria-label=\"Country and document\"]')"
                           "?.value.startsWith(start)", arg=start, timeout=20_000)


def test_the_picker_in_the_browser(page_url):
    browser, url = page_url
    page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="en-US")
    try:
        page.goto(url, wait_until="load")
        page.get_by_role("tab", name=re.compile(r"\bID\b")).first.click()
        search = page.locator("#id-spec-search input, #id-spec-search textarea").first
        picker = page.get_by_label("Country and document")

        _type(page, search, "us")
        _wait_for_choice(page, "USA: Passport (printed")
        fold = page.locator("details", has_text="Sources").first
        rules = fold.locator("xpath=..")
        page.wait_for_function("() => [...document.querySelectorAll('details')].some(d => "
                               "d.parentElement.innerText.includes('Print, 50.8x50.8 mm'))", timeout=20_000)
        assert fold.get_attribute("open") is None  # closed: its addresses are not shown
        assert "usembassy" not in rules.inner_text() and "Sources" in rules.inner_text()
        assert "6 documents match" in page.locator("#id-spec-search").locator("xpath=..").inner_text()

        for query, best in (("united states", "USA: Passport (printed"), ("britain", "United Kingdom: Passport"),
                            ("china visa", "China: Visa"), ("中国", "China: Visa"),
                            ("french passport", "France: Passeport")):
            _type(page, search, query)
            _wait_for_choice(page, best)

        _type(page, search, "")  # the whole list again; its own filter puts the USA first for "us"
        _type(page, picker, "us")
        options = page.locator("[role=option]:visible")
        options.first.wait_for(timeout=10_000)
        labels = [options.nth(index).get_attribute("aria-label") for index in range(5)]
        assert all(label.startswith("USA: ") for label in labels[:4]), labels  # Australia after them
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "spec-picker.png"), full_page=True)
    finally:
        page.close()


def test_what_the_visitor_typed_is_echoed_short_and_inert(studio):
    """Hostile review: the no-match line turned "[evil](https://...)" into a working link and
    echoed 10,000 characters and right-to-left overrides."""
    hostile = "[evil](https://evil.example/phish) <img src=x onerror=alert(1)> \u202e" + "z" * 10_000
    info = find_documents(studio, hostile, "icao_generic")["info"]
    link = re.compile(r"(?<!\\)\]\(")  # a Markdown link's "](", unless escaped
    assert not link.search(info) and "<img" not in info and "\u202e" not in info
    assert len(info) < 200
    rules = spec_rules(studio, "<img src=x onerror=alert(1)>[x](https://evil.example)")
    assert "<img" not in rules and not link.search(rules)


def test_an_echoed_query_brings_no_markdown_or_html_of_its_own(studio):
    """A backslash typed before a mark must not undo its escape (``\\*`` would open emphasis)."""
    from markdown_it import MarkdownIt

    info = find_documents(studio, r"\*zz\* \[qq\](https://ev.il) `c` <b>x</b> ~~s~~", "jp_passport")["info"]
    rendered = MarkdownIt("commonmark").enable("strikethrough").render(info)
    for tag in ("<em>", "<a ", "<code>", "<b>", "<s>", "<del>"):
        assert tag not in rendered, rendered
