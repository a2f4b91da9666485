"""The weights registry: what ``weights/manifest.json`` says about every model, validated.

Why this module exists: every model the pipeline runs needs a weights file of tens to
hundreds of MB that comes from a third-party release page. All knowledge about those
files sits in one data file, and a registry typo must fail loudly at start-up, not later
as a wrong download or a confusing tensor-shape error. This module reads that file and
holds each entry to its rules.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from pipeline.core import settings
from pipeline.core.errors import InvalidOptionError

MANIFEST_PATH: Path = Path(__file__).resolve().parents[2] / "weights" / "manifest.json"
MANIFEST_SCHEMA = 1
KINDS: tuple[str, ...] = ("restorer", "detector", "parser", "matting", "recognition", "upsampler")

_SHA256_PATTERN = re.compile(r"[0-9a-f]{64}")
_NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]*")
_OPTIONAL_ENTRY_FIELDS = frozenset({"approx_bytes", "sha256_note", "bundled_in", "hub", "commercial_use"})
_COMMIT_PATTERN = re.compile(r"[0-9a-f]{40}")
_REPO_PART = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?"
_REPO_PATTERN = re.compile(rf"{_REPO_PART}/{_REPO_PART}")


@dataclass(frozen=True)
class HubFile:
    """Where a model's file also lives on the Hugging Face Hub: a model repo, a path in
    it, and the commit it is pinned to.

    A commit, never a branch or tag: a branch can move to other bytes, and a pinned
    commit lets a file preloaded at Space build time be found in the cache with no
    network call. The file is still checked against the entry's size and sha256.
    """

    repo: str
    file: str
    revision: str

    def __post_init__(self) -> None:
        problem = _hub_problem(self)
        if problem is not None:
            raise ValueError(f"'hub': {problem}")

    @classmethod
    def from_json(cls, raw: Any) -> HubFile:
        """The manifest's ``{"repo", "file", "revision"}`` object; other keys are refused."""
        if not isinstance(raw, Mapping):
            raise ValueError("'hub' must be an object with 'repo', 'file' and 'revision', or null")
        expected = {"repo", "file", "revision"}
        if set(raw) != expected:
            wrong = sorted(set(raw) ^ expected)
            raise ValueError(f"'hub' must have exactly 'repo', 'file' and 'revision' (check: {', '.join(wrong)})")
        return cls(repo=raw["repo"], file=raw["file"], revision=raw["revision"])


@dataclass(frozen=True)
class ModelEntry:
    """One model of the manifest.

    Frozen and validated on construction (also by ``dataclasses.replace``), so an
    entry that exists is always internally consistent; ``arch_options`` is a read-only
    mapping so that no caller can change the registry for everybody else.

    ``commercial_use`` says whether the licence allows commercial use: true, false, or null
    when it is unconfirmed (or not recorded). Only a model with ``true`` may be a default,
    because a default is what every user of the app gets without choosing.
    """

    name: str
    kind: str
    arch: str
    arch_options: Mapping[str, Any] = field(hash=False)
    file: str | None
    url: str | None
    bytes: int | None
    approx_bytes: int | None
    sha256: str | None
    sha256_note: str | None
    licence: str
    used_for: str
    default: bool
    display_name: str
    bundled_in: str | None = None
    hub: HubFile | None = None
    commercial_use: bool | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.arch_options, Mapping):
            raise ValueError(f"model {self.name!r}: 'arch_options' must be an object")
        object.__setattr__(self, "arch_options", MappingProxyType(dict(self.arch_options)))
        if self.hub is not None and not isinstance(self.hub, HubFile):
            try:
                object.__setattr__(self, "hub", HubFile.from_json(self.hub))
            except ValueError as error:
                raise ValueError(f"model {self.name!r}: {error}") from error
        problem = _first_entry_problem(self)
        if problem is not None:
            raise ValueError(f"model {self.name!r}: {problem}")

    @property
    def is_bundled(self) -> bool:
        """True when the weights ship inside a Python package, so there is no file to fetch."""
        return self.bundled_in is not None


@dataclass(frozen=True)
class Manifest:
    """All models, in manifest order; names and files are unique, at most one default per kind."""

    entries: tuple[ModelEntry, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "entries", tuple(self.entries))
        _validate_entry_set(self.entries)

    def get(self, name: str) -> ModelEntry:
        """The entry called ``name``; an unknown name is a user error that lists the valid ones."""
        for entry in self.entries:
            if entry.name == name:
                return entry
        raise InvalidOptionError(
            f"Unknown model {name!r}.", hint=f"Valid models: {', '.join(self.names())}."
        )

    def names(self, kind: str | None = None) -> list[str]:
        """Model names in manifest order, optionally only those of one kind."""
        if kind is not None:
            _require_known_kind(kind)
        return [entry.name for entry in self.entries if kind is None or entry.kind == kind]

    def default(self, kind: str) -> ModelEntry:
        """The model to use for ``kind`` when the user picks none.

        The entry marked ``default``; when none is marked and the kind has a single
        model, that one. Otherwise the caller must choose by name.
        """
        candidates = [self.get(name) for name in self.names(kind)]
        marked = [entry for entry in candidates if entry.default]
        if marked:
            return marked[0]
        if len(candidates) == 1:
            return candidates[0]
        choices = ", ".join(entry.name for entry in candidates) or "none"
        raise InvalidOptionError(
            f"No default model of kind {kind!r}.", hint=f"Choose one of: {choices}."
        )

    def replace_entry(self, entry: ModelEntry) -> Manifest:
        """A copy with the entry of the same name swapped (tests point it at small files)."""
        self.get(entry.name)
        swapped = tuple(entry if old.name == entry.name else old for old in self.entries)
        return dataclasses.replace(self, entries=swapped)


def load_manifest(path: Path | None = None) -> Manifest:
    """Read and validate the manifest (default: ``$PORTRAIT_LAB_MANIFEST``, else :data:`MANIFEST_PATH`).

    A malformed manifest raises ``ValueError`` naming the file and the bad entry/field,
    because a registry typo must fail loudly at start-up, not later as a wrong download.
    """
    manifest_path = Path(path or os.environ.get(settings.MANIFEST) or MANIFEST_PATH)
    text = manifest_path.read_text(encoding="utf-8")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{manifest_path}: not valid JSON: {error}") from error
    try:
        return _manifest_from_json(raw)
    except ValueError as error:
        raise ValueError(f"{manifest_path}: {error}") from error


def _manifest_from_json(raw: Any) -> Manifest:
    if not isinstance(raw, dict):
        raise ValueError("top level must be an object with 'schema' and 'models'")
    if raw.get("schema") != MANIFEST_SCHEMA or isinstance(raw.get("schema"), bool):
        raise ValueError(f"'schema' must be {MANIFEST_SCHEMA}, not {raw.get('schema')!r}")
    models = raw.get("models")
    if not isinstance(models, list) or not models:
        raise ValueError("'models' must be a non-empty list")
    return Manifest(tuple(_entry_from_json(item, index) for index, item in enumerate(models)))


def _entry_from_json(item: Any, index: int) -> ModelEntry:
    if not isinstance(item, dict):
        raise ValueError(f"models[{index}] must be an object")
    all_fields = {spec.name for spec in dataclasses.fields(ModelEntry)}
    label = f"models[{index}] ({item.get('name', '?')})"
    unknown = sorted(set(item) - all_fields)
    if unknown:
        raise ValueError(f"{label}: unknown field(s): {', '.join(unknown)}")
    missing = sorted(all_fields - _OPTIONAL_ENTRY_FIELDS - set(item))
    if missing:
        raise ValueError(f"{label}: missing field(s): {', '.join(missing)}")
    try:
        return ModelEntry(**{name: item.get(name) for name in all_fields})
    except ValueError as error:
        raise ValueError(f"models[{index}]: {error}") from error


def _first_entry_problem(entry: ModelEntry) -> str | None:
    """The first thing wrong with ``entry``, or None; one place for all per-entry rules."""
    for name in ("name", "kind", "arch", "licence", "used_for", "display_name"):
        if not _is_nonempty_text(getattr(entry, name)):
            return f"'{name}' must be a non-empty string"
    if not _NAME_PATTERN.fullmatch(entry.name):
        return "'name' may only use lowercase letters, digits, '.', '-' and '_'"
    if entry.kind not in KINDS:
        return f"'kind' must be one of {', '.join(KINDS)}, not {entry.kind!r}"
    if not isinstance(entry.default, bool):
        return "'default' must be true or false"
    if entry.commercial_use is not None and not isinstance(entry.commercial_use, bool):
        return "'commercial_use' must be true, false or null"
    if entry.default and entry.commercial_use is not True:
        return ("a default model's licence must allow commercial use ('commercial_use': true); "
                "a model with a non-commercial or unconfirmed licence can be offered, never be the default")
    if not all(isinstance(key, str) for key in entry.arch_options):
        return "'arch_options' keys must be strings"
    for name in ("bytes", "approx_bytes"):
        value = getattr(entry, name)
        if value is not None and not (_is_int(value) and value > 0):
            return f"'{name}' must be a positive integer or null"
    for name in ("sha256_note", "bundled_in"):
        value = getattr(entry, name)
        if value is not None and not _is_nonempty_text(value):
            return f"'{name}' must be a non-empty string or null"
    if entry.sha256 is not None and not (
        isinstance(entry.sha256, str) and _SHA256_PATTERN.fullmatch(entry.sha256)
    ):
        return "'sha256' must be 64 lowercase hex characters or null"
    if entry.is_bundled:
        return _bundled_entry_problem(entry)
    return _downloadable_entry_problem(entry)


def _bundled_entry_problem(entry: ModelEntry) -> str | None:
    for name in ("file", "url", "bytes", "approx_bytes", "sha256", "hub"):
        if getattr(entry, name) is not None:
            return f"'{name}' must be null for weights bundled in {entry.bundled_in}"
    return None


def _downloadable_entry_problem(entry: ModelEntry) -> str | None:
    if not _is_nonempty_text(entry.file) or not _is_plain_file_name(entry.file):
        return "'file' must be a plain file name (no folders, not hidden)"
    if not _is_nonempty_text(entry.url) or not entry.url.startswith("https://"):
        return "'url' must be an https:// URL"
    if entry.bytes is None and entry.approx_bytes is None:
        return "either 'bytes' or 'approx_bytes' must be given"
    if entry.sha256 is None and entry.sha256_note is None:
        return "'sha256_note' must say why 'sha256' is null"
    if entry.hub is not None and (entry.sha256 is None or entry.bytes is None):
        return "'hub' needs an exact 'bytes' and a 'sha256', so the Hub's file can be checked"
    return None


def _hub_problem(hub: HubFile) -> str | None:
    """The first thing wrong with a Hub source, or None (owner/name, relative path, commit)."""
    if not isinstance(hub.repo, str) or not _REPO_PATTERN.fullmatch(hub.repo):
        return "'repo' must look like owner/name (letters, digits, '.', '-', '_')"
    if "--" in hub.repo or ".." in hub.repo or hub.repo.endswith(".git"):
        return "'repo' may not contain '--' or '..' nor end in '.git'"
    if not isinstance(hub.file, str) or not _is_relative_repo_path(hub.file):
        return "'file' must be a relative path inside the repo, without '..', '\\', commas or spaces"
    if not isinstance(hub.revision, str) or not _COMMIT_PATTERN.fullmatch(hub.revision):
        return ("'revision' must be a full 40-character commit hash (lowercase hex), "
                "not a branch or tag, so the file cannot change under the manifest")
    return None


def _validate_entry_set(entries: tuple[ModelEntry, ...]) -> None:
    """Cross-entry rules: names and files identify entries, so they must be unique."""
    if not all(isinstance(entry, ModelEntry) for entry in entries):
        raise ValueError("manifest entries must be ModelEntry objects")
    _reject_duplicates("name", [entry.name for entry in entries])
    _reject_duplicates("file", [entry.file for entry in entries if entry.file is not None])
    _reject_duplicates("default model of kind", [e.kind for e in entries if e.default])


def _reject_duplicates(what: str, values: list[str]) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"duplicate {what} {value!r}")
        seen.add(value)


def _require_known_kind(kind: str) -> None:
    if kind not in KINDS:
        raise InvalidOptionError(
            f"Unknown model kind {kind!r}.", hint=f"Valid kinds: {', '.join(KINDS)}."
        )


def _is_nonempty_text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_relative_repo_path(path: str) -> bool:
    """A path inside a repo: no leading '/', no empty, '.' or '..' parts, no backslash, and
    no whitespace or comma (``preload_from_hub`` separates fields with spaces, files with commas)."""
    if not path or path.startswith("/") or "\\" in path or "," in path or any(c.isspace() for c in path):
        return False
    return all(part not in ("", ".", "..") for part in path.split("/"))


def _is_plain_file_name(name: str) -> bool:
    return (
        Path(name).name == name
        and "/" not in name
        and "\\" not in name
        and not name.startswith(".")
    )
