"""A batch's inputs: uploaded image files and ``.zip`` archives -> the items to process, plus a
report row for everything refused or skipped (never an exception for one bad input).

Uploaded archives are hostile until proven otherwise: members are extracted under names
*we* choose (never the member's path), traversal, absolute names, symlinks, encrypted
members, zip bombs and oversized archives are refused before anything is written. What
archives unpack is capped per call (room for the batch's photos, tighter when the caller
says so), whole archives that inflate far more than photos do are refused, and a member that
turns out bigger than its header says withdraws its whole archive.
"""
from __future__ import annotations

import re
import shutil
import stat
import uuid
import zipfile
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path, PurePosixPath

from pipeline.batch.report import STATUS_ERROR, STATUS_SKIPPED, BatchRow
from pipeline.core.decode import SUPPORTED_INPUT_SUFFIXES
from pipeline.core.errors import InvalidOptionError
from pipeline.core.limits import max_batch_files_from_env
from pipeline.core.units import human_bytes
from pipeline.i18n import DEFAULT_LANGUAGE, Message, Text, render

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


@dataclass(frozen=True)
class BatchItem:
    """One image to process: ``name`` is what the user recognises ("photos.zip/kids/a.jpg"),
    ``path`` where its bytes are on disk (for archive members: a file we extracted)."""

    name: str
    path: Path

    @property
    def stem(self) -> str:
        return PurePosixPath(self.name.replace("\\", "/")).stem or "image"

    @cached_property
    def size(self) -> int:
        """Its size in bytes, read once (a resumable batch keys on it: on a million-file
        folder every extra ``stat`` counts); -1 when the file is gone."""
        try:
            return self.path.stat().st_size
        except OSError:
            return -1


class _ArchiveRefused(Exception):
    """The whole archive is unsafe or unreadable; ``text`` is for the user."""

    def __init__(self, text: Text) -> None:
        super().__init__(str(text))
        self.text = text


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
    lang: str = DEFAULT_LANGUAGE  # the language of the rows' sentences

    def full(self) -> bool:
        return len(self.items) >= self.max_files

    def skip(self, name: str) -> None:
        self.rows.append(BatchRow(name, STATUS_SKIPPED,
                                  Message("batch.input.skipped", {"limit": self.max_files}).text(self.lang)))

    def error(self, name: str, message: Text) -> None:
        self.rows.append(BatchRow(name, STATUS_ERROR, str(render(message, self.lang))))

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
                  max_extract_bytes: int | None = None,
                  names: Sequence[str] | None = None,
                  lang: str = DEFAULT_LANGUAGE) -> tuple[list[BatchItem], list[BatchRow]]:
    """Image files and ``.zip`` archives -> items to process, plus rows for what was refused
    or skipped (never an exception for a bad input). Archive members are extracted into
    ``work_dir`` under generated names. ``max_files`` defaults to the environment's cap.
    ``max_extract_bytes`` is the caller's own budget for what all archives of this call may
    unpack (the web app's: the visitor's disk quota and the free space); the tighter of it and
    :func:`batch_extract_limit` applies. Plain image files are not copied, so they do not count.
    ``names`` are what the report calls each path (default: its file name, as uploads are);
    the rows' sentences are in ``lang``."""
    limit = max_batch_files_from_env() if max_files is None else max_files
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidOptionError(f"The batch limit must be a positive whole number, got {limit!r}.")
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    state = _Expansion(work_dir=work_dir, max_files=limit, byte_budget=_extract_budget(limit, max_extract_bytes),
                       lang=lang)
    for index, raw in enumerate(paths):
        _add_input(Path(raw), state, names[index] if names is not None else None)
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


def _add_input(path: Path, state: _Expansion, name: str | None = None) -> None:
    """One uploaded path: an archive is expanded, a photo is queued, anything else is a row."""
    name = name or path.name or str(path)
    suffix = path.suffix.lower()
    if suffix != ".zip" and suffix not in SUPPORTED_INPUT_SUFFIXES:
        state.error(name, _unsupported_message(path.suffix))
    elif not path.is_file():
        state.error(name, Message("batch.input.not_found"))
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
        state.error(name, refusal.text)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, RuntimeError,
            NotImplementedError) as error:
        state.error(name, Message("batch.input.zip_unreadable", {"reason": _describe(error)}))


def _unsupported_message(suffix: str) -> Message:
    kinds = ", ".join(sorted(SUPPORTED_INPUT_SUFFIXES))
    if suffix:
        return Message("batch.input.unsupported", {"suffix": suffix, "kinds": kinds})
    return Message("batch.input.unsupported_no_suffix", {"kinds": kinds})


def _describe(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _member_problem(info: zipfile.ZipInfo) -> Message | None:
    """Why a member must not be extracted, or None. Names are judged as written in the
    archive, with either slash, because extractors on other systems would honour both."""
    name = info.filename.replace("\\", "/")
    parts = name.split("/")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return Message("batch.input.absolute_path")
    if ".." in parts:
        return Message("batch.input.outside_path")
    if "\x00" in name:
        return Message("batch.input.nul_name")
    if stat.S_ISLNK(info.external_attr >> 16):
        return Message("batch.input.symlink")
    if info.flag_bits & 0x1:
        return Message("batch.input.encrypted")
    return None


def _is_junk(info: zipfile.ZipInfo) -> bool:
    """Folders, hidden files and macOS resource forks are not photos; skipped silently."""
    if info.is_dir():
        return True
    parts = [p for p in info.filename.replace("\\", "/").split("/") if p]
    return not parts or any(p.startswith(".") or p == "__MACOSX" for p in parts)


def member_suffix(info: zipfile.ZipInfo) -> str:
    """A member's file extension, lower case, whichever slash its archiver wrote."""
    return PurePosixPath(info.filename.replace("\\", "/")).suffix.lower()


def is_photo_member(info: zipfile.ZipInfo) -> bool:
    """A member the batch unpacks as a photo: no folder, hidden file or resource fork, and a
    photo's extension (the ZeroGPU lease counts these without unpacking anything)."""
    return not _is_junk(info) and member_suffix(info) in SUPPORTED_INPUT_SUFFIXES


def _check_size(members: Sequence[zipfile.ZipInfo], room: int) -> None:
    """Refuse, before anything is written, an archive with more entries or more (declared)
    bytes than this batch has room for; the visitor can act on it by sending fewer photos."""
    if len(members) > MAX_ARCHIVE_MEMBERS:
        raise _ArchiveRefused(Message("batch.input.too_many_entries",
                                      {"count": len(members), "limit": MAX_ARCHIVE_MEMBERS}))
    declared = sum(info.file_size for info in members)
    if declared > room:
        raise _ArchiveRefused(Message("batch.input.over_room", {"size": human_bytes(declared), "room": human_bytes(room)})
                              if room else Message("batch.input.no_room", {"size": human_bytes(declared)}))


def _check_inflation(members: Sequence[zipfile.ZipInfo], archive_bytes: int, state: _Expansion) -> tuple[int, int]:
    """Refuse archives that inflate far more than photos do: one big member over 100x, or the
    archive as a whole over 20x (many small members, each harmless alone, fill a disk just as
    well), also counted with the archives accepted before it in this call. The packed total
    is at most the file's own size, so headers claiming poor compression cannot hide the
    real ratio. Returns the archive's (unpacked, packed) bytes."""
    for info in members:
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > MEMBER_RATIO_MIN_BYTES and ratio > MAX_MEMBER_COMPRESSION_RATIO:
            raise _ArchiveRefused(Message("batch.input.member_bomb", {"name": info.filename, "ratio": f"{ratio:.0f}"}))
    unpacked = sum(info.file_size for info in members)
    packed = min(sum(info.compress_size for info in members), archive_bytes)
    _check_ratio(unpacked, packed, "batch.input.archive_bomb")
    _check_ratio(state.unpacked + unpacked, state.packed + packed, "batch.input.archives_bomb")
    return unpacked, packed


def _check_ratio(unpacked: int, packed: int, key: str) -> None:
    """``key``: the sentence for this archive alone, or with the call's archives before it."""
    ratio = unpacked / max(packed, 1)
    if unpacked > ARCHIVE_RATIO_MIN_BYTES and ratio > MAX_ARCHIVE_COMPRESSION_RATIO:
        raise _ArchiveRefused(Message(key, {"ratio": f"{ratio:.0f}", "size": human_bytes(unpacked)}))


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
    suffix = member_suffix(info)
    if suffix == ".zip":
        state.error(member_name, Message("batch.input.nested_zip"))
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
            state.error(member_name, Message("batch.input.member_unreadable", {"reason": _describe(error)}))
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
                raise _ArchiveRefused(Message("batch.input.tampered", {"name": info.filename}))
            sink.write(chunk)
    return written
