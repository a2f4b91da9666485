"""The web app assembled and served: storage prepared, the tabs composed into one page, Gradio
launched behind the privacy middleware with the queue's limits, and the operator's metrics
(``webapp/metrics.py``) where ``--metrics`` asks for them.

``app.py`` (the launcher) and the tests start the app through :func:`build_app`.
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
from prometheus_client import CollectorRegistry
from starlette.middleware import Middleware

from pipeline.models.fetcher import BackgroundFetcher, app_kinds, default_models
from pipeline.models.locations import fetch_command
from pipeline.restore.engine import RestorationPipeline
from webapp import PROCESS_STARTED, handlers, metrics, weights_banner
from webapp.config import AppConfig
from webapp.handlers import ActionContext
from webapp.logsafe import configure_private_logging
from webapp.middleware import PrivacyGuard
from webapp.sessions import SessionStorage
from webapp.space import engine_speed
from webapp.studio import Availability, Studio, write_example_photo
from webapp.tabs import background, batch, idphoto, privacy, restore
from webapp.page_head import EarlyScript
from webapp.page_script import PAGE_CSS, PAGE_HEAD, PAGE_JS
from webapp.language import LANGUAGE_JS, font_css, language_picker, ui, ui_translations, wire_language_picker
from webapp.ui import CSS, UI_ONLY, private_theme, wire_spoken

log = logging.getLogger("portrait_lab.app")
# Tries per model before the banner says it failed for good: with the fetcher's backoff
# (5 s doubling to 5 min) about 15 minutes, after which open pages stop polling.
FETCH_TRIES = 8


@dataclass
class PortraitLabApp:
    demo: gr.Blocks
    studio: Studio
    storage: SessionStorage
    config: AppConfig
    fetcher: BackgroundFetcher | None = None  # missing default weights, downloaded while serving
    metrics: AppMetrics | None = None  # with --metrics: what /metrics shows, and where

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
            pwa=False, footer_links=["api"], theme=private_theme(), css=CSS + PAGE_CSS + font_css(), js=PAGE_JS,
            head=PAGE_HEAD, i18n=ui_translations(),
            run_history=False,
            app_kwargs={"middleware": [Middleware(EarlyScript, script=LANGUAGE_JS),
                                       Middleware(PrivacyGuard, storage=self.storage,
                                                  metrics_route=self.metrics.route if self.metrics else None)]},
        )
        configure_private_logging(self.config.temp_root)  # again: uvicorn added its own handlers
        log.info("ready after %.1f s", time.perf_counter() - PROCESS_STARTED)
        if self.fetcher is not None:  # serving first: the downloads never delay the first page
            self.fetcher.start()
        if block:
            self.demo.block_thread()
        return local_url

    def close(self) -> None:
        if self.fetcher is not None:
            self.fetcher.stop(timeout=5)
        if self.metrics is not None and self.metrics.local is not None:
            self.metrics.local.stop()
        self.demo.close()
        self.storage.stop_sweeper()


def build_app(config: AppConfig, studio: Studio | None = None) -> PortraitLabApp:
    """Prepare storage (cleaning leftovers), load the shared models' registry, build the UI."""
    os.environ["GRADIO_TEMP_DIR"] = str(config.temp_root)
    storage = SessionStorage(config.temp_root, config.max_age_s, limits=config.disk)
    storage.prepare()
    configure_private_logging(config.temp_root)
    studio = studio or Studio(RestorationPipeline(speed=engine_speed()))
    example = write_example_photo(storage.examples_dir)
    storage.start_sweeper(config.sweep_interval_s)
    availability = studio.availability()  # checks the weights on disk: once, for both uses below
    if availability.missing:  # the administrator's words: the log and the page's Server details
        log.warning("model weights not installed: %s; to install them: %s", ", ".join(availability.missing),
                    fetch_command(availability.missing))
    fetcher = None
    if config.fetch_weights and availability.missing:  # nothing missing: no fetcher, no polling
        needed = default_models(studio.manifest, app_kinds(studio.engine.compute.device.type))
        fetcher = BackgroundFetcher(studio.manifest, studio.engine.store.directory, needed, give_up_after=FETCH_TRIES)
    demo = build_blocks(ActionContext(studio, storage, config), example, availability, fetcher)
    return PortraitLabApp(demo, studio, storage, config, fetcher, start_metrics(config, demo, studio, storage))


@dataclass
class AppMetrics:
    """Where this app's metrics are served: the app's port behind the token (``route``), or
    their own port on 127.0.0.1 (``local``, bound while the app is built)."""

    registry: CollectorRegistry
    route: metrics.MetricsRoute | None = None
    local: metrics.LocalServer | None = None


def start_metrics(config: AppConfig, demo: gr.Blocks, studio: Studio, storage: SessionStorage) -> AppMetrics | None:
    """With ``--metrics``: counting on, and the registry of this app's live values; None (and
    nothing counted) without."""
    metrics.set_recording(config.metrics)
    if not config.metrics:
        return None
    registry = metrics.app_registry(metrics.LiveSources(
        sessions=storage.active_sessions, stored_bytes=storage.quota.total, queue_depth=lambda: queue_depth(demo),
        model_loads=studio.engine.store.load_seconds, models=frozenset(studio.manifest.names())))
    if config.metrics_token is not None:
        log.info("metrics: /metrics on the app's port, for the bearer of the token")
        return AppMetrics(registry, route=metrics.MetricsRoute(registry, config.metrics_token))
    log.info("metrics: http://127.0.0.1:%d/metrics (this machine only)", config.metrics_port)
    return AppMetrics(registry, local=metrics.serve_locally(registry, config.metrics_port))


def queue_depth(demo: gr.Blocks) -> int:
    """Requests waiting in Gradio's queue (its private ``_queue``, whose length is the waiting
    events; Gradio has no public reading of it)."""
    queue = getattr(demo, "_queue", None)
    return len(queue) if queue is not None else 0


def gradio_cache_schedule(config: AppConfig) -> tuple[int, int]:
    """(interval, age) for Gradio's own cache cleaner, whose files may live up to age +
    interval: both in whole seconds, and together within the retention promise."""
    interval = max(1, int(config.sweep_interval_s))
    return interval, max(0, int(config.max_age_s) - interval)


def build_blocks(ctx: ActionContext, example: Path, availability: Availability,
                 fetcher: BackgroundFetcher | None = None) -> gr.Blocks:
    """The page: a header, one sentence on what this server cannot do yet (and the closed Server
    details for its administrator), one ``gr.Tab`` per tab module (each tab's own Blocks
    rendered inside it; the page opens on the first that can run), and the session's start and end."""
    view = weights_banner.server_view(availability, fetcher.snapshot() if fetcher else ())
    # ID photos first: the job most visitors come for, and on a phone only the first tabs fit
    # before the "more" menu; Restore, which may be waiting for its model, after the two that
    # always run.
    tabs = [(ui("tab.idphoto"), "idphoto", idphoto.build(ctx, example), True),
            (ui("tab.background"), "background", background.build(ctx, example), True),
            (view.restore_label, "restore", restore.build(ctx, example, view), view.restore_ready),
            (ui("tab.batch"), "batch", batch.build(ctx), True)]
    tabs.append((ui("tab.privacy"), "privacy", privacy.build(ctx, [built for _, _, built, _ in tabs]), True))
    with gr.Blocks(title="Portrait Lab", analytics_enabled=False,
                   delete_cache=gradio_cache_schedule(ctx.config)) as demo:
        with gr.Row(equal_height=True, elem_id="page-header"):
            header = gr.Markdown(privacy.header_text(ctx.config))
            picker = language_picker()
        note = gr.Markdown(view.note, visible=bool(view.note), elem_classes=["banner"], elem_id="weights-banner")
        with gr.Accordion(ui("page.server_details"), open=False, visible=bool(view.details),
                          elem_id="server-details") as server_details:
            details = gr.Markdown(view.details)
        rendered: dict[str, gr.Tab] = {}
        with gr.Tabs(selected=next(tab_id for _, tab_id, _, ready in tabs if ready)):
            for label, tab_id, built, _ in tabs:
                with gr.Tab(label, id=tab_id) as rendered[tab_id]:
                    built.blocks.render()
        gated = [c for _, _, built, _ in tabs for c in built.weights_gated]
        gate_inputs = [c for _, _, built, _ in tabs for c in built.gate_inputs]
        _poll_weights(ctx, fetcher, [note, server_details, details], [*gated, rendered["restore"]] if gated else [],
                      gate_inputs)
        wire_language_picker(demo, picker)
        wire_spoken(picker, [(header, lambda: privacy.header_text(ctx.config)),
                             *(spoken for _, _, built, _ in tabs for spoken in built.spoken),
                             *weights_banner.spoken(ctx.studio, availability, fetcher, note,
                                                    [*gated, rendered["restore"]] if gated else [])])
        demo.load(handlers.event(handlers.session_started, ctx), None, None, **UI_ONLY)
        demo.unload(handlers.event(handlers.session_ended, ctx))
    return demo


def _poll_weights(ctx: ActionContext, fetcher: BackgroundFetcher | None, shown: list[Any],
                  gated: list[Any], gate_inputs: list[Any]) -> None:
    """While models download, every open page refreshes the note and the Server details
    (``shown``) and switches features on as their weights arrive (a private, unqueued UI event:
    no API, no place in the model queue)."""
    if fetcher is None:
        return
    view = weights_banner.WeightsView(ctx.studio, fetcher)
    timer = gr.Timer(weights_banner.POLL_S, active=True)
    note, accordion, details = shown
    timer.tick(weights_banner.poll(view, gated), gate_inputs,
               [note, accordion, details, timer, *gated], **UI_ONLY)
