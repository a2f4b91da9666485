"""The one batch loop (pipeline.runner): each way an item can end, what is let through to the
caller, and proof that both front doors (the CLI's image commands, the app's Batch tab) run
their items through it."""
from __future__ import annotations

import numpy as np
import pytest

from pipeline import cli, runner
from pipeline.batch import run_batch
from pipeline.batch.inputs import BatchItem
from pipeline.batch.jobs import JobOutput
from pipeline.cli import run as cli_run
from pipeline.core.encode import encode_image
from pipeline.core.errors import NoFaceError, OutputWriteError
from pipeline.runner import ItemOutcome, run_each


def _job(item: str) -> str:
    """'ok' finishes, 'noface' is a typed failure, 'bug' an internal error, 'ctrl-c' an
    interrupt and 'full' a full disk."""
    if item == "noface":
        raise NoFaceError("No face was found in this photo.")
    if item == "bug":
        raise RuntimeError("tensor shape at /secret/path")
    if item == "ctrl-c":
        raise KeyboardInterrupt
    if item == "full":
        raise OutputWriteError("The disk is full.")
    return item.upper()


def _run(items: list[str], **kwargs) -> tuple[list[ItemOutcome], int]:
    seen: list[ItemOutcome] = []
    count = run_each(items, _job, seen.append, **kwargs)
    return seen, count


def test_each_item_ends_done_typed_failure_or_internal_error_and_the_run_goes_on():
    started: list[tuple[int, str]] = []
    seen, count = _run(["ok", "noface", "bug", "fine"], before=lambda index, item: started.append((index, item)))

    assert count == 4 and started == [(0, "ok"), (1, "noface"), (2, "bug"), (3, "fine")]
    done, typed, internal, last = seen
    assert (done.result, done.failed, done.index) == ("OK", False, 0)
    assert typed.failed and isinstance(typed.error, NoFaceError) and typed.internal is None and typed.result is None
    assert internal.failed and isinstance(internal.internal, RuntimeError) and internal.error is None
    assert last.result == "FINE" and all(outcome.seconds >= 0 for outcome in seen)


def test_an_interrupt_is_let_through_after_what_was_finished_was_reported():
    seen: list[ItemOutcome] = []
    with pytest.raises(KeyboardInterrupt):
        run_each(["ok", "ctrl-c", "never"], _job, seen.append)
    assert [outcome.item for outcome in seen] == ["ok"]


def test_a_stop_condition_is_let_through_only_when_the_caller_names_it():
    seen: list[ItemOutcome] = []
    with pytest.raises(OutputWriteError):
        run_each(["ok", "full", "never"], _job, seen.append, stop_on=(OutputWriteError,))
    assert [outcome.item for outcome in seen] == ["ok"]

    seen, count = _run(["full", "ok"])  # the app's way: a full disk is that photo's failure
    assert count == 2 and isinstance(seen[0].error, OutputWriteError) and seen[1].result == "OK"


def _mirror(image) -> JobOutput:
    mirrored = np.ascontiguousarray(image.rgb[:, ::-1])
    return JobOutput(data=encode_image(mirrored, format="PNG"), suffix=".png", preview=mirrored)


def test_both_front_doors_run_their_items_through_the_one_loop(tmp_path, monkeypatch, capsys):
    calls: list[object] = []
    real_run_item = runner.run_item

    def counting(job, item, index, stop_on=()):
        calls.append(item)
        return real_run_item(job, item, index, stop_on)

    monkeypatch.setattr(runner, "run_item", counting)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really a PNG")
    code = cli.main(["background", str(broken), "-o", str(tmp_path / "cli-out"), "--device", "cpu"])
    assert code == cli_run.EXIT_SOME_FAILED, capsys.readouterr().err
    assert calls == [(str(broken), broken)]

    photo = tmp_path / "photo.png"
    photo.write_bytes(encode_image(np.zeros((16, 16, 3), np.uint8), format="PNG"))
    summary = run_batch([BatchItem("photo.png", photo)], _mirror, tmp_path / "app-out", job_name="mirror")
    assert [row.status for row in summary.rows] == ["ok"]
    assert len(calls) == 2 and calls[1] == BatchItem("photo.png", photo)


# -- the concurrent loop (batch --workers N) ----------------------------------------------------
def test_the_concurrent_loop_ends_each_item_as_the_plain_loop_does():
    seen: list[ItemOutcome] = []
    count = runner.run_concurrently(["ok", "noface", "bug", "fine"], _job, seen.append, workers=3)

    by_item = {outcome.item: outcome for outcome in seen}
    assert count == 4 and set(by_item) == {"ok", "noface", "bug", "fine"}
    assert by_item["ok"].result == "OK" and by_item["fine"].result == "FINE"
    assert isinstance(by_item["noface"].error, NoFaceError) and isinstance(by_item["bug"].internal, RuntimeError)


def test_the_concurrent_loop_takes_at_most_twice_its_workers_ahead_of_their_reports():
    """Memory stays flat: items are drawn from the input only as earlier ones are reported."""
    import threading

    drawn, reported, most_ahead = [0], [0], [0]
    gate = threading.Semaphore(0)

    def items():
        for index in range(40):
            drawn[0] += 1
            most_ahead[0] = max(most_ahead[0], drawn[0] - reported[0])
            if index == 5:
                gate.release(100)  # let the jobs go once the pool is full
            yield index

    def job(item: int) -> int:
        gate.acquire()
        gate.release()
        return item

    def report(outcome: ItemOutcome) -> None:
        reported[0] += 1

    assert runner.run_concurrently(items(), job, report, workers=3) == 40
    assert reported[0] == 40 and most_ahead[0] <= 6


def test_a_stop_condition_ends_the_concurrent_loop_after_reporting_what_finished():
    seen: list[ItemOutcome] = []
    items = ["ok", "full"] + [f"later{i}" for i in range(50)]
    with pytest.raises(OutputWriteError):
        runner.run_concurrently(items, _job, seen.append, workers=2, stop_on=(OutputWriteError,))
    reported = [outcome.item for outcome in seen]
    assert "ok" in reported and "full" not in reported and len(reported) < len(items) - 1
    assert len(reported) == len(set(reported))  # each reported once, never twice
