"""The web app around the pipeline: HTTP privacy guard (and, in time, UI, sessions, config).

Nothing in ``pipeline/`` imports from here; the web app depends on the pipeline, never the
other way round.
"""
