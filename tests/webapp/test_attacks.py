"""A second, hostile visitor against a first one, over HTTP, against the real app.

The victim uses the app normally (``gradio_client``). The attacker speaks Gradio's protocol
directly, as a script would, knowing everything a leaked session hash or a shared result
URL gives away: the victim's session hash and upload path. Each attack is tried with no
cookie, a forged cookie and the attacker's own real cookie; each must fail and leave the
victim's files and results untouched.

Every test here failed against the code before the session-hash fix (see SECURITY.md).
"""
from __future__ import annotations

import base64
import io
import logging
import secrets
import socket
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from appserver import random_weight_studio, running_app
from pipeline.core.samples import astronaut
from webapp.quotas import DiskLimits

OWNER_COOKIE = "portrait_lab_owner"
IDENTITIES = ["no cookie", "forged cookie", "own cookie"]
MB = 1024 * 1024
VISITOR_QUOTA = 24 * MB


# -- the two visitors ----------------------------------------------------------------------
@dataclass
class Victim:
    client: Client
    upload: Path
    files: list[Path]

    @property
    def session_hash(self) -> str:
        return self.client.session_hash

    def untouched(self) -> bool:
        return all(path.exists() for path in self.files)


def small_photo(path: Path, seed: int) -> Path:
    rgb = np.ascontiguousarray(astronaut()[10:266, 110:366])
    rgb[:3, :3] = np.random.default_rng(seed).integers(0, 256, (3, 3, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(path)
    return path


def attacker_cookies(url: str, identity: str) -> dict[str, str]:
    if identity == "no cookie":
        return {}
    if identity == "forged cookie":
        return {OWNER_COOKIE: secrets.token_urlsafe(32)}
    cookie = httpx.get(url).cookies.get(OWNER_COOKIE)  # a real visitor's own cookie
    assert cookie
    return {OWNER_COOKIE: cookie}


def call(url: str, method: str, path: str, cookies: dict[str, str], **kwargs) -> httpx.Response:
    """One request with exactly these cookies (nothing the server sets is kept)."""
    with httpx.Client(base_url=url, cookies=cookies, timeout=30) as http:
        return http.request(method, path, **kwargs)


def file_data(path: str | None, **extra) -> dict:
    return {"path": path, "orig_name": "photo.png", "meta": {"_type": "gradio.FileData"}, **extra}


# A raw call sends every input of the event: after the options, a hand fix's stroke mask, the page
# editor's strokes and the session's kept analysis (server-side state: whatever is sent is ignored).
NO_FIX = [None, None, None]


def join(url: str, cookies: dict[str, str], fn_index: int, data: list, session_hash: str | None = None) -> httpx.Response:
    body = {"data": data, "fn_index": fn_index, "session_hash": session_hash or secrets.token_hex(6),
            "event_data": None, "trigger_id": None}
    return call(url, "POST", "gradio_api/queue/join", cookies, json=body)


# -- fixtures ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GRADIO_HEARTBEAT_INTERVAL", "0.5")
        studio = random_weight_studio(tmp_path_factory.mktemp("attack-weights"))
        root = tmp_path_factory.mktemp("attack-root")
        with running_app(root, studio, max_age_s=1800,
                         disk=DiskLimits(visitor_bytes=VISITOR_QUOTA, min_free_bytes=0)) as (app, url):
            yield app, url


@pytest.fixture(scope="module")
def endpoints(server) -> dict[str, int]:
    _, url = server
    return {d["api_name"]: d["id"] for d in httpx.get(url + "config").json()["dependencies"]}


@pytest.fixture()
def victim(server, tmp_path) -> Iterator[Victim]:
    app, url = server
    client = Client(url, verbose=False, download_files=False)
    photo = small_photo(tmp_path / "victim.png", seed=secrets.randbits(32))
    client.predict(handle_file(str(photo)), "colour", "white", "light-blue", None, 0.5, 1.0, "png",
                   api_name="/replace_background")
    files = app.storage.session_files(client.session_hash)
    (upload,) = [f for f in files if not f.is_relative_to(app.storage.sessions_dir)]
    assert len(files) >= 2 and upload.read_bytes() == photo.read_bytes()
    try:
        yield Victim(client, upload, files)
    finally:
        client.close()


def attacker_files(app, session_hash: str) -> list[Path]:
    return app.storage.session_files(session_hash)


# -- 1. deep links ---------------------------------------------------------------------------
@pytest.mark.parametrize("identity", IDENTITIES + ["the victim's cookie"])
def test_deep_links_are_refused(server, victim, identity):
    app, url = server
    cookies = (dict(victim.client.cookies) if identity == "the victim's cookie" else attacker_cookies(url, identity))
    answer = call(url, "GET", "gradio_api/deep_link", cookies, params={"session_hash": victim.session_hash})
    assert answer.status_code == 404, answer.text[:200]
    page = call(url, "GET", "/", cookies, params={"deep_link": answer.text.strip('"') or "x"})
    assert page.status_code == 404 and victim.upload.name not in page.text
    assert not list(app.storage.root.rglob("deep_links"))  # nothing Gradio writes for them


# -- 2. another visitor's upload as an input ------------------------------------------------
def upload_as_input_attempts(upload: str, own: str | None) -> dict[str, tuple[str, list]]:
    return {
        "id photo": ("id_photo", [file_data(upload), "icao_generic", "", 0, "none", True, 0, 0, 0, 0, 0, *NO_FIX]),
        "background": ("replace_background", [file_data(upload), "colour", "white", "light-blue", None, 0.5, 1.0, "png", *NO_FIX]),
        "batch": ("batch", [[file_data(upload)], "background", "icao_generic", 1.0, "white"]),
        "background picture": ("replace_background",
                               [file_data(own), "image", "white", "light-blue", file_data(upload), 0.5, 1.0, "png", *NO_FIX]),
    }


def own_upload(url: str, cookies: dict[str, str], tmp_path: Path) -> str:
    photo = small_photo(tmp_path / "mine.png", seed=secrets.randbits(32))
    answer = call(url, "POST", "gradio_api/upload", cookies, files={"files": ("mine.png", photo.read_bytes())})
    assert answer.status_code == 200, answer.text
    return answer.json()[0]


@pytest.mark.parametrize("attempt", ["id photo", "background", "batch", "background picture"])
def test_another_visitors_upload_is_refused_as_an_input(server, endpoints, victim, attempt, tmp_path):
    app, url = server
    cookies = attacker_cookies(url, "own cookie")
    api_name, data = upload_as_input_attempts(str(victim.upload), own_upload(url, cookies, tmp_path))[attempt]
    session_hash = secrets.token_hex(6)
    answer = join(url, cookies, endpoints[api_name], data, session_hash)
    assert answer.status_code == 400, answer.text[:300]
    assert "Please upload it again" in answer.json()["detail"]  # what Gradio's page shows the visitor
    time.sleep(0.5)
    assert attacker_files(app, session_hash) == []  # nothing was processed for the attacker
    assert victim.untouched()


@pytest.mark.parametrize("identity", IDENTITIES)
def test_upload_path_is_refused_as_an_input_whoever_asks(server, endpoints, victim, identity):
    app, url = server
    session_hash = secrets.token_hex(6)
    data = upload_as_input_attempts(str(victim.upload), None)["background"][1]
    answer = join(url, attacker_cookies(url, identity), endpoints["replace_background"], data, session_hash)
    assert answer.status_code in (400, 404), answer.text[:300]
    time.sleep(0.5)
    assert attacker_files(app, session_hash) == [] and victim.untouched()


# -- 3. ending or emptying another session -------------------------------------------------
@pytest.mark.parametrize("identity", IDENTITIES)
def test_another_sessions_heartbeat_is_refused(server, victim, identity):
    _, url = server
    with httpx.Client(base_url=url, cookies=attacker_cookies(url, identity), timeout=10) as http:
        with http.stream("GET", f"gradio_api/heartbeat/{victim.session_hash}") as stream:
            status = stream.status_code
            if status == 200:
                next(stream.iter_bytes())  # the attacker listens, then hangs up
    assert status == 404
    time.sleep(2)  # the server notices a dropped heartbeat within a second (0.5 s interval)
    assert victim.untouched()


@pytest.mark.parametrize("identity", IDENTITIES)
def test_delete_with_another_sessions_hash_is_refused(server, endpoints, victim, identity):
    _, url = server
    body = {"data": [], "fn_index": endpoints["delete_my_files"], "session_hash": victim.session_hash}
    answer = call(url, "POST", "gradio_api/run/delete_my_files", attacker_cookies(url, identity), json=body)
    assert answer.status_code == 404, answer.text[:300]
    cancel = call(url, "POST", "gradio_api/cancel", attacker_cookies(url, identity),
                  json={"session_hash": victim.session_hash, "fn_index": endpoints["replace_background"],
                        "event_id": "x"})
    assert cancel.status_code == 404
    assert victim.untouched()


# -- 4. listening to another session's results -----------------------------------------------
@pytest.mark.parametrize("identity", IDENTITIES)
def test_another_sessions_queue_is_refused(server, victim, identity, tmp_path):
    _, url = server
    with httpx.Client(base_url=url, cookies=attacker_cookies(url, identity), timeout=10) as http:
        with http.stream("GET", "gradio_api/queue/data", params={"session_hash": victim.session_hash}) as stream:
            status = stream.status_code
    assert status == 404
    # The victim still gets their own result.
    photo = small_photo(tmp_path / "again.png", seed=secrets.randbits(32))
    image, *_ = victim.client.predict(handle_file(str(photo)), "colour", "white", "light-blue", None, 0.5, 1.0,
                                      "png", api_name="/replace_background")
    assert Path(image["path"]).is_file()


def test_another_visitors_event_results_are_refused(server, endpoints, victim, tmp_path):
    _, url = server
    mine = dict(victim.client.cookies)
    upload = own_upload(url, mine, tmp_path)
    answer = join(url, mine, endpoints["replace_background"],
                  [file_data(upload), "colour", "white", "light-blue", None, 0.5, 1.0, "png", *NO_FIX], victim.session_hash)
    assert answer.status_code == 200, answer.text
    event_id = answer.json()["event_id"]
    for identity in IDENTITIES:  # Gradio's /call results route takes any event id as a session
        route = f"gradio_api/call/replace_background/{event_id}"
        assert call(url, "GET", route, attacker_cookies(url, identity)).status_code == 404, identity
    with httpx.Client(base_url=url, cookies=mine, timeout=60) as http:
        with http.stream("GET", "gradio_api/queue/data", params={"session_hash": victim.session_hash}) as stream:
            assert stream.status_code == 200
            for line in stream.iter_lines():
                if '"process_completed"' in line:
                    assert '"success":true' in line.replace(" ", ""), line[:300]
                    break


# -- 5-6. inline data, missing paths and remote URLs -----------------------------------------
PNG_DATA_URL = "data:image/png;base64," + base64.b64encode(
    (lambda buffer: (Image.new("RGB", (64, 64), "white").save(buffer, "PNG"), buffer.getvalue())[1])(io.BytesIO())
).decode()


@pytest.mark.parametrize("variant", ["data url, no path", "data url beside a real path", "url only", "null path"])
def test_inline_data_and_missing_paths_are_refused(server, endpoints, variant, tmp_path):
    app, url = server
    cookies = attacker_cookies(url, "own cookie")
    mine = own_upload(url, cookies, tmp_path)
    entry = {"data url, no path": file_data(None, url=PNG_DATA_URL),
             "data url beside a real path": file_data(mine, url=PNG_DATA_URL),
             "url only": {"url": PNG_DATA_URL, "meta": {"_type": "gradio.FileData"}},
             "null path": file_data(None)}[variant]
    session_hash = secrets.token_hex(6)
    answer = join(url, cookies, endpoints["replace_background"],
                  [entry, "colour", "white", "light-blue", None, 0.5, 1.0, "png", *NO_FIX], session_hash)
    assert answer.status_code == 400, answer.text[:300]
    time.sleep(0.5)
    assert attacker_files(app, session_hash) == []


@pytest.fixture()
def bystander_server() -> Iterator[tuple[str, list[str]]]:
    """A web server on 127.0.0.1 standing in for any host a visitor could name."""
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
            hits.append(self.path)
            self.send_response(200)
            self.send_header("content-type", "image/png")
            self.end_headers()
            self.wfile.write(base64.b64decode(PNG_DATA_URL.split(",", 1)[1]))

        def log_message(self, *args) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", hits
    finally:
        httpd.shutdown()


def test_remote_urls_are_never_fetched(server, endpoints, bystander_server):
    app, url = server
    remote, hits = bystander_server
    cookies = attacker_cookies(url, "own cookie")
    session_hash = secrets.token_hex(6)
    entry = file_data(f"{remote}/photo.png", url=f"{remote}/photo.png")
    answer = join(url, cookies, endpoints["replace_background"],
                  [entry, "colour", "white", "light-blue", None, 0.5, 1.0, "png", *NO_FIX], session_hash)
    assert answer.status_code == 400, answer.text[:300]
    for route in (f"gradio_api/file={remote}/photo.png", f"gradio_api/proxy={remote}/photo.png"):
        assert call(url, "GET", route, cookies).status_code == 404
    time.sleep(1)
    assert hits == []
    assert attacker_files(app, session_hash) == []


# -- body limits ----------------------------------------------------------------------------
@pytest.mark.parametrize("route", ["gradio_api/queue/join", "gradio_api/run/delete_my_files", "gradio_api/cancel"])
def test_oversized_bodies_are_refused_unread(server, route):
    _, url = server
    cookies = attacker_cookies(url, "own cookie")
    padding = {"data": ["x" * (2 * MB)], "session_hash": secrets.token_hex(6), "fn_index": 0}
    assert call(url, "POST", route, cookies, json=padding).status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: refused while reading
        yield b'{"data": ["'
        for _ in range(64):
            yield b"x" * 65536
        yield b'"]}'

    assert call(url, "POST", route, cookies, content=chunks()).status_code == 413


# -- zips that fill the disk ------------------------------------------------------------------
def zip_of(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def run_batch(url: str, zip_path: Path) -> tuple[Client, str, list[list]]:
    client = Client(url, verbose=False, download_files=False)
    summary, _gallery, table, _downloads, _report = client.predict([handle_file(str(zip_path))], "background",
                                                          "icao_generic", 1.0, "white", api_name="/batch")
    return client, summary, table["data"]


def test_a_compressible_zip_is_refused_whole(server, tmp_path):
    app, url = server
    members = {f"photo-{i:03d}.png": bytes(900 * 1024) for i in range(300)}  # 264 MB of zeros, under 1 MB each
    bomb = tmp_path / "bomb.zip"
    bomb.write_bytes(zip_of(members))
    assert bomb.stat().st_size < MB
    client, _summary, rows = run_batch(url, bomb)
    try:
        folder = app.storage.sessions_dir / app.storage.session_key(client.session_hash)
        stored = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        assert stored < 2 * MB, f"{stored / MB:.0f} MB written for a {bomb.stat().st_size / 1024:.0f} KB upload"
        assert any("zip bomb" in " ".join(map(str, row)) or "inflates" in " ".join(map(str, row)) for row in rows), rows
    finally:
        client.close()


def test_a_zip_beyond_the_visitors_quota_is_refused_and_nothing_stays(server, tmp_path):
    app, url = server
    rng = np.random.default_rng(5)
    members = {f"photo-{i}.jpg": rng.integers(0, 256, 3 * MB, dtype=np.uint8).tobytes() for i in range(5)}
    archive = tmp_path / "large.zip"
    archive.write_bytes(zip_of(members))  # 15 MB that does not compress, 30 MB with its unpacked copy
    client, _summary, rows = run_batch(url, archive)
    try:
        text = " ".join(" ".join(map(str, row)) for row in rows)
        assert "limit" in text, rows
        folder = app.storage.sessions_dir / app.storage.session_key(client.session_hash)
        assert not list(folder.rglob("inputs/*")), "extracted inputs outlived the job"
        assert app.storage.usage(client.cookies[OWNER_COOKIE]) <= VISITOR_QUOTA
    finally:
        client.close()


# -- odd requests ------------------------------------------------------------------------------
@pytest.mark.parametrize("route", ["gradio_api/file=%00", "gradio_api/file=/tmp/x%00.png", "gradio_api/file/%00",
                                   "gradio_api/queue/data?session_hash=%00"])
def test_a_nul_byte_gets_404_and_no_traceback(server, route, capfd):
    _, url = server
    assert call(url, "GET", route, attacker_cookies(url, "own cookie")).status_code == 404
    assert "Traceback" not in capfd.readouterr().err


def test_a_photo_over_pillows_bomb_limit_gets_the_apps_own_sentence(server, tmp_path):
    _, url = server
    huge = tmp_path / "huge.png"
    Image.new("1", (14_000, 13_000)).save(huge, optimize=True)  # 182 MP: over Pillow's 179 MP error limit
    assert huge.stat().st_size < 2 * MB
    client = Client(url, verbose=False, download_files=False)
    try:
        with pytest.raises(AppError) as refused:
            client.predict(handle_file(str(huge)), "icao_generic", "", 0, "none", api_name="/id_photo")
    finally:
        client.close()
    assert "14000×13000" in refused.value.message and "the limit is 40 MP" in refused.value.message, \
        refused.value.message


@pytest.mark.parametrize("route", ["gradio_api/component_server", "gradio_api/process_recording"])
def test_routes_the_app_does_not_use_are_closed(server, route):
    _, url = server
    answer = call(url, "POST", route, attacker_cookies(url, "own cookie"), json={"session_hash": "x"})
    assert answer.status_code == 404


# -- found by the review of the first fix ------------------------------------------------------
@pytest.mark.parametrize("route", ["gradio_api/run/upload", "gradio_api/api/upload/"])
def test_a_route_merely_named_upload_is_not_an_upload(server, endpoints, victim, route):
    _, url = server
    cookies = attacker_cookies(url, "own cookie")
    body = {"fn_index": endpoints["delete_my_files"], "session_hash": victim.session_hash, "data": []}
    assert call(url, "POST", route, cookies, json=body).status_code == 404
    padding = {"data": ["x" * (2 * MB)], "session_hash": secrets.token_hex(6), "fn_index": 0}
    assert call(url, "POST", route, cookies, json=padding).status_code == 413
    assert victim.untouched()


def test_model_endpoints_do_not_run_beside_the_queue(server, endpoints, tmp_path):
    app, url = server
    cookies = attacker_cookies(url, "own cookie")
    session_hash = secrets.token_hex(6)
    body = {"fn_index": endpoints["replace_background"], "session_hash": session_hash,
            "data": [file_data(own_upload(url, cookies, tmp_path)), "colour", "white", "light-blue", None, 0.5, 1.0,
                     "png", *NO_FIX]}
    answer = call(url, "POST", "gradio_api/run/replace_background", cookies, json=body)
    assert answer.status_code == 404, answer.text[:200]
    assert attacker_files(app, session_hash) == []


def test_cancelling_another_visitors_event_is_refused(server, endpoints, victim, tmp_path):
    _, url = server
    mine = dict(victim.client.cookies)
    answer = join(url, mine, endpoints["replace_background"],
                  [file_data(own_upload(url, mine, tmp_path)), "colour", "white", "light-blue", None, 0.5, 1.0, "png", *NO_FIX],
                  victim.session_hash)
    event_id = answer.json()["event_id"]
    for identity in IDENTITIES:
        body = {"session_hash": secrets.token_hex(6), "fn_index": endpoints["replace_background"], "event_id": event_id}
        assert call(url, "POST", "gradio_api/cancel", attacker_cookies(url, identity), json=body).status_code == 404


def test_another_visitors_upload_progress_is_refused(server, tmp_path):
    _, url = server
    mine = attacker_cookies(url, "own cookie")  # here: the victim's own real cookie
    upload_id = secrets.token_hex(6)
    photo = small_photo(tmp_path / "passport_Jane_Doe.png", seed=secrets.randbits(32))
    answer = call(url, "POST", "gradio_api/upload", mine, params={"upload_id": upload_id},
                  files={"files": (photo.name, photo.read_bytes())})
    assert answer.status_code == 200
    for identity in IDENTITIES:
        progress = call(url, "GET", "gradio_api/upload_progress", attacker_cookies(url, identity),
                        params={"upload_id": upload_id})
        assert progress.status_code == 404 and "Jane_Doe" not in progress.text, identity


def test_one_request_names_one_session_and_only_where_gradio_reads_it(server, victim):
    _, url = server
    cookies = attacker_cookies(url, "own cookie")
    hashes = [secrets.token_hex(6) for _ in range(3)]
    flood = call(url, "GET", "gradio_api/queue/data", cookies, params=[("session_hash", h) for h in hashes])
    assert flood.status_code == 400
    free = secrets.token_hex(6)
    assert call(url, "GET", "config", cookies, params={"session_hash": free}).status_code == 200
    newcomer = attacker_cookies(url, "own cookie")  # the hash named on /config was not taken from anyone
    with httpx.Client(base_url=url, cookies=newcomer, timeout=10) as http:
        with http.stream("GET", "gradio_api/queue/data", params={"session_hash": free}) as stream:
            assert stream.status_code == 200


def test_uploads_must_declare_their_size_and_fit_the_quota_together(server, tmp_path):
    _, url = server
    cookies = attacker_cookies(url, "own cookie")
    noise = np.random.default_rng(9).integers(0, 256, 10 * MB, dtype=np.uint8).tobytes()

    def chunked() -> Iterator[bytes]:
        yield b"--b\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a.jpg\"\r\n\r\n"
        yield noise
        yield b"\r\n--b--\r\n"

    chunked_answer = call(url, "POST", "gradio_api/upload", cookies, content=chunked(),
                          headers={"content-type": "multipart/form-data; boundary=b"})
    assert chunked_answer.status_code == 411
    results: list[int] = []

    def upload(index: int) -> None:
        results.append(call(url, "POST", "gradio_api/upload", cookies,
                            files={"files": (f"part-{index}.jpg", noise + bytes([index]))}).status_code)

    threads = [threading.Thread(target=upload, args=(i,)) for i in range(4)]  # 40 MB against a 24 MB quota
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results).count(200) <= 2 and 413 in results, results


def test_an_odd_cookie_before_ours_does_not_hide_the_visitor(server, victim):
    _, url = server
    token = victim.client.cookies[OWNER_COOKIE]
    header = f'g_state={{"i_l":0}}; x=a b; {OWNER_COOKIE}={token}'
    with httpx.Client(base_url=url, timeout=10, headers={"cookie": header}) as http:
        with http.stream("GET", "gradio_api/queue/data", params={"session_hash": victim.session_hash}) as stream:
            assert stream.status_code == 200


# -- found by the second review -----------------------------------------------------------------
def raw_upload_headers(url: str, cookie: str, declared: int, extra: str = "") -> bytes:
    host = url.split("//", 1)[1].rstrip("/")
    return (f"POST /gradio_api/upload HTTP/1.1\r\nHost: {host}\r\nCookie: {OWNER_COOKIE}={cookie}\r\n"
            f"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: {declared}\r\n{extra}\r\n").encode()


def open_socket(url: str) -> socket.socket:
    host, port = url.split("//", 1)[1].rstrip("/").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def test_a_declared_length_beside_chunks_is_refused(server):
    app, url = server
    cookie = attacker_cookies(url, "own cookie")[OWNER_COOKIE]
    part = b'--b\r\nContent-Disposition: form-data; name="files"; filename="a.jpg"\r\n\r\n' + bytes(3 * MB) + b"\r\n--b--\r\n"
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(part), part)
    with open_socket(url) as connection:
        connection.sendall(raw_upload_headers(url, cookie, 1, "Transfer-Encoding: chunked\r\n") + chunked)
        status_line = connection.recv(4096).split(b"\r\n", 1)[0]
    assert status_line.split()[1] in (b"400", b"411"), status_line
    assert app.storage.usage(cookie) == 0


def test_an_upload_that_sends_nothing_holds_no_quota(server, tmp_path):
    _, url = server
    cookies = attacker_cookies(url, "own cookie")
    with open_socket(url) as idle:  # declares 20 of the 24 MB, then sends nothing
        idle.sendall(raw_upload_headers(url, cookies[OWNER_COOKIE], 20 * MB))
        time.sleep(0.5)
        photo = np.random.default_rng(3).integers(0, 256, 10 * MB, dtype=np.uint8).tobytes()
        answer = call(url, "POST", "gradio_api/upload", cookies, files={"files": ("big.jpg", photo)})
        assert answer.status_code == 200, answer.text


def test_measuring_the_disk_does_not_stall_other_visitors(server, monkeypatch, tmp_path):
    app, url = server
    measure = app.storage.open_upload

    def slow_open_upload(*args, **kwargs):
        time.sleep(1.5)  # as on a root holding many files
        return measure(*args, **kwargs)

    monkeypatch.setattr(app.storage, "open_upload", slow_open_upload)
    cookies = attacker_cookies(url, "own cookie")
    photo = small_photo(tmp_path / "p.png", seed=1)
    uploader = threading.Thread(target=call, args=(url, "POST", "gradio_api/upload", cookies),
                                kwargs={"files": {"files": ("p.png", photo.read_bytes())}})
    uploader.start()
    time.sleep(0.3)
    started = time.monotonic()
    assert httpx.get(url + "config").status_code == 200
    waited = time.monotonic() - started
    uploader.join()
    assert waited < 0.8, f"a page request waited {waited:.1f} s behind an upload's disk check"


# -- found by the third review --------------------------------------------------------------
def test_an_upload_the_client_drops_leaves_no_traceback(server, capfd, caplog):
    _, url = server
    caplog.set_level(logging.INFO)
    cookie = attacker_cookies(url, "own cookie")[OWNER_COOKIE]
    with open_socket(url) as connection:
        connection.sendall(raw_upload_headers(url, cookie, MB) + b'--b\r\nContent-Disposition: form-data; '
                           b'name="files"; filename="a.jpg"\r\n\r\n' + bytes(100_000))
        time.sleep(0.3)
    time.sleep(1)
    err = capfd.readouterr().err
    assert "Traceback" not in err and "ClientDisconnect" not in err, err[-2000:]
    assert not [r for r in caplog.records if r.exc_info or "Exception in ASGI" in r.getMessage()], caplog.text[-2000:]
    assert "an upload was dropped by its client" in caplog.text


def test_a_stalled_upload_is_cut_off(server, monkeypatch):
    from webapp import bodies

    _, url = server
    monkeypatch.setattr(bodies, "UPLOAD_IDLE_TIMEOUT_S", 0.5)
    cookie = attacker_cookies(url, "own cookie")[OWNER_COOKIE]
    with open_socket(url) as connection:
        connection.sendall(raw_upload_headers(url, cookie, MB) + b'--b\r\nContent-Disposition: form-data; '
                           b'name="files"; filename="a.jpg"\r\n\r\n' + bytes(1000))
        started = time.monotonic()
        status_line = connection.recv(4096).split(b"\r\n", 1)[0]
    assert status_line.split()[1] == b"408", status_line
    assert time.monotonic() - started < 5
