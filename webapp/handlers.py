"""One function per user action, and the one place pipeline errors become visitor sentences.

Each action takes what it needs explicitly (an :class:`ActionContext`: the studio, the
storage, the config), checks the visitor and the inputs, runs one ``Studio`` method in a
folder of the visitor's session and returns the values of the event's outputs. The tabs
(``webapp/tabs/``) wire them to buttons with :func:`event` or :func:`gpu_event`.

Every action runs in the main process, where the session storage and the logs live; only its
model call goes through ``ctx.gpu`` (``webapp/space.py``), which on ZeroGPU runs it in the
forked GPU worker with plain inputs (paths, options) and brings plain results back.
"""
from __future__ import annotations

import contextvars
import functools
import html
import inspect
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
import pandas  # a Gradio dependency; the batch table's type

from pipeline.core.decode import check_image_header
from pipeline.core.decode_guard import open_header
from pipeline.core.errors import OutputWriteError, PortraitLabError
from pipeline.cutout.background import BackgroundOptions
from pipeline.cutout.strokes import read_stroke_image
from pipeline.idphoto.nudge import PlacementNudge
from pipeline.idphoto.tone import ToneOptions
from pipeline.restore.engine import RestoreOptions
from webapp import metrics
from webapp.config import AppConfig
from webapp.cookies import OWNER_COOKIE, owner_token
from webapp.cutout_editor import (EDITOR_MAX_PIXELS, FoundHandle, next_handle, painted_on, painted_strokes,
                                  strokes_digest)
from webapp.language import VISITOR_LANGUAGE, request_language, speaking, t
from webapp.logsafe import log, log_job
from webapp.session_jobs import FilesDeletedDuringJob
from webapp.sessions import SessionStorage
from webapp.report_view import report_page_from_file
from webapp.review import FaceReview
from webapp.space import GpuStudio
from webapp.studio import SHEET_NONE, RestoreOutcome, Studio, batch_markdown

# How many images the running job handled, for its log line (a batch sets it; one per thread
# and request, so concurrent jobs never see each other's count).
JOB_IMAGES: contextvars.ContextVar[int] = contextvars.ContextVar("job_images", default=1)
# The verdict's heading by the report's overall result: catalogue keys (web.verdict.*).
VERDICTS = {"pass": "web.verdict.pass", "warn": "web.verdict.warn", "fail": "web.verdict.fail"}


@dataclass(frozen=True)
class ActionContext:
    """What every action works with: the shared models, the visitors' storage, the settings,
    and the studio's model calls as they run on the GPU (made with the context, so when the app
    is built: before the first call forks ZeroGPU's worker, which therefore holds the studio)."""

    studio: Studio
    storage: SessionStorage
    config: AppConfig
    gpu: GpuStudio = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "gpu", GpuStudio(self.studio))


# -- request context -----------------------------------------------------------------------
@dataclass(frozen=True)
class Visitor:
    """Who is asking: the Gradio session (one browser tab) and the owner cookie (the browser)."""

    session_hash: str
    owner_token: str | None


def visitor_of(request: gr.Request | None) -> Visitor:
    session_hash = getattr(request, "session_hash", None) if request is not None else None
    if not session_hash:
        raise gr.Error(t("web.error.no_session"), title=t("error.title.cannot_do"), print_exception=False)
    token = None
    raw = getattr(request, "request", None)
    cookies = getattr(raw, "cookies", None)
    if cookies:
        token = cookies.get(OWNER_COOKIE)
    if token is None:
        header = (getattr(request, "headers", None) or {}).get("cookie")
        if header:
            token = owner_token([(b"cookie", header.encode("latin-1"))])
    return Visitor(session_hash, token)


# -- errors and checks ---------------------------------------------------------------------
def user_errors(kind: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Turn pipeline errors into clear messages and log one privacy-safe line per job."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:  # the visitor's language is event()'s, copied in
            return contextvars.copy_context().run(run, *args, **kwargs)

        def run(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                result = fn(*args, **kwargs)
            except gr.Error as error:
                log_job(kind, "refused", time.perf_counter() - started, error_type=type(error).__name__)
                raise
            except FilesDeletedDuringJob:  # the visitor's own "Delete my files now": nothing went wrong
                log_job(kind, "refused", time.perf_counter() - started, error_type="FilesDeletedDuringJob")
                raise gr.Error(t("web.error.deleted_during_job"), title=t("web.error.deleted_during_job_title"),
                               print_exception=False) from None
            except OutputWriteError as error:  # the server's disk: its path is no business of the visitor's
                log_job(kind, "error", time.perf_counter() - started, error_type=type(error).__name__)
                raise gr.Error(t("web.error.storage"), title=t("web.error.storage_title"),
                               print_exception=False) from None
            except PortraitLabError as error:  # the visitor's sentence; the operator's (commands) to the log
                log_job(kind, "refused", time.perf_counter() - started, error_type=type(error).__name__)
                if error.visitor_sentence is not None:
                    log.warning("%s refused: %s", kind, error.user_message)
                raise gr.Error(error.visitor_message_in(VISITOR_LANGUAGE.get()), title=t("error.title.cannot_do"),
                               print_exception=False) from None
            except Exception as error:  # reported to the visitor without a traceback, and logged by type
                log_job(kind, "error", time.perf_counter() - started, error_type=type(error).__name__)
                raise gr.Error(t("web.error.unexpected", error=type(error).__name__),
                               title=t("web.error.unexpected_title"), print_exception=False) from None
            log_job(kind, "ok", time.perf_counter() - started, images=JOB_IMAGES.get())
            return result

        return wrapper

    return decorate


def language_of(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """The language of the request among a handler's arguments (Gradio passes it as any
    parameter typed ``gr.Request``); English for a call without one (tests, scripts)."""
    for value in (*args, *kwargs.values()):
        if isinstance(value, gr.Request):
            return request_language(value)
    return VISITOR_LANGUAGE.get()


def require_photo(path: str | None) -> str:
    if not path:
        raise gr.Error(t("web.error.no_photo"), title=t("web.error.no_photo_title"), print_exception=False)
    return path


def work_dir(ctx: ActionContext, visitor: Visitor, label: str, *uploads: str | None) -> Path:
    """A new folder in the visitor's session for one job, once every input is theirs and
    their quota has room; the uploads are tied to the session so they go with it."""
    storage = ctx.storage
    for upload in uploads:
        if upload and not storage.may_use(visitor.session_hash, visitor.owner_token, upload):
            raise gr.Error(t("web.error.not_yours"), title=t("error.title.cannot_do"), print_exception=False)
        if upload and not Path(upload).is_file():  # e.g. deleted by "Delete my files now" since it was sent
            raise gr.Error(t("web.error.file_unreadable"), title=t("error.title.cannot_do"), print_exception=False)
    storage.require_room(visitor.owner_token)
    storage.attach_uploads(visitor.session_hash, visitor.owner_token, uploads)
    return storage.new_work_dir(visitor.session_hash, visitor.owner_token, label)


# -- wiring --------------------------------------------------------------------------------
def event(action: Callable[..., Any], *bound: Any) -> Callable[..., Any]:
    """``action`` with its first arguments given, as Gradio should see it: the signature
    without them (Gradio reads it to pass ``gr.Request`` and ``gr.Progress``), the name and
    annotations of the action (its API name, and the type hints Gradio resolves)."""
    def handler(*args: Any, **kwargs: Any) -> Any:
        with speaking(language_of(args, kwargs)):  # the visitor's language for what the action writes
            return action(*bound, *args, **kwargs)

    functools.update_wrapper(handler, action)
    handler.__doc__ = None  # Gradio would publish it as the API description: it is for developers
    signature = inspect.signature(action)
    handler.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=list(signature.parameters.values())[len(bound):])
    return handler


def gpu_event(action: Callable[..., Any], ctx: ActionContext) -> Callable[..., Any]:
    """A model-running action for an event. The action itself runs in the main process; only
    its model call borrows the GPU (``ctx.gpu``), so storage and logs see every job."""
    return event(action, ctx)


def check_upload(ctx: ActionContext, path: str | None, request: gr.Request) -> str:
    """An upload checked the moment it arrives, from its header: a file that is not a usable
    photo gets the visitor's sentence as a warning, and its path comes back so the page can
    empty the box if it still holds that file (``wiring.check_upload_at_once``); "" for a usable
    one. Only the visitor's own upload is opened (the path comes from the browser)."""
    if not path:
        return ""
    visitor = visitor_of(request)
    if not ctx.storage.may_use(visitor.session_hash, visitor.owner_token, path):
        return path
    try:
        check_image_header(path)
    except PortraitLabError as error:  # the visitor's sentence: no path, no command
        gr.Warning(error.visitor_message_in(VISITOR_LANGUAGE.get()), title=t("web.error.unusable_photo_title"))
        return path
    return ""


# -- the actions ---------------------------------------------------------------------------
@user_errors("restore")
def restore(ctx: ActionContext, photo: str | None, model: str, strength: float, upscale: int, centre: bool,
            detector: str, fmt: str, background: str | None, guard: bool | None, request: gr.Request,
            progress: gr.Progress = gr.Progress()) -> tuple:
    visitor = visitor_of(request)
    photo = require_photo(photo)
    if not ctx.studio.restorer_ready(model):
        raise gr.Error(t("web.error.restorer_missing"), title=t("error.title.cannot_do"), print_exception=False)
    if int(upscale) > 1 and background and not ctx.studio.upsampler_ready(background):
        raise gr.Error(t("web.error.upsampler_missing"), title=t("error.title.cannot_do"), print_exception=False)
    progress(0.1, desc=t("web.progress.restore"))
    # the page starts on the server's default: left as it is, the engine picks it and the result says why
    chosen_background = None if background == ctx.studio.default_upsampler() else background or None
    options = RestoreOptions(model=model, strength=float(strength), upscale=int(upscale),
                             only_centre_face=bool(centre), detector=detector, background_upsampler=chosen_background,
                             identity_guard=bool(guard))
    with ctx.storage.job(visitor.session_hash, visitor.owner_token):
        outcome = ctx.gpu.restore(photo, options, work_dir(ctx, visitor, "restore", photo), fmt=fmt)
    metrics.record_work("restore", outcome.timings, outcome.faces)  # here: on ZeroGPU the studio ran in the worker
    progress(1.0, desc=t("web.progress.done"))
    return _restored(outcome)


@user_errors("restore")
def review_face(ctx: ActionContext, review: FaceReview | None, face: int | None, strength: float,
                request: gr.Request) -> tuple:
    """One face's strength changed from the review: the kept faces pasted again (no network)."""
    visitor = visitor_of(request)
    if review is None or not ctx.storage.may_use(visitor.session_hash, visitor.owner_token, str(review.faces_file)):
        raise gr.Error(t("web.error.review_first"), title=t("error.title.cannot_do"), print_exception=False)
    if face is None or not 0 <= int(face) < len(review.strengths):
        raise gr.Error(t("web.error.choose_face"), title=t("error.title.cannot_do"), print_exception=False)
    if strength is None or not math.isfinite(float(strength)) or not 0.0 <= float(strength) <= 1.0:
        raise gr.Error(t("web.error.strength_range"), title=t("error.title.cannot_do"), print_exception=False)
    with ctx.storage.job(visitor.session_hash, visitor.owner_token):
        outcome = ctx.gpu.reblend(review, int(face), _number(strength), work_dir(ctx, visitor, "restore"))
    return _restored(outcome)


def _restored(outcome: RestoreOutcome) -> tuple:
    """The Restore tab's results: the slider pair, the download, the summary, the review state."""
    return ((str(outcome.before), str(outcome.after)), gr.DownloadButton(value=str(outcome.after), visible=True),
            outcome.summary, outcome.review)


@user_errors("background")
def background(ctx: ActionContext, photo: str | None, mode: str, colour: str, colour2: str, backdrop: str | None,
               blur: float, feather: float, fmt: str, strokes: str | None = None, painted: Any = None,
               found: Any = None, request: gr.Request = None, progress: gr.Progress = gr.Progress()) -> tuple:
    """``strokes``: a stroke mask file (the API's); ``painted``: the page editor's strokes;
    ``found``: the session's handle of its last result (a hand fix starts from it)."""
    visitor = visitor_of(request)
    photo = require_photo(photo)
    progress(0.1, desc=t("web.progress.background"))
    with ctx.storage.job(visitor.session_hash, visitor.owner_token):
        folder = work_dir(ctx, visitor, "background", photo, backdrop, strokes)
        handle = kept_handle(ctx, visitor, found, photo)
        options = BackgroundOptions(mode=mode, colour=colour or "white", colour2=colour2 or "light-blue",
                                    blur_strength=float(blur), feather_px=float(feather),
                                    strokes=stroke_mask(painted, handle, strokes, photo))
        outcome = ctx.gpu.replace_background(photo, options, folder, fmt=fmt,
                                             backdrop=backdrop if mode == "image" else None,
                                             found=handle.view.found if handle else None)
    metrics.record_work("background", outcome.timings, outcome.faces)
    progress(1.0, desc=t("web.progress.done"))
    return (str(outcome.image), gr.DownloadButton(value=str(outcome.image), visible=True), outcome.summary,
            next_handle(found, photo, outcome.editor, applied_strokes(painted, handle)))


def kept_handle(ctx: ActionContext, visitor: Visitor, found: Any, photo: str) -> FoundHandle | None:
    """The session's handle of its last result when it is of this very upload and its files
    are still the visitor's; None otherwise (the photo is analysed afresh)."""
    if (isinstance(found, FoundHandle) and found.photo == photo
            and ctx.storage.may_use(visitor.session_hash, visitor.owner_token, str(found.view.found))):
        return found
    return None


def stroke_mask(painted: Any, handle: FoundHandle | None, upload: str | None, photo: str) -> np.ndarray | None:
    """The strokes to apply, as an RGBA mask (colours checked): the editor's, painted on this
    photo (at most the editor's size), else an uploaded stroke mask (a script's: at most the
    photo's pixels), else None. Sizes are refused from the header, before anything is decoded."""
    drawn = painted_strokes(painted, handle)
    if drawn is not None:
        return read_stroke_image(drawn, max_pixels=EDITOR_MAX_PIXELS)
    if upload:
        return read_stroke_image(upload, max_pixels=max(EDITOR_MAX_PIXELS, pixels_of(photo)))
    return None


def applied_strokes(painted: Any, handle: FoundHandle | None) -> str:
    """Which of the page's strokes the result used (their digest; none when they were of another photo)."""
    return strokes_digest(painted_on(painted, handle))


def pixels_of(path: str) -> int:
    """A photo's pixel count from its header (0 when it cannot be read: its own decode says why)."""
    try:
        with open(path, "rb") as stream, open_header(stream) as image:
            return int(image.size[0]) * int(image.size[1])
    except (OSError, ValueError, PortraitLabError):
        return 0


@user_errors("idphoto")
def id_photo(ctx: ActionContext, photo: str | None, spec_id: str, colour: str, max_kb: float | None, paper: str,
             auto_correct: bool, brightness: float, contrast: float, sharpness: float, head_size: float,
             head_position: float, strokes: str | None = None, painted: Any = None, found: Any = None,
             request: gr.Request = None, progress: gr.Progress = gr.Progress()) -> tuple:
    """``strokes``, ``painted``, ``found``: as :func:`background`'s."""
    visitor = visitor_of(request)
    photo = require_photo(photo)
    if not spec_id:
        raise gr.Error(t("web.error.choose_document"), title=t("error.title.cannot_do"), print_exception=False)
    tone = ToneOptions(auto=bool(auto_correct), brightness=_number(brightness), contrast=_number(contrast),
                       sharpness=_number(sharpness))
    nudge = PlacementNudge(head_size=_number(head_size), vertical=_number(head_position))
    with ctx.storage.job(visitor.session_hash, visitor.owner_token):
        folder = work_dir(ctx, visitor, "idphoto", photo, strokes)
        handle = kept_handle(ctx, visitor, found, photo)
        outcome = ctx.gpu.id_photo(photo, spec_id, folder, background=colour or None,
                                   max_kb=float(max_kb) if max_kb else None, paper=paper or SHEET_NONE, tone=tone,
                                   nudge=nudge, progress=progress, strokes=stroke_mask(painted, handle, strokes, photo),
                                   found=handle.view.found if handle else None)
        # i18n: the report page is report_view's (webapp/report_view.py); it renders in its own language support
        page = report_page_from_file(outcome.report_json)  # the report as a page, under the verdict
    metrics.record_work("idphoto", outcome.timings)
    progress(1.0, desc=t("web.progress.done"))
    verdict = t(VERDICTS[outcome.verdict])
    return (f"**{verdict}**\n\n{outcome.summary}\n\n{page}", str(outcome.photo), str(outcome.overlay),
            outcome.report_text, str(outcome.sheet_png) if outcome.sheet_png else None,
            [str(p) for p in outcome.files], next_handle(found, photo, outcome.editor, applied_strokes(painted, handle)))


def _number(value: float | None) -> float:
    """A slider's value (None when a script leaves it out: the neutral 0); the options check its range."""
    return 0.0 if value is None else float(value)


@user_errors("batch")
def batch(ctx: ActionContext, files: list[str] | None, job: str, spec_id: str, strength: float, colour: str,
          request: gr.Request, progress: gr.Progress = gr.Progress()) -> tuple:
    visitor = visitor_of(request)
    if not files:
        raise gr.Error(t("web.error.no_files"), title=t("error.title.cannot_do"), print_exception=False)
    paths = [f if isinstance(f, str) else getattr(f, "name", str(f)) for f in files]
    with ctx.storage.job(visitor.session_hash, visitor.owner_token):
        out_dir = work_dir(ctx, visitor, "batch", *paths)
        # Half of the room left for unpacked archives, half for the results and their zip.
        room = ctx.storage.room_for(visitor.owner_token) // 2
        summary = ctx.gpu.batch(paths, job, out_dir, restore=RestoreOptions(strength=float(strength)),
                                background=BackgroundOptions(mode="colour", colour=colour or "white"),
                                spec_id=spec_id, id_background=colour or None, progress=progress,
                                max_extract_bytes=room)
        gallery = [(str(path), caption) for path, caption in summary.comparisons(out_dir / "compare")]
        report = report_frame(summary.html_path)
    JOB_IMAGES.set(len(summary.rows))
    downloads = [str(p) for p in (summary.zip_path, summary.csv_path, summary.html_path)]
    table = pandas.DataFrame(summary.table(), columns=summary.table_headers())
    return batch_markdown(summary), gallery, table, downloads, report


# Above this, report.html is only a download: a phone should not receive tens of MB at once.
REPORT_INLINE_MAX_BYTES = 4 * 1024 * 1024


def report_frame(path: Path) -> str:
    """report.html shown in the page (Gradio serves .html files only as downloads): in a
    sandboxed frame, so nothing in it runs or reaches the app."""
    too_large = f"<p>{html.escape(t('web.batch.report_too_large'))}</p>"
    if path.stat().st_size > REPORT_INLINE_MAX_BYTES:
        return too_large
    page = html.escape(path.read_text(encoding="utf-8"), quote=True)
    if len(page) > REPORT_INLINE_MAX_BYTES:  # what is sent, escaping included
        return too_large
    title = html.escape(t("web.batch.report_frame"), quote=True)
    return (f'<iframe title="{title}" sandbox srcdoc="{page}" '
            'style="width:100%;height:70vh;border:1px solid #ccc;border-radius:6px"></iframe>')


@user_errors("delete")
def delete_files(ctx: ActionContext, lines: int, cleared: int, hidden: int, request: gr.Request) -> tuple:
    """'Delete my files now': the sentence, then for each of the tabs' ``lines`` (the status
    under a main button) None, or no change while a job runs (its own sentence about the
    deletion may reach the page first), None for each of the ``cleared`` file components and a
    hidden, empty button for each of the ``hidden`` download buttons."""
    visitor = visitor_of(request)
    busy = ctx.storage.busy(visitor.session_hash)
    removed = ctx.storage.clear(visitor.session_hash, visitor.owner_token)
    message = t("web.privacy.deleted", count=removed) if removed else t("web.privacy.nothing_deleted")
    return ((message,) + (gr.update() if busy else None,) * lines + (None,) * cleared
            + (gr.DownloadButton(value=None, visible=False),) * hidden)


def session_started(ctx: ActionContext, request: gr.Request) -> None:
    visitor = visitor_of(request)
    ctx.storage.open(visitor.session_hash, visitor.owner_token)


def session_ended(ctx: ActionContext, request: gr.Request) -> None:
    if getattr(request, "session_hash", None):
        visitor = visitor_of(request)
        started = time.perf_counter()
        ctx.storage.end(visitor.session_hash, visitor.owner_token)
        log_job("session-end", "ok", time.perf_counter() - started, images=0)
