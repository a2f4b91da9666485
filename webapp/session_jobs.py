"""A running job's own record: the deletions of its session it has seen, and the folders it made.

Why apart from ``webapp/sessions.py``: "Delete my files now" does not wait for a job, so a job
must know, when it ends, whether its files went under it, and which folders are its own to
delete again (a writer may re-create one). That record belongs to one request, not to the
shared storage, so it travels in a context variable set for the length of the job.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path

from webapp.diskfiles import remove_path


class FilesDeletedDuringJob(Exception):
    """The visitor deleted their files while a job of theirs ran: its result is gone with them,
    and anything it wrote afterwards has been deleted too. Not a failure of the job."""


@dataclass
class RunningJob:
    key: str  # the session's keyed hash
    clears_at_start: int  # the session's deletions counted when the job started
    folders: list[Path] = field(default_factory=list)

    def delete_folders(self) -> None:
        for folder in self.folders:
            remove_path(folder)


_RUNNING_JOB: ContextVar[RunningJob | None] = ContextVar("portrait_lab_running_job", default=None)


@contextmanager
def running(job: RunningJob) -> Iterator[None]:
    """``job`` is this request's running job until the block ends."""
    token = _RUNNING_JOB.set(job)
    try:
        yield
    finally:
        _RUNNING_JOB.reset(token)


def record_folder(key: str, folder: Path) -> None:
    """A folder made for the session ``key``: the running job's, when it is of that session."""
    job = _RUNNING_JOB.get()
    if job is not None and job.key == key:
        job.folders.append(folder)
