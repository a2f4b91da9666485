"""The Restore tab: a portrait in, its faces restored (before/after slider, download) out."""
from __future__ import annotations

from pathlib import Path

import gradio as gr

from pipeline.core.encode import OUTPUT_FORMATS
from webapp import handlers
from webapp.handlers import ActionContext
from webapp.tabs import BuiltTab
from webapp.ui import heavy_events, photo_input, tab_blocks
from webapp.weights_banner import ServerView


def build(ctx: ActionContext, example: Path, view: ServerView) -> BuiltTab:
    """The tab; ``view`` (which weights are installed) decides whether it can run, and when it
    cannot, a plain sentence above the button says so."""
    studio = ctx.studio
    with tab_blocks() as blocks:
        with gr.Row():
            with gr.Column():
                photo = photo_input(label="Portrait", sources=["upload", "clipboard"])
                model = gr.Dropdown(studio.restorer_choices(), value=studio.default_restorer(), label="Model")
                strength = gr.Slider(0, 1, value=1.0, step=0.05, label="Strength",
                                     info="0 keeps the photo unchanged, 1 is full restoration")
                upscale = gr.Radio([1, 2, 3, 4], value=1, label="Upscale")
                with gr.Row():
                    centre = gr.Checkbox(label="Centre face only")
                    fmt = gr.Radio(list(OUTPUT_FORMATS), value="png", label="Download as")
                detector = gr.Dropdown(studio.detector_choices(), value="auto", label="Face detector")
                reason = gr.Markdown(view.restore_reason, visible=not view.restore_ready,
                                     elem_id="restore-unavailable", elem_classes=["notice"])
                button = gr.Button("Restore", variant="primary", interactive=view.restore_ready)
                gr.Examples([[str(example)]], inputs=[photo], label="Example (public domain)")
            with gr.Column():
                compare = gr.ImageSlider(label="Before / after", type="filepath")
                download = gr.DownloadButton("Download restored photo", visible=False)
                summary = gr.Markdown()
        button.click(handlers.gpu_event(handlers.restore, ctx),
                     [photo, model, strength, upscale, centre, detector, fmt], [compare, download, summary],
                     api_name="restore", **heavy_events(ctx.config, studio.engine.compute.device.type))
    return BuiltTab(blocks, files=(photo, compare), downloads=(download,), weights_gated=(model, button, reason))
