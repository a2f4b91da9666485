"""The sweeper: the walks that delete expired files under the temporary root, and the daemon
thread that runs the session storage's sweep on a fixed interval.

``SessionStorage.sweep`` decides, under its lock, which sessions are live or busy and which
uploads are in use; the walks here then touch only the disk, without the lock.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Collection
from pathlib import Path
from typing import Protocol

from webapp.diskfiles import is_upload_in_progress, newest_mtime, remove_older_than, remove_path

log = logging.getLogger("portrait_lab.sessions")


class Sweepable(Protocol):
    def sweep(self, now: float | None = None) -> int: ...


class Sweeper(threading.Thread):
    def __init__(self, storage: Sweepable, interval_s: float) -> None:
        super().__init__(name="portrait-lab-sweeper", daemon=True)
        self.storage = storage
        self.interval_s = max(0.05, float(interval_s))
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(self.interval_s):
            try:
                # As of the next tick: nothing may outlive the maximum age waiting for it.
                self.storage.sweep(now=time.time() + self.interval_s)
            except OSError as error:  # a vanished file must not kill the sweeper; it retries
                log.warning("sweep failed (%s); retrying in %.0f s", type(error).__name__, self.interval_s)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=5)


def sweep_session_folders(sessions_dir: Path, limit: float, *, live: Collection[str], busy: Collection[str]) -> int:
    """Files older than ``limit`` go even while their session is open (the promise is about a
    file's age, not the visitor's activity); never those of a ``busy`` session (a job runs).
    A folder of a session no longer ``live`` goes whole once everything in it is that old."""
    removed = 0
    if sessions_dir.exists():
        for entry in sessions_dir.iterdir():
            if entry.name in busy:
                continue
            if entry.name in live:
                removed += remove_older_than(entry, limit, keep=set())
            elif newest_mtime(entry) < limit:  # a session we no longer know
                removed += remove_path(entry)
    return removed


def sweep_root(root: Path, limit: float, orphaned: float, skipped: Collection[Path], in_use: set[Path]) -> int:
    """Everything else at the top of the root (uploads, Gradio's cache) older than ``limit``,
    except the files ``in_use`` by a running job; an upload still being written (``tmp*``)
    untouched since ``orphaned`` was dropped half-way and goes."""
    removed = 0
    for entry in root.iterdir():
        if entry in skipped:
            continue
        if is_upload_in_progress(entry) and newest_mtime(entry) < orphaned:
            removed += remove_path(entry)  # an upload dropped half-way
        else:
            removed += remove_older_than(entry, limit, keep=in_use)
    return removed
