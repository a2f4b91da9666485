"""The Batch tab: many photos (or zips of photos) through one job, with a QA report."""
from __future__ import annotations

import gradio as gr

from webapp import handlers
from webapp.handlers import ActionContext
from webapp.studio import BATCH_JOBS, DEFAULT_SPEC
from webapp.tabs import BuiltTab
from webapp.ui import VIEWER_BUTTONS, heavy_events, tab_blocks, with_clear_input_errors

def build(ctx: ActionContext) -> BuiltTab:
    """The tab; its one button runs the chosen job over every file."""
    studio = ctx.studio
    with tab_blocks() as blocks:
        with gr.Row():
            with gr.Column():
                files = with_clear_input_errors(
                    gr.File(label="Images or a .zip of images", file_count="multiple", file_types=["image", ".zip"]),
                    "These files could not be received; upload images or a .zip of images again.")
                job = gr.Radio([(label, name) for name, label in BATCH_JOBS.items()], value="idphoto", label="Job")
                spec = gr.Dropdown(studio.spec_choices(), value=DEFAULT_SPEC, filterable=True,
                                   allow_custom_value=True, label="Document (ID photos)")
                strength = gr.Slider(0, 1, value=1.0, step=0.05, label="Strength (restore)")
                colour = gr.Dropdown(studio.colour_choices(), value="white", allow_custom_value=True,
                                     label="Background colour (background and ID photos)")
                button = gr.Button("Run batch", variant="primary")
            with gr.Column():
                summary = gr.Markdown()
                gallery = gr.Gallery(label="Before | after", columns=2, height="auto", object_fit="contain",
                                     buttons=VIEWER_BUTTONS)
                table = gr.Dataframe(label="Per-image status", interactive=False, wrap=False)
                downloads = gr.File(label="Results (zip), CSV and HTML QA report", file_count="multiple")
        button.click(handlers.gpu_event(handlers.batch, ctx), [files, job, spec, strength, colour],
                     [summary, gallery, table, downloads], api_name="batch",
                     **heavy_events(ctx.config, studio.engine.compute.device.type))
    return BuiltTab(blocks, files=(files, gallery, downloads))
