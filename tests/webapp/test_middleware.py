"""The privacy middleware (the HTTP guard) at the ASGI level: what no HTTP client can send easily (websockets, a root
path, a body that never ends), with a stand-in app that records what got through."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from webapp import bodies
from webapp.cookies import OWNER_COOKIE, owner_token
from webapp.middleware import PrivacyGuard
from webapp.sessions import SessionStorage


class RecordingApp:
    def __init__(self) -> None:
        self.calls: list[dict] = []

    async def __call__(self, scope, receive, send) -> None:
        self.calls.append(scope)
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture()
def storage(tmp_path: Path) -> SessionStorage:
    store = SessionStorage(tmp_path / "root", 60, secret=b"k" * 32)
    store.prepare()
    return store


def run(app, scope: dict, messages: list[dict] | None = None) -> list[dict]:
    sent: list[dict] = []
    pending = list(messages or [{"type": "http.request", "body": b"", "more_body": False}])

    async def receive() -> dict:
        if pending:
            return pending.pop(0)
        await asyncio.sleep(3600)  # a client that never finishes
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


def http_scope(path: str, *, cookie: str | None = None, method: str = "GET", root_path: str = "") -> dict:
    headers = [(b"cookie", f"{OWNER_COOKIE}={cookie}".encode())] if cookie else []
    return {"type": "http", "method": method, "path": path, "root_path": root_path, "query_string": b"",
            "headers": headers, "scheme": "http"}


def status(sent: list[dict]) -> int:
    return next(m["status"] for m in sent if m["type"] == "http.response.start")


def test_websockets_are_closed_before_the_app(storage: SessionStorage) -> None:
    app = RecordingApp()
    sent = run(PrivacyGuard(app, storage), {"type": "websocket", "path": "/gradio_api/queue/data", "headers": []},
               [{"type": "websocket.connect"}])
    assert sent == [{"type": "websocket.close", "code": 1008}] and app.calls == []


def test_file_routes_are_guarded_under_a_root_path_too(storage: SessionStorage) -> None:
    result = storage.new_work_dir("s-alice", "alice", "idphoto") / "photo.jpg"
    result.write_bytes(b"x")
    app = RecordingApp()
    for who, expected in (("mallory", 404), ("alice", 200)):
        scope = http_scope(f"/portrait/gradio_api/file={result}", cookie=who, root_path="/portrait")
        assert status(run(PrivacyGuard(app, storage), scope)) == expected, who


def test_a_body_that_trickles_in_is_cut_off(storage: SessionStorage, monkeypatch) -> None:
    monkeypatch.setattr(bodies, "BODY_READ_TIMEOUT_S", 0.2)
    app = RecordingApp()
    scope = http_scope("/gradio_api/queue/join", cookie="alice", method="POST")
    sent = run(PrivacyGuard(app, storage), scope, [{"type": "http.request", "body": b'{"da', "more_body": True}])
    assert status(sent) == 408 and app.calls == []


@pytest.mark.parametrize("header", ['g_state={"i_l":0}; portrait_lab_owner=T', "x=a b; portrait_lab_owner=T",
                                    "bare; portrait_lab_owner=T", "x=\u00e9; portrait_lab_owner=T"])
def test_the_owner_cookie_is_found_behind_odd_cookies(header: str) -> None:
    assert owner_token([(b"cookie", header.encode("utf-8"))]) == "T"


def test_a_new_visitors_token_joins_their_existing_cookie_header(storage: SessionStorage) -> None:
    app = RecordingApp()
    scope = http_scope("/config")
    scope["headers"] = [(b"cookie", b"theme=dark")]
    sent = run(PrivacyGuard(app, storage), scope)
    (cookies,) = [value for name, value in app.calls[0]["headers"] if name == b"cookie"]
    issued = next(v for k, v in sent[0]["headers"] if k == b"set-cookie").split(b";")[0].split(b"=", 1)[1]
    assert cookies == b"theme=dark; " + OWNER_COOKIE.encode() + b"=" + issued


def test_several_cookie_headers_reach_the_app_as_the_one_the_guard_read(storage: SessionStorage) -> None:
    from starlette.requests import cookie_parser

    app = RecordingApp()
    scope = http_scope("/config")
    scope["headers"] = [(b"cookie", f"{OWNER_COOKIE}=T".encode()), (b"accept", b"*/*"),
                        (b"cookie", f"{OWNER_COOKIE}=U".encode())]
    sent = run(PrivacyGuard(app, storage), scope)
    (cookies,) = [value for name, value in app.calls[0]["headers"] if name == b"cookie"]
    seen_by_app = cookie_parser(cookies.decode())[OWNER_COOKIE]
    assert seen_by_app == owner_token(app.calls[0]["headers"])
    assert not any(name == b"set-cookie" for name, _ in sent[0]["headers"])  # the guard saw a token too


def test_a_full_claim_table_is_not_rescanned_for_every_refusal(storage: SessionStorage, monkeypatch) -> None:
    from webapp import claims

    monkeypatch.setattr(claims, "MAX_CLAIMS_PER_OWNER", 1)
    scans: list[float] = []
    prune = storage.claims.prune
    monkeypatch.setattr(storage.claims, "prune", lambda now: scans.append(now) or prune(now))
    assert storage.claim("first", "mallory")
    for index in range(200):
        assert not storage.claim(f"flood-{index}", "mallory")
    assert len(scans) == 1


def test_a_file_named_in_a_body_of_any_shape_must_be_the_callers(storage: SessionStorage) -> None:
    import json

    app = RecordingApp()
    foreign = [{"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}}]
    for body in (foreign, {"data": foreign}, [[{"nested": foreign}]]):
        scope = http_scope("/gradio_api/call/v2/id_photo", cookie="alice", method="POST")
        sent = run(PrivacyGuard(app, storage), scope,
                   [{"type": "http.request", "body": json.dumps(body).encode(), "more_body": False}])
        assert status(sent) == 400, body
    assert app.calls == []
