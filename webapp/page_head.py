"""The page's first script, before Gradio's own.

Gradio adds ``launch(head=...)`` to the page from its own script, after it has started; but it
picks its language once, at start, from the browser, and what it draws then (the upload box,
tab names) keeps that language. So the language script (webapp/language.py) is put into the
page's HTML itself, as the first thing in ``<head>``, by this small ASGI middleware. Only the
page (GET /) is touched; its content is the same for everyone (no visitor data).
"""
from __future__ import annotations

from collections.abc import Callable

from starlette.types import ASGIApp

from webapp.middleware import route_path

PAGE_PATHS = ("/", "")


class EarlyScript:
    """Insert ``<script>`` + ``script`` right after the page's ``<head>``."""

    def __init__(self, app: ASGIApp, script: str) -> None:
        self.app = app
        self.tag = f"<script>{script}</script>".encode()

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        method = scope.get("method") if scope["type"] == "http" else None
        if method not in ("GET", "HEAD") or route_path(scope) not in PAGE_PATHS:
            await self.app(scope, receive, send)
            return
        await self.app(scope, receive, _Rewriter(self.tag, send, head_only=method == "HEAD"))


class _Rewriter:
    """The app's ``send`` for the page: the whole body gathered, the script inserted once, the
    length corrected. Anything but an uncompressed HTML 200 passes through unchanged."""

    def __init__(self, tag: bytes, send: Callable, *, head_only: bool = False) -> None:
        self.tag, self.send, self.head_only = tag, send, head_only
        self.start: dict | None = None
        self.chunks: list[bytes] = []

    async def __call__(self, message: dict) -> None:
        if message["type"] == "http.response.start" and self.head_only:  # HEAD: the length GET will have
            await self.send({**message, "headers": _longer(list(message.get("headers", [])), len(self.tag),
                                                           message["status"])})
            return
        if message["type"] == "http.response.start":
            self.start = message
            return
        if message["type"] != "http.response.body" or self.start is None:
            await self.send(message)
            return
        self.chunks.append(message.get("body", b""))
        if message.get("more_body"):
            return
        start, body = self.start, b"".join(self.chunks)
        headers = list(start.get("headers", []))
        if start["status"] == 200 and _header(headers, b"content-type").startswith(b"text/html") \
                and not _header(headers, b"content-encoding") and b"<head>" in body:
            body = body.replace(b"<head>", b"<head>" + self.tag, 1)
            headers = [(k, v) for k, v in headers if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
        await self.send({**start, "headers": headers})
        await self.send({"type": "http.response.body", "body": body})


def _longer(headers: list[tuple[bytes, bytes]], extra: int, status: int) -> list[tuple[bytes, bytes]]:
    """A page's headers with its content-length grown by ``extra`` (what the script adds)."""
    length = _header(headers, b"content-length")
    if status != 200 or not length.isdigit() or not _header(headers, b"content-type").startswith(b"text/html") \
            or _header(headers, b"content-encoding"):
        return headers
    return [(k, v) for k, v in headers if k.lower() != b"content-length"] + [
        (b"content-length", str(int(length) + extra).encode())]


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes:
    return next((value for key, value in headers if key.lower() == name), b"")

