"""Every ``PORTRAIT_LAB_*`` setting in one table: its name, default and meaning (data).

Each module reads its setting through the name constant defined here, so a search for one
constant finds every reader. ``tests/core/test_settings.py`` checks that no other
``PORTRAIT_LAB_`` name exists in the code and that the README lists exactly these. How each
value is parsed and checked stays with the module that uses it (named in ``read_by``).
"""
from __future__ import annotations

from dataclasses import dataclass


# The words a yes/no setting or switch accepts (compared in lower case), for every reader.
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})


@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    meaning: str
    read_by: str


HOST = "PORTRAIT_LAB_HOST"
PORT = "PORTRAIT_LAB_PORT"
SHARE = "PORTRAIT_LAB_SHARE"
TMP = "PORTRAIT_LAB_TMP"
MAX_AGE_S = "PORTRAIT_LAB_MAX_AGE_S"
SWEEP_S = "PORTRAIT_LAB_SWEEP_S"
CONCURRENCY = "PORTRAIT_LAB_CONCURRENCY"
QUEUE_MAX = "PORTRAIT_LAB_QUEUE_MAX"
MAX_UPLOAD_MB = "PORTRAIT_LAB_MAX_UPLOAD_MB"
VISITOR_QUOTA_MB = "PORTRAIT_LAB_VISITOR_QUOTA_MB"
TOTAL_QUOTA_MB = "PORTRAIT_LAB_TOTAL_QUOTA_MB"
MIN_FREE_MB = "PORTRAIT_LAB_MIN_FREE_MB"
WEIGHTS_DIR = "PORTRAIT_LAB_WEIGHTS_DIR"
WEIGHTS_MIRROR = "PORTRAIT_LAB_WEIGHTS_MIRROR"
FETCH_WEIGHTS = "PORTRAIT_LAB_FETCH_WEIGHTS"
DEVICE = "PORTRAIT_LAB_DEVICE"
PRECISION = "PORTRAIT_LAB_PRECISION"
SPEED = "PORTRAIT_LAB_SPEED"
MAX_PIXELS = "PORTRAIT_LAB_MAX_PIXELS"
MAX_BATCH_FILES = "PORTRAIT_LAB_MAX_BATCH_FILES"
MANIFEST = "PORTRAIT_LAB_MANIFEST"
METRICS = "PORTRAIT_LAB_METRICS"
METRICS_TOKEN = "PORTRAIT_LAB_METRICS_TOKEN"
METRICS_PORT = "PORTRAIT_LAB_METRICS_PORT"

# Settings that are secrets: never passed on to another process or machine (Ray's actors).
SECRETS = frozenset({METRICS_TOKEN})

SETTINGS: tuple[Setting, ...] = (
    Setting(HOST, "127.0.0.1", "address the web app listens on (GRADIO_SERVER_NAME, set by Spaces, also counts)",
            "webapp.config"),
    Setting(PORT, "7860", "port of the web app", "webapp.config"),
    Setting(SHARE, "off", "1 = a public gradio.live link through Gradio's share server", "webapp.config"),
    Setting(TMP, "<system temp>/portrait-lab", "the only place photos are written; emptied at start-up",
            "webapp.config"),
    Setting(MAX_AGE_S, "3600", "longest a visitor's files live, in seconds (at most 86400)", "webapp.config"),
    Setting(SWEEP_S, "min(300, max-age/4)", "seconds between sweeps of old files", "webapp.config"),
    Setting(CONCURRENCY, "4 on a GPU, 1 on CPU", "model jobs at once", "webapp.config"),
    Setting(QUEUE_MAX, "64", "waiting requests before new ones are refused", "webapp.config"),
    Setting(MAX_UPLOAD_MB, "50", "largest upload per file, in MB", "webapp.config"),
    Setting(VISITOR_QUOTA_MB, "5120", "storage per visitor (uploads and results), in MB", "webapp.config"),
    Setting(TOTAL_QUOTA_MB, "20480", "storage for all visitors together, in MB", "webapp.config"),
    Setting(MIN_FREE_MB, "1024", "free disk kept; below it new work is refused, in MB", "webapp.config"),
    Setting(METRICS, "off", "1 = Prometheus metrics (counts and timings, nothing personal); a Space needs a token too",
            "webapp.config"),
    Setting(METRICS_TOKEN, "none", "bearer token: /metrics on the app's port, only with it (at least 32 characters)",
            "webapp.config"),
    Setting(METRICS_PORT, "9860", "without a token, metrics are served on 127.0.0.1 at this port only",
            "webapp.config"),
    Setting(WEIGHTS_DIR, "weights/", "where model weights live", "pipeline.models.locations"),
    Setting(WEIGHTS_MIRROR, "none", "base URL of a mirror holding the same weight files", "pipeline.models.download"),
    Setting(MANIFEST, "weights/manifest.json",
            "another weights manifest (a mirror with its own files and hashes; the Space simulation)",
            "pipeline.models.manifest"),
    Setting(FETCH_WEIGHTS, "1 on a Space (SPACE_ID set), else 0",
            "1 = the app downloads missing default weights in the background while it serves; 0 = never",
            "pipeline.models.fetcher"),
    Setting(DEVICE, "auto", "auto, cpu, cuda or cuda:N", "pipeline.models.device"),
    Setting(PRECISION, "auto", "auto, fp32 or bf16", "pipeline.models.device"),
    Setting(SPEED, "none", "speed switches, e.g. compile=1,max_batch=8", "pipeline.models.accelerate"),
    Setting(MAX_PIXELS, "40000000", "largest image read (inputs and our own outputs), in pixels",
            "pipeline.core.limits"),
    Setting(MAX_BATCH_FILES, "200", "most photos in one batch of the web app (files and archive members)", "pipeline.core.limits"),
)
