"""The missing-weights banner while models download, and the controls that switch on when they arrive.

On a fresh Space the app serves at once and fetches its models in the background
(``pipeline.models.fetcher``). Every open page polls this module every few seconds: the
banner shows each model's progress, and restoration switches on by itself when its weights
are there, so no visitor has to reload and no upload is lost.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import gradio as gr

from pipeline.models.fetcher import BackgroundFetcher, FetchState, ModelProgress
from webapp.studio import Availability, Studio

POLL_S = 3.0  # how often an open page asks; one snapshot and a few file checks per ask
FETCHING_HEADER = ("**Some models are still being downloaded to this server.** Each feature switches on by "
                   "itself when its model arrives: there is no need to reload the page.")


def banner(availability: Availability, progress: Sequence[ModelProgress]) -> str:
    """The banner: the installed-weights banner when nothing is downloading, else one line per
    model still on its way. Plain sentences only: the log has the details."""
    pending = [row for row in progress if row.state is not FetchState.VERIFIED and row.name in availability.missing]
    if not pending:
        return availability.banner if not progress else ""
    return "\n".join([FETCHING_HEADER, *(f"- {row.display_name}: {_status(row)}." for row in pending)])


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


DOWNLOADING_REASON = "Restoration switches on by itself as soon as its model has finished downloading."


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

    def updates(self, gated: Sequence[Any]) -> list[Any]:
        """Updates for [banner, timer, *gated (model choice, run button, reason)]; the timer stops
        once no model is left to wait for."""
        progress = self.fetcher.snapshot()
        availability = self.availability(progress)
        text = banner(availability, progress)
        waiting = any(row.state is not FetchState.VERIFIED and (row.state is not FetchState.FAILED
                      or row.next_retry_at is not None) for row in progress)
        updates: list[Any] = [gr.update(value=text, visible=bool(text)), gr.Timer(active=waiting)]
        if gated:
            reason = availability.restore_reason
            restorer = next((row for row in progress if row.kind == "restorer"), None)
            if reason and restorer is not None and restorer.state is not FetchState.FAILED:
                reason = DOWNLOADING_REASON
            updates += [gr.update(choices=self.studio.restorer_choices()),
                        gr.update(interactive=availability.restore_ready),
                        gr.update(value=reason, visible=not availability.restore_ready)]
        return updates
