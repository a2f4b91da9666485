"""Disk quotas of the web app: how much one visitor, and all visitors together, may still store.

Three bounds, whichever is reached first: a quota per visitor, a total for the server, and a
reserve of free disk space kept for the system. Bytes count once they are stored (a visitor's
session folders and uploads, measured on disk) and while they arrive (the upload ledger of
``webapp/uploads.py``). Owners arrive already hashed (``SessionStorage.owner_key``); which
files are whose is the session storage's to say.
"""
from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pipeline.core.errors import DiskSpaceError
from pipeline.core.units import human_bytes
from pipeline.i18n import Message
from webapp.diskfiles import root_bytes, tree_bytes
from webapp.uploads import UploadLedger, UploadMeter

MB = 1024 * 1024
TOTAL_CACHE_S = 2.0  # how stale the measured size of the whole root may be


@dataclass(frozen=True)
class DiskLimits:
    """How much disk visitors may fill. A full batch fits in one visitor's quota: 200 photos
    of 8 MB uploaded as zips (1.6 GB), unpacked (1.6 GB, at most half of the room left) and
    their results. The total keeps a busy server from filling its disk, and ``min_free``
    keeps room for the system whatever the quotas say."""

    visitor_bytes: int = 5 * 1024 * MB
    total_bytes: int = 20 * 1024 * MB
    min_free_bytes: int = 1024 * MB


class DiskQuota:
    """The room left under the temporary root; thread-safe."""

    def __init__(self, root: Path, limits: DiskLimits, uploads: UploadLedger,
                 stored_paths: Callable[[str], list[Path]]) -> None:
        self.root = root
        self.limits = limits
        self.uploads = uploads
        self._stored_paths = stored_paths  # an owner's session folders and uploads
        self._lock = threading.Lock()
        self._walk_cache: tuple[float, int, int] = (-TOTAL_CACHE_S - 1.0, 0, 0)  # (when, bytes, kept then)

    def usage(self, owner: str | None) -> int:
        """Bytes stored for this visitor: their sessions' folders, their uploads, and what
        their uploads under way or just dropped have written."""
        if owner is None:
            return 0
        return self.stored_usage(owner) + self.uploads.pending(owner)

    def stored_usage(self, owner: str) -> int:
        return sum(tree_bytes(path) for path in self._stored_paths(owner))

    def stored_total(self) -> int:
        """Bytes of stored files under the root (uploads under way, ``tmp*``, are the
        ledger's). The walk runs at most every ``TOTAL_CACHE_S``; uploads kept since it are
        added, so a cached figure never misses them."""
        now = time.monotonic()
        with self._lock:
            measured_at, walked, kept_then = self._walk_cache
        if now - measured_at > TOTAL_CACHE_S:
            kept_then = self.uploads.kept_total()
            walked = root_bytes(self.root)
            with self._lock:
                self._walk_cache = (now, walked, kept_then)
        return walked + self.uploads.kept_total() - kept_then

    def total(self) -> int:
        return self.stored_total() + self.uploads.pending_total()

    def free_room(self) -> int:
        """Free disk space under the root, less the reserve kept for the system."""
        return shutil.disk_usage(self.root).free - self.limits.min_free_bytes

    def room_for(self, owner: str | None) -> int:
        """Bytes this visitor may still write now: the least of what their quota, the total
        quota and the free disk space (less the reserve) leave."""
        visitor = self.limits.visitor_bytes - self.usage(owner)
        total = self.limits.total_bytes - self.total()
        return max(0, min(self.free_room(), visitor, total))

    def require_room(self, owner: str | None, incoming: int = 0) -> None:
        """Refuse new work (or an upload of ``incoming`` bytes) that would not fit."""
        visitor = self.usage(owner)
        if visitor + incoming > self.limits.visitor_bytes:
            raise DiskSpaceError.over_quota(Message("web.quota.over", {
                "used": human_bytes(visitor), "limit": human_bytes(self.limits.visitor_bytes)}))
        if incoming > self.free_room() or self.total() + incoming > self.limits.total_bytes:
            raise DiskSpaceError.server_short()

    def open_upload(self, owner: str | None, declared: int, holds: tuple[float, float]) -> UploadMeter:
        """Start counting an upload that says it is ``declared`` bytes long; refused at once
        when that cannot fit. ``holds``: how long the bytes of a dropped upload stay counted
        (see ``UploadMeter``). Walks the disk: call it off the event loop."""
        self.require_room(owner, declared)
        owner = owner or ""
        mark = self.uploads.mark(owner)  # before measuring: what lands after counts against the room
        visitor_room = self.limits.visitor_bytes - self.stored_usage(owner) - self.uploads.held(owner)
        total_room = min(self.free_room(), self.limits.total_bytes - self.stored_total() - self.uploads.held())
        return UploadMeter(self.uploads, owner, mark, visitor_room, total_room, self.limits.visitor_bytes, holds)
