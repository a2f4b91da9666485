"""The page's first script goes into the page's HTML, once, before Gradio's own script; nothing
else the server sends is touched."""
from __future__ import annotations

import asyncio

from webapp.page_head import EarlyScript

PAGE = b"<!doctype html><html><head><script type=module src=app.js></script></head><body></body></html>"


def _serve(path: str, body: bytes = PAGE, *, method: str = "GET", content_type: bytes = b"text/html; charset=utf-8",
           extra: list | None = None, chunks: int = 1) -> tuple[dict, bytes]:
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode()),
                                *(extra or [])]})
        step = max(1, len(body) // chunks)
        parts = [body[i:i + step] for i in range(0, len(body), step)] or [b""]
        for index, part in enumerate(parts):
            await send({"type": "http.response.body", "body": part, "more_body": index < len(parts) - 1})

    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "http.request", "body": b""}

    asyncio.run(EarlyScript(app, "window.first = 1;")({"type": "http", "method": method, "path": path,
                                                      "headers": []}, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    return start, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


def test_the_page_gets_the_script_first_in_its_head_with_the_right_length():
    start, body = _serve("/", chunks=5)
    assert body.startswith(b"<!doctype html><html><head><script>window.first = 1;</script><script type=module")
    assert body.count(b"window.first") == 1
    assert dict(start["headers"])[b"content-length"] == str(len(body)).encode()


def test_a_head_request_is_told_the_length_a_get_gets():
    get_start, get_body = _serve("/")
    head_start, head_body = _serve("/", method="HEAD")
    assert dict(head_start["headers"])[b"content-length"] == str(len(get_body)).encode()
    assert head_body == PAGE  # the stand-in app sends a body; a real HEAD has none: untouched either way


def test_nothing_else_is_touched():
    assert _serve("/gradio_api/info")[1] == PAGE  # another route
    assert _serve("/", method="POST")[1] == PAGE
    assert _serve("/", content_type=b"application/json")[1] == PAGE
    assert _serve("/", extra=[(b"content-encoding", b"gzip")])[1] == PAGE  # compressed: left as it is
