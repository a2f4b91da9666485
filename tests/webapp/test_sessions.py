"""Per-session storage, retention settings and private logging, without a web server."""
from __future__ import annotations

import logging
import os
import stat
import threading
import time
from pathlib import Path

import pytest

from pipeline.core.errors import InvalidOptionError
from webapp.config import load_config
from webapp.logsafe import RedactingFilter, log_job
from webapp.session_jobs import FilesDeletedDuringJob
from webapp.sessions import HARD_MAX_AGE_S, ROOT_MARKER, SessionStorage, validate_max_age


@pytest.fixture()
def storage(tmp_path: Path) -> SessionStorage:
    store = SessionStorage(tmp_path / "root", max_age_s=60, secret=b"k" * 32)
    store.prepare()
    return store


def _upload(storage: SessionStorage, name: str, content: bytes = b"photo") -> Path:
    folder = storage.root / f"hash-{name}"
    folder.mkdir()
    path = folder / name
    path.write_bytes(content)
    return path


def test_prepare_removes_everything_a_crash_left(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "sessions" / "old").mkdir(parents=True)
    (root / "sessions" / "old" / "result.png").write_bytes(b"x")
    (root / "abc123").mkdir()
    (root / "abc123" / "upload.jpg").write_bytes(b"x")
    (root / ROOT_MARKER).write_text("left by an earlier run")
    store = SessionStorage(root, 60)
    assert store.prepare() == 2
    assert sorted(p.name for p in root.iterdir()) == [ROOT_MARKER, "examples", "sessions"]
    assert stat.S_IMODE(root.stat().st_mode) == 0o700


def test_session_directory_is_private_and_not_named_after_the_session(storage: SessionStorage) -> None:
    directory = storage.open("session-hash-123", "owner-token")
    assert directory.parent == storage.sessions_dir
    assert "session-hash-123" not in str(directory)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    other = SessionStorage(storage.root, 60, secret=b"x" * 32)
    assert other.session_key("session-hash-123") != directory.name  # keyed: not guessable without the secret


def test_only_the_owner_may_read_session_files(storage: SessionStorage) -> None:
    work = storage.new_work_dir("s1", "alice", "idphoto")
    result = work / "photo.jpg"
    result.write_bytes(b"x")
    assert storage.may_read(result, "alice")
    assert not storage.may_read(result, "bob")
    assert not storage.may_read(result, None)
    assert not storage.may_read(storage.root / "unknown" / "file.jpg", "alice")  # unknown under root: refused
    assert storage.may_read(Path("/usr/share/somewhere.css"), None)  # outside the root: the framework decides
    example = storage.examples_dir / "astronaut.png"
    example.write_bytes(b"x")
    assert storage.may_read(example, None)


def test_uploads_are_readable_only_by_who_sent_them(storage: SessionStorage) -> None:
    upload = _upload(storage, "me.jpg")
    storage.register_upload("alice", [upload])
    assert storage.may_read(upload, "alice")
    assert not storage.may_read(upload, "bob")
    storage.register_upload("bob", [upload])  # the same bytes uploaded by someone else
    assert storage.may_read(upload, "bob")


def test_end_deletes_the_session_and_its_uploads_but_not_others(storage: SessionStorage) -> None:
    mine = _upload(storage, "mine.jpg")
    theirs = _upload(storage, "theirs.jpg")
    storage.register_upload("alice", [mine])
    storage.register_upload("bob", [theirs])
    storage.attach_uploads("s-alice", "alice", [mine])
    storage.attach_uploads("s-bob", "bob", [theirs])
    (storage.new_work_dir("s-alice", "alice", "restore") / "out.png").write_bytes(b"x")
    (storage.new_work_dir("s-bob", "bob", "restore") / "out.png").write_bytes(b"x")
    assert len(storage.session_files("s-alice")) == 2
    removed = storage.end("s-alice", "alice")
    assert removed == 2
    assert not mine.exists() and not mine.parent.exists()
    assert storage.session_files("s-alice") == []
    assert theirs.exists() and len(storage.session_files("s-bob")) == 2
    assert not storage.may_read(mine, "alice")


def test_unused_uploads_go_with_the_last_session_of_their_owner(storage: SessionStorage) -> None:
    never_used = _upload(storage, "draft.jpg")
    storage.register_upload("alice", [never_used])
    storage.open("tab-1", "alice")
    storage.open("tab-2", "alice")
    storage.end("tab-1", "alice")
    assert never_used.exists()  # tab 2 may still show it
    storage.end("tab-2", "alice")
    assert not never_used.exists()


def test_clear_empties_storage_but_keeps_the_session_usable(storage: SessionStorage) -> None:
    upload = _upload(storage, "me.jpg")
    storage.register_upload("alice", [upload])
    storage.attach_uploads("s1", "alice", [upload])
    (storage.new_work_dir("s1", "alice", "idphoto") / "photo.jpg").write_bytes(b"x")
    assert storage.clear("s1", "alice") == 2
    assert storage.session_files("s1") == [] and not upload.exists()
    again = storage.new_work_dir("s1", "alice", "idphoto") / "photo.jpg"
    again.write_bytes(b"x")
    assert storage.may_read(again, "alice")


def test_sweep_deletes_idle_sessions_and_old_cache_files_only(storage: SessionStorage) -> None:
    (storage.new_work_dir("idle", "alice", "restore") / "out.png").write_bytes(b"x")
    (storage.new_work_dir("active", "bob", "restore") / "out.png").write_bytes(b"x")
    old_cache = _upload(storage, "old.jpg")
    young_cache = _upload(storage, "young.jpg")
    long_ago = time.time() - 120
    os.utime(old_cache, (long_ago, long_ago))
    storage._sessions[storage.session_key("idle")].last_seen = long_ago
    example = storage.examples_dir / "astronaut.png"
    example.write_bytes(b"x")
    os.utime(example, (long_ago, long_ago))
    removed = storage.sweep()
    assert removed == 2
    assert storage.session_files("idle") == []
    assert len(storage.session_files("active")) == 1
    assert not old_cache.exists() and young_cache.exists()
    assert example.exists()  # public examples are not user data


def test_sweeper_thread_runs_on_its_own(tmp_path: Path) -> None:
    store = SessionStorage(tmp_path / "root", max_age_s=1)
    store.prepare()
    (store.new_work_dir("s", "o", "x") / "f.png").write_bytes(b"x")
    store.start_sweeper(0.1)
    try:
        deadline = time.time() + 5
        while store.session_files("s") and time.time() < deadline:
            time.sleep(0.1)
        assert store.session_files("s") == []
    finally:
        store.stop_sweeper()


@pytest.mark.parametrize("seconds", [0, -5, HARD_MAX_AGE_S + 1, "soon"])
def test_retention_outside_one_second_to_a_day_is_refused(seconds: object) -> None:
    with pytest.raises(InvalidOptionError):
        validate_max_age(seconds)  # type: ignore[arg-type]


def test_config_flags_override_environment_and_are_checked() -> None:
    env = {"PORTRAIT_LAB_PORT": "9000", "PORTRAIT_LAB_MAX_AGE_S": "1800", "PORTRAIT_LAB_SHARE": "1",
           "GRADIO_SERVER_NAME": "0.0.0.0"}
    config = load_config([], env)
    assert (config.port, config.max_age_s, config.share, config.host) == (9000, 1800, True, "0.0.0.0")
    assert config.retention_text() == "30 minutes" and config.sweep_interval_s == 300
    config = load_config(["--port", "9100", "--host", "127.0.0.1", "--max-age", "7200"], env)
    assert (config.port, config.host, config.max_age_s) == (9100, "127.0.0.1", 7200)
    assert config.retention_text() == "2 hours"
    with pytest.raises(InvalidOptionError, match="24 hours"):
        load_config(["--max-age", "90000"], {})
    with pytest.raises(InvalidOptionError):
        load_config([], {"PORTRAIT_LAB_PORT": "seventy"})
    assert load_config([], {}).resolved_concurrency("cpu") == 1
    assert load_config([], {}).resolved_concurrency("cuda") == 4


def test_job_log_lines_hold_numbers_and_known_words_only(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="portrait_lab.app"):
        log_job("idphoto", "ok", 1.23456, faces=1)
    assert caplog.messages == ["job=idphoto status=ok seconds=1.235 images=1 faces=1"]
    with pytest.raises(ValueError):
        log_job("/tmp/me.jpg", "ok", 1.0)
    with pytest.raises(ValueError):
        log_job("restore", "ok", 1.0, error_type="No such file: /tmp/me.jpg")


def test_redacting_filter_drops_records_naming_private_paths(tmp_path: Path) -> None:
    keep = RedactingFilter(tmp_path)
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "GET /gradio_api/file=%s", (str(tmp_path / "a.jpg"),),
                               None)
    assert not keep.filter(record)
    assert keep.filter(logging.LogRecord("x", logging.INFO, __file__, 1, "job=restore status=ok", None, None))


def test_identical_upload_of_another_visitor_survives_the_first_session(storage: SessionStorage) -> None:
    shared = _upload(storage, "same-bytes.jpg")  # Gradio stores uploads by content hash
    storage.register_upload("alice", [shared])
    storage.register_upload("bob", [shared])
    storage.attach_uploads("s-alice", "alice", [shared])
    storage.end("s-alice", "alice")
    assert shared.exists()
    assert storage.may_read(shared, "bob") and not storage.may_read(shared, "alice")
    storage.attach_uploads("s-bob", "bob", [shared])
    storage.end("s-bob", "bob")
    assert not shared.exists()


def test_sweeper_spares_a_session_while_its_job_runs(storage: SessionStorage) -> None:
    long_ago = time.time() - 120
    with storage.job("busy", "alice"):
        (storage.new_work_dir("busy", "alice", "batch") / "out.png").write_bytes(b"x")
        storage._sessions[storage.session_key("busy")].last_seen = long_ago
        storage.sweep()
        assert len(storage.session_files("busy")) == 1
    storage.sweep()  # the job's end counted as activity
    assert len(storage.session_files("busy")) == 1
    storage._sessions[storage.session_key("busy")].last_seen = long_ago
    storage.sweep()
    assert storage.session_files("busy") == []


def test_delete_my_files_during_a_job_ends_the_job_and_leaves_nothing(storage: SessionStorage) -> None:
    """The files go at once; the job ends in its own error, and what it wrote after the
    deletion (a writer re-creating its folder, as the batch does) is deleted too."""
    with pytest.raises(FilesDeletedDuringJob):
        with storage.job("s", "alice"):
            folder = storage.new_work_dir("s", "alice", "batch")
            (folder / "before.png").write_bytes(b"x")
            assert storage.clear("s", "alice") == 1
            (folder / "results").mkdir(parents=True)  # the job goes on writing
            (folder / "results" / "after.png").write_bytes(b"x")
    assert storage.session_files("s") == []
    with storage.job("s", "alice"):  # the session stays usable, and a later job keeps its result
        (storage.new_work_dir("s", "alice", "idphoto") / "photo.jpg").write_bytes(b"x")
    assert len(storage.session_files("s")) == 1


def test_a_failing_job_during_a_deletion_gets_the_deletion_s_sentence(storage: SessionStorage) -> None:
    """A write into the vanished folder fails; the visitor hears why, not the write's error."""
    with pytest.raises(FilesDeletedDuringJob):
        with storage.job("s", "alice"):
            folder = storage.new_work_dir("s", "alice", "background")
            storage.clear("s", "alice")
            (folder / "result.png").write_bytes(b"x")  # FileNotFoundError: the folder is gone
    with pytest.raises(FileNotFoundError):  # without a deletion, the job's own error stands
        with storage.job("s", "alice"):
            (storage.new_work_dir("s", "alice", "background") / "missing" / "x.png").write_bytes(b"x")


def test_a_job_started_after_the_deletion_keeps_its_result_when_an_older_one_ends(storage: SessionStorage) -> None:
    older = storage.job("s", "alice")
    older.__enter__()
    old_folder = storage.new_work_dir("s", "alice", "batch")
    storage.clear("s", "alice")
    with storage.job("s", "alice"):
        newer = storage.new_work_dir("s", "alice", "idphoto") / "photo.jpg"
        newer.write_bytes(b"x")
        old_folder.mkdir()  # the older job re-creates its folder
        with pytest.raises(FilesDeletedDuringJob):
            older.__exit__(None, None, None)
        assert not old_folder.exists() and newer.exists()
    assert newer.exists()


def test_a_job_that_makes_its_folder_after_the_deletion_keeps_nothing_either(storage: SessionStorage) -> None:
    """The deletion can land between the job's start and its folder (while its inputs are
    checked): that folder is the job's too, and goes with its result."""
    with pytest.raises(FilesDeletedDuringJob):
        with storage.job("s", "alice"):
            storage.clear("s", "alice")
            (storage.new_work_dir("s", "alice", "background") / "result.png").write_bytes(b"x")
    assert storage.session_files("s") == []


def test_a_job_started_while_the_deletion_runs_waits_for_it_and_keeps_its_result(
        storage: SessionStorage, monkeypatch: pytest.MonkeyPatch) -> None:
    import webapp.sessions as sessions

    with storage.job("s", "alice"):
        (storage.new_work_dir("s", "alice", "old") / "a.png").write_bytes(b"x")
    deleting, slow_remove = threading.Event(), sessions.remove_path

    def remove_slowly(path: Path) -> int:
        deleting.set()
        time.sleep(0.5)  # a large session's folder
        return slow_remove(path)

    monkeypatch.setattr(sessions, "remove_path", remove_slowly)
    deletion = threading.Thread(target=storage.clear, args=("s", "alice"))
    deletion.start()
    assert deleting.wait(10)
    with storage.job("s", "alice"):  # pressed "Run" right after "Delete my files now"
        assert not deletion.is_alive()
        result = storage.new_work_dir("s", "alice", "idphoto") / "photo.jpg"
        result.write_bytes(b"x")
    deletion.join()
    assert storage.session_files("s") == [result]


def _held_deletions(monkeypatch: pytest.MonkeyPatch, storage: SessionStorage, session_hash: str,
                    count: int) -> list:
    """The first ``count`` deletions of the session's folder each wait for their own event."""

    import webapp.sessions as sessions

    key, remove, held = storage.session_key(session_hash), sessions.remove_path, []

    def remove_when_released(path: Path) -> int:
        if path.name == key and len(held) < count:
            release = threading.Event()
            held.append(release)
            release.wait(10)
        return remove(path)

    monkeypatch.setattr(sessions, "remove_path", remove_when_released)
    return held


def _wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.01)


def _a_held_deletion(storage: SessionStorage, monkeypatch: pytest.MonkeyPatch,
                     count: int) -> tuple[list, threading.Thread]:
    """A session with a folder, and "Delete my files now" started and held at that folder."""
    with storage.job("s", "alice"):
        storage.new_work_dir("s", "alice", "old")
    held = _held_deletions(monkeypatch, storage, "s", count)
    deletion = threading.Thread(target=storage.clear, args=("s", "alice"))
    deletion.start()
    _wait_for(lambda: len(held) == 1)
    return held, deletion


def test_a_job_waits_for_every_deletion_under_way_not_only_the_first(
        storage: SessionStorage, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two presses of "Delete my files now" at once (a script's): the job waits for both."""
    held, first = _a_held_deletion(storage, monkeypatch, 2)
    second = threading.Thread(target=storage.clear, args=("s", "alice"))
    second.start()
    _wait_for(lambda: len(held) == 2)
    held[0].set()
    first.join()
    threading.Timer(0.3, held[1].set).start()
    with storage.job("s", "alice"):  # pressed "Run" before the second deletion is over
        assert not second.is_alive()
        result = storage.new_work_dir("s", "alice", "idphoto") / "photo.jpg"
        result.write_bytes(b"x")
    assert storage.session_files("s") == [result]


def test_a_tab_closed_while_its_job_waits_for_a_deletion_leaves_nothing(
        storage: SessionStorage, monkeypatch: pytest.MonkeyPatch) -> None:
    held, deletion = _a_held_deletion(storage, monkeypatch, 1)

    def job() -> None:
        with storage.job("s", "alice"):
            (storage.new_work_dir("s", "alice", "background") / "result.png").write_bytes(b"x")

    waiting = threading.Thread(target=job)
    waiting.start()
    time.sleep(0.2)  # the job waits for the deletion
    storage.end("s", "alice")  # the tab closes meanwhile
    held[0].set()
    for thread in (deletion, waiting):
        thread.join(10)
    assert storage.session_files("s") == [] and storage.active_sessions() == 0


def test_an_interrupted_job_stays_an_interrupt_and_still_counts_its_end(storage: SessionStorage) -> None:
    with pytest.raises(KeyboardInterrupt):
        with storage.job("s", "alice"):
            storage.clear("s", "alice")
            raise KeyboardInterrupt
    assert storage._sessions[storage.session_key("s")].running_jobs == 0


def test_a_non_empty_folder_we_did_not_create_is_refused_not_emptied(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "thesis.tex").write_text("years of work")
    with pytest.raises(InvalidOptionError, match="not created by Portrait Lab"):
        SessionStorage(home, 60).prepare()
    assert (home / "thesis.tex").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    SessionStorage(empty, 60).prepare()  # new or empty folders are fine, and marked as ours
    (empty / "sessions" / "junk").mkdir()
    SessionStorage(empty, 60).prepare()
    assert not (empty / "sessions" / "junk").exists()


def test_inputs_from_another_sessions_folder_are_refused(storage: SessionStorage) -> None:
    theirs = storage.new_work_dir("s-bob", "bob", "idphoto") / "photo.jpg"
    theirs.write_bytes(b"x")
    mine = storage.new_work_dir("s-alice", "alice", "idphoto") / "photo.jpg"
    mine.write_bytes(b"x")
    upload = _upload(storage, "me.jpg")
    storage.register_upload("alice", [upload])
    assert storage.may_use("s-alice", "alice", mine) and storage.may_use("s-alice", "alice", upload)
    assert not storage.may_use("s-alice", "alice", theirs)
    storage.attach_uploads("s-alice", "alice", [theirs])  # never adopted, so never deleted by alice
    storage.end("s-alice", "alice")
    assert theirs.exists()


def test_closing_the_tab_during_a_job_deletes_when_the_job_ends(storage: SessionStorage) -> None:
    with storage.job("s", "alice"):
        result = storage.new_work_dir("s", "alice", "batch") / "out.png"
        result.write_bytes(b"x")
        assert storage.end("s", "alice") == 0
        assert result.exists()
    assert not result.exists() and storage.active_sessions() == 0


# -- ownership of session hashes, inputs, quotas (issue: the session-hash hole) ----------------
def test_a_session_hash_belongs_to_the_first_token_that_names_it(storage: SessionStorage) -> None:
    assert storage.claim("hash-a", "alice")
    assert storage.claim("hash-a", "alice")  # again: still hers
    assert not storage.claim("hash-a", "mallory")
    assert not storage.claim("hash-a", None)
    assert not storage.claim("hash-b", None)  # no cookie: no claim at all
    with pytest.raises(PermissionError):
        storage.open("hash-a", "mallory")


def test_end_and_clear_need_the_owners_token(storage: SessionStorage) -> None:
    storage.claim("s-alice", "alice")
    upload = _upload(storage, "me.jpg")
    storage.register_upload("alice", [upload])
    storage.attach_uploads("s-alice", "alice", [upload])
    result = storage.new_work_dir("s-alice", "alice", "idphoto") / "photo.jpg"
    result.write_bytes(b"x")
    for token in ("mallory", None):
        assert storage.clear("s-alice", token) == 0
        assert storage.end("s-alice", token) == 0
    assert result.exists() and upload.exists()
    assert storage.clear("s-alice", "alice") == 2
    assert not result.exists() and not upload.exists()


def test_another_visitors_upload_is_not_an_input(storage: SessionStorage) -> None:
    theirs = _upload(storage, "theirs.jpg")
    storage.register_upload("bob", [theirs])
    unowned = _upload(storage, "nobody.jpg")  # in the root, registered to nobody
    outside = storage.root.parent / "outside.jpg"
    outside.write_bytes(b"x")
    example = storage.examples_dir / "astronaut.png"
    example.write_bytes(b"x")
    assert storage.may_use("s-bob", "bob", theirs)
    for path in (theirs, unowned, outside):
        assert not storage.may_use("s-alice", "alice", path), path
        assert not storage.may_use("s-alice", None, path), path
    assert storage.may_use("s-alice", "alice", example) and storage.may_use("s-alice", None, example)


def test_the_sweeper_removes_old_files_inside_an_open_session(storage: SessionStorage) -> None:
    upload = _upload(storage, "old-upload.jpg")
    storage.register_upload("alice", [upload])
    storage.attach_uploads("open", "alice", [upload])
    old_result = storage.new_work_dir("open", "alice", "idphoto") / "old.jpg"
    old_result.write_bytes(b"x")
    young_result = storage.new_work_dir("open", "alice", "idphoto") / "young.jpg"
    young_result.write_bytes(b"x")
    long_ago = time.time() - 120
    for path in (upload, old_result):
        os.utime(path, (long_ago, long_ago))
    with storage.job("busy", "bob"):
        busy_result = storage.new_work_dir("busy", "bob", "batch") / "old.jpg"
        busy_result.write_bytes(b"x")
        os.utime(busy_result, (long_ago, long_ago))
        assert storage.sweep() == 2  # the session is active (seen just now), its old files are not
    assert not upload.exists() and not old_result.exists()
    assert young_result.exists() and busy_result.exists()
    assert storage.active_sessions() == 2
    assert storage.session_files("open") == [young_result]


def test_uploading_the_same_bytes_again_restarts_their_age(storage: SessionStorage) -> None:
    upload = _upload(storage, "again.jpg")
    long_ago = time.time() - 120
    os.utime(upload, (long_ago, long_ago))
    storage.register_upload("alice", [upload])
    storage.sweep()
    assert upload.exists()


def test_disk_quota_per_visitor_total_and_free_space(tmp_path: Path, monkeypatch) -> None:
    from pipeline.core.errors import DiskSpaceError
    from webapp import quotas
    from webapp.quotas import DiskLimits

    monkeypatch.setattr(quotas, "TOTAL_CACHE_S", 0.0)  # measure the root's size at every question

    store = SessionStorage(tmp_path / "root", 60, limits=DiskLimits(visitor_bytes=10_000, total_bytes=25_000,
                                                                    min_free_bytes=0))
    store.prepare()
    (store.new_work_dir("s-alice", "alice", "batch") / "big.bin").write_bytes(b"x" * 8_000)
    assert store.usage("alice") == 8_000 and store.usage("bob") == 0
    assert store.room_for("alice") == 2_000
    store.require_room("alice", 1_000)
    with pytest.raises(DiskSpaceError, match="each visitor may use up to"):
        store.require_room("alice", 3_000)
    (store.new_work_dir("s-bob", "bob", "batch") / "big.bin").write_bytes(b"x" * 9_000)
    (store.new_work_dir("s-carol", "carol", "batch") / "big.bin").write_bytes(b"x" * 7_000)
    with pytest.raises(DiskSpaceError, match="short of storage"):  # 24 000 of 25 000 in all
        store.require_room("dave", 2_000)
    assert store.room_for("dave") <= 1_000
    huge_reserve = SessionStorage(tmp_path / "root2", 60, limits=DiskLimits(min_free_bytes=1 << 60))
    huge_reserve.prepare()
    with pytest.raises(DiskSpaceError, match="short of storage"):
        huge_reserve.require_room("alice", 1)
    assert huge_reserve.room_for("alice") == 0


def test_stderr_lines_naming_a_visitors_files_are_redacted(tmp_path: Path, monkeypatch, capfd) -> None:
    """Gradio prints some tracebacks straight to stderr; they pass the same redaction."""
    import sys
    import traceback

    from webapp.logsafe import REDACTED_LINE, configure_private_logging

    monkeypatch.setattr(sys, "stderr", sys.stderr)  # put back whatever is there after the test
    configure_private_logging(tmp_path)
    visitors_file = tmp_path / ("holiday-" + "in-rome.jpg")  # split, so the traceback's source line hides it
    try:
        raise FileNotFoundError(f"No such file: '{visitors_file}'")
    except FileNotFoundError:
        traceback.print_exc()  # as gradio.queueing does
    print("GET /gradio_api/file=/elsewhere/passport.png", file=sys.stderr, end="")  # no newline yet
    print("plain words stay", file=sys.stderr)
    sys.stderr.flush()
    err = capfd.readouterr().err
    assert "holiday-in-rome" not in err and "passport.png" not in err
    assert err.count(REDACTED_LINE) == 2, err
    assert "Traceback (most recent call last)" in err and "plain words stay" not in err  # joined to the redacted line
    print("plain words stay", file=sys.stderr)
    sys.stderr.flush()
    assert capfd.readouterr().err == "plain words stay\n"


def test_claims_are_capped_per_visitor_and_expire_when_unused(storage: SessionStorage, monkeypatch) -> None:
    from webapp import claims

    monkeypatch.setattr(claims, "MAX_CLAIMS_PER_OWNER", 3)
    monkeypatch.setattr(claims, "CLAIM_PRUNE_EVERY_S", 0.0)
    assert all(storage.claim(f"tab-{i}", "mallory") for i in range(3))
    assert not storage.claim("tab-3", "mallory")  # one visitor cannot fill the table
    assert storage.claim("tab-0", "alice") is False and storage.claim("alice-tab", "alice")
    with storage.connection("tab-0"):  # an open stream keeps its claim
        for claim in storage.claims.by_key.values():
            claim.last_seen -= claims.CLAIM_IDLE_TTL_S + 1
        assert storage.claim("tab-3", "mallory")  # the idle ones made room
    assert not storage.claim("tab-0", "bob")  # still mallory's: it was in use


def test_an_upload_dropped_half_way_is_swept_within_minutes(storage: SessionStorage) -> None:
    from webapp.sessions import ORPHAN_UPLOAD_AGE_S

    dropped = storage.root / "tmpab12cd34"
    dropped.write_bytes(b"x" * 1000)
    arriving = storage.root / "tmpef56gh78"
    arriving.write_bytes(b"x")
    a_while_ago = time.time() - ORPHAN_UPLOAD_AGE_S - 1
    os.utime(dropped, (a_while_ago, a_while_ago))
    storage.sweep()
    assert not dropped.exists() and arriving.exists()
    assert (storage.root / ROOT_MARKER).exists()


@pytest.fixture()
def small_quota(tmp_path: Path) -> SessionStorage:
    from webapp.quotas import DiskLimits

    store = SessionStorage(tmp_path / "quota-root", 600, limits=DiskLimits(visitor_bytes=10_000, total_bytes=25_000,
                                                                          min_free_bytes=0))
    store.prepare()
    return store


def test_parallel_uploads_share_one_quota_as_their_bytes_arrive(small_quota: SessionStorage) -> None:
    from pipeline.core.errors import DiskSpaceError

    store = small_quota
    with pytest.raises(DiskSpaceError):
        store.open_upload("alice", 12_000)  # declared too big: refused before a byte
    first, second = store.open_upload("alice", 6_000), store.open_upload("alice", 6_000)
    idle = store.open_upload("alice", 9_000)  # a connection that sends nothing holds nothing
    first.add(6_000)
    assert store.usage("alice") == 6_000
    with pytest.raises(DiskSpaceError, match="does not fit"):
        second.add(6_000)  # together over the visitor's 10 000
    store.open_upload("bob", 6_000).add(6_000)  # another visitor's room is their own
    first.finish(200, files_named=True)
    second.finish(200, files_named=False)  # dropped half-way: its partial file stays counted until swept
    idle.finish(200, files_named=False)
    assert store.usage("alice") == 6_000


def test_uploads_opened_together_see_what_landed_after_they_opened(small_quota: SessionStorage) -> None:
    from pipeline.core.errors import DiskSpaceError

    store = small_quota
    meters = [store.open_upload("alice", 8_000) for _ in range(3)]  # each alone would fit
    stored = store.root / "a1b2" / "one.jpg"
    stored.parent.mkdir()
    meters[0].add(8_000)
    stored.write_bytes(b"x" * 8_000)
    store.register_upload("alice", [stored])
    meters[0].finish(200, files_named=True)
    with pytest.raises(DiskSpaceError):
        meters[1].add(8_000)  # the first one's bytes now sit on disk: no room for a second
    meters[1].finish(200, files_named=False)
    assert store.usage("alice") == 16_000  # the stored file, and the dropped part until swept


def test_a_cached_disk_total_still_counts_uploads_that_landed(small_quota: SessionStorage, monkeypatch) -> None:
    from pipeline.core.errors import DiskSpaceError
    from webapp import quotas

    monkeypatch.setattr(quotas, "TOTAL_CACHE_S", 3600.0)  # the walk is not repeated in this test
    store = small_quota
    for index, owner in enumerate(("alice", "bob", "carol")):
        meter = store.open_upload(owner, 8_000)
        meter.add(8_000)
        path = store.root / f"hash{index}" / "photo.jpg"
        path.parent.mkdir()
        path.write_bytes(b"x" * 8_000)
        store.register_upload(owner, [path])
        meter.finish(200, files_named=True)
    with pytest.raises(DiskSpaceError, match="short of storage"):  # 24 000 of 25 000 stored
        store.open_upload("dave", 2_000)


def test_bytes_still_arriving_are_counted_once(small_quota: SessionStorage, monkeypatch) -> None:
    from webapp import quotas

    monkeypatch.setattr(quotas, "TOTAL_CACHE_S", 0.0)  # measure the disk at every question
    store = small_quota
    before = store.quota.total()  # the root's marker file
    meter = store.open_upload("alice", 9_000)
    meter.add(9_000)
    (store.root / "tmpk2j3h4").write_bytes(b"x" * 9_000)  # Gradio's file for those same bytes
    assert store.quota.total() == before + 9_000
    store.open_upload("bob", 9_000).add(9_000)  # 18 000 of 25 000: fits, counted once


def test_what_a_refused_upload_left_stays_counted_until_the_maximum_age(small_quota: SessionStorage) -> None:
    store = small_quota
    refused = store.open_upload("alice", 4_000)
    refused.add(4_000)
    refused.finish(400, files_named=False)
    answered = store.open_upload("bob", 4_000)
    answered.add(4_000)
    answered.finish(200, files_named=False)
    assert store.usage("alice") == 4_000 and store.usage("bob") == 4_000
    from webapp.sessions import ORPHAN_UPLOAD_AGE_S

    holds = {owner: until - time.time() for owner, _, until in store.uploads._held}
    assert holds[store.owner_key("alice")] > store.max_age_s - 1  # a part may sit in the cache until then
    assert holds[store.owner_key("bob")] <= ORPHAN_UPLOAD_AGE_S  # only a tmp file, swept within minutes


def test_listing_a_session_while_the_sweeper_deletes_it_is_no_error(tmp_path: Path) -> None:
    """Full-suite run of 2026-12-01: session_files raised FileNotFoundError when the sweeper
    removed a folder while it was being walked. Here a thread keeps making and deleting a
    session's folders while the session is listed again and again."""
    import shutil

    store = SessionStorage(tmp_path / "root", max_age_s=60)
    store.prepare()
    work = store.new_work_dir("s", "o", "x")
    stop = threading.Event()

    def churn() -> None:
        while not stop.is_set():
            for depth in range(3):
                folder = work.joinpath(*[f"d{level}" for level in range(depth + 1)])
                folder.mkdir(parents=True, exist_ok=True)
                (folder / "f.png").write_bytes(b"x")
            shutil.rmtree(work / "d0", ignore_errors=True)

    thread = threading.Thread(target=churn)
    thread.start()
    try:
        deadline = time.time() + 2.0
        while time.time() < deadline:
            store.session_files("s")  # must never raise
    finally:
        stop.set()
        thread.join()


def test_a_path_no_file_can_have_is_refused_before_it_is_resolved(storage: SessionStorage) -> None:
    """Resolving a path takes time quadratic in its depth, on the server's event loop: a
    request naming a 250,000-part path held every visitor for 8 s (hostile review). Such a
    path is refused at once, by the checks of inputs and of downloads alike."""
    from webapp.middleware import may_serve

    deep = "/a" * 60_000
    long = "/" + "a" * 5000
    started = time.perf_counter()
    assert not storage.may_use("session", "token", deep)
    assert not storage.may_read(deep, "token")
    assert not may_serve(storage, deep, "token")
    assert not storage.may_use("session", "token", long)
    assert time.perf_counter() - started < 0.2


def test_an_upload_gone_since_it_was_sent_is_asked_for_again(storage: SessionStorage) -> None:
    """Deleted by "Delete my files now" between the upload and the click: the visitor hears the
    web's sentence, not a path error meant for the command line."""
    from types import SimpleNamespace

    import gradio as gr

    from webapp.handlers import Visitor, work_dir

    upload = _upload(storage, "me.jpg")
    storage.register_upload("alice", [upload])
    ctx, visitor = SimpleNamespace(storage=storage), Visitor("s", "alice")
    assert work_dir(ctx, visitor, "idphoto", str(upload)).is_dir()
    upload.unlink()
    with pytest.raises(gr.Error) as refused:
        work_dir(ctx, visitor, "idphoto", str(upload))
    assert refused.value.message == "This file could not be received; please upload it again."
