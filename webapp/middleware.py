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
- routes the app does not use (deep links, component servers, streams, proxies...) are 404,
  and so are websockets;
- ``/metrics`` exists only when the metrics are served on the app's port
  (``webapp/metrics.py``): then it asks for the bearer token (compared in constant time;
  a missing or wrong one gets 401 and nothing else) and sets no cookie.

Upload ids and event ids are bound to the cookie like session hashes, since Gradio lets anyone
holding one follow an upload's progress, read an event's results or cancel it.

No Gradio import here: it is plain ASGI, testable with any HTTP client. The owner cookie is
read and written by ``webapp/cookies.py``, bodies are read within their limits by
``webapp/bodies.py``, and every refusal's sentence is in ``webapp/refusals.py``.
"""
from __future__ import annotations

import hmac
import json
import logging
import os
import re
import secrets
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl

import anyio

from pipeline.core.errors import DiskSpaceError
from webapp import metrics
from webapp.bodies import MeteredBody, declared_length, read_limited, replay
from webapp.cookies import cookie_header, is_https, merged_cookies, owner_token, with_cookie
from webapp.language import request_language
from webapp.refusals import (LENGTH_REQUIRED, MALFORMED, NOT_FOUND, NOT_YOUR_FILE, NOT_YOUR_SESSION, Refusal,
                             send_refusal)
from webapp.sessions import SessionStorage, plausible_path

# The UI sends a few KB per event; a full batch of 200 files with long names stays under
# 350 KB. Everything bigger is refused unread (an unbounded body once cost 860 MB of RAM).
JSON_BODY_LIMIT = 512 * 1024
# Both of Gradio's file routes: /gradio_api/file=<path> and the older /gradio_api/file/<path>
# (anchored: a path segment called "file=..." inside another route is not a file request).
FILE_ROUTE = re.compile(r"^/gradio_api/file[=/](?P<path>.+)$")
UPLOAD_ROUTES = ("/gradio_api/upload", "/gradio_api/upload/")
QUEUE_DATA_ROUTES = ("/gradio_api/queue/data", "/gradio_api/queue/data/")
UPLOAD_PROGRESS_ROUTES = ("/gradio_api/upload_progress", "/gradio_api/upload_progress/")
# Routes this app never uses; each would be another way to reach a session's state or to make
# the server fetch something (deep links, proxies, component servers, streams, run history).
UNUSED_ROUTES = re.compile(
    r"/(?:(?:deep_link|component_server|process_recording|stream|vibe-[\w-]*|undo-vibe-edit|run-history|runs"
    r"|profiling|monitoring|dev/reload)(?:/|$)|proxy=)")
HEARTBEAT_ROUTE = re.compile(r"^/gradio_api/heartbeat/(?P<hash>[^/]+)/?$")
# GET /call/<api>/<event id> reads an event's results; Gradio uses the event id as its hash.
CALL_RESULT_ROUTE = re.compile(r"^/gradio_api/call/(?:v2/)?[^/]+/(?P<event>[^/]+)/?$")
EVENT_ROUTES = re.compile(r"^/gradio_api/(queue/join|call/(?:v2/)?[^/]+)/?$")  # answer with an event id
EVENT_CONTROL_ROUTES = re.compile(r"^/gradio_api/(cancel|reset)/?$")  # name an event id in the body
UPLOAD_ID = "upload-id:"  # upload ids are bound like session hashes, in their own namespace
URL_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
FILE_TYPE = "gradio.FileData"
METRICS_ROUTE = "/metrics"
UNAUTHORISED = Refusal(401, "Unauthorized.")  # the same for no token and a wrong one: no detail

log = logging.getLogger("portrait_lab.guard")

ASGIApp = Callable[[dict, Callable, Callable], Awaitable[None]]


@dataclass
class Incoming:
    """What the guard needs to know of one HTTP request."""

    method: str
    path: str  # the route path (any root path removed), as Gradio's router matches it
    query: list[tuple[str, str]]
    headers: list[tuple[bytes, bytes]]
    token: str | None  # the owner token the client sent (None: it sent no cookie)
    session_hashes: list[str] = field(default_factory=list)

    @classmethod
    def from_scope(cls, scope: dict) -> Incoming:
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        headers = list(scope.get("headers", []))
        return cls(scope.get("method", "GET"), route_path(scope), query, headers, owner_token(headers))

    @property
    def is_upload(self) -> bool:
        return self.method == "POST" and self.path in UPLOAD_ROUTES

    @property
    def has_body(self) -> bool:
        return self.method not in ("GET", "HEAD", "OPTIONS")

    def header(self, name: bytes) -> bytes | None:
        return next((value for key, value in self.headers if key.lower() == name), None)

    @property
    def language(self) -> str:
        """The visitor's language (their pick's cookie, else Accept-Language): for a refusal's words."""
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in self.headers}
        return request_language(SimpleNamespace(headers=headers))

    def values(self, name: str) -> list[str]:
        return [value for key, value in self.query if key == name]

    def named_hashes(self) -> Iterator[str]:
        """Every session hash (or event or upload id, bound the same way) this request names
        outside its body, on the routes where Gradio reads one."""
        if self.path in QUEUE_DATA_ROUTES:
            yield from self.values("session_hash")
        for pattern, group in ((HEARTBEAT_ROUTE, "hash"), (CALL_RESULT_ROUTE, "event")):
            match = pattern.search(self.path)
            if match and self.method == "GET":
                yield match.group(group)
        if self.is_upload or self.path in UPLOAD_PROGRESS_ROUTES:
            yield from (UPLOAD_ID + value for value in self.values("upload_id"))
        header = self.header(b"session_hash")
        if header is not None:
            yield header.decode("latin-1")


class PrivacyGuard:
    """ASGI middleware enforcing the rules in this module's docstring."""

    def __init__(self, app: ASGIApp, storage: SessionStorage, body_limit: int = JSON_BODY_LIMIT,
                 metrics_route: metrics.MetricsRoute | None = None) -> None:
        self.app = app
        self.storage = storage
        self.body_limit = body_limit
        self.metrics_route = metrics_route  # None: no /metrics on this port

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "websocket":  # the app uses none; nothing is served over them
            await send({"type": "websocket.close", "code": 1008})
            return
        if scope["type"] != "http":  # lifespan
            await self.app(scope, receive, send)
            return
        if self.metrics_route is not None and route_path(scope) == METRICS_ROUTE:  # a scraper: no cookie
            await self.serve_metrics(self.metrics_route, Incoming.from_scope(scope), send)
            return
        scope = {**scope, "headers": merged_cookies(scope.get("headers", []))}
        request = Incoming.from_scope(scope)
        issued = None
        if request.token is None:  # a first visit: the cookie comes back with the response
            issued = secrets.token_urlsafe(32)
            scope = {**scope, "headers": with_cookie(request.headers, issued)}
        refusal = self.refusal_before_body(request)
        if refusal is None and request.has_body and not request.is_upload:
            body, refusal = await read_limited(receive, request.headers, self.body_limit)
            if refusal is None:
                refusal = self.refusal_for_body(request, body)
                receive = replay(body)
        refusal = refusal or self.refusal_for_hashes(request)
        if refusal is not None:
            await send_refusal(send, refusal, as_json=request.has_body and not request.is_upload)
            return
        token = request.token or issued
        if request.is_upload:
            await self.serve_upload(request, token, issued, scope, receive, send)
            return
        with self.holding_claims(request):
            await self.app(scope, receive, self.responder(request, token, issued, scope, send))

    def holding_claims(self, request: Incoming) -> ExitStack:
        """Keep every claim the request names alive while it runs (streams, uploads)."""
        held = ExitStack()
        for session_hash in request.session_hashes:
            held.enter_context(self.storage.connection(session_hash))
        return held

    async def serve_upload(self, request: Incoming, token: str, issued: str | None, scope: dict,
                           receive: Callable, send: Callable) -> None:
        """Pass an upload on while counting its bytes against the quotas; past them (or when
        the client stalls), the app sees the client leave and the client gets the reason."""
        respond = self.responder(request, token, issued, scope, send)
        declared = declared_length(request.headers) or 0
        try:
            meter = await anyio.to_thread.run_sync(self.storage.open_upload, token, declared)
        except DiskSpaceError as error:
            await send_refusal(send, Refusal(413, error.user_message_in(request.language)), as_json=False,
                               extra=respond.policy_headers())
            return
        metered = MeteredBody(receive, meter, declared, request.language)
        respond.override = lambda: metered.refusal
        with self.holding_claims(request):
            try:
                await self.app(scope, metered.receive, respond)
            except Exception:
                if metered.client_left:  # nobody to answer; Gradio's ClientDisconnect is expected
                    log.info("an upload was dropped by its client")
                elif metered.refusal is None or respond.started:
                    raise
            finally:
                meter.finish(respond.status, files_named=respond.files_named > 0)
        if metered.refusal is not None and not respond.started:
            await send_refusal(send, metered.refusal, as_json=False, extra=respond.policy_headers())

    @staticmethod
    async def serve_metrics(route: metrics.MetricsRoute, request: Incoming, send: Callable) -> None:
        """The Prometheus text, for the bearer of the token only."""
        if not bearer_matches(request.header(b"authorization"), route.token):
            await send_refusal(send, UNAUTHORISED, as_json=False, extra=[(b"www-authenticate", b"Bearer")])
            return
        if request.method not in ("GET", "HEAD"):
            await send_refusal(send, NOT_FOUND, as_json=False)
            return
        body = await anyio.to_thread.run_sync(metrics.exposition, route.registry)  # measures the disk
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", metrics.CONTENT_TYPE.encode()), (b"cache-control", b"no-store")]})
        await send({"type": "http.response.body", "body": body if request.method == "GET" else b""})

    # -- rules --------------------------------------------------------------------------------
    def refusal_before_body(self, request: Incoming) -> Refusal | None:
        if "\x00" in request.path or any("\x00" in key + value for key, value in request.query):
            return NOT_FOUND
        if request.values("deep_link"):
            return NOT_FOUND
        if len(request.values("session_hash")) > 1 or len(request.values("upload_id")) > 1:
            return MALFORMED  # one request, one session: never a list to claim
        match = FILE_ROUTE.search(request.path)
        if match:  # a file path may hold any word, so the route list is not read into it
            return None if may_serve(self.storage, match.group("path"), request.token) else NOT_FOUND
        if UNUSED_ROUTES.search(request.path) or request.path == METRICS_ROUTE:  # metrics off or on their own port
            return NOT_FOUND
        if request.is_upload:
            # The quota is checked against the declared length first; with chunks, h11 would
            # read the body and ignore any length the request declared.
            if request.header(b"transfer-encoding") is not None or declared_length(request.headers) is None:
                return LENGTH_REQUIRED
        request.session_hashes.extend(request.named_hashes())
        return None

    def refusal_for_body(self, request: Incoming, body: bytes) -> Refusal | None:
        if not body.strip():
            return None
        try:
            payload = json.loads(body, object_pairs_hook=_unique_keys)
        except ValueError:
            return MALFORMED
        fields = payload if isinstance(payload, dict) else {}
        named = [fields.get("session_hash")]
        if EVENT_CONTROL_ROUTES.search(request.path):
            named.append(fields.get("event_id"))  # cancelling an event takes its owner
        for value in named:
            if value is not None and not isinstance(value, str):
                return MALFORMED
        request.session_hashes.extend(value for value in named if value)
        for entry in file_entries(payload):  # whatever the shape of the body
            if not self.is_own_file(entry, fields.get("session_hash") or "", request.token):
                return NOT_YOUR_FILE
        return None

    def refusal_for_hashes(self, request: Incoming) -> Refusal | None:
        """Every hash the request names must be claimed by the cookie it sent."""
        for session_hash in request.session_hashes:
            if request.token is None or not self.storage.claim(session_hash, request.token):
                return NOT_YOUR_SESSION
        return None

    def is_own_file(self, entry: dict, session_hash: str, token: str | None) -> bool:
        """A file named as an input: a plain server path (no URL, no inline data) that the
        caller uploaded, or a shipped example."""
        path, url = entry.get("path"), entry.get("url")
        if not isinstance(path, str) or not path or "\x00" in path or URL_SCHEME.match(path) \
                or not plausible_path(path):
            return False
        if url is not None and not (isinstance(url, str) and url.lower().startswith(("http://", "https://"))):
            return False
        return self.storage.may_use(session_hash, token, os.path.abspath(path))

    # -- responses ------------------------------------------------------------------------------
    def responder(self, request: Incoming, token: str, issued: str | None, scope: dict, send: Callable) -> Responder:
        return Responder(self, request, token, issued, is_https(scope, request.headers), send)

    def learn(self, request: Incoming, token: str, body: bytes) -> int:
        """Record what a successful answer says: the paths of an upload (returns how many),
        or the id of a new event."""
        try:
            answer = json.loads(body)
        except ValueError:
            return 0
        if request.is_upload and isinstance(answer, list):
            paths = [p for p in answer if isinstance(p, str)]
            self.storage.register_upload(token, paths)
            return len(paths)
        if isinstance(answer, dict) and isinstance(answer.get("event_id"), str):
            self.storage.claim(answer["event_id"], token)  # only its caller may read its results
        return 0


class Responder:
    """The app's ``send``, wrapped: privacy headers on every response, and the response
    bodies the guard learns from (upload paths, event ids) recorded to the caller's token.
    When ``override`` names a refusal by the time the app answers, that is sent instead."""

    def __init__(self, guard: PrivacyGuard, request: Incoming, token: str, issued: str | None, secure: bool,
                 send: Callable) -> None:
        self.guard, self.request, self.token, self.issued, self.secure = guard, request, token, issued, secure
        self.send = send
        self.override: Callable[[], Refusal | None] = lambda: None  # set for uploads
        self.is_file = bool(FILE_ROUTE.search(request.path))
        self.learns = request.is_upload or (request.method == "POST" and bool(EVENT_ROUTES.search(request.path)))
        self.started = False
        self.status = 0
        self.replaced = False
        self.files_named = 0  # for an upload: how many stored files its answer listed
        self.chunks: list[bytes] = []

    async def __call__(self, message: dict) -> None:
        if self.replaced:
            return  # the app's own answer to a refused upload is dropped
        if message["type"] == "http.response.start":
            self.started = True
            refusal = self.override()
            if refusal is not None:
                self.replaced = True
                await send_refusal(self.send, refusal, as_json=False, extra=self.policy_headers())
                return
            self.status = message["status"]
            message = {**message, "headers": list(message.get("headers", [])) + self.policy_headers()}
        elif message["type"] == "http.response.body" and self.learns and self.status == 200:
            self.chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                self.files_named = self.guard.learn(self.request, self.token, b"".join(self.chunks))
        await self.send(message)

    def policy_headers(self) -> list[tuple[bytes, bytes]]:
        extra = [(b"referrer-policy", b"no-referrer")]
        if self.is_file:
            extra.append((b"cache-control", b"private, no-store"))
        if self.issued:
            extra.append((b"set-cookie", cookie_header(self.issued, self.secure)))
        return extra


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


def may_serve(storage: SessionStorage, requested: str, token: str | None) -> bool:
    """The path as Gradio will open it (made absolute against the working directory, no
    further decoding), checked both lexically and with symlinks resolved. Remote URLs are
    refused: the server must not fetch anything from third parties on a visitor's behalf."""
    if URL_SCHEME.match(requested) or "\x00" in requested or not plausible_path(requested):
        return False
    lexical = os.path.abspath(requested)
    return storage.may_read(lexical, token) and storage.may_read(Path(lexical).resolve(), token)


def bearer_matches(header: bytes | None, token: str) -> bool:
    """``Authorization: Bearer <token>``, the token compared in constant time."""
    scheme, _, given = (header or b"").partition(b" ")
    return scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), token.encode())


def route_path(scope: dict) -> str:
    """The path Gradio's router matches: without the root path a proxy may put in front."""
    path, root = scope.get("path", ""), scope.get("root_path", "")
    return path[len(root):] if root and path.startswith(root) else path
