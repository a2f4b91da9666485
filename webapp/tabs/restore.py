"""The Restore tab: a portrait in, its faces restored (before/after slider, download) out."""
from __future__ import annotations

from pathlib import Path

import gradio as gr

from pipeline.core.encode import OUTPUT_FORMATS
from webapp import handlers
from webapp.handlers import ActionContext
from webapp.tabs import BuiltTab
from webapp.ui import heavy_events, photo_input, tab_blocks
from webapp.wiring import Job, check_upload_at_once, status_box, wire_job
from webapp.weights_banner import ServerView


def build(ctx: ActionContext, example: Path, view: ServerView) -> BuiltTab:
    """The tab; ``view`` (which weights are installed) decides whether it can run, and when it
    cannot, a plain sentence above the button says so."""
    studio = ctx.studio
    with tab_blocks() as blocks:
        # why the tab cannot run, first: before a visitor picks a photo and settings for nothing
        reason = gr.Markdown(view.restore_reason, visible=not view.restore_ready,
                             elem_id="restore-unavailable", elem_classes=["notice"])
        with gr.Row():
            with gr.Column():
                photo = photo_input(label="Portrait", sources=["upload", "clipboard"])
                model = gr.Dropdown(studio.restorer_choices(), value=studio.default_restorer(), label="Model")
                strength = gr.Slider(0, 1, value=1.0, step=0.05, label="Strength",
                                     info="0 keeps the photo unchanged, 1 is full restoration")
                upscale = gr.Radio(UPSCALE_CHOICES, value=1, label="Upscale")
                with gr.Row():
                    centre = gr.Checkbox(label="Centre face only")
                    fmt = gr.Radio(list(OUTPUT_FORMATS), value="png", label="Download as")
                detector = gr.Dropdown(studio.detector_choices(), value="auto", label="Face detector")
                button = gr.Button("Restore", variant="primary", interactive=False)
                status = status_box("restore-status")
                gr.Examples([[str(example)]], inputs=[photo], label="Example (public domain)")
            with gr.Column():
                compare = gr.ImageSlider(label="Before / after", type="filepath", elem_id="restore-result",
                                         buttons=["fullscreen"])
                download = gr.DownloadButton("Download restored photo", visible=False)
                summary = gr.Markdown()

        def ready(path: str | None, name: str) -> bool:
            return bool(path) and studio.restorer_ready(name)

        wire_job(Job(button, handlers.gpu_event(handlers.restore, ctx),
                     [photo, model, strength, upscale, centre, detector, fmt], [compare, download, summary],
                     api_name="restore", progress_on=status, scroll_to="restore-result", ready=ready,
                     ready_inputs=[photo, model]), heavy_events(ctx.config, studio.engine.compute.device.type))
        check_upload_at_once(photo, handlers.event(handlers.check_upload, ctx))
    return BuiltTab(blocks, files=(photo, status, compare, summary), downloads=(download,),
                    weights_gated=(model, button, reason), gate_inputs=(photo,))


# Each upscale factor named, so a screen reader says more than "2".
UPSCALE_CHOICES = [("1x (same size)", 1), ("2x", 2), ("3x", 3), ("4x", 4)]
