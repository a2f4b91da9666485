"""Operational metrics for the server's operator, as Prometheus text at ``/metrics``.

Numbers only, under closed label sets: a job's kind and status (``logsafe.JOB_KINDS`` and
``logsafe.STATUSES``), a stage from :data:`STAGES`, a model name from the manifest. Nothing a
request sends (a file name, a session hash, a cookie, a path) can become a label value, so no
scrape can name a visitor. With the job's log line (``logsafe.log_job``: error types only),
this is the seed's "basic usage metrics, anonymised crash logs, opt-out": off unless the
operator turns it on (``webapp.config``), and the Privacy tab says which.

- Counters and histograms live in this module's own registry, never prometheus_client's global
  one (which would add process details and whatever a library registers there). They count
  only while :func:`set_recording` is on: with metrics off, nothing is collected at all.
- Live values (open sessions, bytes under the temporary root, the queue's depth, model load
  times) are read when a scrape asks, by :class:`LiveValues`, from the storage, the queue and
  the model store the app already has: no second walk of the disk, no thread of our own.
- Where the text is served (the app's port behind a bearer token, or 127.0.0.1 on a port of
  its own) is ``webapp.config``'s choice; the route is ``webapp.middleware``'s, the separate
  port :func:`serve_locally`'s. The pipeline knows nothing of this module: the web layer
  reads the ``timings`` its results carry and the model store's load times.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest, make_wsgi_app
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from pipeline.core.errors import InvalidOptionError
from webapp.logsafe import JOB_KINDS, STATUSES

CONTENT_TYPE = CONTENT_TYPE_LATEST
# Every stage a job's timings may name: the restore engine's and the ID-photo maker's (their
# ``timed`` stages), the studio's own around the cut-out (decode, cutout, encode), and each
# job's total. Another name is not recorded; tests/webapp/test_metrics.py keeps this complete.
STAGES = ("decode", "detect", "landmarks", "matte", "cutout", "upscale", "align", "restore", "mask", "identity",
          "paste", "crop", "tone", "encode", "verify", "total")
STAGE_KINDS = ("restore", "background", "idphoto")  # the jobs whose results carry timings
JOB_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
STAGE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0)
FACE_BUCKETS = (0, 1, 2, 3, 5, 10, 20, 50, 100)

REGISTRY = CollectorRegistry(auto_describe=True)
JOBS = Counter("portrait_lab_jobs", "Jobs by kind and how they ended (ok, error, refused).",
               ("kind", "status"), registry=REGISTRY)
JOB_SECONDS = Histogram("portrait_lab_job_seconds", "How long a job took, in seconds, by kind.",
                        ("kind",), buckets=JOB_BUCKETS, registry=REGISTRY)
STAGE_SECONDS = Histogram("portrait_lab_stage_seconds", "How long each stage of a job took, in seconds.",
                          ("kind", "stage"), buckets=STAGE_BUCKETS, registry=REGISTRY)
FACES = Histogram("portrait_lab_faces_per_call", "Faces found in one photo (restore) or cut out with "
                  "(background), per call.", ("kind",), buckets=FACE_BUCKETS, registry=REGISTRY)
for _kind in JOB_KINDS:  # every kind and status shows from the first scrape, at 0
    JOB_SECONDS.labels(_kind)
    for _status in STATUSES:
        JOBS.labels(_kind, _status)

_recording = threading.Event()


def set_recording(on: bool) -> None:
    """Count from now on (metrics on) or not at all (off: nothing is collected)."""
    if on:
        _recording.set()
    else:
        _recording.clear()


def recording() -> bool:
    return _recording.is_set()


def record_job(kind: str, status: str, seconds: float) -> None:
    """One finished job (``logsafe.log_job`` calls this for every job it logs)."""
    if recording() and kind in JOB_KINDS and status in STATUSES:
        JOBS.labels(kind, status).inc()
        JOB_SECONDS.labels(kind).observe(max(0.0, float(seconds)))


def record_work(kind: str, timings: Mapping[str, float], faces: int | None = None) -> None:
    """A finished job's stage timings (its result's ``timings``: seconds by stage) and, when it
    counts them, its faces. Stages outside :data:`STAGES` are left out, never made labels."""
    if not recording() or kind not in STAGE_KINDS:
        return
    for stage in STAGES:
        if stage in timings:
            STAGE_SECONDS.labels(kind, stage).observe(max(0.0, float(timings[stage])))
    if faces is not None:
        FACES.labels(kind).observe(max(0, int(faces)))


# -- what is read at scrape time ---------------------------------------------------------------
@dataclass(frozen=True)
class LiveSources:
    """Where the live values come from: the app's own objects, read as they are."""

    sessions: Callable[[], int]  # SessionStorage.active_sessions
    stored_bytes: Callable[[], int]  # the disk quota's measure of the temporary root
    queue_depth: Callable[[], int]  # requests waiting in Gradio's queue
    model_loads: Callable[[], Mapping[str, float]]  # ModelStore.load_seconds: seconds by model name
    models: frozenset[str] = field(default_factory=frozenset)  # the manifest's names: the only labels


class LiveValues(Collector):
    """The gauges read when a scrape asks."""

    def __init__(self, sources: LiveSources) -> None:
        self.sources = sources

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("portrait_lab_live_sessions", "Visitor sessions open now.",
                                value=self.sources.sessions())
        yield GaugeMetricFamily("portrait_lab_temp_root_bytes", "Bytes stored under the temporary root "
                                "(uploads, results, uploads arriving).", value=self.sources.stored_bytes())
        yield GaugeMetricFamily("portrait_lab_queue_depth", "Requests waiting in the job queue.",
                                value=self.sources.queue_depth())
        loads = GaugeMetricFamily("portrait_lab_model_load_seconds", "Seconds each loaded model took to load.",
                                  labels=("model",))
        for name, seconds in sorted(self.sources.model_loads().items()):
            if name in self.sources.models:
                loads.add_metric((name,), seconds)
        yield loads


class _Counted(Collector):
    """This module's counters and histograms, inside an app's registry."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


def app_registry(sources: LiveSources) -> CollectorRegistry:
    """What one app's ``/metrics`` shows: the process's counts and the app's live values."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Counted())
    registry.register(LiveValues(sources))
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    """The Prometheus text format (``CONTENT_TYPE``)."""
    return generate_latest(registry)


@dataclass(frozen=True)
class MetricsRoute:
    """``/metrics`` on the app's port: what it shows and the bearer token it asks for."""

    registry: CollectorRegistry
    token: str = field(repr=False)


class LocalServer:
    """prometheus_client's own HTTP server on 127.0.0.1 (a daemon thread), for metrics
    without a token: only this machine can reach it."""

    def __init__(self, registry: CollectorRegistry, port: int) -> None:
        self.httpd = make_server("127.0.0.1", port, local_only(make_wsgi_app(registry), port),
                                 handler_class=_QuietHandler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="metrics-http", daemon=True)
        self.thread.start()

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.httpd.server_address[:2]
        return str(host), int(port)

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def local_only(app: Callable, port: int) -> Callable:
    """Only ``/metrics``, and only for a Host naming this machine: a web page the operator
    opens cannot read the metrics through a rebound DNS name (its Host is its own name)."""
    allowed = {f"127.0.0.1:{port}", f"localhost:{port}"}

    def guarded(environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("HTTP_HOST", "") not in allowed or environ.get("PATH_INFO") != "/metrics":
            start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"Not found."]
        return app(environ, start_response)

    return guarded


class _QuietHandler(WSGIRequestHandler):
    """No access log on stderr: a scrape every few seconds would drown the app's own lines."""

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        return


def serve_locally(registry: CollectorRegistry, port: int) -> LocalServer:
    """Serve the metrics on 127.0.0.1:``port``; a port in use stops start-up with one sentence."""
    try:
        return LocalServer(registry, port)
    except OSError as error:
        raise InvalidOptionError(f"The metrics port {port} on 127.0.0.1 cannot be used ({error.strerror}).",
                                 hint="Choose another with --metrics-port.") from None
