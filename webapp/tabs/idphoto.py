"""The ID Photo tab: a portrait and a document in; the photo, its checks, a print sheet out."""
from __future__ import annotations

import html
import unicodedata
from pathlib import Path
from typing import Any

import gradio as gr

from pipeline.core.errors import PortraitLabError
from pipeline.idphoto.search import MAX_QUERY_CHARS, rules_text, size_text
from webapp import handlers
from webapp.handlers import ActionContext
from webapp.language import VISITOR_LANGUAGE, t, ui
from webapp.editor_script import fix_controls, wire_fix
from webapp.studio import DEFAULT_SPEC, Studio
from webapp.tabs import BuiltTab
from webapp.ui import RESULT_BUTTONS, UI_ONLY, heavy_events, photo_input, tab_blocks
from webapp.wiring import Job, check_upload_at_once, status_box, wire_job


def build(ctx: ActionContext, example: Path) -> BuiltTab:
    """The tab; the chosen document's rules are shown under its name as it changes."""
    studio = ctx.studio
    with tab_blocks() as blocks:
        with gr.Row():
            with gr.Column():
                photo = photo_input(label=ui("idphoto.portrait"),
                                    sources=["upload", "webcam", "clipboard"])
                # The box finds a document by any of its names, words in any order (the list's
                # own filter only matches one piece of its label).
                find = gr.Textbox(label=ui("idphoto.find"), elem_id="id-spec-search", max_lines=1,
                                  max_length=MAX_QUERY_CHARS,
                                  placeholder=ui("idphoto.find_placeholder"))
                # Custom values reach the pipeline, whose refusal names the near matches
                # (Gradio's own check would answer with the whole list of ids).
                spec = gr.Dropdown(studio.spec_choices(), value=DEFAULT_SPEC, filterable=True,
                                   allow_custom_value=True, label=ui("idphoto.document"))
                rules = gr.Markdown(spec_rules(studio, DEFAULT_SPEC))
                background = gr.Dropdown([(ui("idphoto.document_colour"), "")] + studio.colour_choices(), value="",
                                         allow_custom_value=True, label=ui("idphoto.background"))
                with gr.Row():
                    max_kb = gr.Number(value=0, minimum=0, label=ui("idphoto.max_kb"))
                    paper = gr.Dropdown(studio.paper_choices(), value="4x6", label=ui("idphoto.sheet"))
                adjust = adjust_controls()
                button = gr.Button(ui("idphoto.make"), variant="primary", interactive=False, elem_id="id-make")
                status = status_box("id-status")
                gr.Examples([[str(example)]], inputs=[photo], label=ui("common.example"))
            with gr.Column():
                # a live region: screen readers announce the verdict when it arrives (see ui.HEAD)
                verdict = gr.Markdown(elem_id="id-verdict", elem_classes=["live-region"])
                with gr.Row():
                    result = gr.Image(label=ui("idphoto.result"), type="filepath", elem_id="id-result", buttons=RESULT_BUTTONS,
                                      interactive=False)
                    overlay = gr.Image(label=ui("idphoto.overlay"), type="filepath", buttons=RESULT_BUTTONS,
                                       interactive=False)
                # the report as a page is under the verdict; the same report as text for copying
                with gr.Accordion(ui("idphoto.report_text"), open=False):
                    report = gr.Textbox(label=ui("idphoto.report"), lines=14, elem_classes=["report"],
                                        elem_id="id-report")
                editor, strokes, found = fix_controls("id-make", "id-verdict", "id")
                sheet = gr.Image(label=ui("idphoto.sheet"), type="filepath", buttons=RESULT_BUTTONS, interactive=False)
                files = gr.File(label=ui("idphoto.downloads"), file_count="multiple", interactive=False)
        run = wire_job(Job(button, handlers.gpu_event(handlers.id_photo, ctx),
                           [photo, spec, background, max_kb, paper, *adjust, strokes, editor, found],
                           [verdict, result, overlay, report, sheet, files, found], api_name="id_photo",
                           progress_on=status, scroll_to="id-verdict", ready_inputs=[photo],
                           describe=lambda spec_id: alt_texts(studio, spec_id), describe_inputs=[spec],
                           described=[result, overlay, sheet], kept=[found]),
                       heavy_events(ctx.config, studio.engine.compute.device.type))
        wire_fix(run, photo, editor, found)
        for control in adjust:  # a change to a shown result makes it again, and its overlay with it
            control.input(None, js=REMAKE_JS, **UI_ONLY)
        check_upload_at_once(photo, handlers.event(handlers.check_upload, ctx))
        spec.change(handlers.event(shown_rules, studio), spec, rules, **UI_ONLY)
        find.change(handlers.event(found_documents, studio), [find, spec], spec, trigger_mode="always_last",
                    **UI_ONLY)
    # The document names in the page's language (the list was built before anyone asked).
    return BuiltTab(blocks, files=(photo, status, verdict, result, overlay, report, sheet, files, editor, found),
                    spoken=((spec, lambda: gr.update(choices=studio.spec_choices())),
                            (rules, lambda spec_id: spec_rules(studio, spec_id), (spec,))))


# Makes the photo again through the main button (the same steps as a click) once a result is
# shown: 0.6 s after the last change (a drag or key presses settle first); while a job runs, it
# waits for the button (at most two minutes).
REMAKE_JS = """() => {
  clearTimeout(window.portraitLabRemake);
  let tries = 240;
  const go = () => {
    const button = document.getElementById('id-make');
    if (!button || tries-- <= 0) return;
    if (button.disabled) { window.portraitLabRemake = setTimeout(go, 500); return; }
    if (document.querySelector('#id-result img')) { window.portraitLabStay = true; button.click(); }
  };
  window.portraitLabRemake = setTimeout(go, 600);
}"""


def adjust_controls() -> list[Any]:
    """The "Fix the photo" fold: the automatic light and colour correction, three sliders, and a
    nudge of the head's size and height that stays within the document's ranges."""
    with gr.Accordion(ui("idphoto.adjust"), open=False, elem_id="id-adjust"):
        auto = gr.Checkbox(value=True, label=ui("idphoto.auto_tone"),
                           info=ui("idphoto.auto_tone_info"))
        with gr.Row():
            brightness = gr.Slider(-1, 1, value=0, step=0.05, label=ui("idphoto.brightness"))
            contrast = gr.Slider(-1, 1, value=0, step=0.05, label=ui("idphoto.contrast"))
            sharpness = gr.Slider(0, 1, value=0, step=0.05, label=ui("idphoto.sharpness"))
        head_size = gr.Slider(-1, 1, value=0, step=0.1, label=ui("idphoto.head_size"),
                              info=ui("idphoto.head_size_info"))
        head_position = gr.Slider(-1, 1, value=0, step=0.1, label=ui("idphoto.head_position"),
                                  info=ui("idphoto.head_position_info"))
    return [auto, brightness, contrast, sharpness, head_size, head_position]


def alt_texts(studio: Studio, spec_id: str | None) -> tuple[str, str, str]:
    """What the ID photo, its overlay and the print sheet show, for screen readers (in the
    visitor's language: the click's event knows it)."""
    try:  # a script may send anything as the document: the words then stay general
        # i18n: size_text is the document search's (pipeline/idphoto/search.py): "35x45 mm" reads in any language
        size = size_text(studio.spec(spec_id)) if isinstance(spec_id, str) and spec_id else t("web.alt.document_sized")
    except PortraitLabError:
        size = t("web.alt.document_sized")
    return (t("web.alt.id_photo", size=size), t("web.alt.id_overlay", size=size), t("web.alt.id_sheet", size=size))


def shown_rules(studio: Studio, spec_id: str | None, request: gr.Request) -> str:
    """The rules line as the document changes (the request: the visitor's language)."""
    return spec_rules(studio, spec_id)


def found_documents(studio: Studio, query: str | None, spec_id: str | None, request: gr.Request) -> gr.Dropdown:
    """The picker after a search, its line in the visitor's language."""
    return gr.Dropdown(**find_documents(studio, query, spec_id))


def find_documents(studio: Studio, query: str | None, current: str | None) -> dict[str, Any]:
    """The picker after a search: the matching documents, best first and the best chosen, and
    a line saying how many matched; every document, and the choice kept, for an empty box."""
    query = (query or "")[:MAX_QUERY_CHARS].strip()  # the box's own limit, for a script that skips the box
    every = studio.spec_choices()
    if not query:
        return {"choices": every, "value": current, "info": ""}
    found = studio.spec_choices(query)
    if not found:
        meant = studio.spec_choices(query, near_misses=True)
        if meant:  # a near miss: what it meant, chosen, and said so
            return {"choices": meant, "value": meant[0][1],
                    "info": t("web.search.meant", query=_echo(query), document=meant[0][0])}
        # nothing like it: no document stays chosen, so nobody makes the wrong one in a hurry
        return {"choices": every, "value": None, "info": t("web.search.none", query=_echo(query))}
    if len(found) == 1:
        return {"choices": found, "value": found[0][1], "info": t("web.search.one")}
    return {"choices": found, "value": found[0][1],
            "info": t("web.search.many", count=len(found))}


def spec_rules(studio: Studio, spec_id: str | None) -> str:
    """The chosen document's rules in one line (print or online upload, pixels, file sizes,
    head, background); its sources in a closed "Sources" fold, out of the main text."""
    if not spec_id:
        return ""
    try:
        spec = studio.spec(spec_id)
    except PortraitLabError as error:
        # the near matches, not the command that lists them; escaped: it may quote the visitor
        return _plain(error.visitor_message_in(VISITOR_LANGUAGE.get()))
    text = rules_text(spec, VISITOR_LANGUAGE.get())
    sources = [source.strip() for source in spec.source.split(" ; ") if source.strip()]
    if sources:
        items = "\n".join(f"- {_plain(source)}" for source in sources)
        text += f"\n\n<details><summary>{_plain(t('web.idphoto.sources'))}</summary>\n\n{items}\n\n</details>"
    return text


ECHO_MAX_CHARS = 40


def _echo(query: str) -> str:
    """What the visitor typed, as shown back to them: short, no control or direction-changing
    characters, no Markdown or HTML of its own."""
    visible = "".join(c for c in query if unicodedata.category(c)[0] != "C")
    short = visible if len(visible) <= ECHO_MAX_CHARS else visible[:ECHO_MAX_CHARS] + "\u2026"
    return _plain(short)


MARKDOWN_MARKS = "\\`*_[]~#|!"  # the backslash first: a typed "\\*" must not undo the "*"'s escape


def _plain(text: str) -> str:
    """Text shown as written: no HTML, no Markdown of its own (emphasis, links, code spans)."""
    escaped = html.escape(text, quote=False)
    for mark in MARKDOWN_MARKS:
        escaped = escaped.replace(mark, "\\" + mark)
    return escaped
