"""The record of a batch's finished items, kept in its output folder, so that a run stopped
by Ctrl-C, a crash or a lost machine resumes where it was: a re-run skips every item the
ledger holds (and re-tries the failed ones only when asked), and the report at the end still
lists them all.

One JSON line per finished item, appended and flushed as the item finishes, so a crash
loses at most the line being written (a torn last line is ignored: that item runs again).
Each shard of a split run (``--shard i/n``) writes its own file, so n processes never write
one file; a later run over the same folder reads them all. Each line carries the job's
fingerprint (the job and its options): results of another job in the same folder are
refused, never silently mixed into this report.
"""
from __future__ import annotations

import base64
import json
import os
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from pipeline.batch.inputs import BatchItem
from pipeline.batch.report import STATUS_ERROR, STATUSES, BatchRow
from pipeline.core.errors import InvalidOptionError, OutputWriteError, os_reason

LEDGER_STEM = "batch-ledger"
RESULT_NAME = re.compile(r"results/(?!\.\.?$)[^/\\\x00]+")  # what BatchWriter.write records
LEDGER_SUFFIX = ".jsonl"


def ledger_name(shard: tuple[int, int] | None = None) -> str:
    """``batch-ledger.jsonl``, or ``batch-ledger.shard-2-of-8.jsonl`` for one shard's own file."""
    return LEDGER_STEM + (f".shard-{shard[0]}-of-{shard[1]}" if shard else "") + LEDGER_SUFFIX


def item_key(item: BatchItem) -> str:
    """What identifies an input across runs: its name as the user sees it and its size, so a
    photo replaced by another of the same name is processed again (a photo gone since it was
    listed has no size: it then fails in its own row). The size is read once per item."""
    return f"{item.name}\0{item.size}"


def is_result_file(folder: Path, output: str) -> bool:
    """``output`` (``results/<name>``) is a plain file directly in ``folder/results``, with
    neither it nor the folder a link: what a report and results.zip may include."""
    if not RESULT_NAME.fullmatch(output):
        return False
    path = folder / output
    return not path.parent.is_symlink() and not path.is_symlink() and path.is_file()


def row_record(row: BatchRow) -> dict[str, Any]:
    """A row as JSON-ready values (thumbnails as base64)."""
    return {"name": row.name, "status": row.status, "message": row.message, "output": row.output,
            "seconds": row.seconds, "metrics": row.metrics, "server_notes": list(row.server_notes),
            "before": _b64(row.before_thumbnail), "after": _b64(row.after_thumbnail)}


def row_from_record(record: dict[str, Any]) -> BatchRow:
    """The row a :func:`row_record` was made from; a ValueError for values no row holds."""
    seconds, notes, metrics = record.get("seconds"), record.get("server_notes") or [], record.get("metrics") or {}
    if str(record.get("status")) not in STATUSES or isinstance(seconds, bool) \
            or not isinstance(seconds, (int, float, type(None))) or not isinstance(metrics, dict) \
            or not all(isinstance(note, str) for note in notes) \
            or not all(isinstance(v, (str, int, float, bool, type(None))) for v in metrics.values()):
        raise ValueError("not a report row")
    return BatchRow(name=str(record["name"]), status=str(record["status"]), message=str(record.get("message", "")),
                    output=str(record.get("output", "")), seconds=record.get("seconds"),
                    metrics=dict(record.get("metrics") or {}), server_notes=tuple(record.get("server_notes") or ()),
                    before_thumbnail=_unb64(record.get("before")), after_thumbnail=_unb64(record.get("after")))


@dataclass
class BatchLedger:
    """The finished items of one output folder (every shard's file) and the file this run
    appends to. ``retry_failed``: failed items are run again instead of skipped."""

    folder: Path
    fingerprint: str
    shard: tuple[int, int] | None = None
    retry_failed: bool = False
    finished: dict[str, BatchRow] = field(default_factory=dict)
    torn_lines: int = 0
    _stream: TextIO | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)  # items finish on many threads

    @classmethod
    def open(cls, folder: Path, fingerprint: str, *, shard: tuple[int, int] | None = None,
             retry_failed: bool = False) -> BatchLedger:
        """Read every ledger file in ``folder``; refuse one written by another job."""
        ledger = cls(Path(folder), fingerprint, shard, retry_failed)
        for path in sorted(Path(folder).glob(f"{LEDGER_STEM}*{LEDGER_SUFFIX}")):
            if path.is_symlink() or not path.is_file():  # a pipe or a link to /dev/zero would never end
                raise InvalidOptionError(f"{path.name} in the output folder is not a plain file.",
                                         hint="Remove it, or choose another output folder.")
            ledger._read(path)
        return ledger

    def _read(self, path: Path) -> None:
        with path.open(encoding="utf-8") as lines:
            for line in lines:
                try:
                    entry = json.loads(line)
                    key, job, row = str(entry["key"]), str(entry["job"]), row_from_record(entry["row"])
                    _check_output(row.output)
                except (ValueError, KeyError, TypeError, AttributeError):
                    self.torn_lines += 1  # a line cut short by a crash: that item simply runs again
                    continue
                if job != self.fingerprint:
                    raise InvalidOptionError(
                        "This output folder holds the results of a different batch job or options.",
                        hint="Choose an empty output folder, or run the same job with the same options to resume it.")
                self.finished[key] = row

    def to_run(self, items: Iterable[BatchItem]) -> tuple[list[BatchItem], dict[str, BatchRow]]:
        """The items still to run, and the earlier rows of those skipped (by key)."""
        todo: list[BatchItem] = []
        kept: dict[str, BatchRow] = {}
        for item in items:
            key = item_key(item)
            earlier = self.finished.get(key)
            if earlier is None or (self.retry_failed and earlier.status == STATUS_ERROR) \
                    or (earlier.output and not self.has_result(earlier.output)):  # its file was deleted since
                todo.append(item)
            else:
                kept[key] = earlier
        return todo, kept

    def has_result(self, output: str) -> bool:
        """Whether ``output`` is still a plain file in this folder's results (not a link)."""
        return is_result_file(self.folder, output)

    def record(self, item: BatchItem, row: BatchRow) -> None:
        """Append one finished item's row, flushed to disk before the next item is counted."""
        key = item_key(item)
        line = json.dumps({"key": key, "job": self.fingerprint, "row": row_record(row)})
        with self._lock:
            self._append(line)
            self.finished[key] = row

    def _append(self, line: str) -> None:
        try:
            if self._stream is None:
                self.folder.mkdir(parents=True, exist_ok=True)
                path = self.folder / ledger_name(self.shard)
                torn = path.is_file() and path.stat().st_size > 0 and not path.read_bytes().endswith(b"\n")
                self._stream = path.open("a", encoding="utf-8")
                if torn:  # end the line a crash cut short, or the next record would join it
                    self._stream.write("\n")
            self._stream.write(line + "\n")
            self._stream.flush()
            os.fsync(self._stream.fileno())
        except OSError as error:
            raise OutputWriteError(f"The batch's progress could not be saved: {os_reason(error)}.") from error

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None


def _check_output(output: str) -> None:
    """A result is a file directly in results/: a line naming anything else (``../``, an
    absolute path) was not written by us and must never put another file into results.zip."""
    if output and not RESULT_NAME.fullmatch(output):
        raise ValueError("not a result file name")


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")


def _unb64(text: str | None) -> bytes | None:
    return None if not text else base64.b64decode(text)
