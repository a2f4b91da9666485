"""The Privacy tab: what happens to a visitor's photos, and the button that deletes them now."""
from __future__ import annotations

from collections.abc import Sequence

import gradio as gr

from pipeline.core.units import human_bytes
from webapp import handlers
from webapp.config import AppConfig
from webapp.handlers import ActionContext
from webapp.language import t, ui
from webapp.tabs import BuiltTab
from webapp.ui import tab_blocks
from webapp.wiring import is_status_line

# The tab's points, in order (catalogue keys); the text states this server's own settings.
PRIVACY_POINTS = ("web.privacy.where", "web.privacy.how_long", "web.privacy.right_now", "web.privacy.kept",
                  "web.privacy.sent", "web.privacy.logged", "web.privacy.language")


def build(ctx: ActionContext, others: Sequence[BuiltTab]) -> BuiltTab:
    """The tab, its button wired to empty the file components and hide the download buttons
    of ``others`` (the tabs before it, which must be rendered with it). Its text holds this
    server's settings, so the server writes it (again in the language the page picks)."""
    shown = [component for tab in others for component in tab.files]
    lines = [component for component in shown if is_status_line(component)]
    files = [component for component in shown if not is_status_line(component)]
    downloads = [button for tab in others for button in tab.downloads]
    with tab_blocks() as blocks:
        text = gr.Markdown(privacy_text(ctx.config))
        button = gr.Button(ui("privacy.delete"), variant="stop")
        status = gr.Markdown()
        button.click(handlers.event(handlers.delete_files, ctx, len(lines), len(files), len(downloads)), None,
                     [status, *lines, *files, *downloads], api_name="delete_my_files", queue=False)
    return BuiltTab(blocks, spoken=((text, lambda: privacy_text(ctx.config)),))


def privacy_text(config: AppConfig) -> str:
    """The tab's text in the language being spoken, with this server's retention and limits."""
    values = {"retention": duration_text(config.max_age_s), "sweep": duration_text(config.sweep_interval_s)}
    points = [t(key, **values) if key == "web.privacy.how_long" else t(key) for key in PRIVACY_POINTS]
    limits = t("web.privacy.limits", mb=f"{config.max_upload_mb:g}", total=human_bytes(config.disk.visitor_bytes))
    return "\n".join(["", f"## {t('web.privacy.title')}", "",
                      *(f"- {point}" for point in [*points, metrics_sentence(config)]), "", limits, ""])


def header_text(config: AppConfig) -> str:
    """The page's header: what the app does and how long photos stay (this server's setting)."""
    return f"# Portrait Lab\n{t('web.header', retention=duration_text(config.max_age_s))}"


def duration_text(seconds: float) -> str:
    """A setting's duration in words ("30 minutes"), in the language being spoken."""
    for unit, size in (("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            return t(f"web.duration.{unit}" if count == 1 else f"web.duration.{unit}s", count=count)
    return t("web.duration.seconds", count=f"{seconds:g}")


def metrics_sentence(config: AppConfig) -> str:
    """Whether this running server collects usage metrics, in a visitor's words (the promise of
    "basic usage metrics, anonymised crash logs, opt-out"); never where they are served."""
    return t("web.privacy.metrics_on") if config.metrics else t("web.privacy.metrics_off")
