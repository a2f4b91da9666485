"""Publishing results: atomic unique names, whole sets or nothing, names that fit and are safe."""
from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import threading
from pathlib import Path

import pytest

from pipeline.core import publish as publish_module
from pipeline.core.errors import OutputWriteError
from pipeline.core.publish import (
    STAGING_PREFIX,
    OutputFile,
    fit_stem,
    publish,
    safe_stem,
    sweep_staging,
)

SET_SUFFIXES = (".jpg", "_overlay.png", "_report.txt", "_report.json", "_sheet.png", "_sheet.pdf")


def _a_set(writer: str) -> list[OutputFile]:
    return [OutputFile(suffix, f"{writer}{suffix}".encode()) for suffix in SET_SUFFIXES]


def _visible(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


def test_parallel_writers_never_overwrite_each_other(tmp_path):
    """Eight writers publish 25 files each under one name at once: every file survives.
    (The exists()-then-replace naming lost files here: both writers chose the same name.)"""
    barrier = threading.Barrier(8)

    def writer(index: int) -> None:
        barrier.wait()
        for round_ in range(25):
            publish(tmp_path, "portrait_restored", [OutputFile(".png", f"{index}-{round_}".encode())])

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    contents = sorted(path.read_bytes().decode() for path in _visible(tmp_path))
    assert contents == sorted(f"{i}-{r}" for i in range(8) for r in range(25))


def test_parallel_sets_keep_their_members_together(tmp_path):
    """Two runs publishing ID-photo sets at once: every stem holds one writer's whole set."""
    barrier = threading.Barrier(4)

    def writer(index: int) -> None:
        barrier.wait()
        for round_ in range(10):
            publish(tmp_path, "me_uk-passport", _a_set(f"w{index}r{round_}"))

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    photos = [p for p in _visible(tmp_path) if p.suffix == ".jpg"]
    assert len(photos) == 40 and len(_visible(tmp_path)) == 40 * len(SET_SUFFIXES)
    for photo in photos:
        stem = photo.name.removesuffix(".jpg")
        writer = photo.read_bytes().decode().removesuffix(".jpg")
        for suffix in SET_SUFFIXES:
            assert (tmp_path / f"{stem}{suffix}").read_bytes() == f"{writer}{suffix}".encode()


def test_a_second_run_gets_new_names_for_the_whole_set(tmp_path):
    """A second run whose photo name is free but whose overlay name is taken (a PNG run after
    a JPEG run) must not overwrite the first run's overlay and reports."""
    first = publish(tmp_path, "me_uk", _a_set("first"))
    second = publish(tmp_path, "me_uk", [OutputFile(".png", b"second photo"), OutputFile("_overlay.png", b"second")])
    assert [p.name for p in second] == ["me_uk_2.png", "me_uk_2_overlay.png"]
    assert (tmp_path / "me_uk_overlay.png").read_bytes() == b"first_overlay.png"
    assert all(path.exists() for path in first)


def test_a_full_disk_leaves_nothing_behind(tmp_path, monkeypatch):
    """The third file of a set hits ENOSPC: no member appears, no staging file stays, and the
    error is a sentence about the full disk."""
    real_fsync = os.fsync
    calls = {"n": 0}

    def failing_fsync(descriptor: int) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(descriptor)

    monkeypatch.setattr(publish_module.os, "fsync", failing_fsync)
    with pytest.raises(OutputWriteError, match="is full") as caught:
        publish(tmp_path, "me", _a_set("x"))
    assert "Errno" not in caught.value.user_message
    assert list(tmp_path.iterdir()) == []


def test_an_interrupt_while_staging_leaves_nothing_behind(tmp_path, monkeypatch):
    real_fsync = os.fsync
    calls = {"n": 0}

    def interrupted_fsync(descriptor: int) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        real_fsync(descriptor)

    monkeypatch.setattr(publish_module.os, "fsync", interrupted_fsync)
    with pytest.raises(KeyboardInterrupt):
        publish(tmp_path, "me", _a_set("x"))
    assert list(tmp_path.iterdir()) == []


def test_a_failure_while_naming_removes_the_members_already_named(tmp_path, monkeypatch):
    real_link = os.link
    calls = {"n": 0}

    def failing_link(source, target) -> None:  # noqa: ANN001
        calls["n"] += 1
        if calls["n"] == 4:
            raise OSError(errno.EIO, "Input/output error")
        real_link(source, target)

    monkeypatch.setattr(publish_module.os, "link", failing_link)
    with pytest.raises(OutputWriteError, match="could not be written"):
        publish(tmp_path, "me", _a_set("x"))
    assert list(tmp_path.iterdir()) == []


def test_folders_without_hard_links_still_get_exclusive_names(tmp_path, monkeypatch):
    """FAT and some network shares refuse link(): names are then claimed by O_EXCL. A name
    taken further down the set must not cost the members already placed their content
    (the first fallback moved the staged file, and lost it when the round was undone)."""
    def no_links(source, target) -> None:  # noqa: ANN001
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(publish_module.os, "link", no_links)
    first = publish(tmp_path, "me", _a_set("first"))
    (tmp_path / "me_2_overlay.png").write_bytes(b"an earlier PNG run's overlay")
    second = publish(tmp_path, "me", _a_set("second"))
    assert first[0].name == "me.jpg" and second[0].name == "me_3.jpg"
    assert first[1].read_bytes() == b"first_overlay.png" and second[1].read_bytes() == b"second_overlay.png"
    assert all(path.read_bytes() == f"second{suffix}".encode() for path, suffix in zip(second, SET_SUFFIXES))
    assert (tmp_path / "me_2_overlay.png").read_bytes() == b"an earlier PNG run's overlay"
    assert len(list(tmp_path.iterdir())) == 2 * len(SET_SUFFIXES) + 1


def test_long_names_are_shortened_to_fit_with_every_companion(tmp_path):
    """A 215-character photo name (and a 250-byte UTF-8 one) still gets its whole set, and
    the tag saying what the file is survives the shortening."""
    for name in ("p" * 215, "é" * 125):
        paths = publish(tmp_path, name, _a_set("x"), tag="_uk-passport")
        assert all(len(os.fsencode(path.name)) <= 255 for path in paths)
        assert paths[0].name.startswith(name[:50]) and paths[0].name.endswith("_uk-passport.jpg")
    again = publish(tmp_path, "p" * 215, _a_set("y"), tag="_uk-passport")
    assert again[0].read_bytes() == b"y.jpg" and again[0].name.endswith("_uk-passport_2.jpg")


def test_fit_stem_counts_bytes_not_characters():
    stem = fit_stem("é" * 200, "_tag", ["_report.json"], 255)
    assert len(os.fsencode(stem)) + len("_999999") + len("_report.json") <= 255
    assert stem == "é" * (len(stem) - 4) + "_tag"
    with pytest.raises(OutputWriteError):
        fit_stem("x", "", ["y" * 300], 255)


def test_a_name_of_only_unsafe_characters_becomes_image_with_its_tag(tmp_path):
    [path] = publish(tmp_path, "\n-.", [OutputFile(".png", b"x")], tag="_transparent")
    assert path.name == "image_transparent.png"


@pytest.mark.parametrize("raw, expected", [
    ("-rf", "rf"),
    ("--help me", "help me"),
    ("line\nbreak", "line_break"),
    ("tab\there", "tab_here"),
    (".hidden", "hidden"),
    ("a/b\\c:d", "a_b_c_d"),
    ("many   spaces", "many spaces"),
    ("café ☕", "café ☕"),
    ("\n-.", "image"),
    ("photo\u202egnp.exe", "photognp.exe"),
    ("zero\u200bwidth", "zerowidth"),
])
def test_safe_stem(raw, expected):
    assert safe_stem(raw) == expected


def test_ctrl_c_while_names_are_claimed_lands_after_the_set_is_whole_and_recorded(tmp_path, monkeypatch):
    """The interrupt arrives between two links: it is held until every member is named, the
    staging files are gone and the caller has recorded the set (so its count is right)."""
    real_link = os.link
    calls = {"n": 0}

    def link_then_interrupt(source, target) -> None:  # noqa: ANN001
        real_link(source, target)
        calls["n"] += 1
        if calls["n"] == 1:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(publish_module.os, "link", link_then_interrupt)
    # Python's own Ctrl-C handler, whatever an earlier test left (a CLI run cut short by its time
    # limit in test_fuzz kept its own handler once, and this test then saw no KeyboardInterrupt)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    recorded: list[list[Path]] = []
    try:
        with pytest.raises(KeyboardInterrupt):
            publish(tmp_path, "me", _a_set("x"), record=recorded.append)
        handler_after = signal.getsignal(signal.SIGINT)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert len(recorded) == 1 and [p.name for p in recorded[0]] == [f"me{s}" for s in SET_SUFFIXES]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"me{s}" for s in SET_SUFFIXES)
    assert handler_after is signal.default_int_handler  # handlers restored


def test_sweep_staging_removes_only_old_leftovers(tmp_path):
    old = tmp_path / f"{STAGING_PREFIX}abc-0.tmp"
    fresh = tmp_path / f"{STAGING_PREFIX}def-0.tmp"
    result = tmp_path / "me.jpg"
    for path in (old, fresh, result):
        path.write_bytes(b"x")
    os.utime(old, (1_000_000, 1_000_000))
    assert sweep_staging(tmp_path) == 1
    assert not old.exists() and fresh.exists() and result.exists()


def test_sweep_staging_skips_leftovers_it_may_not_delete(tmp_path, monkeypatch):
    """Another user's leftovers in a shared folder: skipped, never a crash."""
    for name in ("a", "b"):
        path = tmp_path / f"{STAGING_PREFIX}{name}-0.tmp"
        path.write_bytes(b"x")
        os.utime(path, (1_000_000, 1_000_000))
    real_unlink = Path.unlink

    def unlink(self, missing_ok=False):  # noqa: ANN001
        if self.name.startswith(f"{STAGING_PREFIX}a"):
            raise PermissionError(errno.EPERM, "Operation not permitted")
        real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", unlink)
    assert sweep_staging(tmp_path) == 1


def _can_mount_tmpfs() -> bool:
    return os.geteuid() == 0 and shutil.which("mount") is not None


@pytest.mark.skipif(not _can_mount_tmpfs(), reason="mounting a small tmpfs needs root; the fsync-failure test "
                                                    "above covers the same path")
def test_a_real_full_disk(tmp_path):
    """On a real 64 KB file system: the set does not fit, nothing of it appears."""
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount_point)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"this machine refused a tmpfs mount: {mounted.stderr.strip()}")
    try:
        with pytest.raises(OutputWriteError, match="is full"):
            publish(mount_point, "me", [OutputFile(".jpg", os.urandom(40_000)), OutputFile("_sheet.png", os.urandom(40_000))])
        assert list(mount_point.iterdir()) == []
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)
