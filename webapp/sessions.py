"""Per-session temporary storage: the privacy promises of the web app, in one place.

Every upload and every output lives under one temporary root. Work files of a session
live in ``<root>/sessions/<key>/``; uploads (written by the web server before any event
runs) are recorded to the visitor who sent them. Files are deleted when the session ends,
when the visitor presses "Delete my files now", by a sweeper for sessions that never end
cleanly, and at start-up for anything a crash left behind.

Session identifiers and owner tokens never appear in clear: directory names and log
lines use keyed hashes (HMAC with a per-process secret), so a directory listing or a log
cannot be matched to a visitor's browser.

Gradio's session hash is chosen by the browser and travels in URLs and bodies, so it is no
secret. :meth:`SessionStorage.claim` binds each hash to the owner token (an HttpOnly cookie)
of the first request that names it; the app's middleware refuses the hash to anyone else,
and :meth:`end` and :meth:`clear` check the owner again (the claims themselves are kept by
``webapp/claims.py``). Disk use is bounded per visitor, in total and by the free space left
(``webapp/quotas.py``); the sweeper's thread and walks are in ``webapp/sweeper.py``, the file
operations in ``webapp/diskfiles.py``.

No web framework is imported here; the app wires these calls to Gradio's events and to
an HTTP middleware that asks :meth:`SessionStorage.may_read` before serving a file.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from pipeline.core.errors import InvalidOptionError
from webapp.claims import ClaimTable
from webapp.diskfiles import files_under, is_within, remove_path, remove_upload
from webapp.quotas import DiskLimits, DiskQuota
from webapp.session_jobs import FilesDeletedDuringJob, RunningJob, record_folder, running
from webapp.sweeper import Sweeper, sweep_root, sweep_session_folders
from webapp.uploads import UploadLedger, UploadMeter

log = logging.getLogger("portrait_lab.sessions")

DEFAULT_MAX_AGE_S = 3600.0  # an abandoned session's files live at most this long
HARD_MAX_AGE_S = 24 * 3600.0  # the promise: never more than a day, whatever the configuration
MIN_MAX_AGE_S = 1.0
SESSIONS_DIRNAME = "sessions"
EXAMPLES_DIRNAME = "examples"  # public example inputs, written at start-up, readable by all
KEY_LENGTH = 32
ROOT_MARKER = ".portrait-lab-root"
# Gradio streams an upload into a temporary file at the top of the root; one untouched this
# long belongs to an upload that was dropped half-way.
ORPHAN_UPLOAD_AGE_S = 120.0


# A path no file of ours has: longer than Linux's PATH_MAX or deeper than any folder we make.
# Refused before resolving it, which takes time quadratic in its depth (a 250,000-part path in
# one request held the event loop for 8 s).
MAX_PATH_BYTES = 4096
MAX_PATH_PARTS = 64


def plausible_path(path: str | Path) -> bool:
    text = str(path)
    return len(text.encode("utf-8", "surrogatepass")) <= MAX_PATH_BYTES and text.count(os.sep) <= MAX_PATH_PARTS


def validate_max_age(seconds: float) -> float:
    """The retention limit, refused when outside 1 s .. 24 h (the documented promise)."""
    try:
        value = float(seconds)
    except (TypeError, ValueError):
        raise InvalidOptionError(f"The maximum file age must be a number of seconds, not {seconds!r}.") from None
    if not MIN_MAX_AGE_S <= value <= HARD_MAX_AGE_S:
        raise InvalidOptionError(
            f"The maximum file age must be between {MIN_MAX_AGE_S:g} s and {HARD_MAX_AGE_S:g} s (24 hours), "
            f"got {value:g} s.",
            hint="Portrait Lab promises never to keep a photo longer than a day.",
        )
    return value


@dataclass
class _Session:
    owner: str  # keyed hash of the owner token
    last_seen: float
    uploads: set[Path]
    running_jobs: int = 0  # the sweeper never removes a session while a job writes into it
    ended: bool = False  # the tab closed during a job: delete when the job finishes
    clears: int = 0  # how many times "Delete my files now" emptied it
    clearing: int = 0  # deletions of "Delete my files now" under way: a job waits before it starts


class SessionStorage:
    """Owns the temporary root; thread-safe; holds no image data, only paths and times."""

    def __init__(self, root: Path, max_age_s: float = DEFAULT_MAX_AGE_S, secret: bytes | None = None,
                 limits: DiskLimits | None = None) -> None:
        self.root = Path(root).resolve()
        self.max_age_s = validate_max_age(max_age_s)
        self.limits = limits or DiskLimits()
        self.sessions_dir = self.root / SESSIONS_DIRNAME
        self.examples_dir = self.root / EXAMPLES_DIRNAME
        self._secret = secret or secrets.token_bytes(32)
        self._lock = threading.RLock()
        self._cleared = threading.Condition(self._lock)  # a deletion is over: waiting jobs may start
        self._sessions: dict[str, _Session] = {}
        self._upload_owners: dict[Path, set[str]] = {}
        self.claims = ClaimTable(self._lock, self._sessions)
        self.uploads = UploadLedger()
        self.quota = DiskQuota(self.root, self.limits, self.uploads, self._stored_paths)
        self._sweep_interval_s = 0.0
        self._sweeper: Sweeper | None = None

    # -- identities -----------------------------------------------------------------------
    def _hash(self, kind: str, value: str) -> str:
        return hmac.new(self._secret, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()[:KEY_LENGTH]

    def session_key(self, session_hash: str) -> str:
        """The directory name (and log name) of a session: not reversible to its id."""
        return self._hash("session", session_hash)

    def owner_key(self, owner_token: str | None) -> str | None:
        return self._hash("owner", owner_token) if owner_token else None

    # -- who may name a session hash (the claim table) ---------------------------------------
    def claim(self, session_hash: str, owner_token: str | None) -> bool:
        """Bind ``session_hash`` to the first owner token that names it; afterwards True only
        for that token. No token, another token, or a full claim table: False."""
        owner = self.owner_key(owner_token)
        if owner is None or not session_hash:
            return False
        return self.claims.claim(self.session_key(session_hash), owner, time.time())

    def connection(self, session_hash: str) -> AbstractContextManager[None]:
        """A long-lived request (heartbeat, results stream) holds its claim while it is open."""
        return self.claims.connection(self.session_key(session_hash))

    def _is_owner(self, key: str, owner_token: str | None) -> bool:
        """Under the lock: whether the token owns the session (by its claim, else its storage)."""
        owner = self.owner_key(owner_token)
        if owner is None:
            return False
        claimed, session = self.claims.owner_of(key), self._sessions.get(key)
        recorded = claimed if claimed is not None else (session.owner if session is not None else None)
        return not recorded or hmac.compare_digest(recorded, owner)

    # -- lifecycle --------------------------------------------------------------------------
    def prepare(self) -> int:
        """Create the root and delete everything a previous (crashed) process left in it.

        A folder that exists, holds files and lacks our marker is refused rather than
        emptied: a mistyped PORTRAIT_LAB_TMP must never wipe somebody's home directory."""
        marker = self.root / ROOT_MARKER
        if self.root.exists() and any(self.root.iterdir()) and not marker.exists():
            raise InvalidOptionError(
                f"The temporary folder {self.root} is not empty and was not created by Portrait Lab.",
                hint="Point PORTRAIT_LAB_TMP at a new or empty folder; everything in it is deleted at start-up.",
            )
        removed = 0
        if self.root.exists():
            for entry in self.root.iterdir():
                if entry != marker:
                    removed += remove_path(entry)
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        marker.write_text("Temporary files of Portrait Lab; everything here is deleted at start-up.\n")
        self.sessions_dir.mkdir(mode=0o700, exist_ok=True)
        self.examples_dir.mkdir(mode=0o700, exist_ok=True)
        if removed:
            log.info("start-up cleanup removed %d leftover file(s)", removed)
        return removed

    def open(self, session_hash: str, owner_token: str | None) -> Path:
        """The session's private directory (created on first use); marks the session active."""
        key = self.session_key(session_hash)
        with self._lock:
            if not self._is_owner(key, owner_token):
                raise PermissionError("this owner token does not own the session")
            owner = self.owner_key(owner_token) or ""
            session = self._sessions.get(key)
            if session is None:
                session = self._sessions[key] = _Session(owner=owner, last_seen=time.time(), uploads=set())
            elif not session.owner and owner:
                session.owner = owner
            session.last_seen = time.time()
        directory = self.sessions_dir / key
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        return directory

    def new_work_dir(self, session_hash: str, owner_token: str | None, label: str) -> Path:
        """A fresh sub-directory for one request's outputs, so results never overwrite each other."""
        base = self.open(session_hash, owner_token)
        directory = base / f"{label}-{secrets.token_hex(6)}"
        directory.mkdir(mode=0o700)
        record_folder(self.session_key(session_hash), directory)
        return directory

    @contextmanager
    def job(self, session_hash: str, owner_token: str | None) -> Iterator[None]:
        """Mark the session busy for the length of a job: neither the sweeper nor the end of
        the session deletes files under a running job; the job's end counts as activity.

        "Delete my files now" does not wait: the job ends in :class:`FilesDeletedDuringJob`, its folders
        deleted again (a writer may re-create one). A job waits for a deletion under way."""
        key = self.session_key(session_hash)
        with self._lock:
            self.open(session_hash, owner_token)
            session = self._sessions[key]
            session.running_jobs += 1  # counted while it waits: a tab closed meanwhile ends at its end
            while session.clearing:
                self._cleared.wait(timeout=1.0)
            job = RunningJob(key, session.clears)
        with running(job):
            try:
                yield
            except BaseException as error:
                if self._job_ended(job) and isinstance(error, Exception):  # not an interrupt or an exit
                    raise FilesDeletedDuringJob() from None
                raise
            if self._job_ended(job):
                raise FilesDeletedDuringJob()

    def _job_ended(self, job: RunningJob) -> bool:
        """Count a job's end; True, its folders deleted again, when the visitor's files went while it ran."""
        ended = cleared = False
        with self._lock:
            session = self._sessions.get(job.key)
            if session is not None:
                session.running_jobs -= 1
                session.last_seen = time.time()
                ended = session.ended and not session.running_jobs
                cleared = session.clears != job.clears_at_start
        if cleared:
            job.delete_folders()
        if ended:
            self._end(job.key)
        return cleared

    def register_upload(self, owner_token: str | None, paths: Iterable[str | Path]) -> None:
        """Record who sent each uploaded file, so only they can read it back."""
        owner = self.owner_key(owner_token)
        if owner is None:
            return
        with self._lock:
            for path in paths:
                resolved = Path(path).resolve()
                self._upload_owners.setdefault(resolved, set()).add(owner)
                # Uploads are stored by content: the same bytes sent again reuse the old file,
                # whose age must start again or the sweeper would take it at once.
                with suppress(OSError):
                    os.utime(resolved)

    def attach_uploads(self, session_hash: str, owner_token: str | None, paths: Iterable[str | Path | None]) -> None:
        """Tie uploads used by an event to the session, so they are deleted with it."""
        key = self.session_key(session_hash)
        with self._lock:
            self.open(session_hash, owner_token)
            session = self._sessions[key]
            for path in paths:
                if path is None:
                    continue
                resolved = Path(path).resolve()
                if (is_within(resolved, self.root) and not is_within(resolved, self.examples_dir)
                        and not is_within(resolved, self.sessions_dir)):
                    session.uploads.add(resolved)

    def may_use(self, session_hash: str, owner_token: str | None, path: str | Path) -> bool:
        """Whether a request may take ``path`` as input: the shipped examples, this visitor's
        own uploads, and this session's own results; nothing else, wherever it lies."""
        if not plausible_path(path):
            return False
        resolved = Path(path).resolve()
        if is_within(resolved, self.examples_dir):
            return True
        if not is_within(resolved, self.root) or self.owner_key(owner_token) is None:
            return False
        if is_within(resolved, self.sessions_dir):
            return is_within(resolved, self.sessions_dir / self.session_key(session_hash)) and self.may_read(
                resolved, owner_token)
        return self.may_read(resolved, owner_token)

    def end(self, session_hash: str, owner_token: str | None) -> int:
        """The session is over (tab closed): delete its directory and its uploads. While a job
        still runs in it, the deletion happens when that job finishes. Only the owner's token
        ends a session; any other gets 0 and changes nothing."""
        key = self.session_key(session_hash)
        with self._lock:
            if not self._is_owner(key, owner_token):
                log.warning("refused to end a session for a token that does not own it")
                return 0
        return self._end(key)

    def _end(self, key: str) -> int:
        with self._lock:
            session = self._sessions.get(key)
            if session is not None and session.running_jobs:
                session.ended = True
                return 0
            directory, uploads = self._detach(key, drop=True)
        return self._delete(directory, uploads)

    def clear(self, session_hash: str, owner_token: str | None) -> int:
        """'Delete my files now': empty the session's storage but keep the session usable.
        Only for the owner's token, like :meth:`end`."""
        key = self.session_key(session_hash)
        with self._lock:
            if not self._is_owner(key, owner_token):
                log.warning("refused to clear a session for a token that does not own it")
                return 0
            directory, uploads = self._detach(key, drop=False)
            session = self._sessions.get(key)
            if session is not None:
                session.clears += 1
                session.clearing += 1
        try:
            return self._delete(directory, uploads)
        finally:
            with self._lock:
                if session is not None:
                    session.clearing -= 1
                self._cleared.notify_all()

    def _detach(self, key: str, drop: bool) -> tuple[Path, set[Path]]:
        """Under the lock: forget the session's files (and the session, with ``drop``) and
        return what to delete, so that deleting needs no lock."""
        session = self._sessions.get(key)
        uploads: set[Path] = set()
        if session is not None:
            uploads = set(session.uploads)
            session.uploads.clear()
            others = [s for k, s in self._sessions.items() if k != key]
            still_used = set().union(*(s.uploads for s in others)) if others else set()
            uploads -= still_used
            # Uploads this visitor sent but never used in an event go too, unless another
            # of their open tabs may still show them.
            if session.owner and not any(s.owner == session.owner for s in others):
                uploads |= {p for p, owners in self._upload_owners.items()
                            if owners == {session.owner} and p not in still_used}
            # The same bytes uploaded by another visitor are the same file (content
            # hash): it stays, now readable only by them, until their session ends.
            shared = set()
            for path in uploads:
                owners = self._upload_owners.get(path, set())
                owners.discard(session.owner)
                if owners:
                    shared.add(path)
                else:
                    self._upload_owners.pop(path, None)
            uploads -= shared
        if drop:
            self._sessions.pop(key, None)
        return self.sessions_dir / key, uploads

    def _delete(self, directory: Path, uploads: set[Path]) -> int:
        removed = remove_path(directory)
        for path in uploads:
            removed += remove_upload(path, self.root)
        return removed

    # -- access control ---------------------------------------------------------------------
    def may_read(self, path: str | Path, owner_token: str | None) -> bool:
        """Whether the visitor holding ``owner_token`` may download ``path``.

        Outside our root the web framework's own rules apply (True here). Inside it:
        examples are public; session files belong to the session's owner; uploads to who
        sent them; anything else (unknown) is refused. A path no file can have is refused
        before anything else.
        """
        if not plausible_path(path):
            return False
        resolved = Path(path).resolve()
        if not is_within(resolved, self.root):
            return True
        if is_within(resolved, self.examples_dir):
            return True
        owner = self.owner_key(owner_token)
        if owner is None:
            return False
        with self._lock:
            if is_within(resolved, self.sessions_dir):
                relative = resolved.relative_to(self.sessions_dir).parts
                session = self._sessions.get(relative[0]) if relative else None
                return session is not None and bool(session.owner) and hmac.compare_digest(session.owner, owner)
            return owner in self._upload_owners.get(resolved, set())

    # -- sweeping ---------------------------------------------------------------------------
    def sweep(self, now: float | None = None) -> int:
        """Delete sessions idle for longer than the maximum age, and every other file under the
        root older than it: uploads, Gradio's cache, and old results of sessions still open
        (except under a running job). Returns the number of files removed."""
        now = time.time() if now is None else now
        limit = now - self.max_age_s
        with self._lock:
            candidates = [key for key, session in self._sessions.items()
                          if session.last_seen < limit and not session.running_jobs]
        removed = 0
        stale = 0
        for key in candidates:
            with self._lock:  # the visitor may have come back since the list was made
                session = self._sessions.get(key)
                if session is None or session.last_seen >= limit or session.running_jobs:
                    continue
                directory, uploads = self._detach(key, drop=True)
            removed += self._delete(directory, uploads)
            stale += 1
        removed += self._sweep_old_files(limit)
        if removed:
            log.info("sweeper removed %d file(s) from %d idle session(s)", removed, stale)
        return removed

    def _sweep_old_files(self, limit: float) -> int:
        """Files older than ``limit`` go even while their session is open (the promise is
        about a file's age, not the visitor's activity); never those under a running job."""
        with self._lock:
            live = set(self._sessions)
            busy = {key for key, session in self._sessions.items() if session.running_jobs}
            in_use = set().union(*(s.uploads for s in self._sessions.values() if s.running_jobs))
        removed = sweep_session_folders(self.sessions_dir, limit, live=live, busy=busy)
        if self.root.exists():
            skipped = {self.sessions_dir, self.examples_dir, self.root / ROOT_MARKER}
            removed += sweep_root(self.root, limit, time.time() - ORPHAN_UPLOAD_AGE_S, skipped, in_use)
        with self._lock:
            for path in [p for p in self._upload_owners if not p.exists()]:
                del self._upload_owners[path]
            for session in self._sessions.values():
                session.uploads = {p for p in session.uploads if p.exists()}
            self.claims.prune(time.time())
        return removed

    # -- disk quotas (the arithmetic is in webapp/quotas.py) ------------------------------------
    def usage(self, owner_token: str | None) -> int:
        """Bytes stored for this visitor, and what their uploads under way have written."""
        return self.quota.usage(self.owner_key(owner_token))

    def _stored_paths(self, owner: str) -> list[Path]:
        """The session folders and the uploads of this owner, whose bytes are theirs."""
        with self._lock:
            keys = [key for key, session in self._sessions.items() if session.owner == owner]
            uploads = [path for path, owners in self._upload_owners.items() if owner in owners]
        return [self.sessions_dir / key for key in keys] + uploads

    def open_upload(self, owner_token: str | None, declared: int) -> UploadMeter:
        """Start counting an upload that says it is ``declared`` bytes long; refused at once
        when that cannot fit. Its bytes then count as they arrive (``UploadMeter.add``), so
        parallel uploads share the room and a connection that sends nothing holds nothing.
        Walks the disk: call it off the event loop."""
        swept = ORPHAN_UPLOAD_AGE_S + self._sweep_interval_s
        holds = (swept, max(swept, self.max_age_s + self._sweep_interval_s))
        return self.quota.open_upload(self.owner_key(owner_token), declared, holds)

    def room_for(self, owner_token: str | None) -> int:
        """Bytes this visitor may still write now (see ``DiskQuota.room_for``)."""
        return self.quota.room_for(self.owner_key(owner_token))

    def require_room(self, owner_token: str | None, incoming: int = 0) -> None:
        """Refuse new work (or an upload of ``incoming`` bytes) that would not fit."""
        self.quota.require_room(self.owner_key(owner_token), incoming)

    def start_sweeper(self, interval_s: float) -> None:
        """Sweep every ``interval_s`` seconds on a daemon thread (idempotent)."""
        if self._sweeper is None:
            self._sweep_interval_s = float(interval_s)
            # Sweeping as of the next tick deletes files up to one interval early; half the
            # maximum age at most keeps that margin reasonable.
            self._sweeper = Sweeper(self, min(float(interval_s), self.max_age_s / 2))
            self._sweeper.start()

    def stop_sweeper(self) -> None:
        if self._sweeper is not None:
            self._sweeper.stop()
            self._sweeper = None

    # -- introspection for the UI and tests (counts only) ----------------------------------
    def active_sessions(self) -> int:
        with self._lock:
            return len(self._sessions)

    def busy(self, session_hash: str) -> bool:
        with self._lock:
            return bool((session := self._sessions.get(self.session_key(session_hash))) and session.running_jobs)

    def session_files(self, session_hash: str) -> list[Path]:
        """Every file currently stored for this session (its directory and its uploads)."""
        key = self.session_key(session_hash)
        files = files_under(self.sessions_dir / key)
        with self._lock:
            session = self._sessions.get(key)
            files += [p for p in (session.uploads if session else ()) if p.exists()]
        return files
