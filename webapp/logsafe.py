"""Logging that cannot leak a visitor's data.

The promise: logs hold counts, timings and error types only; never file names, image
data, metadata or session identifiers. Our own events go through :func:`log_job`, which
accepts numbers and a closed set of words. Third-party loggers that print request URLs
(which carry upload file names) are turned down to warnings, and a filter on every
handler drops any record that still mentions the temporary root or a file URL. Gradio also
prints some tracebacks straight to stderr (``traceback.print_exc()``); stderr is wrapped so
that a line naming the same things is replaced before it is written.
"""
from __future__ import annotations

import io
import logging
import sys
import traceback
from pathlib import Path
from typing import TextIO

log = logging.getLogger("portrait_lab.app")

JOB_KINDS = ("restore", "background", "idphoto", "sheet", "batch", "delete", "session-end")
STATUSES = ("ok", "error", "refused")
# Loggers that print URLs or paths at INFO level.
CHATTY_LOGGERS = ("uvicorn.access", "httpx", "httpcore", "gradio_client", "multipart", "python_multipart")


REDACTED_LINE = "[portrait-lab: a line naming a visitor's file was removed]\n"


def private_markers(temp_root: Path) -> tuple[str, ...]:
    """Text that only appears where a visitor's file, upload or inline data is named."""
    return (str(Path(temp_root).resolve()), str(temp_root), "file=", "/gradio_api/upload", ";base64,", "session_hash")


class RedactingFilter(logging.Filter):
    """Drop records that mention our temporary root or a served file URL."""

    def __init__(self, temp_root: Path) -> None:
        super().__init__("portrait-lab-privacy")
        self.markers = private_markers(temp_root)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
            if record.exc_info and record.exc_info[1] is not None:
                text += f" {record.exc_info[1]!s} " + "".join(traceback.format_exception(*record.exc_info))
            if record.exc_text:
                text += record.exc_text
        except Exception:  # a malformed record is dropped rather than risked
            return False
        return not any(marker in text for marker in self.markers)


class RedactingStream(io.TextIOBase):
    """A text stream that writes whole lines to ``target``, each line naming a private
    marker replaced by ``REDACTED_LINE``. Used as ``sys.stderr`` by the web app."""

    def __init__(self, target: TextIO, markers: tuple[str, ...]) -> None:
        super().__init__()
        self.target = target
        self.markers = markers
        self._pending = ""

    def write(self, text: str) -> int:
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            self.target.write(self._clean(line + "\n"))
        return len(text)

    def flush(self) -> None:
        if self._pending:
            self.target.write(self._clean(self._pending))
            self._pending = ""
        self.target.flush()

    def _clean(self, line: str) -> str:
        return REDACTED_LINE if any(marker in line for marker in self.markers) else line

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self.target.fileno()

    def isatty(self) -> bool:
        return self.target.isatty()


def redact_stderr(temp_root: Path) -> None:
    """Wrap ``sys.stderr`` (once) so that direct prints, such as Gradio's tracebacks, are
    redacted like log records."""
    if not isinstance(sys.stderr, RedactingStream):
        sys.stderr = RedactingStream(sys.stderr, private_markers(temp_root))


def configure_private_logging(temp_root: Path) -> None:
    """Quieten URL-printing loggers, add the redacting filter to the root handlers and
    redact stderr."""
    redact_stderr(temp_root)
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("uvicorn.access").disabled = True
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.captureWarnings(True)  # library warnings (e.g. "Failed to transpose <path>") pass the filter too
    privacy_filter = RedactingFilter(temp_root)
    loggers = [logging.getLogger(), log, logging.getLogger("py.warnings")]
    loggers += [logging.getLogger(name) for name in ("uvicorn", "uvicorn.error", "gradio")]
    for logger in loggers:
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(privacy_filter)
        for handler in logger.handlers:
            if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                handler.addFilter(privacy_filter)


def log_job(kind: str, status: str, seconds: float, *, images: int = 1, faces: int | None = None,
            error_type: str | None = None) -> None:
    """One line per job: what kind, how it ended, how long, how many. Nothing else fits. The
    same kind, status and seconds are counted in the metrics (``webapp/metrics.py``) when on."""
    if kind not in JOB_KINDS or status not in STATUSES:
        raise ValueError(f"log_job takes a known kind and status, got {kind!r}/{status!r}")
    if error_type is not None and not error_type.isidentifier():
        raise ValueError("error_type must be an exception class name")
    parts = [f"job={kind}", f"status={status}", f"seconds={float(seconds):.3f}", f"images={int(images)}"]
    if faces is not None:
        parts.append(f"faces={int(faces)}")
    if error_type:
        parts.append(f"error={error_type}")
    log.info(" ".join(parts))
    from webapp import metrics  # here, not at the top: metrics reads this module's closed sets

    metrics.record_job(kind, status, seconds)
