"""Which UI languages exist and which one a browser tag or an Accept-Language header means.

A table (``locales/languages.json``), not code, so adding a language is adding data.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

LANGUAGES_PATH = Path(__file__).resolve().parents[2] / "locales" / "languages.json"
DEFAULT_LANGUAGE = "en"
_MAX_ACCEPT_ENTRIES = 20  # a header longer than any browser sends is cut, not parsed in full


@dataclass(frozen=True)
class Language:
    code: str
    native: str
    english: str
    browser_tags: tuple[str, ...]
    fonts: tuple[str, ...]


def _load() -> dict[str, Language]:
    rows = json.loads(LANGUAGES_PATH.read_text(encoding="utf-8"))["languages"]
    return {row["code"]: Language(row["code"], row["native"], row["english"], tuple(row["browser_tags"]),
                                  tuple(row["fonts"])) for row in rows}


LANGUAGES: dict[str, Language] = _load()
# Every tag we recognise (lower case) -> our code: the server's and the page script's one table.
BROWSER_TAGS = {tag: lang.code for lang in LANGUAGES.values() for tag in (lang.code.lower(), *lang.browser_tags)}


def resolve_language(tag: str | None) -> str | None:
    """The UI language a BCP 47 tag means ("zh-Hant-HK" -> "zh-TW", "fr-CA" -> "fr"), or None
    for one we do not have. The tag is tried whole, then shortened a subtag at a time."""
    if not tag:
        return None
    parts = tag.strip().replace("_", "-").lower().split("-")
    for end in range(len(parts), 0, -1):
        code = BROWSER_TAGS.get("-".join(parts[:end]))
        if code is not None:
            return code
    return None


def language_from_accept(header: str | None) -> str:
    """The best UI language for an Accept-Language header, by its q-values; English when
    none of the listed languages is one of ours."""
    choices: list[tuple[float, int, str]] = []
    for index, entry in enumerate((header or "").split(",")[:_MAX_ACCEPT_ENTRIES]):
        tag, _, params = entry.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        code = resolve_language(tag)
        if code is not None and quality > 0:
            choices.append((-quality, index, code))
    return min(choices)[2] if choices else DEFAULT_LANGUAGE
