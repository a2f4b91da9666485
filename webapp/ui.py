"""The UI pieces every tab shares: upload components, viewer buttons, event settings, the look.

One place for them, so a privacy choice made for one component (no Share button, no Pillow
before our decoder, no web fonts) holds on every tab.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Union

import gradio as gr

from webapp.language import speaking, t, theme_fonts

from webapp.report_view import REPORT_CSS

from webapp.config import AppConfig

HEAVY = "heavy-work"  # one concurrency pool shared by every event that runs a model
# UI-only events (shown/hidden controls, spec rules): no queue, not in the API.
UI_ONLY: dict[str, Any] = {"queue": False, "api_visibility": "private"}
# Result viewers keep download and fullscreen; Gradio's default "share" button would post the
# photo to huggingface.co when the app runs on a Space.
VIEWER_BUTTONS = ["download", "fullscreen"]
# A result's viewer has fullscreen only: its one download is the named link or button beside it.
RESULT_BUTTONS = ["fullscreen"]
# Behind a result that may be transparent: a checkerboard, as image editors show it.
CHECKERBOARD_CSS = """
.checkerboard img { background-color: #fff;
  background-image: linear-gradient(45deg, #ccc 25%, transparent 25%), linear-gradient(-45deg, #ccc 25%, transparent 25%),
    linear-gradient(45deg, transparent 75%, #ccc 75%), linear-gradient(-45deg, transparent 75%, #ccc 75%);
  background-size: 16px 16px; background-position: 0 0, 0 8px, 8px -8px, -8px 0; }
"""
# The dark scheme's accent (the selected tab's words on gray-950: 6.4:1): the theme has one
# accent for both schemes, and no indigo reads at 4.5:1 on both gray-50 and gray-950. The
# viewers' icon buttons (fullscreen, download) get WCAG 2.2's 24 px target size.
ACCESSIBLE_CSS = """
:root .dark .gradio-container { --color-accent: var(--primary-400); }
.icon-button-wrapper .icon-button, .icon-button-wrapper a.download-link {
  min-width: 24px; min-height: 24px; display: inline-flex; align-items: center; justify-content: center; }
"""
CSS = """
.report textarea { font-family: ui-monospace, monospace; font-size: 0.85em; }
.block.banner, .block.notice { border-left: 4px solid #d97706; padding-left: 0.75em; }
/* "Fix the cut-out" under a result: marked, so it is not taken for one more closed fold */
.fix-fold { border-left: 4px solid #1e88e5 !important; }
.banner p, .notice p { margin: 0; }
.notice p { font-size: 1rem; font-weight: 600; }
""" + REPORT_CSS + CHECKERBOARD_CSS + ACCESSIBLE_CSS


def heavy_events(config: AppConfig, device_type: str) -> dict[str, Any]:
    """Event settings for a model-running event: the shared pool and its limit."""
    return {"concurrency_limit": config.resolved_concurrency(device_type), "concurrency_id": HEAVY}


def tab_blocks() -> gr.Blocks:
    """The Blocks a tab builds itself in: analytics off on each one, not only on the page, so no
    tab ever depends on the environment to stay quiet."""
    return gr.Blocks(analytics_enabled=False)


# Text at WCAG AA (4.5:1) in both colour schemes. The stock Soft theme writes labels in
# indigo-500 on indigo-100 (3.6:1), help text in gray-400 on white (2.5:1), and white on
# indigo-500 buttons (4.5:1, just under). Ratios as axe measures them in the page
# (tests/webapp/test_accessibility.py); the dark accent is in CSS above.
AA_COLOURS = {
    "body_text_color_subdued": "*neutral_600",  # help text, "- or -", slider ends: 7.6:1 on white
    "body_text_color_subdued_dark": "*neutral_400",  # 5.8:1 on gray-800
    "block_label_text_color": "*primary_700",  # component labels on indigo-100: 6.4:1
    "block_title_text_color": "*primary_700",
    "color_accent": "*primary_600",  # the selected tab's words on gray-50: 6.0:1
    "button_primary_background_fill": "*primary_600",  # white on it: 6.3:1
    "button_primary_background_fill_hover": "*primary_700",  # was indigo-400 (3.0:1) under the pointer
    "button_primary_background_fill_dark": "*primary_600",
    "button_primary_background_fill_hover_dark": "*primary_700",
    "checkbox_label_background_fill_selected": "*primary_600",  # a picked choice's white words
    "input_placeholder_color": "*neutral_500",  # 4.8:1 on white
    "input_placeholder_color_dark": "*neutral_300",  # 7.0:1 on gray-700
    "link_text_color_visited": "*secondary_700",  # a clicked download link: 7.9:1 on white
    "link_text_color_dark": "*secondary_300",  # download links on gray-800: 7.4:1 (was 3.3:1)
    "link_text_color_hover_dark": "*secondary_200",
    "link_text_color_visited_dark": "*secondary_300",
    "link_text_color_active_dark": "*secondary_300",
}


def private_theme() -> gr.themes.Base:
    """Soft, with system fonts (the stock theme would load web fonts from a third-party CDN)
    and its text colours raised to WCAG AA."""
    soft = gr.themes.Soft(font=theme_fonts(), font_mono=["ui-monospace", "monospace"])
    return soft.set(**AA_COLOURS)


def with_clear_input_errors(component: Any, message: str) -> Any:
    """Make a component's input check fail with the catalogue's ``message`` (a key) instead of a library error (and
    without a traceback, whose text could name the file). Wraps this instance's preprocess;
    a subclass would make Gradio write a stub file next to app.py at import time."""
    stock_preprocess = component.preprocess

    def preprocess(payload: Any) -> Any:
        try:
            return stock_preprocess(payload)
        except gr.Error:
            raise
        except Exception:
            # i18n: an input check runs before the handler, outside the visitor's language: English
            raise gr.Error(t(message), title=t("web.error.unusable_file_title"), print_exception=False) from None

    component.preprocess = preprocess
    return component


def photo_input(**kwargs: Any) -> gr.Image:
    """An image upload handed to the pipeline as the file itself, unopened: Gradio's own
    preprocessing would open it with Pillow, whose bomb check (179 MP) and re-encoding run
    before our decoder, which handles every mode, 16-bit and colour profiles, and answers
    an oversized photo with the app's own limit and sentence."""
    kwargs.setdefault("alt_text", t("web.alt.upload"))  # i18n: Gradio's alt_text is not translated in the browser
    component = gr.Image(type="filepath", image_mode=None, buttons=VIEWER_BUTTONS, **kwargs)

    def preprocess(payload: Any) -> str | None:
        if payload is None:
            return None
        path = getattr(payload, "path", None)
        if not isinstance(path, str) or not path:
            raise gr.Error(t("web.error.file_unreadable"), title=t("web.error.unusable_file_title"),
                           print_exception=False)
        return path

    component.preprocess = preprocess
    return component


# A component whose words the server writes with values (durations, sizes, model names): built in
# English, written again in the visitor's language when the page picks one. An optional third
# item names components whose current values ``make`` takes (the document the visitor chose).
Spoken = Union[tuple[Any, Callable[[], Any]], tuple[Any, Callable[..., Any], Sequence[Any]]]


def wire_spoken(picker: gr.Dropdown, spoken: Sequence[Spoken]) -> None:
    """Each (component, its value or update[, inputs]) rendered again in the picked language
    whenever the picker's value changes (on load, from the browser's language, and on every
    pick). Gradio translates ``ui.*`` labels in the browser; these need the server's values, so
    the server writes them (a private, unqueued UI event: nothing is stored, the code comes from
    the page)."""
    if not spoken:
        return
    counts = [len(entry[2]) if len(entry) > 2 else 0 for entry in spoken]
    starts = [sum(counts[:index]) for index in range(len(counts))]  # where each entry's inputs begin

    def render(code: str | None, *values: Any) -> tuple[Any, ...]:
        with speaking(code or ""):
            return tuple(entry[1](*values[start:start + count]) for entry, start, count in zip(spoken, starts, counts))

    inputs = [component for entry in spoken if len(entry) > 2 for component in entry[2]]
    picker.change(render, [picker, *inputs], [entry[0] for entry in spoken], show_progress="hidden", **UI_ONLY)
