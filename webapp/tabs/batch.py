"""The Batch tab: many photos (or zips of photos) through one job, with a QA report."""
from __future__ import annotations

from typing import Any

import gradio as gr

from webapp import handlers
from webapp.handlers import ActionContext
from webapp.language import t, ui
from webapp.studio import BATCH_JOBS, DEFAULT_SPEC, Studio
from webapp.tabs import BuiltTab
from webapp.ui import UI_ONLY, VIEWER_BUTTONS, heavy_events, tab_blocks, with_clear_input_errors
from webapp.wiring import Job, status_box, wire_job

# Which controls each job uses; the others are hidden while it is chosen.
JOB_CONTROLS = {"restore": ("strength",), "background": ("colour",), "idphoto": ("spec", "colour")}
# Opens the report shown in the page in a tab of its own: a page of the app's origin (a blob)
# that holds the report in a sandboxed frame again, so nothing in it could run there either.
OPEN_REPORT_JS = """() => { const frame = document.querySelector('#batch-report iframe');
  if (!frame) return;
  const escaped = frame.srcdoc.replace(/&/g, '&amp;').replace(/"/g, '&quot;');
  const page = '<!DOCTYPE html><meta charset="utf-8"><title>Portrait Lab QA report</title>'
    + '<style>html,body,iframe{margin:0;border:0;width:100%;height:100%}</style>'
    + '<iframe sandbox title="Batch QA report" srcdoc="' + escaped + '"></iframe>';
  const url = URL.createObjectURL(new Blob([page], {type: 'text/html'}));
  window.open(url, '_blank', 'noopener');
  setTimeout(() => URL.revokeObjectURL(url), 60000); }"""


def build(ctx: ActionContext) -> BuiltTab:
    """The tab; its one button runs the chosen job over every file."""
    studio = ctx.studio
    with tab_blocks() as blocks:
        with gr.Row():
            with gr.Column():
                files = with_clear_input_errors(
                    gr.File(label=ui("batch.files"), file_count="multiple", file_types=["image", ".zip"]),
                    "web.error.files_unreadable")
                job = gr.Radio([(ui(key), name) for name, key in BATCH_JOBS.items()], value="idphoto", label=ui("batch.job"))
                spec = gr.Dropdown(studio.spec_choices(), value=DEFAULT_SPEC, filterable=True,
                                   allow_custom_value=True, label=ui("batch.document"))
                strength = gr.Slider(0, 1, value=1.0, step=0.05, label=ui("batch.strength"), visible=False)
                colour = gr.Dropdown(studio.colour_choices(), value="white", allow_custom_value=True,
                                     label=ui("idphoto.background"))
                unavailable = gr.Markdown(visible=False, elem_classes=["notice"], elem_id="batch-unavailable")
                button = gr.Button(ui("batch.run"), variant="primary", interactive=False)
                status = status_box("batch-status")
            with gr.Column():
                summary = gr.Markdown(elem_id="batch-summary", elem_classes=["live-region"])
                gallery = gr.Gallery(label=ui("batch.gallery"), columns=2, height="auto", object_fit="contain",
                                     buttons=VIEWER_BUTTONS)
                table = gr.Dataframe(label=ui("batch.table"), interactive=False, wrap=True,
                                     headers=starting_headers())  # a run's own headers replace these
                downloads = gr.File(label=ui("batch.downloads"), file_count="multiple",
                                    interactive=False)
                with gr.Accordion(ui("batch.report"), open=False):
                    report = gr.HTML(elem_id="batch-report")
                    gr.Button(ui("batch.open_report"), size="sm").click(None, js=OPEN_REPORT_JS, **UI_ONLY)

        def ready(paths: Any, name: str) -> bool:
            return bool(paths) and job_unavailable(studio, name) is None

        wire_job(Job(button, handlers.gpu_event(handlers.batch, ctx), [files, job, spec, strength, colour],
                     [summary, gallery, table, downloads, report], api_name="batch", progress_on=status,
                     scroll_to="batch-summary", ready=ready, ready_inputs=[files, job]),
                 heavy_events(ctx.config, studio.engine.compute.device.type))
        job.change(handlers.event(shown_controls, studio), job, [spec, strength, colour, unavailable], **UI_ONLY)
    # Gradio's table headers are plain text: the server writes them again in the page's language.
    return BuiltTab(blocks, files=(files, status, summary, gallery, table, downloads, report),
                    spoken=((table, starting_table, (table,)),))


def starting_headers() -> list[str]:
    """The empty table's headers in the language being spoken (the batch report's own words)."""
    return [t("batch.column.name"), t("batch.column.status"), t("batch.column.message")]


def starting_table(current: Any) -> Any:
    """The empty table in the language being spoken; a table a run has filled is left alone
    (its headers are in the language of that run)."""
    rows = getattr(current, "values", None)
    if rows is not None and any(str(cell).strip() for row in rows for cell in row):
        return gr.update()
    return gr.update(value={"headers": starting_headers(), "data": []})


def job_unavailable(studio: Studio, name: str) -> str | None:
    """Why a job cannot run on this server now, in the visitor's words; None when it can."""
    if name == "restore" and not studio.restorer_ready(studio.default_restorer()):
        return t("web.batch.restore_unavailable")
    return None


def shown_controls(studio: Studio, name: str, request: gr.Request) -> list[Any]:
    """The job's controls as it changes (the request: the reason in the visitor's language)."""
    return job_controls(studio, name)


def job_controls(studio: Studio, name: str) -> list[Any]:
    """Only the chosen job's controls, and the reason when it cannot run here."""
    used = JOB_CONTROLS.get(name, ())
    reason = job_unavailable(studio, name)
    return [gr.update(visible="spec" in used), gr.update(visible="strength" in used),
            gr.update(visible="colour" in used), gr.update(value=reason or "", visible=reason is not None)]
