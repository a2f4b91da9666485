"""The Background tab: a portrait in, the person on a new background (colour, gradient, picture,
blur) out."""
from __future__ import annotations

from pathlib import Path

import gradio as gr

from pipeline.core.encode import OUTPUT_FORMATS, keeps_alpha
from webapp import handlers
from webapp.handlers import ActionContext
from webapp.editor_script import fix_controls, wire_fix
from webapp.language import t, ui
from webapp.studio import Studio
from webapp.tabs import BuiltTab
from webapp.ui import RESULT_BUTTONS, UI_ONLY, heavy_events, photo_input, tab_blocks
from webapp.wiring import Job, check_upload_at_once, status_box, wire_job

GRADIENTS = ("vertical-gradient", "radial-gradient")


def build(ctx: ActionContext, example: Path) -> BuiltTab:
    """The tab; controls a background mode does not use are hidden when another is chosen."""
    studio = ctx.studio
    with tab_blocks() as blocks:
        with gr.Row():
            with gr.Column():
                photo = photo_input(label=ui("common.portrait"), sources=["upload", "clipboard"])
                mode = gr.Radio(studio.background_modes(), value="colour", label=ui("background.mode"))
                with gr.Row():
                    colour = gr.Dropdown(studio.colour_choices(), value="white", allow_custom_value=True,
                                         label=ui("background.colour"), info=ui("background.colour_info"))
                    colour2 = gr.Dropdown(studio.colour_choices(), value="light-blue", allow_custom_value=True,
                                          label=ui("background.colour2"), visible=False)
                backdrop = photo_input(label=ui("background.picture"), visible=False, sources=["upload", "clipboard"])
                blur = gr.Slider(0, 1, value=0.5, step=0.05, label=ui("background.blur"), visible=False)
                feather = gr.Slider(0, 10, value=1.0, step=0.5, label=ui("background.feather"))
                fmt = gr.Radio(format_choices("colour"), value="png", label=ui("common.download_as"))
                button = gr.Button(ui("background.run"), variant="primary", interactive=False, elem_id="bg-run")
                status = status_box("bg-status")
                gr.Examples([[str(example)]], inputs=[photo], label=ui("common.example"))
            with gr.Column():
                # a checkerboard shows through where the result is transparent (see ui.CSS)
                result = gr.Image(label=ui("background.result"), type="filepath", format="png", buttons=RESULT_BUTTONS,
                                  elem_id="bg-result", elem_classes=["checkerboard"], interactive=False)
                download = gr.DownloadButton(ui("background.download"), visible=False)
                summary = gr.Markdown()
                editor, strokes, found = fix_controls("bg-run", "bg-result", "bg")
        run = wire_job(Job(button, handlers.gpu_event(handlers.background, ctx),
                           [photo, mode, colour, colour2, backdrop, blur, feather, fmt, strokes, editor, found],
                           [result, download, summary, found], api_name="replace_background", progress_on=status,
                           scroll_to="bg-result", ready_inputs=[photo], describe=describe_result,
                           describe_inputs=[mode], described=[result], kept=[found]),
                       heavy_events(ctx.config, studio.engine.compute.device.type))
        wire_fix(run, photo, editor, found)
        check_upload_at_once(photo, handlers.event(handlers.check_upload, ctx))
        check_upload_at_once(backdrop, handlers.event(handlers.check_upload, ctx))
        # JPEG cannot hold transparency: it is not offered for a transparent background
        mode.change(lambda mode, fmt: gr.Radio(format_choices(mode), value=fmt if keeps_alpha(fmt) or
                                               mode != "transparent" else "png"),
                    [mode, fmt], fmt, **UI_ONLY)
        # Only the controls the chosen background uses are shown.
        mode.change(lambda mode: (gr.update(visible=mode in GRADIENTS), gr.update(visible=mode == "image"),
                                  gr.update(visible=mode == "blur"),
                                  gr.update(visible=mode in ("colour", *GRADIENTS))),
                    mode, [colour2, backdrop, blur, colour], **UI_ONLY)
    return BuiltTab(blocks, files=(photo, backdrop, status, result, summary, editor, found), downloads=(download,))


def describe_result(mode: str | None) -> tuple[str]:
    """The result's alt text, in the visitor's language (the click's event knows it)."""
    known = {name for _, name in Studio.background_modes()}
    return (t(f"web.alt.background.{mode}") if mode in known else t("web.alt.background"),)


def format_choices(mode: str) -> list[str]:
    """The download formats for a background mode: only those that keep transparency when
    the background is transparent."""
    return [fmt for fmt in OUTPUT_FORMATS if mode != "transparent" or keeps_alpha(fmt)]
