"""The bytes of uploads that a walk of the disk cannot see or attribute to a visitor.

While an upload arrives, Gradio writes it to an anonymous ``tmp*`` file at the top of the
temporary root; when it ends, the file is moved to a content-hash folder (kept) or left
behind (dropped or refused). Quotas must count those bytes all along, and count them once:

- *in flight*: bytes received so far, per visitor and in all;
- *settled*: monotonic counters of bytes of uploads that ended since the server started, so
  that a meter opened earlier sees what landed after it measured the disk;
- *held*: the bytes an upload left behind, counted to its visitor until the sweeper has
  removed them.

Thread-safe; no web framework here. ``SessionStorage.open_upload`` hands out the meters.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from pipeline.core.errors import DiskSpaceError
from pipeline.core.units import human_bytes
from pipeline.i18n import Message


@dataclass(frozen=True)
class LedgerMark:
    """The settled counters when a meter opened."""

    owner_settled: int
    total_settled: int


class UploadLedger:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._in_flight: dict[str, int] = {}
        self._in_flight_total = 0
        self._settled: dict[str, int] = {}
        self._settled_total = 0
        self._kept_total = 0  # settled bytes that became stored files (the disk walk sees them)
        self._held: list[tuple[str, int, float]] = []  # (owner, bytes, until)

    def mark(self, owner: str) -> LedgerMark:
        with self._lock:
            return LedgerMark(self._settled.get(owner, 0), self._settled_total)

    def kept_total(self) -> int:
        with self._lock:
            return self._kept_total

    def grow(self, owner: str, count: int, mark: LedgerMark) -> tuple[int, int]:
        """Add ``count`` received bytes; returns how much this visitor and everyone have
        added since ``mark``: bytes under way plus bytes of uploads that ended since."""
        with self._lock:
            self._in_flight[owner] = self._in_flight.get(owner, 0) + count
            self._in_flight_total += count
            mine = self._in_flight[owner] + self._settled.get(owner, 0) - mark.owner_settled
            everyone = self._in_flight_total + self._settled_total - mark.total_settled
        return mine, everyone

    def settle(self, owner: str, received: int, kept: bool, hold_s: float) -> None:
        """An upload ended. Kept: its file is stored (and counted by the disk walk from now).
        Otherwise what it wrote is held on its visitor's account for ``hold_s``."""
        with self._lock:
            left = self._in_flight.get(owner, 0) - received
            if left > 0:
                self._in_flight[owner] = left
            else:
                self._in_flight.pop(owner, None)
            self._in_flight_total -= received
            self._settled[owner] = self._settled.get(owner, 0) + received
            self._settled_total += received
            if kept:
                self._kept_total += received
            elif received:
                self._held.append((owner, received, time.time() + hold_s))

    def held(self, owner: str | None = None) -> int:
        """Bytes left behind by ended uploads, of one visitor or (``None``) of everyone."""
        with self._lock:
            self._expire()
            return sum(count for who, count, _ in self._held if owner is None or who == owner)

    def pending(self, owner: str) -> int:
        """This visitor's bytes the disk walk does not attribute to them: under way or held."""
        with self._lock:
            in_flight = self._in_flight.get(owner, 0)
        return in_flight + self.held(owner)

    def pending_total(self) -> int:
        """Everyone's bytes the disk walk leaves out (``tmp*`` files): under way or held."""
        with self._lock:
            in_flight = self._in_flight_total
        return in_flight + self.held()

    def _expire(self) -> None:
        now = time.time()
        self._held = [entry for entry in self._held if entry[2] > now]


class UploadMeter:
    """One upload's bytes as they arrive. The room is what stored and held bytes left when it
    opened; against it count all bytes under way (whenever they started) and all that ended
    since it opened, so every byte counts once whichever upload it belongs to."""

    def __init__(self, ledger: UploadLedger, owner: str, mark: LedgerMark, visitor_room: int, total_room: int,
                 visitor_limit: int, holds: tuple[float, float]) -> None:
        self.ledger = ledger
        self.owner = owner
        self.mark = mark
        self.visitor_room = visitor_room
        self.total_room = total_room
        self.visitor_limit = visitor_limit
        # How long leftovers stay counted: after an answered upload only a ``tmp*`` file can
        # be left (swept within minutes); after a refused one, Gradio may already have moved a
        # part into the cache, which only the maximum age removes.
        self.hold_after_answer_s, self.hold_after_refusal_s = holds
        self.received = 0

    def add(self, count: int) -> None:
        """Count ``count`` more bytes; ``DiskSpaceError`` once the room is used up."""
        self.received += count
        mine, everyone = self.ledger.grow(self.owner, count, self.mark)
        if mine > self.visitor_room:
            raise DiskSpaceError.over_quota(Message("web.quota.upload_too_big",
                                                    {"limit": human_bytes(self.visitor_limit)}))
        if everyone > self.total_room:
            raise DiskSpaceError.server_short()

    def finish(self, status: int, files_named: bool) -> None:
        """The upload ended with HTTP ``status``; ``files_named``: the answer listed the stored
        files. Only then are its bytes kept; otherwise they are held (``UploadLedger.settle``)."""
        kept = status == 200 and files_named
        hold = self.hold_after_answer_s if status == 200 else self.hold_after_refusal_s
        self.ledger.settle(self.owner, self.received, kept, hold)
        self.received = 0
