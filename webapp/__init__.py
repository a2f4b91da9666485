"""The web app around the pipeline: the HTTP privacy middleware, the UI, sessions and config.

Nothing in ``pipeline/`` imports from here; the web app depends on the pipeline, never the
other way round.

Importing the package sets the two things that must come before Gradio is imported by any of
its modules: when the process started (for the "ready after" log line) and the environment
that keeps usage statistics on the server.
"""
from __future__ import annotations

import os
import time

PROCESS_STARTED = time.perf_counter()

# Privacy: no usage statistics leave the server, whatever the environment says.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
