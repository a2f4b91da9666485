"""Portrait Lab web app: Gradio 6 Blocks wired to ``webapp.studio``.

This file holds the UI and its wiring only: the image work is in ``pipeline/``, the
retention rules in ``webapp/sessions.py``, the settings in ``webapp/config.py``.

    python app.py                       # http://127.0.0.1:7860
    python app.py --host 0.0.0.0 --port 8080 --share
"""
from __future__ import annotations

import dataclasses
import contextvars
import functools
import importlib.util
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROCESS_STARTED = time.perf_counter()

# Privacy: no usage statistics leave the server, whatever the environment says.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import gradio as gr  # noqa: E402
import pandas  # noqa: E402  (a Gradio dependency; the batch table's type)

from pipeline.models.accelerate import SpeedSettings, speed_from_environment  # noqa: E402
from webapp.config import AppConfig, load_config  # noqa: E402
from pipeline.cutout.background import BackgroundOptions  # noqa: E402
from pipeline.restore.engine import RestorationPipeline, RestoreOptions  # noqa: E402
from pipeline.core.errors import OutputWriteError, PortraitLabError  # noqa: E402
from webapp.logsafe import configure_private_logging, log_job  # noqa: E402
from webapp.sessions import SessionStorage  # noqa: E402
from webapp.studio import SHEET_NONE, Studio, batch_markdown, write_example_photo  # noqa: E402
from pipeline.core.units import human_bytes  # noqa: E402
from webapp.guard import OWNER_COOKIE, PrivacyGuard, owner_token  # noqa: E402

HEAVY = "heavy-work"  # one concurrency pool shared by every event that runs a model
# Result viewers keep download and fullscreen; Gradio's default "share" button would post the
# photo to huggingface.co when the app runs on a Space.
VIEWER_BUTTONS = ["download", "fullscreen"]
log = logging.getLogger("portrait_lab.app")

try:  # ZeroGPU Spaces: borrow a GPU for the duration of each heavy call
    import spaces  # type: ignore[import-not-found]

    on_gpu: Callable[[Callable[..., Any]], Callable[..., Any]] = spaces.GPU(duration=120)
    # The spaces package marks ZeroGPU hardware with SPACES_ZERO_GPU=true; elsewhere its
    # decorator does nothing and a dedicated GPU keeps every speed default.
    ZERO_GPU = os.environ.get("SPACES_ZERO_GPU", "").strip().lower() in ("1", "t", "true")
except ImportError:  # anywhere else the decorator is not needed
    def on_gpu(fn: Callable[..., Any]) -> Callable[..., Any]:
        return fn

    ZERO_GPU = False


def engine_speed() -> SpeedSettings:
    """The speed switches from the environment; on ZeroGPU without the micro-batcher, whose
    worker thread would outlive the GPU that ZeroGPU lends to one decorated call at a time."""
    speed = speed_from_environment()
    return dataclasses.replace(speed, micro_batch=False) if ZERO_GPU else speed


# -- request context -----------------------------------------------------------------------
@dataclass(frozen=True)
class Visitor:
    """Who is asking: the Gradio session (one browser tab) and the owner cookie (the browser)."""

    session_hash: str
    owner_token: str | None


def visitor_of(request: gr.Request | None) -> Visitor:
    session_hash = getattr(request, "session_hash", None) if request is not None else None
    if not session_hash:
        raise gr.Error("This request has no session; reload the page.", print_exception=False)
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


# How many images the running job handled, for its log line (a batch sets it; one per thread
# and request, so concurrent jobs never see each other's count).
JOB_IMAGES: contextvars.ContextVar[int] = contextvars.ContextVar("job_images", default=1)


def user_errors(kind: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Turn pipeline errors into clear messages and log one privacy-safe line per job."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return contextvars.copy_context().run(run, *args, **kwargs)

        def run(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                result = fn(*args, **kwargs)
            except gr.Error as error:
                log_job(kind, "refused", time.perf_counter() - started, error_type=type(error).__name__)
                raise
            except OutputWriteError as error:  # the server's disk: its path is no business of the visitor's
                log_job(kind, "error", time.perf_counter() - started, error_type=type(error).__name__)
                raise gr.Error("The server could not store your result right now. "
                               "Please try again in a few minutes.", title="Please try again",
                               print_exception=False) from None
            except PortraitLabError as error:
                log_job(kind, "refused", time.perf_counter() - started, error_type=type(error).__name__)
                raise gr.Error(error.user_message, title="Cannot do that", print_exception=False) from None
            except Exception as error:  # reported to the visitor without a traceback, and logged by type
                log_job(kind, "error", time.perf_counter() - started, error_type=type(error).__name__)
                raise gr.Error(
                    f"Something went wrong on our side ({type(error).__name__}). Your photo was not changed; "
                    "please try again.", title="Unexpected error", print_exception=False,
                ) from None
            log_job(kind, "ok", time.perf_counter() - started, images=JOB_IMAGES.get())
            return result

        return wrapper

    return decorate


def require_photo(path: str | None, what: str = "a photo") -> str:
    if not path:
        raise gr.Error(f"Upload {what} first.", title="No photo", print_exception=False)
    return path


def with_clear_input_errors(component: Any, message: str) -> Any:
    """Make a component's input check fail with ``message`` instead of a library error (and
    without a traceback, whose text could name the file). Wraps this instance's preprocess;
    a subclass would make Gradio write a stub file next to app.py at import time."""
    stock_preprocess = component.preprocess

    def preprocess(payload: Any) -> Any:
        try:
            return stock_preprocess(payload)
        except gr.Error:
            raise
        except Exception:
            raise gr.Error(message, title="Unusable file", print_exception=False) from None

    component.preprocess = preprocess
    return component


def photo_input(**kwargs: Any) -> gr.Image:
    """An image upload handed to the pipeline as the file itself, unopened: Gradio's own
    preprocessing would open it with Pillow, whose bomb check (179 MP) and re-encoding run
    before our decoder, which handles every mode, 16-bit and colour profiles, and answers
    an oversized photo with the app's own limit and sentence."""
    component = gr.Image(type="filepath", image_mode=None, buttons=VIEWER_BUTTONS, **kwargs)

    def preprocess(payload: Any) -> str | None:
        if payload is None:
            return None
        path = getattr(payload, "path", None)
        if not isinstance(path, str) or not path:
            raise gr.Error("This file could not be received; please upload it again.", title="Unusable file",
                           print_exception=False)
        return path

    component.preprocess = preprocess
    return component


# -- the app -------------------------------------------------------------------------------
@dataclass
class PortraitLabApp:
    demo: gr.Blocks
    studio: Studio
    storage: SessionStorage
    config: AppConfig

    def launch(self, *, block: bool = True, quiet: bool = False) -> str:
        """Start serving; returns the local URL. With ``block`` it then serves until stopped."""
        concurrency = self.config.resolved_concurrency(self.studio.engine.compute.device.type)
        # api_open=False: every model call goes through the queue and its limits; /run/<name>
        # would otherwise run it at once, beside the queue, as often as a script likes.
        self.demo.queue(max_size=self.config.queue_max, default_concurrency_limit=concurrency, api_open=False)
        _, local_url, _ = self.demo.launch(
            server_name=self.config.host, server_port=self.config.port, share=self.config.share,
            prevent_thread_lock=True, quiet=quiet, show_error=False, ssr_mode=False,
            max_file_size=f"{self.config.max_upload_mb:g}mb", enable_monitoring=False, mcp_server=False,
            pwa=False, footer_links=["api"], theme=_private_theme(), css=CSS, run_history=False,
            app_kwargs={"middleware": [_middleware(self.storage)]},
        )
        configure_private_logging(self.config.temp_root)  # again: uvicorn added its own handlers
        log.info("ready after %.1f s", time.perf_counter() - PROCESS_STARTED)
        if block:
            self.demo.block_thread()
        return local_url

    def close(self) -> None:
        self.demo.close()
        self.storage.stop_sweeper()


def _middleware(storage: SessionStorage) -> Any:
    from starlette.middleware import Middleware

    return Middleware(PrivacyGuard, storage=storage)


def _private_theme() -> gr.themes.Base:
    # System fonts: the stock theme would load web fonts from a third-party CDN.
    return gr.themes.Soft(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])


CSS = """
.report textarea { font-family: ui-monospace, monospace; font-size: 0.85em; }
.banner { border-left: 4px solid #d97706; padding-left: 0.75em; }
"""


def build_app(config: AppConfig, studio: Studio | None = None) -> PortraitLabApp:
    """Prepare storage (cleaning leftovers), load the shared models' registry, build the UI."""
    os.environ["GRADIO_TEMP_DIR"] = str(config.temp_root)
    storage = SessionStorage(config.temp_root, config.max_age_s, limits=config.disk)
    storage.prepare()
    configure_private_logging(config.temp_root)
    studio = studio or Studio(RestorationPipeline(speed=engine_speed()))
    example = write_example_photo(storage.examples_dir)
    storage.start_sweeper(config.sweep_interval_s)
    demo = _build_blocks(studio, storage, config, example)
    return PortraitLabApp(demo, studio, storage, config)


def _build_blocks(studio: Studio, storage: SessionStorage, config: AppConfig, example: Path) -> gr.Blocks:
    availability = studio.availability()
    concurrency = config.resolved_concurrency(studio.engine.compute.device.type)
    heavy = {"concurrency_limit": concurrency, "concurrency_id": HEAVY}
    ui_only = {"queue": False, "api_visibility": "private"}

    def work_dir(visitor: Visitor, label: str, *uploads: str | None) -> Path:
        for upload in uploads:
            if upload and not storage.may_use(visitor.session_hash, visitor.owner_token, upload):
                raise gr.Error("That file is not one of your uploads; please upload it again.", print_exception=False)
        storage.require_room(visitor.owner_token)
        storage.attach_uploads(visitor.session_hash, visitor.owner_token, uploads)
        return storage.new_work_dir(visitor.session_hash, visitor.owner_token, label)

    with gr.Blocks(title="Portrait Lab", analytics_enabled=False, delete_cache=gradio_cache_schedule(config)) as demo:
        gr.Markdown("# Portrait Lab\nRestore faces, replace backgrounds and make ID photos. "
                    f"Your photos stay on this server only for your visit ({config.retention_text()} at most); "
                    "see the Privacy tab.")
        gr.Markdown(availability.banner, visible=bool(availability.banner), elem_classes=["banner"],
                    elem_id="weights-banner")

        with gr.Tabs():
            # ---------------------------------------------------------------- Restore
            with gr.Tab("Restore", id="restore"):
                with gr.Row():
                    with gr.Column():
                        r_photo = photo_input(label="Portrait", sources=["upload", "clipboard"])
                        r_model = gr.Dropdown(studio.restorer_choices(), value=studio.default_restorer(),
                                              label="Model")
                        r_strength = gr.Slider(0, 1, value=1.0, step=0.05, label="Strength",
                                               info="0 keeps the photo unchanged, 1 is full restoration")
                        r_upscale = gr.Radio([1, 2, 3, 4], value=1, label="Upscale")
                        with gr.Row():
                            r_centre = gr.Checkbox(label="Centre face only")
                            r_format = gr.Radio(["png", "jpg", "webp"], value="png", label="Download as")
                        r_detector = gr.Dropdown(studio.detector_choices(), value="auto", label="Face detector")
                        r_button = gr.Button("Restore", variant="primary", interactive=availability.restore_ready)
                        gr.Markdown(availability.restore_reason, visible=not availability.restore_ready)
                        gr.Examples([[str(example)]], inputs=[r_photo], label="Example (public domain)")
                    with gr.Column():
                        r_compare = gr.ImageSlider(label="Before / after", type="filepath")
                        r_download = gr.DownloadButton("Download restored photo", visible=False)
                        r_summary = gr.Markdown()

            # ------------------------------------------------------------- Background
            with gr.Tab("Background", id="background"):
                with gr.Row():
                    with gr.Column():
                        b_photo = photo_input(label="Portrait", sources=["upload", "clipboard"])
                        b_mode = gr.Radio(studio.background_modes(), value="colour", label="Background")
                        with gr.Row():
                            b_colour = gr.Dropdown(studio.colour_choices(), value="white", allow_custom_value=True,
                                                   label="Colour", info="a preset or any #RRGGBB")
                            b_colour2 = gr.Dropdown(studio.colour_choices(), value="light-blue",
                                                    allow_custom_value=True, label="Second colour (gradients)",
                                                    visible=False)
                        b_backdrop = photo_input(label="Background picture", visible=False,
                                                sources=["upload", "clipboard"])
                        b_blur = gr.Slider(0, 1, value=0.5, step=0.05, label="Blur strength", visible=False)
                        b_feather = gr.Slider(0, 10, value=1.0, step=0.5, label="Edge feather (px)")
                        b_format = gr.Radio(["png", "jpg", "webp"], value="png", label="Download as")
                        b_button = gr.Button("Replace background", variant="primary")
                        gr.Examples([[str(example)]], inputs=[b_photo], label="Example (public domain)")
                    with gr.Column():
                        b_result = gr.Image(label="Result", type="filepath", format="png", buttons=VIEWER_BUTTONS)
                        b_download = gr.DownloadButton("Download", visible=False)
                        b_summary = gr.Markdown()

            # --------------------------------------------------------------- ID photo
            with gr.Tab("ID Photo", id="idphoto"):
                with gr.Row():
                    with gr.Column():
                        i_photo = photo_input(label="Portrait (face the camera, plain background)",
                                             sources=["upload", "webcam", "clipboard"])
                        # Custom values reach the pipeline, whose refusal names the near matches
                        # (Gradio's own check would answer with the whole list of ids).
                        i_spec = gr.Dropdown(studio.spec_choices(), value="icao_generic", filterable=True,
                                             allow_custom_value=True, label="Country and document (type to search)")
                        i_rules = gr.Markdown(_spec_rules(studio, "icao_generic"))
                        i_background = gr.Dropdown([("The document's colour", "")] + studio.colour_choices(),
                                                   value="", allow_custom_value=True, label="Background colour")
                        with gr.Row():
                            i_max_kb = gr.Number(value=0, minimum=0, label="File size limit in KB (0 = the document's own)")
                            i_paper = gr.Dropdown(studio.paper_choices(), value="4x6", label="Print sheet")
                        i_button = gr.Button("Make ID photo", variant="primary")
                        gr.Examples([[str(example)]], inputs=[i_photo], label="Example (public domain)")
                    with gr.Column():
                        i_verdict = gr.Markdown(elem_id="id-verdict")
                        with gr.Row():
                            i_result = gr.Image(label="ID photo", type="filepath", elem_id="id-result", buttons=VIEWER_BUTTONS)
                            i_overlay = gr.Image(label="Checks overlay", type="filepath", buttons=VIEWER_BUTTONS)
                        i_report = gr.Textbox(label="Compliance report", lines=14, elem_classes=["report"],
                                              elem_id="id-report")
                        i_sheet = gr.Image(label="Print sheet", type="filepath", buttons=VIEWER_BUTTONS)
                        i_files = gr.File(label="Downloads", file_count="multiple")

            # ------------------------------------------------------------------ Batch
            with gr.Tab("Batch", id="batch"):
                with gr.Row():
                    with gr.Column():
                        q_files = with_clear_input_errors(
                            gr.File(label="Images or a .zip of images", file_count="multiple",
                                    file_types=["image", ".zip"]),
                            "These files could not be received; upload images or a .zip of images again.")
                        q_job = gr.Radio([("Restore faces", "restore"), ("Replace background", "background"),
                                          ("ID photos", "idphoto")], value="idphoto", label="Job")
                        q_spec = gr.Dropdown(studio.spec_choices(), value="icao_generic", filterable=True,
                                             allow_custom_value=True, label="Document (ID photos)")
                        q_strength = gr.Slider(0, 1, value=1.0, step=0.05, label="Strength (restore)")
                        q_colour = gr.Dropdown(studio.colour_choices(), value="white", allow_custom_value=True,
                                               label="Background colour (background and ID photos)")
                        q_button = gr.Button("Run batch", variant="primary")
                    with gr.Column():
                        q_summary = gr.Markdown()
                        q_gallery = gr.Gallery(label="Before | after", columns=2, height="auto",
                                               object_fit="contain", buttons=VIEWER_BUTTONS)
                        q_table = gr.Dataframe(label="Per-image status", interactive=False, wrap=False)
                        q_downloads = gr.File(label="Results (zip), CSV and HTML QA report", file_count="multiple")

            # ---------------------------------------------------------------- Privacy
            with gr.Tab("Privacy", id="privacy"):
                gr.Markdown(_privacy_text(config))
                p_button = gr.Button("Delete my files now", variant="stop")
                p_status = gr.Markdown()

        # -- handlers ------------------------------------------------------------------------
        @on_gpu
        @user_errors("restore")
        def restore(photo: str | None, model: str, strength: float, upscale: int, centre: bool, detector: str,
                    fmt: str, request: gr.Request, progress: gr.Progress = gr.Progress()) -> tuple:
            visitor = visitor_of(request)
            photo = require_photo(photo)
            if not studio.restorer_ready(model):
                raise gr.Error(f"The weights for {model} are not installed on this server.", print_exception=False)
            progress(0.1, desc="Finding and restoring faces")
            options = RestoreOptions(model=model, strength=float(strength), upscale=int(upscale),
                                     only_centre_face=bool(centre), detector=detector)
            with storage.job(visitor.session_hash, visitor.owner_token):
                outcome = studio.restore(photo, options, work_dir(visitor, "restore", photo), fmt=fmt)
            progress(1.0, desc="Done")
            return ((str(outcome.before), str(outcome.after)), gr.DownloadButton(value=str(outcome.after),
                                                                                   visible=True), outcome.summary)

        @on_gpu
        @user_errors("background")
        def background(photo: str | None, mode: str, colour: str, colour2: str, backdrop: str | None, blur: float,
                       feather: float, fmt: str, request: gr.Request, progress: gr.Progress = gr.Progress()) -> tuple:
            visitor = visitor_of(request)
            photo = require_photo(photo)
            progress(0.1, desc="Separating the person from the background")
            options = BackgroundOptions(mode=mode, colour=colour or "white", colour2=colour2 or "light-blue",
                                        blur_strength=float(blur), feather_px=float(feather))
            with storage.job(visitor.session_hash, visitor.owner_token):
                outcome = studio.replace_background(photo, options, work_dir(visitor, "background", photo, backdrop),
                                                    fmt=fmt, backdrop=backdrop if mode == "image" else None)
            progress(1.0, desc="Done")
            return str(outcome.image), gr.DownloadButton(value=str(outcome.image), visible=True), outcome.summary

        @on_gpu
        @user_errors("idphoto")
        def id_photo(photo: str | None, spec_id: str, colour: str, max_kb: float | None, paper: str,
                     request: gr.Request, progress: gr.Progress = gr.Progress()) -> tuple:
            visitor = visitor_of(request)
            photo = require_photo(photo)
            if not spec_id:
                raise gr.Error("Choose the country and document first.", print_exception=False)
            progress(0.1, desc="Measuring the face and placing it")
            with storage.job(visitor.session_hash, visitor.owner_token):
                outcome = studio.id_photo(photo, spec_id, work_dir(visitor, "idphoto", photo),
                                          background=colour or None, max_kb=float(max_kb) if max_kb else None,
                                          paper=paper or SHEET_NONE)
            progress(1.0, desc="Done")
            verdict = {"pass": "✅ Meets every checked rule", "warn": "⚠️ Usable, with warnings (see the report)",
                       "fail": "❌ Does not meet the rules: see the advice in the report"}[outcome.verdict]
            return (f"**{verdict}**\n\n{outcome.summary}", str(outcome.photo), str(outcome.overlay),
                    outcome.report_text, str(outcome.sheet_png) if outcome.sheet_png else None,
                    [str(p) for p in outcome.files])

        @on_gpu
        @user_errors("batch")
        def batch(files: list[str] | None, job: str, spec_id: str, strength: float, colour: str,
                  request: gr.Request, progress: gr.Progress = gr.Progress()) -> tuple:
            visitor = visitor_of(request)
            if not files:
                raise gr.Error("Add images, or a .zip of images, first.", print_exception=False)
            paths = [f if isinstance(f, str) else getattr(f, "name", str(f)) for f in files]
            out_dir = work_dir(visitor, "batch", *paths)

            def report(index: int, total: int, _name: str) -> None:
                progress((index, total), desc="Processing", unit="images")

            with storage.job(visitor.session_hash, visitor.owner_token):
                # Half of the room left for unpacked archives, half for the results and their zip.
                room = storage.room_for(visitor.owner_token) // 2
                summary = studio.batch(paths, job, out_dir, restore=RestoreOptions(strength=float(strength)),
                                       background=BackgroundOptions(mode="colour", colour=colour or "white"),
                                       spec_id=spec_id, id_background=colour or None, progress=report,
                                       max_extract_bytes=room)
            JOB_IMAGES.set(len(summary.rows))
            downloads = [str(p) for p in (summary.zip_path, summary.csv_path, summary.html_path)]
            table = pandas.DataFrame(summary.table(), columns=summary.table_headers())
            gallery = [(str(path), caption) for path, caption in summary.comparisons(out_dir / "compare")]
            return batch_markdown(summary), gallery, table, downloads

        @user_errors("delete")
        def delete_files(request: gr.Request) -> tuple:
            visitor = visitor_of(request)
            removed = storage.clear(visitor.session_hash, visitor.owner_token)
            message = (f"Deleted {removed} file(s) of this session from the server." if removed
                       else "There were no files of this session on the server.")
            return (message,) + (None,) * len(clearable) + (gr.DownloadButton(value=None, visible=False),) * 2

        def session_started(request: gr.Request) -> None:
            visitor = visitor_of(request)
            storage.open(visitor.session_hash, visitor.owner_token)

        def session_ended(request: gr.Request) -> None:
            if getattr(request, "session_hash", None):
                visitor = visitor_of(request)
                started = time.perf_counter()
                storage.end(visitor.session_hash, visitor.owner_token)
                log_job("session-end", "ok", time.perf_counter() - started, images=0)

        # -- events --------------------------------------------------------------------------
        r_button.click(restore, [r_photo, r_model, r_strength, r_upscale, r_centre, r_detector, r_format],
                       [r_compare, r_download, r_summary], api_name="restore", **heavy)
        b_button.click(background, [b_photo, b_mode, b_colour, b_colour2, b_backdrop, b_blur, b_feather, b_format],
                       [b_result, b_download, b_summary], api_name="replace_background", **heavy)
        i_button.click(id_photo, [i_photo, i_spec, i_background, i_max_kb, i_paper],
                       [i_verdict, i_result, i_overlay, i_report, i_sheet, i_files], api_name="id_photo", **heavy)
        q_button.click(batch, [q_files, q_job, q_spec, q_strength, q_colour], [q_summary, q_gallery, q_table, q_downloads],
                       api_name="batch", **heavy)
        clearable = [r_photo, r_compare, b_photo, b_backdrop, b_result, i_photo, i_result, i_overlay, i_sheet,
                     i_files, q_files, q_gallery, q_downloads]
        p_button.click(delete_files, None, [p_status, *clearable, r_download, b_download],
                       api_name="delete_my_files", queue=False)

        # UI-only: shown/hidden controls and spec rules; no queue, not in the API.
        b_mode.change(lambda mode: (gr.update(visible=mode in ("vertical-gradient", "radial-gradient")),
                                    gr.update(visible=mode == "image"), gr.update(visible=mode == "blur"),
                                    gr.update(visible=mode in ("colour", "vertical-gradient", "radial-gradient"))),
                      b_mode, [b_colour2, b_backdrop, b_blur, b_colour], **ui_only)
        i_spec.change(lambda spec_id: _spec_rules(studio, spec_id), i_spec, i_rules, **ui_only)
        demo.load(session_started, None, None, **ui_only)
        demo.unload(session_ended)
    return demo


def gradio_cache_schedule(config: AppConfig) -> tuple[int, int]:
    """(interval, age) for Gradio's own cache cleaner, whose files may live up to age +
    interval: both in whole seconds, and together within the retention promise."""
    interval = max(1, int(config.sweep_interval_s))
    return interval, max(0, int(config.max_age_s) - interval)


def _spec_rules(studio: Studio, spec_id: str | None) -> str:
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


def _privacy_text(config: AppConfig) -> str:
    return f"""
## What happens to your photos

- **Where they are:** every upload and result is kept in a temporary folder on this server that
  belongs to your browser only. Other visitors cannot open, use or delete your files, even if
  someone gets a link to one of them.
- **How long:** your files are deleted **when you close the tab**, and always after
  **{config.retention_text()}**, even if the tab is still open (checked every
  **{config.sweep_text()}**): download anything you want to keep before then. Whatever its
  settings, this app never keeps a file longer than 24 hours, and a server restart deletes
  everything.
- **Right now:** the button below deletes all your files from this tab immediately.
- **What is kept after you leave:** nothing. Results carry no EXIF, GPS or other metadata from
  your photo.
- **What is sent elsewhere:** nothing. No usage tracking, no share buttons, no other services:
  everything, the models included, runs on this server.
- **What is logged:** counts, timings and error types only; never file names, image data,
  metadata or anything that identifies you.

Each file can be up to {config.max_upload_mb:g} MB; your uploads and results together can take
up to {human_bytes(config.disk.visitor_bytes)} on the server.
"""


NODEPS_PACKAGES = ("gfpgan", "basicsr", "facexlib", "facenet_pytorch")


def install_nodeps_packages_on_space() -> None:
    """Hugging Face's Gradio SDK installs requirements.txt only. The four packages whose
    published dependency lists are stale (requirements-nodeps.txt says why) must be installed
    without them, so on a Space that is done once, at start-up, before any model loads."""
    if not os.environ.get("SPACE_ID"):
        return
    if all(importlib.util.find_spec(name) is not None for name in NODEPS_PACKAGES):
        return
    requirements = Path(__file__).with_name("requirements-nodeps.txt")
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "-r",
                    str(requirements)], check=True)


def main(argv: list[str] | None = None) -> int:
    install_nodeps_packages_on_space()
    try:
        config = load_config(argv)
        app = build_app(config)
        loaded = app.studio.warm_up()
        log.info("loaded %d model(s) at start-up", len(loaded))
    except PortraitLabError as error:
        print(f"error: {error.user_message}", file=sys.stderr)
        return 2
    app.launch(block=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
