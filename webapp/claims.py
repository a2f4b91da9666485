"""Which owner token may name which session hash: the claim table of the session storage.

Gradio's session hash is chosen by the browser and travels in URLs and bodies, so it is no
secret. The first owner token (an HttpOnly cookie) that names a hash claims it; afterwards
only that token may. The table is bounded in total and per visitor, and forgets claims that
are idle, hold no files and have no stream open.

Keys and owners arrive already hashed (``SessionStorage.session_key`` / ``owner_key``); the
table shares the storage's lock, so a question about a claim and the session behind it is
answered at one moment.
"""
from __future__ import annotations

import hmac
import logging
import threading
import time
from collections.abc import Container, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

log = logging.getLogger("portrait_lab.sessions")

# A claim is kept while its session has files here or a stream (heartbeat, results) is open,
# and for this long after its last use: the app keeps no other state under a hash (no
# gr.State, deep links refused), so a forgotten hash gives nothing away.
CLAIM_IDLE_TTL_S = 600.0
MAX_CLAIMS = 200_000  # about 40 MB of claims at most; past it, new sessions are refused
MAX_CLAIMS_PER_OWNER = 2_000  # tabs and events of one browser within CLAIM_IDLE_TTL_S
CLAIM_PRUNE_EVERY_S = 5.0  # a full claim table is scanned at most this often


@dataclass
class Claim:
    owner: str  # keyed hash of the owner token that first named the session hash
    last_seen: float
    connections: int = 0  # open streams (heartbeat, results, uploads): a claim in use is never pruned


class ClaimTable:
    """Session keys to the owner that claimed them; thread-safe under the storage's lock."""

    def __init__(self, lock: threading.RLock, stored: Container[str]) -> None:
        self._lock = lock
        self._stored = stored  # session keys with files in the storage: their claims are kept
        self.by_key: dict[str, Claim] = {}
        self._per_owner: dict[str, int] = {}
        self._last_prune = 0.0
        self._last_full_warning = 0.0

    def claim(self, key: str, owner: str, now: float) -> bool:
        """Bind ``key`` to the first ``owner`` that names it; afterwards True only for that
        owner. Another owner, or a full table: False."""
        with self._lock:
            claim = self.by_key.get(key)
            if claim is None:
                return self._add(key, owner, now)
            if not hmac.compare_digest(claim.owner, owner):
                return False
            claim.last_seen = now
            return True

    def _add(self, key: str, owner: str, now: float) -> bool:
        """Under the lock: a new claim, within the table's and this owner's limits."""
        def full() -> bool:
            return len(self.by_key) >= MAX_CLAIMS or self._per_owner.get(owner, 0) >= MAX_CLAIMS_PER_OWNER

        if full() and now - self._last_prune > CLAIM_PRUNE_EVERY_S:
            self._last_prune = now  # a flood of refused claims must not rescan the table each time
            self.prune(now)
        if full():
            if now - self._last_full_warning > 60:
                self._last_full_warning = now
                log.warning("refusing new sessions: the claim table or one visitor's share of it is full")
            return False
        self.by_key[key] = Claim(owner, now)
        self._per_owner[owner] = self._per_owner.get(owner, 0) + 1
        return True

    def owner_of(self, key: str) -> str | None:
        """Under the lock: the owner that claimed ``key``, or None."""
        claim = self.by_key.get(key)
        return claim.owner if claim is not None else None

    @contextmanager
    def connection(self, key: str) -> Iterator[None]:
        """A long-lived request (heartbeat, results stream) holds its claim while it is open."""
        with self._lock:
            claim = self.by_key.get(key)
            if claim is not None:
                claim.connections += 1
        try:
            yield
        finally:
            with self._lock:
                if claim is not None:
                    claim.connections -= 1
                    claim.last_seen = time.time()

    def prune(self, now: float) -> int:
        """Forget claims idle past ``CLAIM_IDLE_TTL_S`` with no open stream and no files stored."""
        with self._lock:
            idle = [key for key, claim in self.by_key.items()
                    if not claim.connections and claim.last_seen < now - CLAIM_IDLE_TTL_S and key not in self._stored]
            for key in idle:
                owner = self.by_key.pop(key).owner
                left = self._per_owner.get(owner, 1) - 1
                if left:
                    self._per_owner[owner] = left
                else:
                    self._per_owner.pop(owner, None)
            return len(idle)
