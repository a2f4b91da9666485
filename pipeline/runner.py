"""The one batch loop: the CLI's image commands and the app's Batch tab both run their items
through :func:`run_each`, so what counts as a failure and what ends a run cannot drift apart
between the two front doors.

Per item the caller's ``job`` runs. A typed :class:`PortraitLabError` becomes that item's
failure (it carries the sentence for the user), any other ``Exception`` an internal failure
(a bug: a front door shows its type, never its text, which may hold paths or tensors), and
the run goes on with the next item. What must end the run is let through untouched:
``KeyboardInterrupt`` (Ctrl-C; SIGTERM too in the CLI) and the error types the caller names
in ``stop_on`` (the CLI stops on a full disk; the app carries on and reports the row).

Counting, printing and reports stay with the front doors, in the ``report`` hook and in the
job itself: the CLI counts an image only once ``publish`` has recorded its files (inside the
job, before a deferred Ctrl-C lands), the app fills its report row.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Generic, TypeVar

from pipeline.core.errors import PortraitLabError

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass(frozen=True)
class ItemOutcome(Generic[Item, Result]):
    """How one item ended: ``result`` when its job finished, else ``error`` (a failure the
    user can act on) or ``internal`` (a bug). ``seconds`` is the job's own time."""

    item: Item
    index: int
    seconds: float
    result: Result | None = None
    error: PortraitLabError | None = None
    internal: Exception | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None or self.internal is not None


Job = Callable[[Item], Result]
Report = Callable[[ItemOutcome[Item, Result]], None]
Before = Callable[[int, Item], None]


def run_each(items: Iterable[Item], job: Job, report: Report, *, before: Before | None = None,
             stop_on: tuple[type[BaseException], ...] = ()) -> int:
    """Run ``job`` on every item in order and hand each :class:`ItemOutcome` to ``report``;
    ``before(index, item)`` is called first (progress). One item's failure never stops the
    run; ``KeyboardInterrupt``, the ``stop_on`` errors and whatever ``before`` or ``report``
    raise end it and reach the caller. Returns how many items were run."""
    count = 0
    for index, item in enumerate(items):
        if before is not None:
            before(index, item)
        report(run_item(job, item, index, stop_on))
        count += 1
    return count


def run_concurrently(items: Iterable[Item], job: Job, report: Report, *, workers: int,
                     before: Before | None = None, stop_on: tuple[type[BaseException], ...] = ()) -> int:
    """:func:`run_each` with up to ``workers`` jobs at once in a thread pool, for jobs whose
    models batch the work of concurrent callers (the restorer's micro-batcher): many photos'
    faces then share one network call. At most twice ``workers`` items are taken from
    ``items`` ahead of their reports, so memory stays flat however long the input is.
    Outcomes reach ``report`` in this thread as jobs finish (not in input order). On
    Ctrl-C or a ``stop_on`` error no new job starts; the jobs already running finish and are
    reported, then the error reaches the caller."""
    if workers <= 1:
        return run_each(items, job, report, before=before, stop_on=stop_on)
    reported: set[Future[ItemOutcome]] = set()
    pending: set[Future[ItemOutcome]] = set()
    with ThreadPoolExecutor(workers, thread_name_prefix="batch-item") as pool:
        try:
            for index, item in enumerate(items):
                if before is not None:
                    before(index, item)
                pending.add(pool.submit(run_item, job, item, index, stop_on))
                while len(pending) >= 2 * workers:
                    pending = _report_finished(pending, reported, report)
            while pending:
                pending = _report_finished(pending, reported, report)
        except BaseException:
            for future in pending:
                future.cancel()
            _report_settled(pending - reported, reported, report)  # what finished is on disk: say so
            raise
    return len(reported)


def _report_finished(pending: set[Future[ItemOutcome]], reported: set[Future[ItemOutcome]],
                     report: Report) -> set[Future[ItemOutcome]]:
    """Wait for at least one job and report every finished one; returns those still running.
    A ``stop_on`` error re-raises here, from ``future.result()``."""
    done, left = wait(pending, return_when=FIRST_COMPLETED)
    for future in done:
        outcome = future.result()
        reported.add(future)
        report(outcome)
    return left


def _report_settled(pending: set[Future[ItemOutcome]], reported: set[Future[ItemOutcome]], report: Report) -> None:
    """After an interruption: wait for the jobs that had started and report those that ended
    with an outcome; one that raised (the stop error itself) has nothing to report."""
    for future in pending:
        if not future.cancelled() and future.exception() is None:
            reported.add(future)
            report(future.result())


def run_item(job: Job, item: Item, index: int, stop_on: tuple[type[BaseException], ...] = ()) -> ItemOutcome:
    """One item through ``job``: its result, or its failure sorted into typed or internal."""
    started = time.perf_counter()
    try:
        result = job(item)
    except stop_on:
        raise
    except PortraitLabError as error:
        return ItemOutcome(item, index, time.perf_counter() - started, error=error)
    except Exception as error:  # noqa: BLE001 - one broken item must not stop the batch; the caller reports it
        return ItemOutcome(item, index, time.perf_counter() - started, internal=error)
    return ItemOutcome(item, index, time.perf_counter() - started, result=result)
