"""MicroBatcher: merging, key separation, splitting, errors, latency and shutdown.

Merging is made deterministic by a ``run_batch`` that holds its first call on an Event:
the other submissions queue up behind it and are released together.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Hashable

import numpy as np
import pytest

from pipeline.restore.microbatch import MicroBatcher

TIMEOUT = 5.0
OFFSETS = {"fixed": 0.5, "random": 1000.0, None: 0.0}


def expected(items: np.ndarray, key: Hashable) -> np.ndarray:
    return items * 2 + OFFSETS[key]


class Recorder:
    """Fake network: records every call, can hold the first one until released."""

    def __init__(self, hold_first: bool = False) -> None:
        self.calls: list[tuple[np.ndarray, Hashable]] = []
        self.started = threading.Event()
        self.release = threading.Event()
        if not hold_first:
            self.release.set()

    def __call__(self, batch: np.ndarray, key: Hashable) -> np.ndarray:
        self.calls.append((batch.copy(), key))
        self.started.set()
        assert self.release.wait(TIMEOUT), "test never released the first call"
        return expected(batch, key)


class Caller(threading.Thread):
    """Runs one submit in its own thread and keeps its result or exception."""

    def __init__(self, batcher: MicroBatcher, items: np.ndarray, key: Hashable = None) -> None:
        super().__init__(daemon=True)
        self.batcher, self.items, self.key = batcher, items, key
        self.result: np.ndarray | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self.batcher.submit(self.items, self.key)
        except Exception as exc:  # kept for the test to assert on
            self.error = exc

    def finish(self) -> Caller:
        self.join(TIMEOUT)
        assert not self.is_alive(), "submit did not return"
        return self


def faces(owner: int, n: int) -> np.ndarray:
    """n distinct fake faces of shape (2, 3) whose values tell which submission they came from."""
    return (owner * 100 + np.arange(n * 6, dtype=np.float64) / 10).reshape(n, 2, 3)


def owners(batch: np.ndarray) -> set[int]:
    return {int(v // 100) for v in batch.reshape(len(batch), -1)[:, 0]}


def queued_items(batcher: MicroBatcher) -> int:
    # Peeks at the private queue: the only way to know another thread's submit has been queued.
    with batcher._cond:
        return sum(len(e.items) - e.dispatched for e in batcher._queue)


def start_queued(batcher: MicroBatcher, items: np.ndarray, key: Hashable = None) -> Caller:
    """Start a submit and wait until its items sit in the queue (keeps the FIFO order known)."""
    before = queued_items(batcher)
    caller = Caller(batcher, items, key)
    caller.start()
    deadline = time.monotonic() + TIMEOUT
    while queued_items(batcher) < before + len(items):
        assert time.monotonic() < deadline, "submission never reached the queue"
        time.sleep(0.001)
    return caller


def hold_worker(batcher: MicroBatcher, recorder: Recorder, key: Hashable = None) -> Caller:
    """Occupy the worker with a 1-item call held inside run_batch."""
    blocker = Caller(batcher, faces(99, 1), key)
    blocker.start()
    assert recorder.started.wait(TIMEOUT)
    return blocker


def test_concurrent_submissions_are_merged_and_each_gets_its_own_results() -> None:
    recorder = Recorder(hold_first=True)
    batcher = MicroBatcher(recorder, max_batch=8, max_wait_s=0.004)
    try:
        blocker = hold_worker(batcher, recorder, "fixed")
        callers = [start_queued(batcher, faces(i, i), "fixed") for i in range(1, 6)]
        recorder.release.set()
        for caller in [blocker, *callers]:
            caller.finish()
            assert caller.error is None
            assert caller.result is not None
            np.testing.assert_array_equal(caller.result, expected(caller.items, "fixed"))
        sizes = [len(batch) for batch, _ in recorder.calls]
        assert max(sizes) <= 8
        assert sum(sizes) == 1 + sum(range(1, 6))  # nothing computed twice
        assert any(len(owners(batch)) > 1 for batch, _ in recorder.calls), sizes
        assert batcher.calls == len(recorder.calls)
    finally:
        batcher.close()


def test_different_keys_never_share_a_call() -> None:
    recorder = Recorder(hold_first=True)
    batcher = MicroBatcher(recorder, max_batch=16)
    try:
        blocker = hold_worker(batcher, recorder, "fixed")
        keys = {i: ("fixed" if i % 2 else "random") for i in range(1, 7)}
        callers = [start_queued(batcher, faces(i, 2), keys[i]) for i in keys]
        recorder.release.set()
        for caller in [blocker, *callers]:
            caller.finish()
            assert caller.error is None
            np.testing.assert_array_equal(caller.result, expected(caller.items, caller.key))
        for batch, key in recorder.calls[1:]:
            assert {keys[o] for o in owners(batch)} == {key}
        # Both keys were merged among themselves: 3 submissions each, one call each.
        assert sorted(len(batch) for batch, _ in recorder.calls[1:]) == [6, 6]
    finally:
        batcher.close()


def test_submission_larger_than_max_batch_is_split_and_reassembled_in_order() -> None:
    recorder = Recorder()
    batcher = MicroBatcher(recorder, max_batch=3)
    try:
        items = faces(1, 8)
        result = batcher.submit(items, "random")
        np.testing.assert_array_equal(result, expected(items, "random"))
        assert [len(batch) for batch, _ in recorder.calls] == [3, 3, 2]
    finally:
        batcher.close()


def test_submission_cut_between_two_calls_is_reassembled() -> None:
    recorder = Recorder(hold_first=True)
    batcher = MicroBatcher(recorder, max_batch=4)
    try:
        blocker = hold_worker(batcher, recorder)
        first = start_queued(batcher, faces(1, 3))
        second = start_queued(batcher, faces(2, 3))
        recorder.release.set()
        for caller in (blocker, first, second):
            caller.finish()
            assert caller.error is None
            np.testing.assert_array_equal(caller.result, expected(caller.items, None))
        # 3 of the first + 1 of the second, then the second's remaining 2.
        assert [len(b) for b, _ in recorder.calls[1:]] == [4, 2]
        assert owners(recorder.calls[1][0]) == {1, 2}
    finally:
        batcher.close()


def test_exception_reaches_only_the_submitters_of_the_failing_call() -> None:
    recorder = Recorder(hold_first=True)
    raised: list[Exception] = []

    def run_batch(batch: np.ndarray, key: Hashable) -> np.ndarray:
        out = recorder(batch, key)
        if (batch < 0).any():
            raised.append(ValueError("poisoned face"))
            raise raised[-1]
        return out

    batcher = MicroBatcher(run_batch, max_batch=4)
    try:
        blocker = hold_worker(batcher, recorder)
        poisoned = start_queued(batcher, -faces(1, 2))
        neighbour = start_queued(batcher, faces(2, 2))  # same call as the poisoned one
        later = start_queued(batcher, faces(3, 3))  # does not fit: next call
        recorder.release.set()
        for caller in (blocker, poisoned, neighbour, later):
            caller.finish()
        assert len(raised) == 1
        assert poisoned.error is raised[0]
        assert neighbour.error is raised[0]
        assert blocker.error is None and later.error is None
        np.testing.assert_array_equal(later.result, expected(later.items, None))
        # The worker survived: a fresh submission still works.
        np.testing.assert_array_equal(batcher.submit(faces(4, 1)), expected(faces(4, 1), None))
    finally:
        batcher.close()


def test_wrong_number_of_results_is_an_error_not_a_hang() -> None:
    batcher = MicroBatcher(lambda batch, key: batch[:-1], max_batch=4)
    try:
        with pytest.raises(ValueError, match="results for 2 items"):
            batcher.submit(faces(1, 2))
    finally:
        batcher.close()


def test_lone_submit_waits_at_most_max_wait() -> None:
    max_wait_s = 0.004
    batcher = MicroBatcher(lambda batch, key: batch * 2, max_batch=8, max_wait_s=max_wait_s)
    try:
        batcher.submit(faces(1, 1))  # starts the worker thread
        timings = []
        for _ in range(5):
            start = time.perf_counter()
            batcher.submit(faces(1, 1))
            timings.append(time.perf_counter() - start)
        assert min(timings) < max_wait_s + 0.05, timings
    finally:
        batcher.close()


def test_full_batch_starts_without_waiting() -> None:
    batcher = MicroBatcher(lambda batch, key: batch * 2, max_batch=4, max_wait_s=5.0)
    try:
        start = time.perf_counter()
        result = batcher.submit(faces(1, 4))
        assert time.perf_counter() - start < 2.0
        np.testing.assert_array_equal(result, faces(1, 4) * 2)
    finally:
        batcher.close()


def test_close_fails_pending_work_and_refuses_new_work() -> None:
    recorder = Recorder(hold_first=True)
    batcher = MicroBatcher(recorder, max_batch=1)
    blocker = hold_worker(batcher, recorder)
    pending = start_queued(batcher, faces(1, 1))
    closer = threading.Thread(target=batcher.close, daemon=True)
    closer.start()
    pending.finish()  # fails at once, while the running call is still held
    assert isinstance(pending.error, RuntimeError)
    assert "closed" in str(pending.error)
    recorder.release.set()
    closer.join(TIMEOUT)
    assert not closer.is_alive()
    blocker.finish()  # the call that was already running still delivers
    np.testing.assert_array_equal(blocker.result, expected(blocker.items, None))
    assert len(recorder.calls) == 1
    with pytest.raises(RuntimeError, match="micro-batcher closed"):
        batcher.submit(faces(2, 1))
    batcher.close()  # idempotent


def test_close_without_any_submit_is_fine() -> None:
    batcher = MicroBatcher(lambda batch, key: batch, max_batch=2)
    batcher.close()
    batcher.close()
    with pytest.raises(RuntimeError):
        batcher.submit(faces(1, 1))


def test_calls_counts_run_batch_calls_and_empty_submissions_skip_it() -> None:
    recorder = Recorder()
    batcher = MicroBatcher(recorder, max_batch=2)
    try:
        assert batcher.calls == 0
        empty = batcher.submit(faces(1, 0))
        assert empty.shape == (0, 2, 3)
        assert batcher.calls == 0
        batcher.submit(faces(1, 3))
        assert batcher.calls == 2 == len(recorder.calls)
        batcher.submit(faces(2, 1))
        assert batcher.calls == 3 == len(recorder.calls)
    finally:
        batcher.close()


def test_worker_thread_is_named_and_daemon() -> None:
    batcher = MicroBatcher(lambda batch, key: batch, max_batch=2, name="unit")
    try:
        batcher.submit(faces(1, 1))
        worker = next(t for t in threading.enumerate() if t.name == "microbatch-unit")
        assert worker.daemon
    finally:
        batcher.close()
    assert not worker.is_alive()


def test_without_waiting_requests_that_arrive_during_a_call_share_the_next_one() -> None:
    """max_wait_s=0 (the restorer's default): no added latency, yet batches grow under load."""
    recorder = Recorder(hold_first=True)
    batcher = MicroBatcher(recorder, max_batch=8, max_wait_s=0.0)
    try:
        blocker = hold_worker(batcher, recorder)
        callers = [start_queued(batcher, faces(i, 1)) for i in range(1, 4)]
        recorder.release.set()
        for caller in [blocker, *callers]:
            caller.finish()
            assert caller.error is None
            np.testing.assert_array_equal(caller.result, expected(caller.items, None))
        assert [len(batch) for batch, _ in recorder.calls] == [1, 3]
        assert owners(recorder.calls[1][0]) == {1, 2, 3}
    finally:
        batcher.close()
