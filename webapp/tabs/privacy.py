"""The Privacy tab: what happens to a visitor's photos, and the button that deletes them now."""
from __future__ import annotations

from collections.abc import Sequence

import gradio as gr

from pipeline.core.units import human_bytes
from webapp import handlers
from webapp.config import AppConfig
from webapp.handlers import ActionContext
from webapp.tabs import BuiltTab
from webapp.ui import tab_blocks


def build(ctx: ActionContext, others: Sequence[BuiltTab]) -> BuiltTab:
    """The tab, its button wired to empty the file components and hide the download buttons
    of ``others`` (the tabs before it, which must be rendered with it)."""
    files = [component for tab in others for component in tab.files]
    downloads = [button for tab in others for button in tab.downloads]
    with tab_blocks() as blocks:
        gr.Markdown(privacy_text(ctx.config))
        button = gr.Button("Delete my files now", variant="stop")
        status = gr.Markdown()
        button.click(handlers.event(handlers.delete_files, ctx, len(files), len(downloads)), None,
                     [status, *files, *downloads], api_name="delete_my_files", queue=False)
    return BuiltTab(blocks)


def privacy_text(config: AppConfig) -> str:
    return f"""
## What happens to your photos

- **Where they are:** every upload and result is kept in a temporary folder on this server that
  belongs to your browser only. Other visitors cannot open, use or delete your files, even if
  someone gets a link to one of them.
- **How long:** your files are deleted **when you close the tab**, and always after
  **{config.retention_text()}**, even if the tab is still open (checked every
  **{config.sweep_text()}**): download anything you want to keep before then. Whatever its
  settings, this app never keeps a file longer than 24 hours, and a server restart deletes
  everything.
- **Right now:** the button below deletes all your files from this tab immediately.
- **What is kept after you leave:** nothing. Results carry no EXIF, GPS or other metadata from
  your photo.
- **What is sent elsewhere:** nothing. No third-party tracking, no share buttons, no other services:
  everything, the models included, runs on this server.
- **What is logged:** counts, timings and error types only; never file names, image data,
  metadata or anything that identifies you.
- {metrics_sentence(config)}

Each file can be up to {config.max_upload_mb:g} MB; your uploads and results together can take
up to {human_bytes(config.disk.visitor_bytes)} on the server.
"""


def metrics_sentence(config: AppConfig) -> str:
    """Whether this running server collects usage metrics, in a visitor's words (the promise of
    "basic usage metrics, anonymised crash logs, opt-out"); never where they are served."""
    if not config.metrics:
        return ("**Usage metrics: off.** This server collects no usage metrics. If they are ever turned "
                "on, this line says so; they would be counts and timings only, like the log.")
    return ("**Usage metrics: on.** This server's operator collects basic usage metrics: how many jobs of "
            "each kind ran and how they ended, how long each step took, how many faces a photo had, how "
            "many visitors are connected or waiting, the disk space in use and how long the models took "
            "to load. They never include file names, photos, session ids, cookies or anything else that "
            "identifies you, and they stay with the operator.")
