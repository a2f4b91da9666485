"""A visitor's first screen on a server without model weights (issue 15, item 3).

The server here has no weights at all (an empty weights folder), the way a fresh install
without internet starts. What a visitor may see: one plain sentence about what works, the
tab that can run, and, on the tab that cannot, a clear sentence above its button. What only
the administrator needs (model ids, the fetch command, the weights folder) is in the closed
"Server details" accordion and the log, never in the page's text, an error, a batch row or
report.html. Checked through the page's config (always) and in headless Chromium at a desktop
(1280x900) and a phone (390x844) size; screenshots go to ``test-artifacts/first-screen-*.png``.
"""
from __future__ import annotations

import json
import logging
import re
import sys
from pathlib import Path

import httpx
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from appserver import ARTIFACTS, random_weight_studio  # noqa: E402

from pipeline.batch import run_batch  # noqa: E402
from pipeline.batch.inputs import expand_inputs  # noqa: E402
from pipeline.batch.jobs import JobOutput  # noqa: E402
from pipeline.core.errors import OutputWriteError, WeightsMissingError  # noqa: E402
from pipeline.models.locations import fetch_command  # noqa: E402
from pipeline.models.manifest import load_manifest  # noqa: E402
from pipeline.i18n import translate  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
SIZES = {"desktop": (1280, 900), "phone": (390, 844)}
# The sentence and the closed accordion together, on a phone: about three lines of text and
# the accordion's bar, so the tabs and the first control stay on the first screen.
PHONE_NOTE_MAX_PX = 200
MODEL_FAMILIES = ("GFPGAN", "RetinaFace", "MTCNN", "ParseNet", "BiSeNet", "MODNet", "ArcFace")
COMMAND_WORDS = ("python -m", "weights fetch", "pip install", ".pth")


def server_words(text: str, *paths: Path) -> list[str]:
    """The administrator's words found in ``text``: model ids and names, commands, server paths."""
    names = [*load_manifest().names(), *MODEL_FAMILIES]
    found = [name for name in names if re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text, re.IGNORECASE)]
    found += [word for word in COMMAND_WORDS if word in text]
    found += [str(path) for path in paths if str(path) in text]
    found += re.findall(r"(?<![\w.])/(?:tmp|home|root|data|work|var)/\S*", text)
    return found


# -- the page's config: what the first screen is made of ---------------------------------------
def _config(url: str) -> dict:
    """The page's config with its catalogue labels (``ui.*``, translated by the browser) in
    English, as a browser with an English locale shows them."""
    response = httpx.get(url + "config")
    assert response.status_code == 200
    return _in_english(response.json())


_I18N = re.compile(r"__i18n__(\{[^{}]*\})")


def _in_english(value):
    if isinstance(value, str):
        return _I18N.sub(lambda found: translate(json.loads(found.group(1))["key"], "en"), value)
    if isinstance(value, list):
        return [_in_english(item) for item in value]
    if isinstance(value, dict):
        return {key: _in_english(item) for key, item in value.items()}
    return value


def _ids_under(node: dict, wanted: int) -> set[int] | None:
    """The ids of every component inside the layout node with id ``wanted`` (None: not found)."""
    if node.get("id") == wanted:
        found: set[int] = set()
        stack = list(node.get("children", []))
        while stack:
            child = stack.pop()
            found.add(child["id"])
            stack += child.get("children", [])
        return found
    for child in node.get("children", []):
        inside = _ids_under(child, wanted)
        if inside is not None:
            return inside
    return None


def test_model_ids_and_commands_are_only_in_the_closed_server_details(bare_server):
    app, url, base = bare_server
    config = _config(url)
    components = {c["id"]: c for c in config["components"]}
    [accordion] = [c for c in components.values()
                   if c["type"] == "accordion" and c["props"].get("label") == "Server details"]
    assert accordion["props"]["open"] is False and accordion["props"]["visible"] is True
    inside = _ids_under(config["layout"], accordion["id"])
    assert inside, "the Server details accordion is empty"
    details = " ".join(str(components[i]["props"].get("value") or "") for i in inside)
    command = fetch_command(app.studio.availability().missing)
    assert command in details, details  # the administrator's command, in the accordion
    assert "gfpgan-v1.4" in details

    visible_text = []
    for cid, component in components.items():
        if cid in inside:
            continue
        props = component["props"]
        if props.get("visible") is False:
            continue
        visible_text += [str(props.get(key) or "") for key in ("value", "label", "info", "placeholder")
                         if isinstance(props.get(key), str)]
    note = next(c for c in components.values() if c["props"].get("elem_id") == "weights-banner")
    assert note["props"]["visible"] is True
    assert note["props"]["value"].count(".") + note["props"]["value"].count(";") <= 2, note["props"]["value"]
    assert "Restoration" in note["props"]["value"] and "not available" in note["props"]["value"]
    # The Restore tab's controls may name the models a visitor picks from; the rest of the page may not.
    restore_tab = next(c for c in components.values() if c["type"] == "tabitem" and c["props"].get("id") == "restore")
    restore_controls = _ids_under(config["layout"], restore_tab["id"]) or set()
    outside = " ".join(str(components[i]["props"].get("value") or "") for i in components
                       if i not in inside and i not in restore_controls
                       and isinstance(components[i]["props"].get("value"), str))
    assert not server_words(outside, base), outside


def test_the_page_opens_on_a_tab_that_can_run(bare_server):
    _, url, _ = bare_server
    config = _config(url)
    tabs = [c for c in config["components"] if c["type"] == "tabitem"]
    [tabs_block] = [c for c in config["components"] if c["type"] == "tabs"]
    selected = tabs_block["props"].get("selected")
    labels = {tab["props"]["id"]: tab["props"]["label"] for tab in tabs}
    assert selected is not None and selected != "restore", (selected, labels)
    assert labels[selected] == next(label for label in labels.values() if "(off)" not in label)
    assert labels["restore"] == "Restore (off)"


def test_a_refused_restoration_speaks_to_the_visitor_and_logs_the_command(bare_server, photo, tmp_path, caplog):
    """The API's and the batch's refusals without weights: plain words; the command is logged."""
    _, url, base = bare_server
    caplog.set_level(logging.INFO, logger="portrait_lab")
    visitor = Client(url, verbose=False, download_files=str(tmp_path / "downloads"))
    messages = []
    try:
        for call in (lambda: visitor.predict(handle_file(str(photo)), "gfpgan-v1.4", 1.0, 1, False, "auto", "png",
                                             api_name="/restore"),
                     lambda: visitor.predict([handle_file(str(photo))], "restore", "icao_generic", 1.0, "white",
                                             api_name="/batch")):
            with pytest.raises(AppError) as refused:
                call()
            messages.append(refused.value.message)
    finally:
        visitor.close()
    for message in messages:
        assert message and not server_words(message, base), message
        assert "not available on this server" in message, message
    assert any("python -m pipeline weights fetch gfpgan-v1.4" in m for m in caplog.messages), caplog.messages


# -- batch rows and report.html ------------------------------------------------------------------
def test_batch_rows_and_report_hold_no_command_or_server_path(tmp_path, photo):
    """A photo whose model is missing and one whose result cannot be written: each row says so in
    plain words; the weights folder, the job folder and the command stay out of the table,
    report.csv and report.html."""
    weights = tmp_path / "weights"
    items, problems = expand_inputs([photo, photo], tmp_path / "inputs")
    failures = iter([
        WeightsMissingError(f"Weights for GFPGAN v1.4 are missing: GFPGANv1.4.pth is not in {weights}.",
                            hint=f"Download them with: {fetch_command(['gfpgan-v1.4'])}"),
        OutputWriteError.from_os_error(OSError(28, "No space left on device"), tmp_path / "out" / "results"),
    ])

    def process(image) -> JobOutput:
        raise next(failures)

    summary = run_batch(items, process, tmp_path / "out", job_name="restore", extra_rows=problems)
    texts = {"table": str(summary.table()), "csv": summary.csv_path.read_text(encoding="utf-8-sig"),
             "html": summary.html_path.read_text(encoding="utf-8")}
    for name, text in texts.items():
        assert not server_words(text, weights, tmp_path), (name, server_words(text, weights, tmp_path))
    assert [row.status for row in summary.rows] == ["error", "error"]
    assert all(row.message for row in summary.rows)


def test_batch_tables_and_report_use_plain_headers(tmp_path, photo):
    """Every job's measurements under headers a person reads ("Person share of the photo", not
    ``person_fraction``), and no model id among the visitor's columns."""
    studio = random_weight_studio(tmp_path / "weights")  # restoration runs; the rest is offline
    for job in ("background", "idphoto", "restore"):
        out = tmp_path / job
        out.mkdir()
        summary = studio.batch([photo], job, out, spec_id="icao_generic")
        assert summary.rows[0].metrics, (job, summary.rows[0].message)
        headers = summary.table_headers()
        assert len(headers) == len(summary.table()[0])
        raw = [h for h in headers if "_" in h or h != h.strip() or h[:1].islower()]
        assert not raw, (job, headers)
        page = summary.html_path.read_text(encoding="utf-8")
        keys = set(summary.rows[0].metrics)
        shown = re.findall(r"<dt>([^<]*)</dt>", page)
        assert shown and not keys & set(shown), (job, shown)
        visible = re.sub(r'src="data:[^"]*"', "", page)
        assert not server_words(visible + str(summary.table()), tmp_path), (job, server_words(visible, tmp_path))


# -- in the browser ------------------------------------------------------------------------------
def open_tab(page, name: re.Pattern[str]) -> None:
    """Click a tab, through the "More tabs" menu when a phone's width put it there."""
    tab = page.get_by_role("tab", name=name).first
    if tab.count() and tab.is_visible():
        tab.click()
        return
    page.get_by_role("button", name="More tabs").click()
    page.get_by_role("button", name=name).first.click()


@pytest.mark.parametrize("size", list(SIZES))
def test_the_first_screen_in_the_browser(browser, bare_server, size):
    app, url, base = bare_server
    width, height = SIZES[size]
    page = browser.new_page(viewport={"width": width, "height": height}, locale="en-US")
    try:
        page.goto(url, wait_until="load")
        selected = page.get_by_role("tab", selected=True)
        selected.wait_for()
        page.wait_for_timeout(300)
        first_screen = page.evaluate("() => document.body.innerText")
        selected_name = selected.inner_text().strip()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"first-screen-{size}.png"))
        assert not server_words(first_screen, base), server_words(first_screen, base)
        assert not selected_name.startswith("Restore"), f"the page opens on {selected_name!r}, which cannot run"
        note = page.locator("#weights-banner")
        details = page.locator("#server-details")
        note_count, note_box, details_box = note.count(), note.bounding_box(), details.bounding_box()
        upload_top = page.locator("[role=tabpanel]:visible input[type=file]").first.evaluate(
            "el => el.closest('.block').getBoundingClientRect().top")

        details.get_by_text("Server details").first.click()
        page.wait_for_timeout(300)
        opened = details.inner_text()

        open_tab(page, re.compile(r"^Restore"))
        panel = page.locator("[role=tabpanel]:visible")
        button = panel.get_by_role("button", name="Restore", exact=True)
        button.wait_for()
        reason = panel.locator("#restore-unavailable")
        reason_text = reason.inner_text()
        reason_above = reason.bounding_box()["y"] + reason.bounding_box()["height"] <= button.bounding_box()["y"]
        reason_px = float(reason.evaluate("el => parseFloat(getComputedStyle(el.querySelector('p') || el).fontSize)"))
        body_px = float(page.evaluate("() => parseFloat(getComputedStyle(document.body).fontSize)"))
        button_enabled = button.is_enabled()
        page.screenshot(path=str(ARTIFACTS / f"first-screen-{size}-restore.png"))
    finally:
        page.close()

    assert note_count == 1 and "not available" in first_screen
    assert details_box is not None and note_box is not None
    if size == "phone":
        taken = note_box["height"] + details_box["height"]
        assert taken <= PHONE_NOTE_MAX_PX, f"the note and the closed accordion take {taken:.0f} px on a phone"
    assert upload_top < height, f"the first photo input starts at {upload_top:.0f} px, below the first screen"
    assert fetch_command(app.studio.availability().missing) in opened, opened
    assert not button_enabled
    assert reason_above, "the reason is not above the Restore button"
    assert reason_px >= body_px - 0.5, f"the reason is small print ({reason_px} px, body {body_px} px)"
    assert "not available" in reason_text and not server_words(reason_text, base), reason_text


def test_on_a_phone_the_id_photo_tab_is_first_open_and_in_view(browser, bare_server):
    """Issue 15, item 7 (and the review): at 390 px only the first tabs fit before the "⋯"
    menu; ID Photo, the job most visitors come for, is first, selected and visible there."""
    app, url, base = bare_server
    page = browser.new_page(viewport={"width": 390, "height": 844}, locale="en-US")
    try:
        page.goto(url, wait_until="load")
        selected = page.get_by_role("tab", selected=True)
        selected.wait_for()
        page.wait_for_timeout(300)
        name = selected.inner_text().strip()
        box = selected.bounding_box()
    finally:
        page.close()
    assert name == "ID Photo", name
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
