"""The Restore tab: a portrait in, its faces restored (before/after slider, download) out."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from pipeline.core.choices import UPSAMPLER_NONE
from pipeline.core.encode import OUTPUT_FORMATS
from webapp import handlers
from webapp.handlers import ActionContext
from webapp.language import ui
from webapp.tabs import BuiltTab
from webapp.review import FaceReview
from webapp.ui import UI_ONLY, heavy_events, photo_input, tab_blocks
from webapp.wiring import FAILURE_JS, Job, check_upload_at_once, status_box, wire_job
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
                photo = photo_input(label=ui("common.portrait"), sources=["upload", "clipboard"])
                model = gr.Dropdown(studio.restorer_choices(), value=studio.default_restorer(), label=ui("restore.model"),
                                    info=ui("restore.model_info"))
                strength = gr.Slider(0, 1, value=1.0, step=0.05, label=ui("restore.strength"),
                                     info=ui("restore.strength_info"))
                upscale = gr.Radio(UPSCALE_CHOICES, value=1, label=ui("restore.upscale"))
                background = gr.Radio(studio.upsampler_choices(), value=studio.default_upsampler(),
                                      label=ui("restore.upsampler"), info=upsampler_info(ctx), visible=False)
                upscale.change(lambda factor: gr.update(visible=int(factor or 1) > 1), upscale, background,
                               **UI_ONLY)  # it only matters at 2x-4x
                guard = gr.Checkbox(label=ui("restore.guard"), value=False, info=ui("restore.guard_info"))
                with gr.Row():
                    centre = gr.Checkbox(label=ui("restore.centre"))
                    fmt = gr.Radio(list(OUTPUT_FORMATS), value="png", label=ui("common.download_as"))
                detector = gr.Dropdown(studio.detector_choices(), value="auto", label=ui("restore.detector"))
                button = gr.Button(ui("restore.run"), variant="primary", interactive=False)
                status = status_box("restore-status")
                gr.Examples([[str(example)]], inputs=[photo], label=ui("common.example"))
            with gr.Column():
                compare = gr.ImageSlider(label=ui("restore.compare"), type="filepath", elem_id="restore-result",
                                         buttons=["fullscreen"])
                download = gr.DownloadButton(ui("restore.download"), visible=False)
                summary = gr.Markdown()
                review = face_review_panel()

        def ready(path: str | None, name: str) -> bool:
            return bool(path) and studio.restorer_ready(name)

        run = wire_job(Job(button, handlers.gpu_event(handlers.restore, ctx),
                           [photo, model, strength, upscale, centre, detector, fmt, background, guard],
                           [compare, download, summary, review.state],
                           api_name="restore", progress_on=status, scroll_to="restore-result", ready=ready,
                           ready_inputs=[photo, model]), heavy_events(ctx.config, studio.engine.compute.device.type))
        check_upload_at_once(photo, handlers.event(handlers.check_upload, ctx))
        wire_review(ctx, review, button, run, photo, [compare, download, summary])
    return BuiltTab(blocks, files=(photo, status, compare, summary, review.cards, review.state),
                    downloads=(download,),
                    weights_gated=(model, button, reason), gate_inputs=(photo,))


@dataclass(frozen=True)
class ReviewPanel:
    """The face-by-face review: hidden until a restoration has faces to show."""

    box: gr.Column
    cards: gr.Gallery
    face: gr.Dropdown
    strength: gr.Slider
    apply: gr.Button
    status: gr.Markdown  # Apply's progress and errors, next to the button (a phone shows nothing else)
    state: gr.State  # the FaceReview (server-side: paths and numbers, never sent to the page)

    @property
    def shown(self) -> list:
        return [self.box, self.cards, self.face, self.strength]


def face_review_panel() -> ReviewPanel:
    with gr.Column(visible=False, elem_id="restore-review") as box:
        gr.Markdown(ui("restore.review_intro"))
        cards = gr.Gallery(label=ui("restore.faces"), columns=1, height="auto", object_fit="contain",
                           elem_id="restore-faces", buttons=["fullscreen"])
        with gr.Row():
            face = gr.Dropdown([], label=ui("restore.face"), scale=1)
            strength = gr.Slider(0, 1, value=1.0, step=0.05, label=ui("restore.face_strength"), scale=2)
        apply = gr.Button(ui("restore.apply"), variant="secondary")
        status = status_box("restore-review-status")
    return ReviewPanel(box, cards, face, strength, apply, status, gr.State(None))


def wire_review(ctx: ActionContext, review: ReviewPanel, restore_button: gr.Button, run: Any, photo: gr.Image,
                results: list) -> None:
    """The panel shows a restoration's faces and nothing else: hidden (and its state dropped) as a
    new restoration starts or the photo changes (a new one, or none after "Delete my files now"),
    shown when faces come back. "Apply" pastes the kept faces again, on the shared pool like every
    model call, once at a time."""
    restore_button.click(hide_review, None, [review.state, *review.shown], **UI_ONLY)
    photo.change(hide_review, None, [review.state, *review.shown], **UI_ONLY)
    run.success(show_review, review.state, review.shown, **UI_ONLY)
    review.face.change(face_strength, [review.state, review.face], review.strength, **UI_ONLY)
    applied = review.apply.click(handlers.gpu_event(handlers.review_face, ctx),
                                 [review.state, review.face, review.strength], [*results, review.state],
                                 show_progress_on=review.status, api_visibility="private", trigger_mode="once",
                                 **heavy_events(ctx.config, ctx.studio.engine.compute.device.type))
    applied.success(show_review, review.state, review.shown, **UI_ONLY)
    applied.failure(None, None, review.status, js=FAILURE_JS, **UI_ONLY)


def hide_review() -> tuple:
    return None, gr.update(visible=False), None, gr.update(choices=[], value=None), gr.update(value=1.0)


def show_review(state: FaceReview | None) -> tuple:
    """The cards, the face last changed chosen, and the slider at its strength (to the slider's step)."""
    if state is None:
        return hide_review()[1:]
    face = state.selected if 0 <= state.selected < len(state.strengths) else 0
    return (gr.update(visible=True), list(state.cards),
            gr.update(choices=state.choices(), value=face, visible=len(state.strengths) > 1),
            gr.update(value=round(state.strengths[face], 2)))


def face_strength(state: FaceReview | None, face: int | None) -> Any:
    """The slider shows the chosen face's own strength."""
    if state is None or face is None or not 0 <= int(face) < len(state.strengths):
        return gr.update()
    return gr.update(value=round(state.strengths[int(face)], 2))


def upsampler_info(ctx: ActionContext) -> Any:
    """What the background choice does, and on a server without a GPU why it starts on "Quick"."""
    if ctx.studio.default_upsampler() != UPSAMPLER_NONE:
        return ui("restore.upsampler_info")
    return ui("restore.upsampler_info_cpu")


# Each upscale factor named, so a screen reader says more than "2".
UPSCALE_CHOICES = [(ui("restore.upscale_same"), 1), ("2x", 2), ("3x", 3), ("4x", 4)]
