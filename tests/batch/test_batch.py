"""Batch jobs with a QA report: safe archive expansion, a batch that never stops for one bad
photo, CSV/HTML/zip reports (escaped, self-contained, metadata-free) and the three real jobs
(restore, background, ID photo) on the astronaut photo."""
from __future__ import annotations

import base64
import csv
import io
import re
import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.batch import inputs as batch_inputs
from pipeline.batch import jobs as batch_jobs

from pipeline.batch import run_batch
from pipeline.batch.inputs import expand_inputs
from pipeline.batch.jobs import JobOutput, background_job, idphoto_job, restore_job
from pipeline.core import limits
from pipeline.core.encode import encode_image
from pipeline.core.errors import InvalidOptionError, NoFaceError
from pipeline.cutout.background import BackgroundOptions
from pipeline.cutout.cutter import CutoutPipeline
from pipeline.cutout.selfie import selfie_available
from pipeline.idphoto.maker import IdPhotoOptions, IdPhotoPipeline, spec_for
from pipeline.restore.engine import RestoreOptions

SECRET_MAKE = "SecretCameraMakeXYZ"
SECRET_NOTE = "private-note-4711"


# -- helpers ---------------------------------------------------------------------------------
def _png(rgb: np.ndarray) -> bytes:
    return encode_image(rgb, format="PNG")


def _jpeg_with_gps(rgb: np.ndarray) -> bytes:
    """A camera-like JPEG: EXIF with make, a description and a GPS position."""
    exif = Image.Exif()
    exif[0x010F] = SECRET_MAKE  # Make
    exif[0x010E] = SECRET_NOTE  # ImageDescription
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 36.0)})
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=90, exif=exif)
    data = buffer.getvalue()
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(0x8825)  # the input really has GPS
    return data


def _zip(path: Path, members: dict[str, bytes], symlinks: dict[str, str] | None = None,
         compression: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    return path


def _mirror_job(image) -> JobOutput:
    """A cheap stand-in job: 7x7 photos crash (bug), 9x9 photos have 'no face' (user error),
    narrow photos give a warning, the rest mirror the picture."""
    width, height = image.size
    if (width, height) == (7, 7):
        raise RuntimeError("boom in /srv/secret/path")
    if (width, height) == (9, 9):
        raise NoFaceError("No face was found in this photo.", hint="Use a portrait.")
    mirrored = np.ascontiguousarray(image.rgb[:, ::-1])
    warnings = ["This photo is very small."] if width < 100 else []
    return JobOutput(data=encode_image(mirrored, format="PNG"), suffix=".png", preview=mirrored,
                     metrics={"width": width, "mean": round(float(mirrored.mean()), 2)}, warnings=warnings)


def _data_uri_images(page: str) -> list[Image.Image]:
    found = re.findall(r'src="data:image/jpeg;base64,([A-Za-z0-9+/=]+)"', page)
    return [Image.open(io.BytesIO(base64.b64decode(data))) for data in found]


def _read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


@pytest.fixture(scope="module")
def photo_files(tmp_path_factory, astronaut_rgb) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("inputs")
    files = {
        "astronaut.png": _png(astronaut_rgb),
        "small.png": _png(astronaut_rgb[::8, ::8].copy()),
        "gps.jpg": _jpeg_with_gps(astronaut_rgb),
        "corrupt.jpg": b"\xff\xd8\xff\xe0 this is not really a JPEG" + bytes(200),
        "notes.txt": b"hello",
    }
    paths = {}
    for name, data in files.items():
        paths[name] = folder / name
        paths[name].write_bytes(data)
    return paths


# -- archive expansion --------------------------------------------------------------------------
def test_zip_is_expanded_safely(tmp_path, astronaut_rgb):
    tiny = _png(astronaut_rgb[::16, ::16].copy())
    archive = _zip(tmp_path / "photos.zip", {
        "a.jpg": tiny,
        "family/kids/b.png": tiny,
        "family/": b"",
        "readme.txt": b"not a photo",
        "../evil.jpg": tiny,
        "/etc/abs.jpg": tiny,
        "..\\win-evil.jpg": tiny,
        "__MACOSX/family/._b.png": b"resource fork",
        ".DS_Store": b"junk",
        "inner.zip": b"PK",
    }, symlinks={"link.jpg": "/etc/passwd"})
    work = tmp_path / "work"

    items, rows = expand_inputs([archive], work)

    assert [item.name for item in items] == ["photos.zip/a.jpg", "photos.zip/family/kids/b.png"]
    for item in items:
        assert item.path.is_file() and work.resolve() in item.path.resolve().parents
        assert item.path.read_bytes() == tiny
    statuses = {row.name: (row.status, row.message) for row in rows}
    for refused in ("../evil.jpg", "/etc/abs.jpg", "..\\win-evil.jpg", "link.jpg", "readme.txt", "inner.zip"):
        assert statuses[f"photos.zip/{refused}"][0] == "error", refused
    assert "outside" in statuses["photos.zip/../evil.jpg"][1]
    assert "absolute" in statuses["photos.zip//etc/abs.jpg"][1]
    assert "symbolic link" in statuses["photos.zip/link.jpg"][1]
    assert "not supported" in statuses["photos.zip/readme.txt"][1]
    assert not any("MACOSX" in name or "DS_Store" in name for name in statuses)  # junk: silently skipped
    # nothing escaped the work folder
    assert not (tmp_path / "evil.jpg").exists() and not (work.parent / "win-evil.jpg").exists()
    assert sorted(p.name for p in work.rglob("*") if p.is_file()) == ["00000.jpg", "00001.png"]


def test_zip_bomb_and_oversized_archives_are_refused(tmp_path, astronaut_rgb, monkeypatch):
    tiny = _png(astronaut_rgb[::16, ::16].copy())
    bomb = _zip(tmp_path / "bomb.zip", {"ok.png": tiny, "huge.bmp": bytes(20 * 1024**2)})
    assert zipfile.ZipFile(bomb).getinfo("huge.bmp").compress_size < 100_000  # really inflates > 200x
    items, rows = expand_inputs([bomb], tmp_path / "work")
    assert items == []
    assert [(row.name, row.status) for row in rows] == [("bomb.zip", "error")]
    assert "zip bomb" in rows[0].message and "huge.bmp" in rows[0].message
    assert not any(p.is_file() for p in (tmp_path / "work").rglob("*"))  # nothing was extracted

    plain = _zip(tmp_path / "plain.zip", {"a.png": tiny, "b.png": tiny}, compression=zipfile.ZIP_STORED)
    monkeypatch.setattr(batch_inputs, "MAX_ARCHIVE_BYTES", len(tiny) + 10)
    items, rows = expand_inputs([plain], tmp_path / "work2")
    assert items == [] and rows[0].status == "error" and "limit" in rows[0].message


def test_unreadable_zip_and_non_images_become_error_rows(tmp_path, photo_files):
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK\x03\x04 definitely truncated")
    items, rows = expand_inputs([broken, photo_files["notes.txt"], tmp_path / "missing.png",
                                 photo_files["astronaut.png"]], tmp_path / "work")
    assert [item.name for item in items] == ["astronaut.png"]
    by_name = {row.name: row for row in rows}
    assert by_name["broken.zip"].status == "error" and "cannot be read" in by_name["broken.zip"].message
    assert by_name["notes.txt"].status == "error" and ".txt" in by_name["notes.txt"].message
    assert by_name["missing.png"].status == "error" and "not found" in by_name["missing.png"].message


def test_the_number_of_images_is_capped(tmp_path, photo_files, astronaut_rgb, monkeypatch):
    tiny = _png(astronaut_rgb[::16, ::16].copy())
    archive = _zip(tmp_path / "many.zip", {f"{i}.png": tiny for i in range(4)})
    items, rows = expand_inputs([photo_files["astronaut.png"], archive], tmp_path / "work", max_files=3)
    assert [item.name for item in items] == ["astronaut.png", "many.zip/0.png", "many.zip/1.png"]
    assert [(row.name, row.status) for row in rows] == [("many.zip/2.png", "skipped"), ("many.zip/3.png", "skipped")]
    assert all("limit of 3 images" in row.message for row in rows)
    assert len([p for p in (tmp_path / "work").rglob("*") if p.is_file()]) == 2  # skipped ones not extracted

    monkeypatch.setenv(limits.ENV_MAX_BATCH_FILES, "1")
    items, rows = expand_inputs([archive], tmp_path / "work-env")
    assert len(items) == 1 and len(rows) == 3
    monkeypatch.setenv(limits.ENV_MAX_BATCH_FILES, "lots")
    with pytest.raises(InvalidOptionError):
        expand_inputs([archive], tmp_path / "work-bad")
    monkeypatch.delenv(limits.ENV_MAX_BATCH_FILES)
    assert limits.max_batch_files_from_env() == 200


# -- disk-filling archives -------------------------------------------------------------------
def _noise(size: int, seed: int) -> bytes:
    """Bytes that do not compress (ratio about 1), like the pixels of a JPEG."""
    return np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()


def _files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def test_many_small_compressible_members_are_refused_by_the_whole_archive_ratio(tmp_path):
    # 300 members of 900 KB, each under the old 1 MB exemption and about 45x (under the
    # per-member 100x), together 270 MB from a 6 MB upload: the whole archive must be refused.
    member = _noise(18_000, seed=1) + bytes(882_000)
    archive = _zip(tmp_path / "filler.zip", {f"scan_{i:03d}.png": member for i in range(300)})
    with zipfile.ZipFile(archive) as bundle:
        infos = bundle.infolist()
        ratio = sum(i.file_size for i in infos) / sum(i.compress_size for i in infos)
    assert 20 < ratio < 100 and all(i.file_size < 1024**2 for i in infos)  # only the whole-archive check catches it
    work = tmp_path / "inputs"

    items, rows = expand_inputs([archive], work)

    assert items == []
    assert [(row.name, row.status) for row in rows] == [("filler.zip", "error")]
    message = rows[0].message
    assert "Nothing from this archive was used" in message and "zip the photos again" in message, message
    assert _files_under(work) == []  # nothing was extracted


def test_a_bomb_split_into_several_small_archives_is_refused(tmp_path):
    # Each archive alone stays at 4 MB (under the 8 MB where the whole-archive ratio starts)
    # and its member at ~50x (under the per-member 100x): the call's running total catches it.
    member = _noise(80_000, seed=5) + bytes(4 * 1024**2 - 80_000)
    parts = [_zip(tmp_path / f"part{i}.zip", {f"p{i}.png": member}) for i in range(3)]
    work = tmp_path / "inputs"

    items, rows = expand_inputs(parts, work)

    assert [item.name for item in items] == ["part0.zip/p0.png", "part1.zip/p1.png"]  # 8 MB so far: allowed
    assert [(row.name, row.status) for row in rows] == [("part2.zip", "error")]
    assert "archives before it" in rows[0].message and "Nothing from this archive was used" in rows[0].message
    assert sum(p.stat().st_size for p in _files_under(work)) == 2 * len(member)


def test_a_highly_compressed_member_under_1_mb_is_refused(tmp_path, astronaut_rgb):
    # One 900 KB member that inflates ~900x, diluted by incompressible data so that the
    # archive as a whole stays under 20x and under 8 MB: the per-member check must catch it.
    archive = _zip(tmp_path / "sneaky.zip", {"a.jpg": _noise(2_000_000, seed=2), "b.png": bytes(900_000),
                                             "c.png": _png(astronaut_rgb[::16, ::16].copy())})
    items, rows = expand_inputs([archive], tmp_path / "inputs")
    assert items == [] and [(row.name, row.status) for row in rows] == [("sneaky.zip", "error")]
    assert "b.png" in rows[0].message and "Nothing from this archive was used" in rows[0].message
    assert _files_under(tmp_path / "inputs") == []


def test_extracted_bytes_never_exceed_the_callers_budget(tmp_path, monkeypatch):
    first = _zip(tmp_path / "first.zip", {f"a{i}.jpg": _noise(100_000, seed=i) for i in range(4)})
    second = _zip(tmp_path / "second.zip", {f"b{i}.jpg": _noise(100_000, seed=10 + i) for i in range(4)})
    work = tmp_path / "inputs"

    items, rows = expand_inputs([first, second], work, max_extract_bytes=600_000)

    assert [item.name for item in items] == [f"first.zip/a{i}.jpg" for i in range(4)]
    assert [(row.name, row.status) for row in rows] == [("second.zip", "error")]
    message = rows[0].message
    assert "390.6 KB" in message and "195.3 KB" in message and "send fewer photos per batch" in message, message
    assert sum(p.stat().st_size for p in _files_under(work)) <= 600_000

    # Without a caller's budget, the cap is max_files x EXTRACT_BYTES_PER_PHOTO.
    monkeypatch.setattr(batch_inputs, "EXTRACT_BYTES_PER_PHOTO", 150_000)
    items, rows = expand_inputs([first], tmp_path / "inputs-2", max_files=2)
    assert items == [] and rows[0].status == "error" and "fewer photos" in rows[0].message
    assert _files_under(tmp_path / "inputs-2") == []
    assert batch_inputs.batch_extract_limit(200) == 200 * 150_000
    items, rows = expand_inputs([first], tmp_path / "inputs-3", max_files=3)
    assert len(items) == 3 and [row.status for row in rows] == ["skipped"]  # 400 KB declared <= 450 KB


def test_a_member_larger_than_its_header_refuses_the_whole_archive(tmp_path, monkeypatch):
    archive = _zip(tmp_path / "liar.zip", {"a.jpg": _noise(10_000, seed=3), "b.jpg": _noise(10_000, seed=4)})
    real_open = zipfile.ZipFile.open

    def lying_open(self, member, *args, **kwargs):  # b.jpg yields 5 MB whatever its header says
        if getattr(member, "filename", member) == "b.jpg":
            return io.BytesIO(bytes(5 * 1024**2))
        return real_open(self, member, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", lying_open)
    items, rows = expand_inputs([archive], tmp_path / "inputs")
    assert items == [] and [(row.name, row.status) for row in rows] == [("liar.zip", "error")]
    assert "Nothing from this archive was used" in rows[0].message
    assert _files_under(tmp_path / "inputs") == []


def test_an_archive_of_real_photos_still_works(tmp_path, astronaut_rgb):
    """Photos, BMP and TIFF portraits included (over 8 MB in all), pass every archive check."""
    import cv2

    large = cv2.resize(astronaut_rgb, (1024, 1024), interpolation=cv2.INTER_CUBIC)
    members = {}
    for index, (picture, fmt, suffix) in enumerate([(astronaut_rgb, "JPEG", "jpg"), (large, "JPEG", "jpg"),
                                                    (large, "BMP", "bmp"), (large, "BMP", "bmp"),
                                                    (large, "TIFF", "tif")]):
        buffer = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(picture[:, ::-1] if index % 2 else picture)).save(buffer, format=fmt)
        members[f"holiday/photo{index}.{suffix}"] = buffer.getvalue()
    archive = _zip(tmp_path / "holiday.zip", members)
    assert sum(len(data) for data in members.values()) > 8 * 1024**2  # the whole-archive ratio applies

    items, rows = expand_inputs([archive], tmp_path / "inputs")

    assert rows == [] and [item.name for item in items] == [f"holiday.zip/{name}" for name in members]
    assert [item.path.read_bytes() for item in items] == list(members.values())
    summary = run_batch(items, _mirror_job, tmp_path / "out", job_name="mirror")
    assert [row.status for row in summary.rows] == ["ok"] * len(members)


@pytest.fixture(scope="module")
def cheap_studio(tmp_path_factory, cpu_compute):
    """A Studio without weights: the batch tests replace the job, so no model is loaded."""
    from pipeline.models.manifest import load_manifest
    from pipeline.restore.engine import RestorationPipeline
    from webapp.studio import Studio

    empty = tmp_path_factory.mktemp("no-weights")
    return Studio(RestorationPipeline(manifest=load_manifest(), weights_directory=empty, compute=cpu_compute))


def test_studio_batch_deletes_extracted_inputs_when_the_job_ends(tmp_path, astronaut_rgb, cheap_studio, monkeypatch):
    monkeypatch.setattr(batch_jobs, "background_job", lambda *args, **kwargs: _mirror_job)
    tiny = _png(astronaut_rgb[::8, ::8].copy())
    archive = _zip(tmp_path / "photos.zip", {"a.png": tiny, "b/c.png": tiny})
    out = tmp_path / "job"

    summary = cheap_studio.batch([archive], "background", out)

    assert [row.status for row in summary.rows] == ["warning", "warning"]  # 'very small', but processed
    assert not (out / "inputs").exists()
    pairs = summary.comparisons(out / "compare")  # what app.py shows: built from thumbnails, not inputs
    assert len(pairs) == 2 and all(path.is_file() for path, _ in pairs)

    def cancelled(index: int, total: int, name: str) -> None:
        assert (tmp_path / "job2" / "inputs").is_dir()  # the job really had extracted inputs
        raise RuntimeError("the visitor cancelled")

    with pytest.raises(RuntimeError, match="cancelled"):
        cheap_studio.batch([archive], "background", tmp_path / "job2", progress=cancelled)
    assert not (tmp_path / "job2" / "inputs").exists()

    summary = cheap_studio.batch([archive], "background", tmp_path / "job3", max_extract_bytes=len(tiny))
    assert [row.status for row in summary.rows] == ["error"] and "fewer photos" in summary.rows[0].message
    assert not (tmp_path / "job3" / "inputs").exists()


# -- running a batch and its reports ---------------------------------------------------------------
def test_batch_carries_on_and_writes_escaped_self_contained_reports(tmp_path, photo_files, astronaut_rgb):
    hostile = "<script>alert(1)</script>.png"
    archive = _zip(tmp_path / "upload.zip", {hostile: _png(astronaut_rgb), "dup/astronaut.png": _png(astronaut_rgb)})
    crash, no_face = tmp_path / "crash.png", tmp_path / "noface.png"
    crash.write_bytes(_png(np.zeros((7, 7, 3), np.uint8)))
    no_face.write_bytes(_png(np.zeros((9, 9, 3), np.uint8)))
    inputs = [photo_files["astronaut.png"], photo_files["corrupt.jpg"], photo_files["small.png"], archive,
              crash, no_face, photo_files["notes.txt"]]
    items, problems = expand_inputs(inputs, tmp_path / "work")
    calls = []

    summary = run_batch(items, _mirror_job, tmp_path / "out", job_name="mirror",
                        progress=lambda i, n, name: calls.append((i, n, name)), extra_rows=problems)

    assert calls == [(i + 1, len(items), item.name) for i, item in enumerate(items)]  # as each photo ends
    rows = {row.name: row for row in summary.rows}
    assert len(summary.rows) == len(items) + len(problems) == 8
    assert rows["astronaut.png"].status == "ok" and rows["astronaut.png"].output == "results/astronaut_mirror.png"
    assert rows["upload.zip/dup/astronaut.png"].output == "results/astronaut_mirror_2.png"  # never overwritten
    assert rows["small.png"].status == "warning" and "very small" in rows["small.png"].message
    assert rows["corrupt.jpg"].status == "error" and rows["corrupt.jpg"].message and not rows["corrupt.jpg"].output
    assert rows["crash.png"].message == "unexpected error (RuntimeError)"  # no internals leak
    assert rows["noface.png"].message == "No face was found in this photo. Use a portrait."
    assert rows["notes.txt"].status == "error"
    assert summary.counts == {"ok": 3, "warning": 1, "error": 4, "skipped": 0}
    output = tmp_path / "out" / rows[f"upload.zip/{hostile}"].output
    assert re.fullmatch(r"[\w.-]+", output.name) and output.parent == tmp_path / "out" / "results"
    np.testing.assert_array_equal(np.asarray(Image.open(output)), astronaut_rgb[:, ::-1])

    header, csv_rows = _read_csv(summary.csv_path)
    assert header == ["name", "status", "message", "output", "seconds", "width", "mean"]
    assert len(csv_rows) == 8
    assert {r["name"]: r["status"] for r in csv_rows} == {name: row.status for name, row in rows.items()}
    assert next(r for r in csv_rows if r["name"] == "astronaut.png")["width"] == "512"
    assert summary.table_headers() == ["File", "Status", "Notes", "Width", "Mean"]  # plain words (report.csv: keys)
    assert len(summary.table()) == 8 and all(len(line) == 5 for line in summary.table())

    page = summary.html_path.read_text(encoding="utf-8")
    assert "<script" not in page.lower() and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "http://" not in page and "https://" not in page and "src=\"http" not in page
    assert "<link" not in page and "@import" not in page and "url(" not in page
    thumbnails = _data_uri_images(page)
    assert len(thumbnails) == 2 * 4 + 2  # before/after of 4 processed photos, before of the 2 that failed
    assert all(img.format == "JPEG" and max(img.size) <= 256 for img in thumbnails)
    assert max(max(img.size) for img in thumbnails) == 256  # the 512 px photo was shrunk, not dropped
    for status, count in (("ok", 3), ("warning", 1), ("error", 4)):
        assert f"{status}: {count}" in page

    with zipfile.ZipFile(summary.zip_path) as results:
        names = sorted(results.namelist())
        assert results.testzip() is None
    outputs = sorted(row.output for row in summary.rows if row.output)
    assert names == sorted(["report.csv", "report.html", *outputs]) and len(outputs) == 4


# -- the real jobs ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cutter(random_pipeline) -> CutoutPipeline:
    return CutoutPipeline(random_pipeline.faces)


def test_background_job_strips_metadata_and_reports_the_matte(tmp_path, photo_files, cutter):
    process = background_job(cutter, BackgroundOptions(mode="transparent"), "png", detector="mtcnn",
                             matting="fallback")
    items, problems = expand_inputs([photo_files["gps.jpg"]], tmp_path / "work")
    summary = run_batch(items, process, tmp_path / "out", job_name="background")

    (row,) = summary.rows
    assert row.status in ("ok", "warning") and row.output == "results/gps_background.png", row.message
    offline = "selfie-segmentation" if selfie_available() else "fallback-plain-wall"
    assert row.metrics["matting"] == offline and row.metrics["faces"] == 1
    assert 0.1 < row.metrics["person_fraction"] < 0.9
    written = Image.open(tmp_path / "out" / row.output)
    assert written.mode == "RGBA" and written.size == (512, 512)
    assert not written.getexif() and "exif" not in written.info
    everything = b"".join(p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file())
    with zipfile.ZipFile(summary.zip_path) as results:
        everything += b"".join(results.read(name) for name in results.namelist())
    for secret in (SECRET_MAKE, SECRET_NOTE):
        assert secret.encode() not in everything
    assert "GPS" not in summary.csv_path.read_text(encoding="utf-8-sig")


def test_transparent_background_needs_a_format_with_alpha(cutter):
    with pytest.raises(InvalidOptionError) as error:
        background_job(cutter, BackgroundOptions(mode="transparent"), "jpg")
    assert "transparency" in error.value.user_message and "PNG" in error.value.user_message
    assert callable(background_job(cutter, BackgroundOptions(mode="colour"), "jpg", matting="fallback"))
    with pytest.raises(InvalidOptionError):
        background_job(cutter, BackgroundOptions(mode="colour"), "gif")


def test_restore_job_measures_faces_and_fidelity(tmp_path, photo_files, random_pipeline):
    process = restore_job(random_pipeline, RestoreOptions(detector="mtcnn"), "jpg")
    items, _ = expand_inputs([photo_files["gps.jpg"], photo_files["corrupt.jpg"]], tmp_path / "work")
    summary = run_batch(items, process, tmp_path / "out", job_name="restore")

    restored, corrupt = summary.rows
    # random weights: the face no longer looks like the person, and the row says so (issue 16)
    assert restored.status == "warning" and "may no longer look like the same person" in restored.message
    assert corrupt.status == "error" and corrupt.message
    metrics = restored.metrics
    assert metrics["identity_lowest"] < 0.30 and metrics["identity_verdict"] == "identity changed"
    html = summary.html_path.read_text(encoding="utf-8")
    csv_header = summary.csv_path.read_text(encoding="utf-8").splitlines()[0]
    assert "Identity score (lowest face)" in html and "below 0.30: identity changed" in html
    assert "identity_lowest" in csv_header and "identity_verdict" in csv_header
    assert (metrics["faces_found"], metrics["faces_restored"]) == (1, 1)
    assert metrics["output_size"] == "512x512" and metrics["detector"] == "mtcnn"
    assert metrics["model"] == random_pipeline.manifest.default("restorer").name
    assert 5 < metrics["psnr_vs_input_db"] < 60  # random weights change the face, not the whole photo
    written = Image.open(tmp_path / "out" / restored.output)
    assert written.format == "JPEG" and not written.getexif()
    assert SECRET_MAKE.encode() not in (tmp_path / "out" / restored.output).read_bytes()

    upscaled = restore_job(random_pipeline, RestoreOptions(detector="mtcnn", strength=0.0, upscale=2))
    summary = run_batch(items[:1], upscaled, tmp_path / "out2", job_name="restore")
    metrics = summary.rows[0].metrics
    assert metrics["output_size"] == "1024x1024" and metrics["faces_restored"] == 0
    assert metrics["psnr_vs_input_db"] == float("inf")  # compared with the input resized the same way


def test_idphoto_job_reports_compliance(tmp_path, photo_files, random_pipeline):
    maker = IdPhotoPipeline(random_pipeline.faces)
    options = IdPhotoOptions(spec=spec_for("us_passport"), detector="mtcnn", matting="fallback")
    items, _ = expand_inputs([photo_files["astronaut.png"]], tmp_path / "work")
    summary = run_batch(items, idphoto_job(maker, options), tmp_path / "out", job_name="us_passport")

    (row,) = summary.rows
    assert row.output == "results/astronaut_us_passport.jpg", row.message
    assert row.metrics["compliance"] in ("pass", "warn", "fail")
    assert row.metrics["size_px"] == "600x600" and row.metrics["dpi"] == 300
    assert row.metrics["file_kb"] > 0 and 0.3 < row.metrics["head_ratio"] < 0.8
    assert row.metrics["checks_failed"] + row.metrics["checks_warned"] >= 0
    if row.metrics["compliance"] != "pass":
        assert row.status == "warning" and "Compliance" in row.message
    assert row.status != "error"
    written = Image.open(tmp_path / "out" / row.output)
    assert written.format == "JPEG" and written.size == (600, 600) and not written.getexif()
    header, _ = _read_csv(summary.csv_path)
    assert "compliance" in header and "head_ratio" in header
