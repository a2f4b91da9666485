"""Where a command-line batch finds its photos: files, folders (with ``recursive``, their
sub-folders), glob patterns (``"scans/**/*.jpg"``, quoted so the shell leaves them alone),
``.zip`` archives and list files (one path, folder, archive or pattern per line; ``#``
starts a comment; relative lines are read from the list file's folder). Whatever gives
nothing becomes a report row with its reason. Then ``--shard i/n`` keeps the items of one
shard, chosen from each item's name alone, so n processes given the same inputs split them
without talking to each other and without overlap.
"""
from __future__ import annotations

import glob
import hashlib
from collections.abc import Sequence
from pathlib import Path

from pipeline.batch.inputs import BatchItem, expand_inputs
from pipeline.batch.report import STATUS_ERROR, BatchRow
from pipeline.core.errors import InvalidOptionError, os_reason
from pipeline.core.paths import collect_inputs

GLOB_CHARACTERS = frozenset("*?[")
# A command-line batch has no photo cap of the web's kind: only its archives are bounded.
NO_PHOTO_CAP = 10**9


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/8"`` -> (2, 8): shard 2 of 8, counted from 1."""
    index_text, _, count_text = text.partition("/")
    try:
        index, count = int(index_text), int(count_text)
    except ValueError:
        raise InvalidOptionError(f"--shard takes i/n, such as 1/4; got {text!r}.") from None
    if not 1 <= index <= count:
        shards = ", ".join(f"{i}/{count}" for i in range(1, min(count, 4) + 1)) + (f" ... {count}/{count}" if count > 4 else "")
        raise InvalidOptionError(f"--shard {text}: the first number must be from 1 to the second.",
                                 hint=f"The shards of {count} are {shards}." if count >= 1 else
                                 "The second number is how many shards there are: 1 or more.")
    return index, count


def in_shard(name: str, shard: tuple[int, int] | None) -> bool:
    """Whether ``name`` belongs to ``shard``: a hash of the name, so it does not depend on the
    order or the number of other inputs."""
    if shard is None:
        return True
    digest = hashlib.sha256(name.encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(digest[:8], "big") % shard[1] == shard[0] - 1


def gather_items(inputs: Sequence[str], work_dir: Path, *, list_file: Path | None = None, recursive: bool = False,
                 shard: tuple[int, int] | None = None, lang: str = "en") -> tuple[list[BatchItem], list[BatchRow]]:
    """The photos to process (archives unpacked into ``work_dir``) and a row for each input
    that gives none (an archive's refusals in ``lang``); only ``shard``'s share of both."""
    texts = list(inputs) + (_read_list(list_file) if list_file is not None else [])
    paths: list[Path] = []
    rows: list[BatchRow] = []
    for text in texts:
        found, problems = _expand(text, recursive)
        paths.extend(found)
        rows.extend(BatchRow(name, STATUS_ERROR, message=why) for name, why in problems)
    names = [str(path) for path in paths]
    chosen = [index for index, name in enumerate(names) if in_shard(name, shard)]
    items, refused = expand_inputs([paths[i] for i in chosen], work_dir, max_files=NO_PHOTO_CAP,
                                   names=[names[i] for i in chosen], lang=lang)
    rows = [row for row in rows if in_shard(row.name, shard)]
    return items, rows + refused


def _expand(text: str, recursive: bool) -> tuple[list[Path], list[tuple[str, str]]]:
    """One input: a pattern that names no existing path is globbed; the rest as the CLI does."""
    if GLOB_CHARACTERS & set(text) and not Path(text).exists():
        matches = sorted(glob.glob(text, recursive=True))
        if not matches:
            return [], [(text, "no file matches this pattern")]
        return collect_inputs([Path(match) for match in matches], recursive)
    if Path(text).suffix.lower() == ".zip":  # an archive is a file to expand, not a folder
        return [Path(text)], []
    return collect_inputs([Path(text)], recursive)


def _read_list(list_file: Path) -> list[str]:
    """The entries of a list file, relative ones taken from the list file's folder."""
    try:
        lines = list_file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        reason = os_reason(error) if isinstance(error, OSError) else "it is not UTF-8 text"
        raise InvalidOptionError(f"The list file {list_file} cannot be read ({reason}).",
                                 hint="Give a text file with one path, folder, .zip or pattern per line.") from None
    entries = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    return [entry if Path(entry).is_absolute() else str(list_file.parent / entry) for entry in entries]
