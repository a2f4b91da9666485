"""What the page says about this server's models: one sentence for visitors, the details for
the administrator, and the controls that switch on when models arrive.

A visitor reads one plain sentence, and only when a feature cannot run (nothing at all when it
can); the Restore tab's label and the sentence above its button say the same. Model ids, each
download's progress and the command that fetches them are the administrator's: the closed
"Server details" accordion and the log. On a fresh Space the app serves at once and fetches its
models in the background (``pipeline.models.fetcher``). Every open page polls this module every
few seconds, and restoration switches on by itself when its weights are there, so no visitor
has to reload and no upload is lost.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import gradio as gr

from pipeline.i18n import DEFAULT_LANGUAGE, translate
from pipeline.models.fetcher import BackgroundFetcher, FetchState, ModelProgress
from webapp.language import request_language, speaking, t
from webapp.studio import Availability, Studio

POLL_S = 3.0  # how often an open page asks; one snapshot and a few file checks per ask
RESTORE_TAB_KEY = "web.weights.tab"
# What the visitor reads, by the state of restoration: catalogue keys of (page sentence, tab label,
# sentence above the Restore button), rendered in the visitor's language. The labels stay short: on
# a 390 px phone all five tabs must fit in one row. "{done}" is the restorer's download so far.
COMING_KEYS = ("web.weights.coming_note", "web.weights.coming_tab", "web.weights.coming_reason")
MISSING_KEYS = ("web.weights.missing_note", "web.weights.missing_tab", "web.weights.missing_reason")
DOWNLOADS_KEY = "web.weights.downloads"
# The same in English, as the log and the tests read them.
RESTORE_TAB = translate(RESTORE_TAB_KEY, DEFAULT_LANGUAGE)
RESTORE_COMING = tuple(translate(key, DEFAULT_LANGUAGE) for key in COMING_KEYS)
RESTORE_MISSING = tuple(translate(key, DEFAULT_LANGUAGE) for key in MISSING_KEYS)
DOWNLOADS_HEADER = translate(DOWNLOADS_KEY, DEFAULT_LANGUAGE)


@dataclass(frozen=True)
class ServerView:
    """The page's words about the models at one moment, visitors' and administrator's apart."""

    note: str  # the visitor's sentence; empty when every feature can run
    details: str  # markdown for the "Server details" accordion; empty when nothing is missing
    restore_ready: bool
    restore_label: str  # the Restore tab's label: it says when the tab cannot run
    restore_reason: str  # the sentence above the Restore button; empty when it can run


def server_view(availability: Availability, progress: Sequence[ModelProgress]) -> ServerView:
    """What to show for ``availability`` while the downloads in ``progress`` are under way (the
    visitor's words in the language being spoken; the administrator's details are English)."""
    pending = [row for row in progress if row.state is not FetchState.VERIFIED and row.name in availability.missing]
    details = "\n\n".join(part for part in (_downloads(pending), availability.details) if part)
    if availability.restore_ready:
        return ServerView("", details, True, t(RESTORE_TAB_KEY), "")
    restorer = next((row for row in pending if row.kind == "restorer" and _coming(row)), None)
    if restorer is None:
        note, label, reason = (t(key) for key in MISSING_KEYS)
        return ServerView(note, details, False, label, reason)
    done = "" if restorer.fraction is None else t("web.weights.so_far", percent=f"{restorer.fraction:.0%}")
    note, label, reason = t(COMING_KEYS[0], done=done), t(COMING_KEYS[1]), t(COMING_KEYS[2])
    return ServerView(note, details, False, label, reason)


def _coming(row: ModelProgress) -> bool:
    """Still on its way: waiting, downloading, or failed with another try planned."""
    return row.state is not FetchState.FAILED or row.next_retry_at is not None


def _downloads(pending: Sequence[ModelProgress]) -> str:
    if not pending:
        return ""
    return "\n".join([DOWNLOADS_HEADER, *(f"- {row.display_name} (`{row.name}`): {_status(row)}." for row in pending)])


def _status(row: ModelProgress) -> str:
    if row.state is FetchState.DOWNLOADING:
        done = "" if row.fraction is None else f", {row.fraction:.0%}"
        return f"downloading{done}"
    if row.state is FetchState.FAILED:
        if row.next_retry_at is None:
            return f"the download failed ({row.reason})"
        wait = max(0, round(row.next_retry_at - time.time()))
        return f"the download failed ({row.reason}); trying again in {wait} s"
    return "waiting its turn"


class WeightsView:
    """What every open page's poll gets. Checking the weights on disk (sizes, hashes) happens
    only when a download changes state, so a poll is a snapshot copy and a dictionary lookup,
    however often, and by whomever, it is called."""

    def __init__(self, studio: Studio, fetcher: BackgroundFetcher) -> None:
        self.studio, self.fetcher = studio, fetcher
        self._lock = threading.Lock()
        self._seen: tuple[tuple[str, str], ...] | None = None
        self._availability: Availability | None = None

    def availability(self, progress: Sequence[ModelProgress]) -> Availability:
        states = tuple((row.name, row.state.value) for row in progress)
        with self._lock:
            if states != self._seen or self._availability is None:
                self._availability, self._seen = self.studio.availability(), states
            return self._availability

    def updates(self, gated: Sequence[Any], has_inputs: bool = True) -> list[Any]:
        """Updates for [note, details accordion, details, timer, *gated (model choice, run button,
        reason, Restore tab)]; the timer stops once no model is left to wait for. The run button
        is pressable once its model is there and ``has_inputs`` (a photo is uploaded)."""
        progress = self.fetcher.snapshot()
        view = server_view(self.availability(progress), progress)
        waiting = any(row.state is not FetchState.VERIFIED and _coming(row) for row in progress)
        updates: list[Any] = [gr.update(value=view.note, visible=bool(view.note)),
                              gr.update(visible=bool(view.details)), gr.update(value=view.details),
                              gr.Timer(active=waiting)]
        if gated:
            updates += [gr.update(choices=self.studio.restorer_choices()),
                        gr.update(interactive=view.restore_ready and has_inputs),  # and a photo
                        gr.update(value=view.restore_reason, visible=not view.restore_ready),
                        gr.update(label=view.restore_label)]
        return updates


def poll(view: WeightsView, gated: Sequence[Any]) -> Callable[..., list[Any]]:
    """The timer's handler for :meth:`WeightsView.updates`, its words in the language of the page
    that asks (the request; Gradio passes it to a first parameter typed ``gr.Request``)."""
    def tick(request: gr.Request, *inputs: Any) -> list[Any]:
        with speaking(request_language(request)):
            return view.updates(gated, has_inputs=all(inputs))

    return tick


def spoken(studio: Studio, availability: Availability, fetcher: BackgroundFetcher | None, note: Any,
           gated: Sequence[Any]) -> list[tuple[Any, Callable[[], Any]]]:
    """The page's words about the models, written again in a picked language (``ui.wire_spoken``):
    the note, and with ``gated`` (model choice, run button, reason, Restore tab) the model list,
    the reason and the tab's label."""
    def view() -> ServerView:
        progress = fetcher.snapshot() if fetcher is not None else ()
        return server_view(studio.availability() if fetcher is not None else availability, progress)

    said: list[tuple[Any, Callable[[], Any]]] = [(note, lambda: gr.update(value=view().note))]
    if gated:
        model, _, reason, tab = gated
        said += [(model, lambda: gr.update(choices=studio.restorer_choices())),
                 (reason, lambda: gr.update(value=view().restore_reason)),
                 (tab, lambda: gr.update(label=view().restore_label))]
    return said
