"""The ID Photo tab: a portrait and a document in; the photo, its checks, a print sheet out."""
from __future__ import annotations

from pathlib import Path

import gradio as gr

from pipeline.core.errors import PortraitLabError
from webapp import handlers
from webapp.handlers import ActionContext
from webapp.studio import DEFAULT_SPEC, Studio
from webapp.tabs import BuiltTab
from webapp.ui import UI_ONLY, VIEWER_BUTTONS, heavy_events, photo_input, tab_blocks


def build(ctx: ActionContext, example: Path) -> BuiltTab:
    """The tab; the chosen document's rules are shown under its name as it changes."""
    studio = ctx.studio
    with tab_blocks() as blocks:
        with gr.Row():
            with gr.Column():
                photo = photo_input(label="Portrait (face the camera, plain background)",
                                    sources=["upload", "webcam", "clipboard"])
                # Custom values reach the pipeline, whose refusal names the near matches
                # (Gradio's own check would answer with the whole list of ids).
                spec = gr.Dropdown(studio.spec_choices(), value=DEFAULT_SPEC, filterable=True,
                                   allow_custom_value=True, label="Country and document (type to search)")
                rules = gr.Markdown(spec_rules(studio, DEFAULT_SPEC))
                background = gr.Dropdown([("The document's colour", "")] + studio.colour_choices(), value="",
                                         allow_custom_value=True, label="Background colour")
                with gr.Row():
                    max_kb = gr.Number(value=0, minimum=0, label="File size limit in KB (0 = the document's own)")
                    paper = gr.Dropdown(studio.paper_choices(), value="4x6", label="Print sheet")
                button = gr.Button("Make ID photo", variant="primary")
                gr.Examples([[str(example)]], inputs=[photo], label="Example (public domain)")
            with gr.Column():
                verdict = gr.Markdown(elem_id="id-verdict")
                with gr.Row():
                    result = gr.Image(label="ID photo", type="filepath", elem_id="id-result", buttons=VIEWER_BUTTONS)
                    overlay = gr.Image(label="Checks overlay", type="filepath", buttons=VIEWER_BUTTONS)
                report = gr.Textbox(label="Compliance report", lines=14, elem_classes=["report"], elem_id="id-report")
                sheet = gr.Image(label="Print sheet", type="filepath", buttons=VIEWER_BUTTONS)
                files = gr.File(label="Downloads", file_count="multiple")
        button.click(handlers.gpu_event(handlers.id_photo, ctx), [photo, spec, background, max_kb, paper],
                     [verdict, result, overlay, report, sheet, files], api_name="id_photo",
                     **heavy_events(ctx.config, studio.engine.compute.device.type))
        spec.change(lambda spec_id: spec_rules(studio, spec_id), spec, rules, **UI_ONLY)
    return BuiltTab(blocks, files=(photo, result, overlay, sheet, files))


def spec_rules(studio: Studio, spec_id: str | None) -> str:
    """The chosen document's rules in one paragraph, or why the choice is unusable."""
    if not spec_id:
        return ""
    try:
        spec = studio.spec(spec_id)
    except PortraitLabError as error:
        return error.user_message
    low, high = spec.head_ratio_range()
    width, height = spec.size_px(None)
    lines = [f"**{spec.label}**: {width}x{height} px at {spec.output_dpi(None)} dpi; "
             f"head {low * 100:.0f}-{high * 100:.0f} % of the photo height; background: "
             f"{spec.background or 'not stated (white used)'}."]
    if spec.max_file_kb:
        lines.append(f"File size at most {spec.max_file_kb:g} KB.")
    if spec.source:
        lines.append(f"Source: {spec.source}")
    return " ".join(lines)
