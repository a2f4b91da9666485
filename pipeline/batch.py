"""Batch processing with a QA report: many photos (files and ``.zip`` archives) through one
job (restore, new background or ID photo), then ``report.csv``, a self-contained
``report.html`` and ``results.zip`` with everything.

Used by the app's Batch tab, so it never raises for one bad input: every problem becomes a
row with a sentence. Uploaded archives are hostile until proven otherwise: members are
extracted under names *we* choose (never the member's path), traversal, absolute names,
symlinks, encrypted members, zip bombs and oversized archives are refused before anything
is written. What archives unpack is capped per call (room for the batch's photos, tighter
when the caller says so), whole archives that inflate far more than photos do are refused,
and a member that turns out bigger than its header says withdraws its whole archive. Only
thumbnails are kept between items, so memory stays bounded however many photos a batch
holds. Outputs are encoded by :mod:`pipeline.core.imageio` from pixels alone, and the reports
carry file names, statuses and our own measurements, never metadata read from the inputs.
"""
from __future__ import annotations

import base64
import csv
import html
import io
import math
import os
import re
import shutil
import stat
import time
import uuid
import zipfile
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
from PIL import Image

from pipeline.core.errors import InvalidOptionError, PortraitLabError
from pipeline.core.imageio import OUTPUT_FORMATS, SUPPORTED_INPUT_SUFFIXES, DecodedImage, decode_image, encode_image, write_atomically
from pipeline.core.limits import max_batch_files_from_env
from pipeline.core.metrics import psnr
from pipeline.core.publish import OutputFile, publish, safe_stem
from pipeline.core.units import human_bytes

if TYPE_CHECKING:  # hints only: torch-heavy modules load when a caller builds a pipeline
    from pipeline.cutout.background import BackgroundOptions
    from pipeline.cutout.cutter import CutoutPipeline
    from pipeline.restore.engine import RestorationPipeline, RestoreOptions
    from pipeline.idphoto.maker import IdPhotoOptions, IdPhotoPipeline

# Archive guards. A zip can unpack to far more than its upload size, and what it unpacks to
# sits on the server's disk while the batch runs, so every limit below is about disk space.
# Room per photo: a full batch (limits.DEFAULT_MAX_BATCH_FILES) may unpack to 200 x 8 MiB = 1.56 GiB,
# enough for large camera JPEGs; MAX_ARCHIVE_BYTES stays the ceiling if an operator raises the
# photo cap. The web app narrows it further per call (the visitor's quota, the free space).
EXTRACT_BYTES_PER_PHOTO = 8 * 1024**2
MAX_ARCHIVE_BYTES = 2 * 1024**3  # uncompressed, over all archives of one call, whatever the photo cap
MAX_ARCHIVE_MEMBERS = 10_000
# Photos barely compress (JPEG/PNG about 1x; even BMP/TIFF portraits rarely beyond 10x), so an
# archive that inflates more than MAX_ARCHIVE_COMPRESSION_RATIO times as a whole, once it unpacks
# to more than ARCHIVE_RATIO_MIN_BYTES, is filling the disk, however small each member is.
MAX_ARCHIVE_COMPRESSION_RATIO = 20.0
ARCHIVE_RATIO_MIN_BYTES = 8 * 1024**2
# One member may not hide inside a harmless archive: over 100x is refused once the member is
# larger than MEMBER_RATIO_MIN_BYTES (tiny files, such as a 1 KB blank icon, may compress well).
MAX_MEMBER_COMPRESSION_RATIO = 100.0
MEMBER_RATIO_MIN_BYTES = 64 * 1024
_COPY_CHUNK = 1024**2

THUMBNAIL_MAX_SIDE = 256
THUMBNAIL_QUALITY = 80
TRANSPARENT_FORMATS = ("png", "webp")

STATUS_OK, STATUS_WARNING, STATUS_ERROR, STATUS_SKIPPED = "ok", "warning", "error", "skipped"
STATUSES = (STATUS_OK, STATUS_WARNING, STATUS_ERROR, STATUS_SKIPPED)
BASE_COLUMNS = ("name", "status", "message", "output", "seconds")
RESULTS_FOLDER = "results"
JOB_NAME_MAX = 40  # the job name ends every result name; the photo's own name comes first


# --------------------------------------------------------------------------------------
# Data types
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BatchItem:
    """One image to process: ``name`` is what the user recognises ("photos.zip/kids/a.jpg"),
    ``path`` where its bytes are on disk (for archive members: a file we extracted)."""

    name: str
    path: Path

    @property
    def stem(self) -> str:
        return PurePosixPath(self.name.replace("\\", "/")).stem or "image"


@dataclass
class BatchRow:
    """One line of the report. ``output`` is relative to the job folder ("results/a.png"),
    so no server path leaks into a report. Thumbnails are small JPEG bytes (HTML only)."""

    name: str
    status: str
    message: str = ""
    output: str = ""
    seconds: float | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    before_thumbnail: bytes | None = field(default=None, repr=False)
    after_thumbnail: bytes | None = field(default=None, repr=False)


@dataclass
class JobOutput:
    """What a job makes of one photo: the file's bytes and suffix, the picture for the
    after-thumbnail (``preview`` RGB, optional ``preview_alpha``), measurements and warnings."""

    data: bytes
    suffix: str
    preview: np.ndarray
    metrics: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    preview_alpha: np.ndarray | None = None


Process = Callable[[DecodedImage], JobOutput]
Progress = Callable[[int, int, str], None]


@dataclass
class BatchSummary:
    """Everything the UI shows after a batch: rows, counts, the report files and the time."""

    job_name: str
    rows: list[BatchRow]
    counts: dict[str, int]
    csv_path: Path
    html_path: Path
    zip_path: Path
    seconds: float

    def metric_columns(self) -> list[str]:
        return _metric_columns(self.rows)

    def table_headers(self) -> list[str]:
        """Column names matching :meth:`table`."""
        return ["name", "status", *self.metric_columns(), "message"]

    def table(self) -> list[list[Any]]:
        """Rows as lists for a UI dataframe: name, status, every metric, then the (long) message."""
        columns = self.metric_columns()
        return [[row.name, row.status, *(_plain(row.metrics.get(c, "")) for c in columns), row.message]
                for row in self.rows]

    def comparisons(self, directory: Path) -> list[tuple[Path, str]]:
        """Side-by-side before | after thumbnails written to ``directory``, with a caption
        (name and status) each: the QA view of a batch at a glance."""
        directory.mkdir(parents=True, exist_ok=True)
        pairs: list[tuple[Path, str]] = []
        for row in self.rows:
            if row.before_thumbnail is None or row.after_thumbnail is None:
                continue
            before, after = (_decode_thumbnail(t) for t in (row.before_thumbnail, row.after_thumbnail))
            height = max(before.shape[0], after.shape[0])
            gap = np.full((height, 8, 3), 255, np.uint8)
            panel = np.concatenate([_pad_to_height(before, height), gap, _pad_to_height(after, height)], axis=1)
            jpeg = encode_image(panel, format="JPEG", quality=THUMBNAIL_QUALITY)
            [target] = publish(directory, Path(row.name).stem, [OutputFile(".jpg", jpeg)])
            pairs.append((target, f"{row.name}: {row.status}"))
        return pairs


# --------------------------------------------------------------------------------------
# Inputs: files and zip archives
# --------------------------------------------------------------------------------------
class _ArchiveRefused(Exception):
    """The whole archive is unsafe or unreadable; the message is for the user."""


_NOTHING_USED = "Nothing from this archive was used; please zip the photos again, or upload them directly."


@dataclass
class _Expansion:
    """What one ``expand_inputs`` call has gathered so far. ``byte_budget`` is what archives
    may still unpack onto the disk, shared by all archives of the call; ``unpacked`` and
    ``packed`` sum the archives accepted so far, so that splitting a bomb into several small
    archives does not slip under the whole-archive ratio."""

    work_dir: Path
    max_files: int
    byte_budget: int
    items: list[BatchItem] = field(default_factory=list)
    rows: list[BatchRow] = field(default_factory=list)
    unpacked: int = 0
    packed: int = 0

    def full(self) -> bool:
        return len(self.items) >= self.max_files

    def skip(self, name: str) -> None:
        self.rows.append(BatchRow(name, STATUS_SKIPPED,
                                  f"Skipped: the limit of {self.max_files} images per batch was reached."))

    def error(self, name: str, message: str) -> None:
        self.rows.append(BatchRow(name, STATUS_ERROR, message))

    def mark(self) -> tuple[int, ...]:
        return len(self.items), len(self.rows), self.byte_budget, self.unpacked, self.packed

    def rollback(self, mark: tuple[int, ...]) -> None:
        """Forget an archive refused half-way, so no item points at a file we deleted."""
        items, rows, self.byte_budget, self.unpacked, self.packed = mark
        del self.items[items:], self.rows[rows:]


def batch_extract_limit(max_files: int) -> int:
    """Bytes one call may unpack from archives: room for ``max_files`` photos of
    EXTRACT_BYTES_PER_PHOTO each, never above MAX_ARCHIVE_BYTES. A batch only needs room for
    the photos it may process; anything beyond that would only fill the disk."""
    return min(MAX_ARCHIVE_BYTES, max_files * EXTRACT_BYTES_PER_PHOTO)


def expand_inputs(paths: Sequence[Path], work_dir: Path, *, max_files: int | None = None,
                  max_extract_bytes: int | None = None) -> tuple[list[BatchItem], list[BatchRow]]:
    """Image files and ``.zip`` archives -> items to process, plus rows for what was refused
    or skipped (never an exception for a bad input). Archive members are extracted into
    ``work_dir`` under generated names. ``max_files`` defaults to the environment's cap.
    ``max_extract_bytes`` is the caller's own budget for what all archives of this call may
    unpack (the web app's: the visitor's disk quota and the free space); the tighter of it and
    :func:`batch_extract_limit` applies. Plain image files are not copied, so they do not count."""
    limit = max_batch_files_from_env() if max_files is None else max_files
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidOptionError(f"The batch limit must be a positive whole number, got {limit!r}.")
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    state = _Expansion(work_dir=work_dir, max_files=limit, byte_budget=_extract_budget(limit, max_extract_bytes))
    for raw in paths:
        _add_input(Path(raw), state)
    return state.items, state.rows


def _extract_budget(max_files: int, max_extract_bytes: int | None) -> int:
    """The tighter of the per-call cap and the caller's budget. A caller already past its quota
    may compute a negative budget: that means no room, not an error."""
    cap = batch_extract_limit(max_files)
    if max_extract_bytes is None:
        return cap
    if isinstance(max_extract_bytes, bool) or not isinstance(max_extract_bytes, int):
        raise InvalidOptionError(f"The unpacking budget must be a whole number of bytes, got {max_extract_bytes!r}.")
    return max(0, min(cap, max_extract_bytes))


def _add_input(path: Path, state: _Expansion) -> None:
    """One uploaded path: an archive is expanded, a photo is queued, anything else is a row."""
    name = path.name or str(path)
    suffix = path.suffix.lower()
    if suffix != ".zip" and suffix not in SUPPORTED_INPUT_SUFFIXES:
        state.error(name, _unsupported_message(path.suffix))
    elif not path.is_file():
        state.error(name, "File not found.")
    elif suffix == ".zip":
        _add_archive(path, name, state)
    elif state.full():
        state.skip(name)
    else:
        state.items.append(BatchItem(name, path))


def _add_archive(path: Path, name: str, state: _Expansion) -> None:
    """Expand one archive; whatever is wrong with it as a whole becomes its one row."""
    try:
        _expand_archive(path, name, state)
    except _ArchiveRefused as refusal:
        state.error(name, str(refusal))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, RuntimeError,
            NotImplementedError) as error:
        state.error(name, f"This zip archive cannot be read ({_describe(error)}).")


def _unsupported_message(suffix: str) -> str:
    kinds = ", ".join(sorted(SUPPORTED_INPUT_SUFFIXES))
    what = f"'{suffix}' files are" if suffix else "A file without an extension is"
    return f"{what} not supported images; use {kinds}, or a .zip of them."


def _describe(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _member_problem(info: zipfile.ZipInfo) -> str | None:
    """Why a member must not be extracted, or None. Names are judged as written in the
    archive, with either slash, because extractors on other systems would honour both."""
    name = info.filename.replace("\\", "/")
    parts = name.split("/")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return "Refused: an absolute path inside the archive."
    if ".." in parts:
        return "Refused: a path that points outside the archive ('..')."
    if "\x00" in name:
        return "Refused: a file name with a NUL character."
    if stat.S_ISLNK(info.external_attr >> 16):
        return "Refused: symbolic links are not extracted."
    if info.flag_bits & 0x1:
        return "Encrypted archive members are not supported."
    return None


def _is_junk(info: zipfile.ZipInfo) -> bool:
    """Folders, hidden files and macOS resource forks are not photos; skipped silently."""
    if info.is_dir():
        return True
    parts = [p for p in info.filename.replace("\\", "/").split("/") if p]
    return not parts or any(p.startswith(".") or p == "__MACOSX" for p in parts)


def _check_size(members: Sequence[zipfile.ZipInfo], room: int) -> None:
    """Refuse, before anything is written, an archive with more entries or more (declared)
    bytes than this batch has room for; the visitor can act on it by sending fewer photos."""
    if len(members) > MAX_ARCHIVE_MEMBERS:
        raise _ArchiveRefused(f"This archive has {len(members)} entries; at most {MAX_ARCHIVE_MEMBERS} are accepted.")
    declared = sum(info.file_size for info in members)
    if declared > room:
        limit = (f"the limit of {human_bytes(room)} this batch may unpack" if room
                 else "the limit: this batch has no room left")
        raise _ArchiveRefused(
            f"This archive unpacks to {human_bytes(declared)}, over {limit}. Please send fewer photos per "
            "batch (for example, split the archive), or press \"Delete my files now\" on the Privacy tab to make "
            "room.")


def _check_inflation(members: Sequence[zipfile.ZipInfo], archive_bytes: int, state: _Expansion) -> tuple[int, int]:
    """Refuse archives that inflate far more than photos do: one big member over 100x, or the
    archive as a whole over 20x (many small members, each harmless alone, fill a disk just as
    well), also counted with the archives accepted before it in this call. The packed total
    is at most the file's own size, so headers claiming poor compression cannot hide the
    real ratio. Returns the archive's (unpacked, packed) bytes."""
    for info in members:
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > MEMBER_RATIO_MIN_BYTES and ratio > MAX_MEMBER_COMPRESSION_RATIO:
            raise _ArchiveRefused(
                f"The file '{info.filename}' in this archive would grow {ratio:.0f} times when unpacked, far more "
                f"than a real photo, as in a damaged or malicious archive (a \"zip bomb\"). {_NOTHING_USED}")
    unpacked = sum(info.file_size for info in members)
    packed = min(sum(info.compress_size for info in members), archive_bytes)
    _check_ratio(unpacked, packed, "This archive")
    _check_ratio(state.unpacked + unpacked, state.packed + packed, "With the archives before it, this archive")
    return unpacked, packed


def _check_ratio(unpacked: int, packed: int, subject: str) -> None:
    ratio = unpacked / max(packed, 1)
    if unpacked > ARCHIVE_RATIO_MIN_BYTES and ratio > MAX_ARCHIVE_COMPRESSION_RATIO:
        raise _ArchiveRefused(
            f"{subject} would grow {ratio:.0f} times when unpacked (to {human_bytes(unpacked)}), far more "
            f"than real photos, as in a damaged or malicious archive (a \"zip bomb\"). {_NOTHING_USED}")


def _expand_archive(path: Path, name: str, state: _Expansion) -> None:
    """Check the whole archive, then extract its photos. A refusal half-way (a member bigger
    than its header says) removes what this archive already wrote: it was lying, so none of
    it is trusted, and its files must not stay on the disk."""
    with zipfile.ZipFile(path) as archive:
        members = archive.infolist()
        mark = state.mark()
        # A bomb is named as one first; only an honest archive is then measured against the room.
        unpacked, packed = _check_inflation(members, path.stat().st_size, state)
        _check_size(members, state.byte_budget)
        state.unpacked, state.packed = state.unpacked + unpacked, state.packed + packed
        target_dir = state.work_dir / f"archive-{uuid.uuid4().hex[:12]}"
        try:
            for index, info in enumerate(members):
                _expand_member(archive, index, info, f"{name}/{info.filename}", target_dir, state)
        except BaseException:
            state.rollback(mark)
            shutil.rmtree(target_dir, ignore_errors=True)
            raise


def _expand_member(archive: zipfile.ZipFile, index: int, info: zipfile.ZipInfo, member_name: str,
                   target_dir: Path, state: _Expansion) -> None:
    """Extract one member under our own name, or add the row that says why not."""
    if info.is_dir():
        return
    problem = _member_problem(info)  # before the junk test: '../x' must be reported, not hidden
    if problem:
        state.error(member_name, problem)
        return
    if _is_junk(info):
        return
    suffix = PurePosixPath(info.filename.replace("\\", "/")).suffix.lower()
    if suffix == ".zip":
        state.error(member_name, "Archives inside archives are not opened; add them separately.")
    elif suffix not in SUPPORTED_INPUT_SUFFIXES:
        state.error(member_name, _unsupported_message(suffix))
    elif state.full():
        state.skip(member_name)
    else:
        target_dir.mkdir(parents=True, exist_ok=True)
        target = target_dir / f"{index:05d}{suffix}"  # our name, never the member's path
        try:
            state.byte_budget -= _extract(archive, info, target, state.byte_budget)
        except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError, ValueError) as error:
            with suppress(FileNotFoundError):
                target.unlink()
            state.error(member_name, f"This archive member cannot be read ({_describe(error)}).")
            return
        state.items.append(BatchItem(member_name, target))


def _extract(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, budget: int) -> int:
    """Copy one member in chunks, counting what really comes out (headers can lie): more than
    the header declares, or than the batch has room for, stops the copy at once."""
    written = 0
    limit = min(info.file_size, budget)
    with archive.open(info) as source, open(target, "xb") as sink:
        while chunk := source.read(_COPY_CHUNK):
            written += len(chunk)
            if written > limit:
                sink.close()
                target.unlink()
                raise _ArchiveRefused(f"The file '{info.filename}' in this archive unpacks to more than the "
                                      f"archive says it holds, so it looks tampered with. {_NOTHING_USED}")
            sink.write(chunk)
    return written


# --------------------------------------------------------------------------------------
# Jobs
# --------------------------------------------------------------------------------------
def _output_format(fmt: str) -> str:
    key = str(fmt).strip().lower().lstrip(".")
    key = "jpg" if key == "jpeg" else key
    if key not in OUTPUT_FORMATS:
        raise InvalidOptionError(f"Unknown output format '{fmt}'.", hint=f"Use one of: {', '.join(OUTPUT_FORMATS)}.")
    return key


def restore_job(engine: RestorationPipeline, options: RestoreOptions, fmt: str = "png") -> Process:
    """Face restoration per photo. Options and the model are checked here, so missing weights
    or a bad option stop the batch once instead of failing every photo."""
    key = _output_format(fmt)
    options = options.validated(engine.manifest)
    engine.restorer(options.model)

    def process(image: DecodedImage) -> JobOutput:
        result = engine.restore(image, options)
        height, width = result.image.shape[:2]
        reference = image.rgb
        if reference.shape != result.image.shape:  # upscaled: compare with the input resized the same way
            reference = cv2.resize(reference, (width, height), interpolation=cv2.INTER_CUBIC)
        metrics = {
            "faces_found": len(result.faces),
            "faces_restored": sum(1 for face in result.faces if face.restored),
            "output_size": f"{width}x{height}",
            "psnr_vs_input_db": _rounded(psnr(result.image, reference), 2),
            "model": result.model,
            "detector": result.detector,
        }
        data = encode_image(result.image, result.alpha, format=key)
        return JobOutput(data=data, suffix=OUTPUT_FORMATS[key], preview=result.image, metrics=metrics,
                         warnings=list(result.warnings), preview_alpha=result.alpha if key != "jpg" else None)

    return process


def background_job(cutter: CutoutPipeline, options: BackgroundOptions, fmt: str = "png", *,
                   detector: str = "auto", matting: str = "auto") -> Process:
    """New background per photo; a transparent result needs a format that keeps alpha."""
    from pipeline.cutout.matting import MATTING_METHODS

    key = _output_format(fmt)
    options = options.validated()
    if options.mode == "transparent" and key not in TRANSPARENT_FORMATS:
        raise InvalidOptionError(f"{key.upper()} cannot hold transparency.",
                                 hint="Choose PNG or WebP for a transparent background, or another background mode.")
    if matting not in MATTING_METHODS:
        raise InvalidOptionError(f"Unknown matting method {matting!r}.", hint=f"Choose one of: {', '.join(MATTING_METHODS)}.")

    def process(image: DecodedImage) -> JobOutput:
        result, cut = cutter.replace_background(image, options, detector=detector, matting=matting)
        metrics = {
            "matting": cut.matte.method,
            "person_fraction": _rounded(float(np.mean(cut.matte.alpha >= 0.5)), 3),
            "faces": len(cut.faces),
            "mode": options.mode,
        }
        data = encode_image(result.rgb, result.alpha, format=key)
        return JobOutput(data=data, suffix=OUTPUT_FORMATS[key], preview=result.rgb, metrics=metrics,
                         warnings=list(cut.warnings), preview_alpha=result.alpha)

    return process


def idphoto_job(maker: IdPhotoPipeline, options: IdPhotoOptions) -> Process:
    """ID photo per photo; a compliance verdict other than pass makes the row a warning, so a
    photo that would be rejected at the counter never looks finished."""
    options = options.validated()

    def process(image: DecodedImage) -> JobOutput:
        result = maker.make(image, options)
        report = result.report
        counts = {status: sum(check.status == status for check in report.checks) for status in ("fail", "warn")}
        try:
            head_ratio = report.check("head_height").value
        except KeyError:
            head_ratio = None
        width, height = result.plan.size
        metrics = {
            "compliance": report.overall,
            "checks_failed": counts["fail"],
            "checks_warned": counts["warn"],
            "file_kb": round(len(result.encoded) / 1024, 1),
            "size_px": f"{width}x{height}",
            "dpi": result.dpi,
            "head_ratio": _rounded(head_ratio if head_ratio is not None else result.plan.head_ratio, 3),
            "spec": result.spec.id,
        }
        warnings = list(result.warnings)
        if report.overall != "pass":
            failing = [c.title for c in report.checks if c.status == report.overall]
            warnings.insert(0, f"Compliance: {report.overall.upper()} ({', '.join(failing)}).")
        return JobOutput(data=result.encoded, suffix=f".{result.format}", preview=result.photo, metrics=metrics,
                         warnings=warnings)

    return process


def _rounded(value: float, digits: int) -> float:
    return value if not math.isfinite(value) else round(float(value), digits)


# --------------------------------------------------------------------------------------
# Running a batch
# --------------------------------------------------------------------------------------
def run_batch(items: Sequence[BatchItem], process: Process, out_dir: Path, *, job_name: str,
              progress: Progress | None = None, extra_rows: Sequence[BatchRow] = ()) -> BatchSummary:
    """Run ``process`` on every item; one failure never stops the batch. Outputs go to
    ``out_dir/results``; then report.csv, report.html and results.zip are written.
    ``progress(index, total, name)`` is called before each item (index counts from 0).
    ``extra_rows`` (the problems ``expand_inputs`` found) are reported after the items."""
    started = time.perf_counter()
    out_dir = Path(out_dir)
    results_dir = out_dir / RESULTS_FOLDER
    results_dir.mkdir(parents=True, exist_ok=True)
    job = safe_stem(job_name, fallback="job")[:JOB_NAME_MAX]
    written: list[Path] = []
    rows: list[BatchRow] = []
    total = len(items)
    for index, item in enumerate(items):
        if progress is not None:
            progress(index, total, item.name)
        row = _run_one(item, process, results_dir, job)
        if row.output:
            written.append(out_dir / row.output)
        rows.append(row)
    rows.extend(extra_rows)
    counts = {status: sum(row.status == status for row in rows) for status in STATUSES}
    csv_path, html_path, zip_path = out_dir / "report.csv", out_dir / "report.html", out_dir / "results.zip"
    write_atomically(csv_path, _csv_bytes(rows))
    # The HTML states the total time, so it is measured up to here (the zip takes little more).
    seconds = time.perf_counter() - started
    write_atomically(html_path, _html_report(job_name, rows, counts, seconds).encode("utf-8"))
    _write_zip(zip_path, out_dir, written, [csv_path, html_path])
    return BatchSummary(job_name=job_name, rows=rows, counts=counts, csv_path=csv_path, html_path=html_path,
                        zip_path=zip_path, seconds=time.perf_counter() - started)


def _run_one(item: BatchItem, process: Process, results_dir: Path, job: str) -> BatchRow:
    """Decode, process, write one item; every failure becomes the row's message."""
    start = time.perf_counter()
    row = BatchRow(item.name, STATUS_ERROR)
    try:
        image = decode_image(item.path)
        row.before_thumbnail = _thumbnail(image.rgb, image.alpha)
        output = process(image)
        del image  # only thumbnails outlive an item
        [target] = publish(results_dir, item.stem, [OutputFile(output.suffix, output.data)], tag=f"_{job}")
        row.output = f"{RESULTS_FOLDER}/{target.name}"
        row.after_thumbnail = _thumbnail(output.preview, output.preview_alpha)
        row.metrics = {str(k): _plain(v) for k, v in output.metrics.items()}
        row.status = STATUS_WARNING if output.warnings else STATUS_OK
        row.message = " ".join(str(w) for w in output.warnings)
    except PortraitLabError as error:
        row.message = error.user_message
    except Exception as error:  # noqa: BLE001 - one broken photo must not stop the batch
        row.message = f"unexpected error ({type(error).__name__})"
    row.seconds = round(time.perf_counter() - start, 3)
    return row


def _plain(value: Any) -> Any:
    """numpy scalars -> Python ones, so the CSV, HTML and UI see ordinary numbers."""
    return value.item() if isinstance(value, np.generic) else value


def _thumbnail(rgb: np.ndarray, alpha: np.ndarray | None = None) -> bytes:
    """A small JPEG (long side <= 256 px); transparency is shown over a light checkerboard."""
    height, width = rgb.shape[:2]
    scale = min(1.0, THUMBNAIL_MAX_SIDE / max(height, width))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA) if scale < 1.0 else rgb
    if alpha is not None:
        small_alpha = cv2.resize(alpha, size, interpolation=cv2.INTER_AREA) if scale < 1.0 else alpha
        yy, xx = np.indices(small_alpha.shape)
        board = np.where(((yy // 8 + xx // 8) % 2 == 0)[..., None], 255, 204).astype(np.float32)
        weight = small_alpha.astype(np.float32)[..., None] / 255.0
        small = (small.astype(np.float32) * weight + board * (1.0 - weight) + 0.5).astype(np.uint8)
    return encode_image(np.ascontiguousarray(small), format="JPEG", quality=THUMBNAIL_QUALITY)


# --------------------------------------------------------------------------------------
# Reports
# --------------------------------------------------------------------------------------
def _decode_thumbnail(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


def _pad_to_height(rgb: np.ndarray, height: int) -> np.ndarray:
    if rgb.shape[0] == height:
        return rgb
    pad = np.full((height - rgb.shape[0], rgb.shape[1], 3), 255, np.uint8)
    return np.concatenate([rgb, pad], axis=0)


def _metric_columns(rows: Sequence[BatchRow]) -> list[str]:
    """Union of metric names in first-seen order (stable across runs of the same job)."""
    columns: dict[str, None] = {}
    for row in rows:
        for key in row.metrics:
            columns.setdefault(key, None)
    return list(columns)


def _csv_cell(value: Any) -> Any:
    """Neutralise spreadsheet formulas in text (a file named '=cmd|...' must stay text)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value


def _csv_bytes(rows: Sequence[BatchRow]) -> bytes:
    columns = _metric_columns(rows)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([*BASE_COLUMNS, *columns])
    for row in rows:
        base = [row.name, row.status, row.message, row.output, "" if row.seconds is None else row.seconds]
        writer.writerow([_csv_cell(v) for v in base] + [_csv_cell(row.metrics.get(c, "")) for c in columns])
    return buffer.getvalue().encode("utf-8-sig")  # the BOM makes spreadsheet apps read UTF-8


_STATUS_COLOURS = {STATUS_OK: "#1b7f3b", STATUS_WARNING: "#b26a00", STATUS_ERROR: "#c62828", STATUS_SKIPPED: "#6b6b6b"}

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;background:#fafafa}
h1{font-size:1.4em;margin:0 0 8px}
.summary span{display:inline-block;margin:0 12px 12px 0;padding:4px 10px;border-radius:12px;color:#fff}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{border:1px solid #ddd;padding:6px;vertical-align:top;text-align:left;font-size:0.9em}
th{background:#f0f0f0}
td.thumb{width:260px;text-align:center;color:#999}
img{max-width:256px;max-height:256px}
.status{font-weight:bold;color:#fff;padding:2px 8px;border-radius:10px;white-space:nowrap}
dl{margin:0;display:grid;grid-template-columns:auto 1fr;gap:2px 8px}
dt{color:#555}dd{margin:0}
.name{word-break:break-all;font-weight:600}
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _img(data: bytes | None, alt: str) -> str:
    if not data:
        return "&ndash;"
    encoded = base64.b64encode(data).decode("ascii")
    return f'<img alt="{_e(alt)}" src="data:image/jpeg;base64,{encoded}">'


def _html_report(job_name: str, rows: Sequence[BatchRow], counts: dict[str, int], seconds: float) -> str:
    """One self-contained page: inline CSS, data-URI thumbnails, no script and no external
    resource (a strict Content-Security-Policy says so to the browser too). Every string
    that came from a user is escaped."""
    badges = "".join(
        f'<span style="background:{_STATUS_COLOURS[status]}">{_e(status)}: {counts.get(status, 0)}</span>'
        for status in STATUSES if counts.get(status, 0) or status != STATUS_SKIPPED
    )
    lines = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta http-equiv="Content-Security-Policy" '
        "content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Portrait Lab batch report: {_e(job_name)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Portrait Lab batch report: {_e(job_name)}</h1>",
        f'<p class="summary">{badges}<br>{len(rows)} file(s), total time {seconds:.1f} s</p>',
        "<table><thead><tr><th>Name</th><th>Status</th><th>Before</th><th>After</th><th>Details</th></tr></thead><tbody>",
    ]
    for row in rows:
        colour = _STATUS_COLOURS.get(row.status, "#6b6b6b")
        details = []
        if row.message:
            details.append(f"<dt>message</dt><dd>{_e(row.message)}</dd>")
        if row.output:
            details.append(f"<dt>output</dt><dd>{_e(row.output)}</dd>")
        if row.seconds is not None:
            details.append(f"<dt>seconds</dt><dd>{row.seconds:.2f}</dd>")
        details += [f"<dt>{_e(key)}</dt><dd>{_e(value)}</dd>" for key, value in row.metrics.items()]
        lines.append(
            f'<tr><td class="name">{_e(row.name)}</td>'
            f'<td><span class="status" style="background:{colour}">{_e(row.status)}</span></td>'
            f'<td class="thumb">{_img(row.before_thumbnail, "before")}</td>'
            f'<td class="thumb">{_img(row.after_thumbnail, "after")}</td>'
            f'<td><dl>{"".join(details)}</dl></td></tr>'
        )
    lines.append("</tbody></table></body></html>")
    return "\n".join(lines)


def _write_zip(zip_path: Path, out_dir: Path, outputs: Sequence[Path], reports: Sequence[Path]) -> None:
    """results.zip with this run's outputs (results/...) and the reports; written to a temp
    name first so a half-written zip is never offered for download."""
    temporary = zip_path.with_name(f".{zip_path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with zipfile.ZipFile(temporary, "w") as archive:
            for path in outputs:  # images are already compressed
                archive.write(path, path.relative_to(out_dir).as_posix(), compress_type=zipfile.ZIP_STORED)
            for path in reports:
                archive.write(path, path.name, compress_type=zipfile.ZIP_DEFLATED)
        os.replace(temporary, zip_path)
    except BaseException:
        with suppress(FileNotFoundError):
            temporary.unlink()
        raise
