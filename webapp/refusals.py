"""What the privacy middleware answers when it says no: a status, a sentence, and how it is sent.

Apart from the rules (``webapp/middleware.py``) and the body readers (``webapp/bodies.py``),
which both refuse, so each sentence is written once. No Gradio import.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Refusal:
    status: int
    text: str


NOT_FOUND = Refusal(404, "Not found.")
# A session hash named with another cookie or none. A visitor whose browser blocks cookies
# meets this too, so it says what to do; it reveals nothing about the session.
NOT_YOUR_SESSION = Refusal(404, "This page has lost the link to your files. Please reload the page "
                                "(and allow cookies for this site if your browser blocks them).")
TOO_LARGE = Refusal(413, "This request is too large.")
# One sentence for a file that is gone and one that is someone else's: telling them apart
# would let anyone test whether a given photo is on the server.
NOT_YOUR_FILE = Refusal(400, "This photo is no longer on the server (files are deleted after the time given "
                             "on the Privacy tab) or is not one of your uploads. Please upload it again.")
MALFORMED = Refusal(400, "This request could not be read.")
LENGTH_REQUIRED = Refusal(411, "Please upload the file again (the upload did not say its size).")
TIMED_OUT = Refusal(408, "This request took too long to arrive.")


async def send_refusal(send: Callable, refusal: Refusal, as_json: bool,
                       extra: list[tuple[bytes, bytes]] | None = None) -> None:
    """Plain text, or for the JSON routes ``{"detail": ...}``, which Gradio's page shows to
    the visitor as the error message (plain text there reads as a parse error)."""
    if as_json:
        content_type, body = b"application/json", json.dumps({"detail": refusal.text}).encode()
    else:
        content_type, body = b"text/plain; charset=utf-8", refusal.text.encode()
    await send({"type": "http.response.start", "status": refusal.status,
                "headers": [(b"content-type", content_type), (b"cache-control", b"no-store"), *(extra or [])]})
    await send({"type": "http.response.body", "body": body})
