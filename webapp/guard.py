"""The web app's HTTP door: every request passes here before Gradio sees it.

Gradio's session hash is chosen by the browser and appears in URLs and bodies, so anyone who
learns it could act in that session. This middleware makes the owner cookie the only key:

- each browser (or API client) gets a random owner token in an HttpOnly cookie;
- every session hash a request names (query, path, JSON body, header) must be claimed by that
  token (``SessionStorage.claim``); otherwise 404, and nothing reaches Gradio;
- files are served only to their owner, and files named as *inputs* in a request body must
  be the caller's own uploads or the shipped examples; remote URLs, ``data:`` URLs and
  file entries without a path are refused, so the server never fetches or decodes anything
  a visitor points it at;
- request bodies other than uploads are small JSON: over ``JSON_BODY_LIMIT`` gets 413 before
  the body is read; uploads must fit the visitor's disk quota;
- routes the app does not use (deep links, component servers, streams, proxies...) are 404.

No Gradio import here: it is plain ASGI, testable with any HTTP client.
"""
from __future__ import annotations

import http.cookies
import json
import os
import re
import secrets
from collections.abc import Awaitable, Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from pipeline.errors import DiskSpaceError
from pipeline.sessions import SessionStorage

OWNER_COOKIE = "portrait_lab_owner"
# The UI sends a few KB per event; a full batch of 200 files with long names stays under
# 350 KB. Everything bigger is refused unread (an unbounded body once cost 860 MB of RAM).
JSON_BODY_LIMIT = 512 * 1024
# Both of Gradio's file routes: /gradio_api/file=<path> and the older /gradio_api/file/<path>
# (anchored: a path segment called "file=..." inside another route is not a file request).
FILE_ROUTE = re.compile(r"^/gradio_api/file[=/](?P<path>.+)$")
UPLOAD_ROUTE = re.compile(r"/upload/?$")
# Routes this app never uses; each would be another way to reach a session's state or to make
# the server fetch something (deep links, proxies, component servers, streams, run history).
UNUSED_ROUTES = re.compile(
    r"/(?:(?:deep_link|component_server|process_recording|stream|vibe-[\w-]*|undo-vibe-edit|run-history|runs"
    r"|profiling|monitoring|dev/reload)(?:/|$)|proxy=)")
HEARTBEAT_ROUTE = re.compile(r"/heartbeat/(?P<hash>[^/]+)/?$")
# GET /call/<api>/<event id> reads an event's results; Gradio uses the event id as its hash.
CALL_RESULT_ROUTE = re.compile(r"/call/(?:v2/)?[^/]+/(?P<event>[^/]+)/?$")
EVENT_ROUTES = re.compile(r"/(queue/join|call/(?:v2/)?[^/]+)/?$")  # answer with an event id
URL_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
FILE_TYPE = "gradio.FileData"

ASGIApp = Callable[[dict, Callable, Callable], Awaitable[None]]


@dataclass(frozen=True)
class Refusal:
    status: int
    text: str


NOT_FOUND = Refusal(404, "Not found.")
TOO_LARGE = Refusal(413, "This request is too large.")
NOT_YOUR_FILE = Refusal(400, "This request names a file that is not one of your uploads.")
MALFORMED = Refusal(400, "This request could not be read.")


@dataclass
class Incoming:
    """What the guard needs to know of one HTTP request."""

    method: str
    path: str
    query: list[tuple[str, str]]
    headers: list[tuple[bytes, bytes]]
    token: str | None  # the owner token the client sent (None: it sent no cookie)
    session_hashes: list[str] = field(default_factory=list)

    @classmethod
    def from_scope(cls, scope: dict) -> Incoming:
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        headers = list(scope.get("headers", []))
        return cls(scope.get("method", "GET"), scope.get("path", ""), query, headers, owner_token(headers))

    @property
    def is_upload(self) -> bool:
        return self.method == "POST" and bool(UPLOAD_ROUTE.search(self.path))

    @property
    def has_body(self) -> bool:
        return self.method not in ("GET", "HEAD", "OPTIONS")

    def header(self, name: bytes) -> bytes | None:
        return next((value for key, value in self.headers if key.lower() == name), None)

    def named_hashes(self) -> Iterator[str]:
        """Every session hash (or event id used as one) this request names outside its body."""
        yield from (value for key, value in self.query if key == "session_hash")
        for pattern, group in ((HEARTBEAT_ROUTE, "hash"), (CALL_RESULT_ROUTE, "event")):
            match = pattern.search(self.path)
            if match and self.method == "GET":
                yield match.group(group)
        header = self.header(b"session_hash")
        if header is not None:
            yield header.decode("latin-1")


class PrivacyGuard:
    """ASGI middleware enforcing the rules in this module's docstring."""

    def __init__(self, app: ASGIApp, storage: SessionStorage, body_limit: int = JSON_BODY_LIMIT) -> None:
        self.app = app
        self.storage = storage
        self.body_limit = body_limit

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Incoming.from_scope(scope)
        issued = None
        if request.token is None:  # a first visit: the cookie comes back with the response
            issued = secrets.token_urlsafe(32)
            scope = {**scope, "headers": request.headers + [(b"cookie", f"{OWNER_COOKIE}={issued}".encode())]}
        request.session_hashes.extend(request.named_hashes())
        refusal = self.refusal_before_body(request)
        if refusal is None and request.has_body and not request.is_upload:
            body, refusal = await read_limited(receive, request, self.body_limit)
            if refusal is None:
                refusal = self.refusal_for_body(request, body)
                receive = replay(body)
        if refusal is None and request.is_upload:
            refusal = self.refusal_for_upload(request, issued)
        for session_hash in request.session_hashes if refusal is None else ():
            if request.token is None or not self.storage.claim(session_hash, request.token):
                refusal = NOT_FOUND
        if refusal is not None:
            await send_plain(send, refusal)
            return
        token = request.token or issued
        heartbeat = HEARTBEAT_ROUTE.search(request.path)
        held = self.storage.connection(heartbeat.group("hash")) if heartbeat else nullcontext()
        with held:
            await self.app(scope, receive, self.responder(request, token, issued, scope, send))

    # -- rules --------------------------------------------------------------------------------
    def refusal_before_body(self, request: Incoming) -> Refusal | None:
        if "\x00" in request.path or any("\x00" in key + value for key, value in request.query):
            return NOT_FOUND
        if any(key == "deep_link" for key, _ in request.query):
            return NOT_FOUND
        match = FILE_ROUTE.search(request.path)
        if match:  # a file path may hold any word, so the route list is not read into it
            return None if may_serve(self.storage, match.group("path"), request.token) else NOT_FOUND
        return NOT_FOUND if UNUSED_ROUTES.search(request.path) else None

    def refusal_for_body(self, request: Incoming, body: bytes) -> Refusal | None:
        if not body.strip():
            return None
        try:
            payload = json.loads(body, object_pairs_hook=_unique_keys)
        except ValueError:
            return MALFORMED
        session_hash = payload.get("session_hash") if isinstance(payload, dict) else None
        if session_hash is not None:
            if not isinstance(session_hash, str):
                return MALFORMED
            request.session_hashes.append(session_hash)
        for entry in file_entries(payload):
            if not self.is_own_file(entry, session_hash or "", request.token):
                return NOT_YOUR_FILE
        return None

    def is_own_file(self, entry: dict, session_hash: str, token: str | None) -> bool:
        """A file named as an input: a plain server path (no URL, no inline data) that the
        caller uploaded, or a shipped example."""
        path, url = entry.get("path"), entry.get("url")
        if not isinstance(path, str) or not path or "\x00" in path or URL_SCHEME.match(path):
            return False
        if url is not None and not (isinstance(url, str) and url.lower().startswith(("http://", "https://"))):
            return False
        return self.storage.may_use(session_hash, token, os.path.abspath(path))

    def refusal_for_upload(self, request: Incoming, issued: str | None) -> Refusal | None:
        try:
            declared = int(request.header(b"content-length") or 0)
        except ValueError:
            return MALFORMED
        try:
            self.storage.require_room(request.token or issued, declared)
        except DiskSpaceError as error:
            return Refusal(413, error.user_message)
        return None

    # -- responses ------------------------------------------------------------------------------
    def responder(self, request: Incoming, token: str, issued: str | None, scope: dict,
                  send: Callable) -> Callable[[dict], Awaitable[None]]:
        """Wrap ``send``: privacy headers on every response, and the response bodies the
        guard learns from (upload paths, event ids) recorded to the caller's token."""
        is_file = bool(FILE_ROUTE.search(request.path))
        learns = request.is_upload or (request.method == "POST" and bool(EVENT_ROUTES.search(request.path)))
        secure = is_https(scope, request.headers)
        chunks: list[bytes] = []

        async def send_with_policy(message: dict) -> None:
            if message["type"] == "http.response.start":
                extra = [(b"referrer-policy", b"no-referrer")]
                if is_file:
                    extra.append((b"cache-control", b"private, no-store"))
                if issued:
                    extra.append((b"set-cookie", cookie_header(issued, secure)))
                message = {**message, "headers": list(message.get("headers", [])) + extra}
            elif message["type"] == "http.response.body" and learns:
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    self.learn(request, token, b"".join(chunks))
            await send(message)

        return send_with_policy

    def learn(self, request: Incoming, token: str, body: bytes) -> None:
        try:
            answer = json.loads(body)
        except ValueError:
            return  # an error response: nothing was stored or started
        if request.is_upload and isinstance(answer, list):
            self.storage.register_upload(token, [p for p in answer if isinstance(p, str)])
        elif isinstance(answer, dict) and isinstance(answer.get("event_id"), str):
            self.storage.claim(answer["event_id"], token)  # only its caller may read its results


# -- helpers ----------------------------------------------------------------------------------
def file_entries(value: Any) -> Iterator[dict]:
    """Every file reference (Gradio FileData, or anything with a path or url) in a payload."""
    if isinstance(value, dict):
        meta = value.get("meta")
        if "path" in value or "url" in value or (isinstance(meta, dict) and meta.get("_type") == FILE_TYPE):
            yield value
        for item in value.values():
            yield from file_entries(item)
    elif isinstance(value, list):
        for item in value:
            yield from file_entries(item)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict:
    """A JSON object with a key twice could be read one way here and another by Gradio."""
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError("duplicate key")
    return dict(pairs)


async def read_limited(receive: Callable, request: Incoming, limit: int) -> tuple[bytes, Refusal | None]:
    """The whole body, or 413 as soon as it is known to be over ``limit`` (from its declared
    length, before reading anything; else while reading)."""
    try:
        declared = int(request.header(b"content-length") or 0)
    except ValueError:
        return b"", MALFORMED
    if declared > limit:
        return b"", TOO_LARGE
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


def may_serve(storage: SessionStorage, requested: str, token: str | None) -> bool:
    """The path as Gradio will open it (made absolute against the working directory, no
    further decoding), checked both lexically and with symlinks resolved. Remote URLs are
    refused: the server must not fetch anything from third parties on a visitor's behalf."""
    if URL_SCHEME.match(requested) or "\x00" in requested:
        return False
    lexical = os.path.abspath(requested)
    return storage.may_read(lexical, token) and storage.may_read(Path(lexical).resolve(), token)


def owner_token(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The owner token from the request's cookies, if it sent one."""
    for name, value in headers:
        if name.lower() == b"cookie":
            jar = http.cookies.SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except http.cookies.CookieError:
                continue
            if OWNER_COOKIE in jar and jar[OWNER_COOKIE].value:
                return jar[OWNER_COOKIE].value
    return None


def is_https(scope: dict, headers: list[tuple[bytes, bytes]]) -> bool:
    forwarded = dict((k.lower(), v) for k, v in headers).get(b"x-forwarded-proto", b"")
    return scope.get("scheme") == "https" or forwarded.split(b",")[0].strip() == b"https"


def cookie_header(token: str, secure: bool) -> bytes:
    # Behind HTTPS (a Space is embedded in an iframe) the cookie must be SameSite=None and
    # Partitioned to reach the app at all; on plain http (localhost) Lax is the safe choice.
    attributes = "Path=/; HttpOnly; Secure; SameSite=None; Partitioned" if secure else "Path=/; HttpOnly; SameSite=Lax"
    return f"{OWNER_COOKIE}={token}; {attributes}".encode()


async def send_plain(send: Callable, refusal: Refusal) -> None:
    await send({"type": "http.response.start", "status": refusal.status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"cache-control", b"no-store")]})
    await send({"type": "http.response.body", "body": refusal.text.encode()})
