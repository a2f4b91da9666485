"""How a tab's main button runs its job, the same way on every tab.

A click first empties the job's outputs and locks the button (a private, unqueued UI event),
then runs the job with its progress shown in one place, then unlocks the button when there
is still something to work on and, after a success, scrolls the result into view. The
button is also locked while there is no photo, and an upload that is not an image is
refused the moment it arrives, not after the click.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import gradio as gr
from gradio.components import Component
from gradio.events import Dependency

from webapp.language import request_language, speaking
from webapp.ui import UI_ONLY


def scroll_into_view_js(elem_id: str) -> str:
    """Browser code that brings ``elem_id`` into view (a phone shows the controls first, so
    a finished result would otherwise sit below the fold): once now and again when its
    pictures have loaded and taken their height, and once more if the status line shrinking
    above it slid its top edge off. Not after a remake from the page's own
    controls (``window.portraitLabStay``): the visitor is at those controls."""
    return f"""() => {{
  if (window.portraitLabStay) {{ window.portraitLabStay = false; return; }}
  const el = document.getElementById({elem_id!r});
  if (!el) return;
  const show = () => el.scrollIntoView({{behavior: 'smooth', block: 'start'}});
  setTimeout(show, 50);
  // The status line above shrinks as the job ends; nudge back a top edge that slid a little off.
  setTimeout(() => {{ const top = el.getBoundingClientRect().top; if (top < 0 && top > -40) show(); }}, 900);
  el.querySelectorAll('img').forEach((img) => {{ if (!img.complete) img.addEventListener('load', show, {{once: true}}); }});
}}"""


STATUS_CLASS = "job-status"  # the page's CSS (webapp/page_script.py) styles the status lines by it


def status_box(elem_id: str) -> gr.Markdown:
    """The line under a main button: the job's progress while it runs (its real stages), and
    why it failed when it does, where the visitor's eyes are."""
    return gr.Markdown(elem_id=elem_id, elem_classes=[STATUS_CLASS, "live-region"])


def is_status_line(component: Component) -> bool:
    """Whether ``component`` is a tab's status line (:func:`status_box`)."""
    return STATUS_CLASS in (getattr(component, "elem_classes", None) or [])


# After a failure, the status line keeps the reason the error toast gave (a toast goes away).
FAILURE_JS = """() => {
  const toasts = [...document.querySelectorAll('.toast-body.error')];
  const last = toasts[toasts.length - 1];
  const text = last ? (last.querySelector('.toast-messages, .toast-item') || last).innerText.trim() : '';
  const words = (window.portraitLabWords && window.portraitLabWords()) || {};
  return '\u2717 ' + (text || words['ui.page.failed'] || 'This could not be done; please try again.');
}"""


@dataclass(frozen=True)
class Job:
    """One tab's job as its button runs it."""

    button: gr.Button
    action: Callable[..., Any]
    inputs: Sequence[Component]
    outputs: Sequence[Component]
    api_name: str
    progress_on: gr.Markdown  # the status line (status_box): progress, then the reason of a failure
    scroll_to: str  # elem_id of the result to bring into view after a success
    # whether the button may be pressed for the values of ``ready_inputs`` (default: the first,
    # the photo, is present): checked as they change and again when the job ends
    ready: Callable[..., bool] | None = None
    ready_inputs: Sequence[Component] = ()
    # the results' alt texts, from the job's inputs: set as the click empties them (a UI event,
    # so the API's outputs stay plain file paths), so each result arrives already described
    describe: Callable[..., tuple[str, ...]] | None = None
    describe_inputs: Sequence[Component] = ()
    described: Sequence[Component] = ()
    # outputs the click leaves as they are: state the job reads again (the kept analysis of a
    # hand fix), which an emptied value would lose before the job starts
    kept: Sequence[Component] = ()


def wire_job(job: Job, heavy: dict[str, Any]) -> Dependency:
    """Locked until ready -> click -> clear and lock -> run -> unlock (and scroll on success).
    Returns the run, for a tab that shows more after a success (the face review)."""
    ready = job.ready or _first_present
    _lock_until_ready(job.button, job.ready_inputs, ready)
    if job.ready_inputs:  # a new photo: the reason an earlier one failed no longer applies
        job.ready_inputs[0].change(_status_for_photo, [job.ready_inputs[0]], job.progress_on,
                                   show_progress="hidden", **UI_ONLY)
    cleared = [component for component in (*job.outputs, job.progress_on)
               if component is not job.button and all(component is not k for k in job.kept)]
    staying = gr.Checkbox(visible=False)  # set by STAYING_JS from the page as the click happens
    start = job.button.click(_clear_and_lock(job, cleared), [*job.describe_inputs, staying], [job.button, *cleared],
                             js=STAYING_JS, trigger_mode="once", show_progress="hidden", **UI_ONLY)
    run = start.then(job.action, list(job.inputs), list(job.outputs), api_name=job.api_name,
                     show_progress_on=job.progress_on, **heavy)
    # Gradio's frontend runs a ``.then`` only after a success, whatever its docs say: a failure
    # gets its own unlock (measured: the button stayed locked after "no face found")
    for after in (run.success, run.failure):
        after(_unlock(ready), list(job.ready_inputs), job.button, show_progress="hidden", **UI_ONLY)
    run.failure(None, None, job.progress_on, js=FAILURE_JS, **UI_ONLY)
    run.success(None, None, None, js=scroll_into_view_js(job.scroll_to), **UI_ONLY)
    return run


# Whether the click is a remake from the page's own controls (an "Apply" in "Fix the cut-out", a
# slider of "Adjust the photo": window.portraitLabStay), handed to the click's Python as its last input.
STAYING_JS = "(...values) => [...values.slice(0, -1), Boolean(window.portraitLabStay)]"


def _clear_and_lock(job: Job, cleared: Sequence[Component]) -> Callable[..., tuple[Any, ...]]:
    """The click's updates: the button locked, every output emptied, the results described. A
    remake from the page's own controls keeps the results on show until the new ones replace
    them: emptied, they would take their height with them and move the editor under the finger."""
    def clear(request: gr.Request, *values: Any) -> tuple[Any, ...]:
        *described, staying = values
        if staying:
            return (gr.Button(interactive=False), *(gr.update() for _ in cleared))
        with speaking(request_language(request)):  # the alt texts in the visitor's language
            texts = dict(zip(map(id, job.described), job.describe(*described))) if job.describe else {}
        return (gr.Button(interactive=False), *(
            gr.update(value=None, alt_text=texts[id(c)]) if id(c) in texts
            # a download with nothing behind it would look like the failed job's (it stays hidden then)
            else gr.DownloadButton(value=None, visible=False) if isinstance(c, gr.DownloadButton)
            else None for c in cleared))

    return clear


def _status_for_photo(photo: Any) -> Any:
    """Emptied for a new photo; kept when the box is emptied ("Delete my files now" empties it
    while a job runs, and that job's sentence must stay to say what happened)."""
    return "" if photo else gr.update()


def _first_present(*values: Any) -> bool:
    return bool(values and values[0])


def _unlock(ready: Callable[..., bool]) -> Callable[..., gr.Button]:
    def unlock(*values: Any) -> gr.Button:
        return gr.Button(interactive=bool(ready(*values)))

    return unlock


def _lock_until_ready(button: gr.Button, inputs: Sequence[Component], ready: Callable[..., bool]) -> None:
    """The button is pressable only while ``ready(*values of inputs)`` holds."""
    for component in inputs:
        component.change(_unlock(ready), list(inputs), button, show_progress="hidden", **UI_ONLY)


# Empties the upload box only if it still holds the refused file: a late answer about an earlier
# upload must not remove the photo that replaced it.
CLEAR_REFUSED_JS = "(refused, photo) => (refused && photo && photo.path === refused) ? null : photo"


def check_upload_at_once(photo: gr.Image, check: Callable[..., Any]) -> None:
    """Refuse a file that is not an image as soon as it is uploaded (``check``: a handler that
    warns and returns the refused file's path), not after the click; the box is emptied, which
    also locks the button. The box is never an output of the server here: a property update
    would make Gradio rebuild the session's copy of it without ``ui.photo_input``'s handling."""
    refused = gr.Textbox(visible=False)
    # queued (privately: not in the API) because only a queued event can show a warning toast;
    # one pool for every upload check, apart from the models'
    photo.upload(check, photo, refused, show_progress="hidden", queue=True, api_visibility="private",
                 concurrency_id="upload-check").then(None, [refused, photo], photo, js=CLEAR_REFUSED_JS, **UI_ONLY)
