"""Micro-batching: the aligned faces of concurrent requests go through the network in one call.

A Gradio Space serves several visitors at once and each request brings only 1..N faces, so
running every request on its own leaves the GPU mostly idle between small launches. The
:class:`MicroBatcher` queues the faces of all requests, lets a single worker thread pack
them (same ``key`` only, at most ``max_batch`` per call) into one ``run_batch`` call and
hands every caller back exactly its own results. The price is bounded: a lone request
waits at most ``max_wait_s`` for company before its call starts, and none at all once
``max_batch`` items are queued.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

__all__ = ["MicroBatcher"]

_CLOSED = "micro-batcher closed"


@dataclass(eq=False)  # identity, not array equality: entries are found in the queue by `is`
class _Pending:
    """One submission: its items, how far they have been handed out and collected."""

    items: np.ndarray
    key: Hashable
    arrived: float
    future: Future[np.ndarray] = field(default_factory=Future)
    dispatched: int = 0  # items already given to a run_batch call
    collected: int = 0  # items whose results are back
    results: np.ndarray | None = None  # allocated from the first result slice (dtype/shape)


# A call's contents: (submission, start, stop) slices of submissions, in batch order.
_Parts = list[tuple[_Pending, int, int]]


class MicroBatcher:
    """Merges the items of concurrent :meth:`submit` calls into batched ``run_batch`` calls.

    ``run_batch(batch, key)`` gets an array (B, ...) with B <= ``max_batch`` whose items all
    share ``key`` and returns the B results in the same order. One daemon worker (started on
    the first submit) waits at most ``max_wait_s`` after the oldest queued submission
    arrived, or until ``max_batch`` items of its key are queued, then runs the call.
    """

    def __init__(self, run_batch: Callable[[np.ndarray, Hashable], np.ndarray], max_batch: int,
                 max_wait_s: float = 0.004, name: str = "restore") -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        if max_wait_s < 0:
            raise ValueError(f"max_wait_s must not be negative, got {max_wait_s}")
        self._run_batch = run_batch
        self._max_batch = int(max_batch)
        self._max_wait_s = float(max_wait_s)
        self._name = name
        self._cond = threading.Condition()
        self._queue: list[_Pending] = []  # submissions with items not yet dispatched, FIFO
        self._worker: threading.Thread | None = None
        self._closed = False
        self._calls = 0

    @property
    def calls(self) -> int:
        """How many times ``run_batch`` has been called (for tests and benchmarks)."""
        with self._cond:
            return self._calls

    def submit(self, items: np.ndarray, key: Hashable = None) -> np.ndarray:
        """Process ``items`` (n, ...) and return their n results in order; blocks until done.

        Thread-safe. Re-raises, in this thread, the exception ``run_batch`` raised for any
        call that held some of these items.
        """
        if len(items) == 0:
            with self._cond:
                if self._closed:
                    raise RuntimeError(_CLOSED)
            return items.copy()
        entry = _Pending(items=items, key=key, arrived=time.monotonic())
        with self._cond:
            if self._closed:
                raise RuntimeError(_CLOSED)
            if self._worker is None:
                self._worker = threading.Thread(target=self._work, name=f"microbatch-{self._name}",
                                                daemon=True)
                self._worker.start()
            self._queue.append(entry)
            self._cond.notify_all()
        return entry.future.result()

    def close(self) -> None:
        """Stop the worker; queued submissions fail with ``RuntimeError``. Idempotent.

        A call already running finishes and its submitters get their results.
        """
        with self._cond:
            self._closed = True
            self._fail(self._queue, RuntimeError(_CLOSED))
            self._cond.notify_all()
            worker = self._worker
        if worker is not None and worker is not threading.current_thread():
            worker.join()

    # -- worker side -------------------------------------------------------------------

    def _work(self) -> None:
        parts: _Parts | None = None
        try:
            while (parts := self._next_batch()) is not None:
                self._execute(parts)
        except BaseException as exc:
            # Only a bug here or a BaseException from run_batch gets this far: the worker is
            # gone, so nobody may be left waiting for it.
            with self._cond:
                self._closed = True
                stopped = RuntimeError(f"micro-batcher {self._name!r} worker stopped")
                stopped.__cause__ = exc
                self._fail([entry for entry, _, _ in parts or []] + self._queue, stopped)
            raise

    def _next_batch(self) -> _Parts | None:
        """Wait for the oldest submission's deadline (or a full batch) and take a batch."""
        with self._cond:
            while True:
                if self._closed:
                    return None
                if not self._queue:
                    self._cond.wait()
                    continue
                head = self._queue[0]
                left = head.arrived + self._max_wait_s - time.monotonic()
                if left <= 0 or self._queued(head.key) >= self._max_batch:
                    return self._take(head.key)
                self._cond.wait(left)

    def _queued(self, key: Hashable) -> int:
        return sum(len(e.items) - e.dispatched for e in self._queue if e.key == key)

    def _take(self, key: Hashable) -> _Parts:
        """Up to max_batch items of ``key`` in FIFO order; a submission may be cut in two."""
        parts: _Parts = []
        size = 0
        for entry in list(self._queue):
            if size == self._max_batch:
                break
            if entry.key != key:
                continue
            start = entry.dispatched
            stop = min(len(entry.items), start + self._max_batch - size)
            parts.append((entry, start, stop))
            size += stop - start
            entry.dispatched = stop
            if stop == len(entry.items):
                self._queue.remove(entry)
        return parts

    def _execute(self, parts: _Parts) -> None:
        """Run one call outside the lock and scatter its results (or its exception)."""
        key = parts[0][0].key
        try:
            slices = [entry.items[start:stop] for entry, start, stop in parts]
            batch = slices[0] if len(slices) == 1 else np.concatenate(slices)
            with self._cond:
                self._calls += 1
            out = np.asarray(self._run_batch(batch, key))
            if out.shape[:1] != (len(batch),):
                raise ValueError(f"run_batch returned {out.shape[:1]} results for {len(batch)} items")
            with self._cond:
                self._scatter(parts, out)
        except Exception as exc:
            with self._cond:
                self._fail([entry for entry, _, _ in parts], exc)

    def _scatter(self, parts: _Parts, out: np.ndarray) -> None:
        pos = 0
        for entry, start, stop in parts:
            n = stop - start
            if not entry.future.done():  # done already: closed, or an earlier part failed
                if entry.results is None:
                    entry.results = np.empty((len(entry.items), *out.shape[1:]), dtype=out.dtype)
                entry.results[start:stop] = out[pos:pos + n]
                entry.collected += n
                if entry.collected == len(entry.items):
                    entry.future.set_result(entry.results)
            pos += n

    def _fail(self, entries: list[_Pending], exc: BaseException) -> None:
        """Fail each unfinished submission with ``exc`` and drop its undispatched rest (lock held)."""
        for entry in list(entries):  # may be self._queue itself, which shrinks below
            if not entry.future.done():
                entry.future.set_exception(exc)
            if entry in self._queue:
                self._queue.remove(entry)
