"""The UI pieces every tab shares: upload components, viewer buttons, event settings, the look.

One place for them, so a privacy choice made for one component (no Share button, no Pillow
before our decoder, no web fonts) holds on every tab.
"""
from __future__ import annotations

from typing import Any

import gradio as gr

from webapp.report_view import REPORT_CSS

from webapp.config import AppConfig

HEAVY = "heavy-work"  # one concurrency pool shared by every event that runs a model
# UI-only events (shown/hidden controls, spec rules): no queue, not in the API.
UI_ONLY: dict[str, Any] = {"queue": False, "api_visibility": "private"}
# Result viewers keep download and fullscreen; Gradio's default "share" button would post the
# photo to huggingface.co when the app runs on a Space.
VIEWER_BUTTONS = ["download", "fullscreen"]
CSS = """
.report textarea { font-family: ui-monospace, monospace; font-size: 0.85em; }
.block.banner, .block.notice { border-left: 4px solid #d97706; padding-left: 0.75em; }
.banner p, .notice p { margin: 0; }
.notice p { font-size: 1rem; font-weight: 600; }
""" + REPORT_CSS


def heavy_events(config: AppConfig, device_type: str) -> dict[str, Any]:
    """Event settings for a model-running event: the shared pool and its limit."""
    return {"concurrency_limit": config.resolved_concurrency(device_type), "concurrency_id": HEAVY}


def tab_blocks() -> gr.Blocks:
    """The Blocks a tab builds itself in: analytics off on each one, not only on the page, so no
    tab ever depends on the environment to stay quiet."""
    return gr.Blocks(analytics_enabled=False)


def private_theme() -> gr.themes.Base:
    # System fonts: the stock theme would load web fonts from a third-party CDN.
    return gr.themes.Soft(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])


def with_clear_input_errors(component: Any, message: str) -> Any:
    """Make a component's input check fail with ``message`` instead of a library error (and
    without a traceback, whose text could name the file). Wraps this instance's preprocess;
    a subclass would make Gradio write a stub file next to app.py at import time."""
    stock_preprocess = component.preprocess

    def preprocess(payload: Any) -> Any:
        try:
            return stock_preprocess(payload)
        except gr.Error:
            raise
        except Exception:
            raise gr.Error(message, title="Unusable file", print_exception=False) from None

    component.preprocess = preprocess
    return component


def photo_input(**kwargs: Any) -> gr.Image:
    """An image upload handed to the pipeline as the file itself, unopened: Gradio's own
    preprocessing would open it with Pillow, whose bomb check (179 MP) and re-encoding run
    before our decoder, which handles every mode, 16-bit and colour profiles, and answers
    an oversized photo with the app's own limit and sentence."""
    component = gr.Image(type="filepath", image_mode=None, buttons=VIEWER_BUTTONS, **kwargs)

    def preprocess(payload: Any) -> str | None:
        if payload is None:
            return None
        path = getattr(payload, "path", None)
        if not isinstance(path, str) or not path:
            raise gr.Error("This file could not be received; please upload it again.", title="Unusable file",
                           print_exception=False)
        return path

    component.preprocess = preprocess
    return component
