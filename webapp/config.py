"""The web app's settings: command-line flags over environment variables over defaults.

Kept apart from the UI so the Privacy tab, the README and the tests all read the same
numbers (retention, queue limits) instead of repeating them.
"""
from __future__ import annotations

import argparse
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.core import settings
from pipeline.core.errors import InvalidOptionError
from pipeline.models.fetcher import should_fetch_in_background
from webapp.quotas import MB, DiskLimits
from webapp.sessions import DEFAULT_MAX_AGE_S, validate_max_age

# Hugging Face Spaces set this one to 0.0.0.0; honour it when ours is not given.
ENV_GRADIO_HOST = "GRADIO_SERVER_NAME"

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
DEFAULT_QUEUE_MAX = 64
DEFAULT_MAX_UPLOAD_MB = 50.0
MAX_SWEEP_INTERVAL_S = 300.0
DEFAULT_METRICS_PORT = 9860
# A bearer token a scraper can send as it is (RFC 6750's b64token) and nobody can guess.
METRICS_TOKEN_FORM = re.compile(r"[A-Za-z0-9._~+/=-]{32,}")
METRICS_TOKEN_MIN_DISTINCT = 10  # "aaaa...": long, yet guessed at once
SPACE_ENV = "SPACE_ID"  # set by Hugging Face Spaces (as pipeline.models.fetcher reads it)


@dataclass(frozen=True)
class AppConfig:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    share: bool = False
    temp_root: Path = Path(tempfile.gettempdir()) / "portrait-lab"
    max_age_s: float = DEFAULT_MAX_AGE_S
    sweep_interval_s: float = MAX_SWEEP_INTERVAL_S
    concurrency: int | None = None  # None = 4 on CUDA, 1 on CPU (decided with the device)
    queue_max: int = DEFAULT_QUEUE_MAX
    max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB
    disk: DiskLimits = DiskLimits()
    fetch_weights: bool = False  # download missing default weights in the background while serving
    metrics: bool = False  # Prometheus text (webapp/metrics.py): on the app's port with the token, else 127.0.0.1
    metrics_token: str | None = field(default=None, repr=False)  # a secret: never in a repr or a log line
    metrics_port: int = DEFAULT_METRICS_PORT

    @property
    def metrics_on_app_port(self) -> bool:
        """With a token, /metrics is on the app's own port; without one, on 127.0.0.1 only."""
        return self.metrics and self.metrics_token is not None

    def resolved_concurrency(self, device_type: str) -> int:
        """How many heavy jobs run at once: a GPU overlaps a few; 2 CPU cores are busy with one."""
        if self.concurrency is not None:
            return self.concurrency
        return 4 if device_type == "cuda" else 1

    def retention_text(self) -> str:
        return _duration(self.max_age_s)

    def sweep_text(self) -> str:
        return _duration(self.sweep_interval_s)


def _duration(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        hours = int(seconds // 3600)
        return f"{hours} hour" + ("s" if hours != 1 else "")
    if seconds >= 60 and seconds % 60 == 0:
        minutes = int(seconds // 60)
        return f"{minutes} minute" + ("s" if minutes != 1 else "")
    return f"{seconds:g} seconds"


def _number(name: str, raw: str, kind: type, minimum: float) -> float:
    try:
        value = kind(raw)
    except ValueError:
        raise InvalidOptionError(f"{name} must be a {kind.__name__} number, not {raw!r}.") from None
    if value < minimum:
        raise InvalidOptionError(f"{name} must be at least {minimum:g}, got {raw}.")
    return value


def _flag(raw: str) -> bool:
    return raw.strip().lower() in settings.TRUE_WORDS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="app.py", description="Portrait Lab web app (restore, backgrounds, ID photos, batch QA)."
    )
    parser.add_argument("--host", help=f"interface to listen on (env {settings.HOST}; default {DEFAULT_HOST})")
    parser.add_argument("--port", type=int, help=f"port (env {settings.PORT}; default {DEFAULT_PORT})")
    parser.add_argument("--share", action="store_true", default=None,
                        help=f"also open a temporary public link through Gradio's share servers (env {settings.SHARE}=1)")
    parser.add_argument("--max-age", type=float, dest="max_age_s",
                        help=f"seconds an abandoned session's files are kept, at most 86400 (env {settings.MAX_AGE_S}; "
                             f"default {DEFAULT_MAX_AGE_S:g})")
    parser.add_argument("--concurrency", type=int,
                        help=f"heavy jobs at once (env {settings.CONCURRENCY}; default 4 on a GPU, 1 on CPU)")
    parser.add_argument("--queue-max", type=int,
                        help=f"waiting requests before new ones are refused (env {settings.QUEUE_MAX}; "
                             f"default {DEFAULT_QUEUE_MAX})")
    parser.add_argument("--fetch-weights", action=argparse.BooleanOptionalAction, default=None,
                        help=f"download missing default model weights in the background while serving "
                             f"(env {settings.FETCH_WEIGHTS}=1; default: yes on a Hugging Face Space, no elsewhere)")
    parser.add_argument("--metrics", action=argparse.BooleanOptionalAction, default=None,
                        help=f"serve Prometheus metrics at /metrics (env {settings.METRICS}=1; default off): on this "
                             f"port with the bearer token in {settings.METRICS_TOKEN}, else on 127.0.0.1 only")
    parser.add_argument("--metrics-port", type=int,
                        help=f"the metrics' own port on 127.0.0.1 when no token is set (env {settings.METRICS_PORT}; "
                             f"default {DEFAULT_METRICS_PORT})")
    return parser


def load_config(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> AppConfig:
    """Flags win over environment variables, which win over defaults; every value is checked."""
    env = os.environ if environ is None else environ
    args = build_parser().parse_args(argv)
    host = args.host or env.get(settings.HOST) or env.get(ENV_GRADIO_HOST) or DEFAULT_HOST
    port = args.port if args.port is not None else int(_number(settings.PORT, env.get(settings.PORT, str(DEFAULT_PORT)), int, 1))
    if not 1 <= port <= 65535:
        raise InvalidOptionError(f"The port must be between 1 and 65535, got {port}.")
    share = bool(args.share) if args.share is not None else _flag(env.get(settings.SHARE, "0"))
    max_age = validate_max_age(
        args.max_age_s if args.max_age_s is not None else env.get(settings.MAX_AGE_S, str(DEFAULT_MAX_AGE_S))
    )
    # The sweeper deletes as of its next run, so no file outlives the maximum age; its
    # interval is kept at most 5 minutes and half the maximum age.
    sweep = _number(settings.SWEEP_S, env[settings.SWEEP_S], float, 0.05) if settings.SWEEP_S in env else max_age / 4
    sweep = min(sweep, MAX_SWEEP_INTERVAL_S, max_age / 2)
    concurrency = args.concurrency
    if concurrency is None and env.get(settings.CONCURRENCY):
        concurrency = int(_number(settings.CONCURRENCY, env[settings.CONCURRENCY], int, 1))
    if concurrency is not None and concurrency < 1:
        raise InvalidOptionError(f"Concurrency must be at least 1, got {concurrency}.")
    queue_max = args.queue_max if args.queue_max is not None else int(
        _number(settings.QUEUE_MAX, env.get(settings.QUEUE_MAX, str(DEFAULT_QUEUE_MAX)), int, 1)
    )
    if queue_max < 1:
        raise InvalidOptionError(f"The queue size must be at least 1, got {queue_max}.")
    upload_mb = _number(settings.MAX_UPLOAD_MB, env.get(settings.MAX_UPLOAD_MB, str(DEFAULT_MAX_UPLOAD_MB)), float, 0.1)
    temp_root = Path(env.get(settings.TMP) or Path(tempfile.gettempdir()) / "portrait-lab")
    return AppConfig(host=host, port=port, share=share, temp_root=temp_root, max_age_s=max_age,
                     sweep_interval_s=sweep, concurrency=concurrency, queue_max=queue_max,
                     max_upload_mb=upload_mb, disk=_disk_limits(env),
                     fetch_weights=should_fetch_in_background(env, flag=args.fetch_weights),
                     **_metrics_settings(args.metrics, args.metrics_port, env, port))


def _metrics_settings(flag: bool | None, port_flag: int | None, env: Mapping[str, str],
                      app_port: int) -> dict[str, Any]:
    """``--metrics`` and its token and port, checked. Off unless asked for; on a Hugging Face
    Space only with a token (its 127.0.0.1 cannot be reached, and its app port is public)."""
    raw = env.get(settings.METRICS, "").strip().lower()
    if flag is None and raw and raw not in settings.TRUE_WORDS | settings.FALSE_WORDS:
        raise InvalidOptionError(f"{settings.METRICS} must be 1 or 0, not {raw!r}.")
    if not (flag if flag is not None else raw in settings.TRUE_WORDS):
        return {"metrics": False}
    token = env.get(settings.METRICS_TOKEN, "").strip() or None
    if token is not None and (not METRICS_TOKEN_FORM.fullmatch(token)
                              or len(set(token)) < METRICS_TOKEN_MIN_DISTINCT):  # the message never repeats it
        raise InvalidOptionError(f"{settings.METRICS_TOKEN} must be at least 32 letters, digits or ._~+/=- signs, "
                                 "and not a repeated pattern.",
                                 hint="Make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'")
    if token is None and env.get(SPACE_ENV, "").strip():
        raise InvalidOptionError(f"On a Hugging Face Space, metrics need a token: set {settings.METRICS_TOKEN} "
                                 "as a secret of the Space, or leave metrics off.")
    port = port_flag if port_flag is not None else int(
        _number(settings.METRICS_PORT, env.get(settings.METRICS_PORT, str(DEFAULT_METRICS_PORT)), int, 1))
    if token is None and not (1 <= port <= 65535 and port != app_port):
        raise InvalidOptionError(f"The metrics port must be between 1 and 65535 and not the app's port {app_port}, "
                                 f"got {port}.")
    return {"metrics": True, "metrics_token": token, "metrics_port": port}


def _disk_limits(env: Mapping[str, str]) -> DiskLimits:
    """Disk quotas in MB from the environment, each defaulting to ``DiskLimits``'s value."""
    default = DiskLimits()

    def megabytes(name: str, fallback: int, minimum: float) -> int:
        return int(_number(name, env[name], float, minimum) * MB) if env.get(name) else fallback

    return DiskLimits(visitor_bytes=megabytes(settings.VISITOR_QUOTA_MB, default.visitor_bytes, 1),
                      total_bytes=megabytes(settings.TOTAL_QUOTA_MB, default.total_bytes, 1),
                      min_free_bytes=megabytes(settings.MIN_FREE_MB, default.min_free_bytes, 0))
