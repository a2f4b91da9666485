"""The web app's privacy promises, checked against the real server over HTTP.

Each promise of the Privacy tab and the README has its own test: files live only as long
as the session (closed client, "Delete my files now", the sweeper, start-up cleanup),
another visitor's file URLs are refused, outputs carry no EXIF/GPS, logs name no files,
sessions or tokens, and the retention limit is configurable but never above a day.

A browser closing its tab drops the heartbeat connection at once; ``gradio_client``'s
``close()`` only stops its heartbeat thread at the next heartbeat message, so the server's
heartbeat interval (Gradio's ``GRADIO_HEARTBEAT_INTERVAL``, 15 s by default) is shortened
here to see the session end within a second or two, as a browser's would.
"""
from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import httpx
import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

import app as launcher
from appserver import random_weight_studio, running_app
from pipeline.core import settings
from pipeline.core.errors import InvalidOptionError
from pipeline.core.samples import astronaut
from webapp.config import load_config
from webapp.server import gradio_cache_schedule
from webapp.sessions import ROOT_MARKER

OWNER_COOKIE = "portrait_lab_owner"
SECRET_MAKE = "SecretCam"
SECRET_MODEL = "SecretModel-X1"
# The astronaut (a few corner pixels its own per test) goes through the jobs several times:
# GFPGAN and ParseNet answer the same aligned face once (tests/network_answers.py); what is checked
# here (files, sessions, metadata, logs) is made by every request in full.
pytestmark = pytest.mark.usefixtures("networks_answer_once")


# -- helpers -------------------------------------------------------------------------------
def wait_until(condition: Callable[[], bool], timeout: float, step: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()


def unique_photo(path: Path, seed: int, *, crop: bool = False, exif: bytes | None = None) -> Path:
    """The astronaut with a few pixels of its own: uploads are stored by content hash, so
    every test that follows one upload's life needs content no other test sends."""
    rgb = astronaut()
    if crop:
        rgb = rgb[10:266, 110:366]  # 256x256 around the face: fast to process
    rgb = np.ascontiguousarray(rgb)
    rgb[:3, :3] = np.random.default_rng(seed).integers(0, 256, (3, 3, 3), dtype=np.uint8)
    image = Image.fromarray(rgb)
    if path.suffix.lower() in (".jpg", ".jpeg"):
        image.save(path, "JPEG", quality=95, **({"exif": exif} if exif else {}))
    else:
        image.save(path)
    return path


def file_url(base: str, path: str | Path) -> str:
    return f"{base}gradio_api/file={path}"


def get(url: str, cookies: dict[str, str] | None = None) -> httpx.Response:
    with httpx.Client(cookies=cookies or {}) as http:
        return http.get(url)


def uploads_of(app, session_hash: str) -> list[Path]:
    return [p for p in app.storage.session_files(session_hash) if not p.is_relative_to(app.storage.sessions_dir)]


def session_dir(app, session_hash: str) -> Path:
    return app.storage.sessions_dir / app.storage.session_key(session_hash)


def make_background(client: Client, photo: Path, mode: str = "colour", fmt: str = "png"):
    return client.predict(handle_file(str(photo)), mode, "white", "light-blue", None, 0.5, 1.0, fmt,
                          api_name="/replace_background")


# -- fixtures ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fast_heartbeat():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GRADIO_HEARTBEAT_INTERVAL", "0.5")
        yield


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    return random_weight_studio(tmp_path_factory.mktemp("privacy-weights"))


@pytest.fixture(scope="module")
def leftovers(tmp_path_factory) -> dict[str, Path]:
    """What a crashed server could have left in the temporary root, written before start-up."""
    root = tmp_path_factory.mktemp("privacy-root")
    outside = tmp_path_factory.mktemp("outside") / "keep-me.txt"
    outside.write_text("not ours to delete", encoding="utf-8")
    paths = {
        "upload": root / "0f1e2d3c4b5a" / "holiday.jpg",
        "session output": root / "sessions" / "a1b2c3d4" / "idphoto-123456" / "us_passport.jpg",
        "stray file": root / "stray.bin",
        "old example": root / "examples" / "old-example.png",
        "gradio cache": root / "9a8b7c" / "nested" / "deeper" / "result.webp",
    }
    for path in paths.values():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"leftover")
    (root / "link-out").symlink_to(outside)
    paths["symlink"] = root / "link-out"
    (root / ROOT_MARKER).write_text("left by an earlier run")  # only a root we created is emptied
    return {"root": root, "outside": outside, **paths}


@pytest.fixture(scope="module")
def server(studio, leftovers, fast_heartbeat):
    with running_app(leftovers["root"], studio, max_age_s=1800) as (app, url):
        yield app, url


@pytest.fixture()
def clients(server, tmp_path):
    """Make clients (each its own session and owner cookie); all closed afterwards."""
    _, url = server
    made: list[Client] = []

    def make(**kwargs) -> Client:
        kwargs.setdefault("download_files", str(tmp_path / f"downloads-{len(made)}"))
        client = Client(url, verbose=False, **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


# -- start-up ------------------------------------------------------------------------------
def test_startup_deletes_leftovers_and_writes_the_example(server, leftovers):
    app, _ = server
    for name in ("upload", "session output", "stray file", "old example", "gradio cache", "symlink"):
        assert not os.path.lexists(leftovers[name]), f"{name} survived start-up"
    assert not (leftovers["root"] / "0f1e2d3c4b5a").exists()
    assert not (leftovers["root"] / "sessions" / "a1b2c3d4").exists()
    assert leftovers["outside"].read_text(encoding="utf-8") == "not ours to delete"  # a link is not followed
    assert app.storage.examples_dir.is_dir()
    assert (app.storage.examples_dir / "astronaut.png").is_file()
    assert app.storage.sessions_dir.is_dir()


# -- session end -----------------------------------------------------------------------------
def test_files_are_deleted_when_the_session_closes(server, clients, tmp_path):
    app, _ = server
    client = clients()
    photo = unique_photo(tmp_path / "portrait.png", seed=1)
    client.predict(handle_file(str(photo)), "icao_generic", "", None, "4x6", api_name="/id_photo")

    folder = session_dir(app, client.session_hash)
    files = app.storage.session_files(client.session_hash)
    uploads = uploads_of(app, client.session_hash)
    assert folder.is_dir()
    assert len([f for f in files if f.is_relative_to(folder)]) >= 6  # photo, overlay, reports, sheet png+pdf
    assert len(uploads) == 1 and uploads[0].name == "portrait.png" and uploads[0].is_file()
    assert all(f.exists() for f in files)

    client.close()
    assert wait_until(lambda: not folder.exists() and not any(f.exists() for f in files), timeout=10), \
        [str(f) for f in files if f.exists()]
    assert not uploads[0].parent.exists()  # the upload's content-hash folder went with it
    assert app.storage.session_files(client.session_hash) == []


# -- "Delete my files now" ---------------------------------------------------------------------
def test_delete_my_files_empties_only_this_session(server, clients, tmp_path):
    app, url = server
    mine, theirs = clients(), clients(download_files=False)
    make_background(mine, unique_photo(tmp_path / "mine.png", seed=2, crop=True))
    theirs_result, *_ = make_background(theirs, unique_photo(tmp_path / "theirs.png", seed=3, crop=True))
    my_files = app.storage.session_files(mine.session_hash)
    their_files = app.storage.session_files(theirs.session_hash)
    assert len(my_files) >= 2 and len(their_files) >= 2
    assert len(uploads_of(app, mine.session_hash)) == 1

    status, *_ = mine.predict(api_name="/delete_my_files")
    assert status == f"Deleted {len(my_files)} file(s) of this session from the server."
    assert not any(f.exists() for f in my_files)  # at once, not eventually
    assert not session_dir(app, mine.session_hash).exists()
    assert all(f.exists() for f in their_files)
    assert get(theirs_result["url"], theirs.cookies).status_code == 200

    # The session stays usable after the deletion.
    make_background(mine, unique_photo(tmp_path / "mine-again.png", seed=4, crop=True))
    assert app.storage.session_files(mine.session_hash)


@pytest.mark.parametrize("deleted", ["before the job writes", "after the job wrote"])
def test_delete_my_files_during_a_job_ends_it_with_a_sentence_and_keeps_nothing(
        server, studio, clients, tmp_path, monkeypatch, deleted):
    """The files go at once, even under a running job; the job's result goes with them, and the
    visitor hears why (not a write error about a folder), in the page's own words."""
    import threading

    app, _ = server
    job_waits, deletion_done = threading.Event(), threading.Event()
    make = studio.replace_background

    def slow_job(*args, **kwargs):
        outcome = make(*args, **kwargs) if deleted == "after the job wrote" else None
        job_waits.set()
        deletion_done.wait(30)
        return outcome or make(*args, **kwargs)

    monkeypatch.setattr(studio, "replace_background", slow_job)
    mine = clients(download_files=False)
    job = mine.submit(handle_file(str(unique_photo(tmp_path / "busy.png", seed=11, crop=True))), "colour",
                      "white", "light-blue", None, 0.5, 1.0, "png", api_name="/replace_background")
    assert job_waits.wait(60)
    status, *_ = mine.predict(api_name="/delete_my_files")
    assert status.startswith("Deleted ")
    deletion_done.set()
    with pytest.raises(AppError) as failure:
        job.result(timeout=60)
    assert str(failure.value).startswith("Your files were deleted while this was being made")
    assert app.storage.session_files(mine.session_hash) == []


# -- other visitors' URLs ------------------------------------------------------------------------
def test_another_sessions_file_urls_are_refused(server, clients, tmp_path):
    app, url = server
    owner, stranger = clients(download_files=False), clients(download_files=False)
    assert owner.cookies[OWNER_COOKIE] and stranger.cookies[OWNER_COOKIE]
    assert owner.cookies[OWNER_COOKIE] != stranger.cookies[OWNER_COOKIE]

    photo = unique_photo(tmp_path / "owner.png", seed=5)
    _, result, overlay, *_ = owner.predict(handle_file(str(photo)), "icao_generic", "", None, "none",
                                           api_name="/id_photo")
    (upload,) = uploads_of(app, owner.session_hash)
    for target in (result["url"], overlay["url"], file_url(url, upload)):
        mine = get(target, owner.cookies)
        assert mine.status_code == 200, target
        assert mine.headers["cache-control"] == "private, no-store"
        assert len(mine.content) > 1000
        assert get(target, stranger.cookies).status_code == 404, target
        assert get(target).status_code == 404, target  # no cookie at all
        assert get(target, {OWNER_COOKIE: "forged-token"}).status_code == 404, target
    assert upload.read_bytes() == photo.read_bytes()
    # Gradio's other file route, and a doubly-encoded traversal: same answer.
    for target in (f"{url}gradio_api/file/{result['path']}",
                   f"{url}gradio_api/file={Path(result['path']).parent}/%252f..%252f..%252fz/../{Path(result['path']).name}"):
        assert get(target, owner.cookies).status_code == 200, target
        assert get(target, stranger.cookies).status_code == 404, target
    # Remote URLs are never fetched on a visitor's behalf.
    assert get(f"{url}gradio_api/file=https://example.com/x.png", owner.cookies).status_code == 404


# -- metadata ------------------------------------------------------------------------------------
@pytest.fixture()
def photo_with_gps(tmp_path) -> Path:
    exif = Image.Exif()
    exif[0x010F] = SECRET_MAKE  # Make
    exif[0x0110] = SECRET_MODEL  # Model
    exif[0x0131] = "SecretSoftware"
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (51.0, 28.0, 40.0)  # GPSLatitudeRef, GPSLatitude
    gps[3], gps[4] = "W", (0.0, 7.0, 39.0)  # GPSLongitudeRef, GPSLongitude
    path = unique_photo(tmp_path / "with-gps.jpg", seed=6, exif=exif.tobytes())
    # The input really carries what must not come out.
    with Image.open(path) as check:
        read = check.getexif()
        assert read[0x010F] == SECRET_MAKE
        assert read.get_ifd(0x8825)[1] == "N"
    assert SECRET_MAKE.encode() in path.read_bytes()
    return path


def assert_no_metadata(path: str | Path) -> None:
    data = Path(path).read_bytes()
    for secret in (SECRET_MAKE, SECRET_MODEL, "SecretSoftware"):
        assert secret.encode() not in data, (path, secret)
    if data.startswith(b"%PDF"):
        return
    assert b"Exif\x00\x00" not in data, path  # no EXIF block in JPEG or WebP
    with Image.open(path) as image:
        exif = image.getexif()
        assert 0x010F not in exif and 0x0110 not in exif and 0x8825 not in exif, (path, dict(exif))
        assert not exif.get_ifd(0x8825), path
        assert "exif" not in image.info and "xmp" not in image.info, (path, list(image.info))


def test_outputs_carry_no_exif_or_gps(clients, photo_with_gps):
    client = clients()
    outputs: list[str] = []
    _, result, overlay, _, sheet, files = client.predict(handle_file(str(photo_with_gps)), "icao_generic", "",
                                                         None, "4x6", api_name="/id_photo")
    outputs += [result, overlay, sheet, *[f for f in files if not f.endswith((".txt", ".json"))]]
    assert any(f.endswith(".pdf") for f in outputs)
    pair, download, _ = client.predict(handle_file(str(photo_with_gps)), "gfpgan-v1.4", 0.5, 1, False, "auto", "jpg",
                                       api_name="/restore")
    outputs += [*pair, download["value"]]
    for mode, fmt in (("colour", "jpg"), ("transparent", "png"), ("blur", "webp")):
        image, download, _ = make_background(client, photo_with_gps, mode, fmt)
        outputs += [image, download["value"]]
    assert len(outputs) >= 12
    for path in outputs:
        assert_no_metadata(path)


# -- logs -----------------------------------------------------------------------------------------
def test_logs_name_no_files_sessions_or_tokens(server, clients, tmp_path, caplog):
    app, _ = server
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="portrait_lab")
    client = clients()
    secret = unique_photo(tmp_path / "secret-name-12345.jpg", seed=7)
    unreadable = tmp_path / "secret-name-67890.png"
    unreadable.write_text("not a picture", encoding="utf-8")

    client.predict(handle_file(str(secret)), "icao_generic", "", None, "none", api_name="/id_photo")
    make_background(client, secret)
    with pytest.raises(AppError):
        make_background(client, secret, "transparent", "jpg")
    with pytest.raises(AppError):
        client.predict(handle_file(str(unreadable)), "icao_generic", "", None, "none", api_name="/id_photo")
    client.predict(api_name="/delete_my_files")
    session_hash, token = client.session_hash, client.cookies[OWNER_COOKIE]
    client.close()
    assert wait_until(lambda: "job=session-end status=ok" in caplog.text, timeout=10)

    text = caplog.text + "\n".join(str(r.args) for r in caplog.records)
    for job in ("job=idphoto status=ok", "job=background status=ok", "job=background status=refused",
                "job=delete status=ok", "job=session-end status=ok"):
        assert job in text, job
    forbidden = {"file name": "secret-name", "session id": session_hash, "owner token": token,
                 "temporary root": str(app.storage.root), "session key": app.storage.session_key(session_hash)}
    for what, value in forbidden.items():
        assert value not in text, f"the log names the {what}"


# -- retention settings ----------------------------------------------------------------------------
def test_max_age_above_a_day_is_refused(capsys):
    with pytest.raises(InvalidOptionError) as caught:
        load_config(["--max-age", "90000"], environ={})
    assert "24 hours" in caught.value.user_message and "90000" in caught.value.user_message
    with pytest.raises(InvalidOptionError):
        load_config([], environ={settings.MAX_AGE_S: "90000"})
    assert load_config(["--max-age", "86400"], environ={}).max_age_s == 86400  # a day exactly is allowed

    assert launcher.main(["--max-age", "90000"]) == 2  # the app refuses to start, with the message
    error = capsys.readouterr().err
    assert error.startswith("error: The maximum file age must be between") and "24 hours" in error
    assert "Traceback" not in error


def test_privacy_tab_states_the_configured_retention(server):
    _, url = server
    config = httpx.get(url + "config").json()
    texts = [c["props"].get("value") or "" for c in config["components"] if c.get("type") == "markdown"]
    (privacy,) = [" ".join(t.split()) for t in texts if "What happens to your photos" in t]  # one line per point
    assert "always after **30 minutes**, even if the tab is still open" in privacy  # max_age_s=1800
    assert "checked every **5 minutes**" in privacy  # the sweep interval
    assert "never keeps a file longer than 24 hours" in privacy
    assert "up to 5 GB on the server" in privacy
    assert "1 hour" not in privacy


def test_gradios_cache_cleaner_stays_within_the_retention_promise(server):
    app, _ = server
    assert app.demo.delete_cache == gradio_cache_schedule(app.config)
    for max_age, sweep in ((3600, 300), (1800, 300), (60, 15), (2, 0.5), (1, 0.5)):
        config = replace(app.config, max_age_s=max_age, sweep_interval_s=sweep)
        interval, age = gradio_cache_schedule(config)
        assert interval >= 1 and age >= 0
        assert interval + age <= max_age, (max_age, interval, age)  # a file lives at most age + interval


# -- the sweeper (its own server: 2 s retention, swept every 0.5 s) ----------------------------------
def test_sweeper_deletes_an_abandoned_sessions_files(studio, fast_heartbeat, tmp_path, monkeypatch):
    # build_app points Gradio's process-wide upload folder (GRADIO_TEMP_DIR) at its own root;
    # whatever was there before (the module's server) is put back when this test ends.
    if "GRADIO_TEMP_DIR" in os.environ:
        monkeypatch.setenv("GRADIO_TEMP_DIR", os.environ["GRADIO_TEMP_DIR"])
    else:
        monkeypatch.delenv("GRADIO_TEMP_DIR", raising=False)
    with running_app(tmp_path / "root", studio, max_age_s=2, sweep_interval_s=0.5) as (app, url):
        client = Client(url, verbose=False, download_files=str(tmp_path / "downloads"))
        try:
            make_background(client, unique_photo(tmp_path / "left-open.png", seed=8, crop=True))
            done = time.monotonic()
            folder = session_dir(app, client.session_hash)
            files = app.storage.session_files(client.session_hash)
            assert folder.is_dir() and len(files) >= 2 and all(f.exists() for f in files)
            assert len(uploads_of(app, client.session_hash)) == 1
            # The client stays connected (its heartbeat keeps the session open) but sends nothing.
            assert wait_until(lambda: not folder.exists() and not any(f.exists() for f in files), timeout=10)
            assert time.monotonic() - done < 10
            # files older than the limit may go a sweep before their idle session is forgotten
            assert wait_until(lambda: app.storage.active_sessions() == 0, timeout=5)
            assert client.heartbeat.is_alive()  # gone while the session was still open
        finally:
            client.close()


def test_every_tab_builds_its_blocks_with_analytics_off_whatever_the_environment(monkeypatch):
    """Each tab is its own gr.Blocks; one built with Gradio's default would read the environment
    and, if it said so, start the version check and analytics calls to outside hosts."""
    from webapp.ui import tab_blocks

    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "True")
    assert tab_blocks().analytics_enabled is False
    tabs = sorted((Path(__file__).resolve().parents[2] / "webapp" / "tabs").glob("*.py"))
    assert [tab.name for tab in tabs if "gr.Blocks(" in tab.read_text(encoding="utf-8")] == []
