"""Reading request bodies for the privacy middleware: within a size and a time limit, counted
against the disk quotas as they arrive, and handed on to the app once read.

No Gradio import: plain ASGI ``receive`` callables.
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from pipeline.core.errors import DiskSpaceError
from webapp.refusals import MALFORMED, TIMED_OUT, TOO_LARGE, Refusal
from webapp.uploads import UploadMeter

BODY_READ_TIMEOUT_S = 30.0  # a client that trickles a small JSON body holds a connection no longer
UPLOAD_IDLE_TIMEOUT_S = 60.0  # an upload that sends nothing for this long is cut off


def declared_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    """The one Content-Length the request declares, or None (missing, repeated or odd)."""
    values = [value for key, value in headers if key.lower() == b"content-length"]
    if len(values) != 1 or not values[0].strip().isdigit():
        return None
    return int(values[0])


async def read_limited(receive: Callable, headers: list[tuple[bytes, bytes]],
                       limit: int) -> tuple[bytes, Refusal | None]:
    """The whole body, or 413 as soon as it is known to be over ``limit`` (from its declared
    length, before reading anything; else while reading), or 408 when it trickles in."""
    declared = declared_length(headers)
    if declared is not None and declared > limit:
        return b"", TOO_LARGE
    try:
        return await asyncio.wait_for(_read_body(receive, limit), BODY_READ_TIMEOUT_S)
    except asyncio.TimeoutError:
        return b"", TIMED_OUT


async def _read_body(receive: Callable, limit: int) -> tuple[bytes, Refusal | None]:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"", MALFORMED
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return b"", TOO_LARGE
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks), None


class MeteredBody:
    """An upload's ``receive`` that counts bytes as they arrive. Past the quota (or past the
    declared length) it tells the app the client left, and keeps the reason in ``refusal``."""

    def __init__(self, receive: Callable, meter: UploadMeter, declared: int, lang: str = "en") -> None:
        self.inner = receive
        self.lang = lang  # the refusal's language
        self.meter = meter
        self.declared = declared
        self.refusal: Refusal | None = None
        self.client_left = False

    async def receive(self) -> dict:
        if self.refusal is not None or self.client_left:
            return {"type": "http.disconnect"}
        try:
            message = await asyncio.wait_for(self.inner(), UPLOAD_IDLE_TIMEOUT_S)
        except asyncio.TimeoutError:  # a stalled upload holds its bytes on the quota: let it go
            self.refusal = TIMED_OUT
            return {"type": "http.disconnect"}
        if message["type"] == "http.disconnect":
            self.client_left = True
        elif message["type"] == "http.request":
            count = len(message.get("body", b""))
            try:
                self.meter.add(count)
            except DiskSpaceError as error:
                self.refusal = Refusal(413, error.user_message_in(self.lang))
            if self.meter.received > self.declared:
                self.refusal = TOO_LARGE
            if self.refusal is not None:
                return {"type": "http.disconnect"}
        return message


def replay(body: bytes) -> Callable[[], Awaitable[dict]]:
    """A ``receive`` that hands the already-read body to the app, then waits for disconnect."""
    sent = False

    async def receive() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive
