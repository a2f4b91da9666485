"""The message catalogues: ``locales/<code>.json`` maps a key to its text in that language,
with ``{name}`` placeholders. English is complete by definition; another language's missing
key falls back to English (a test keeps every catalogue complete)."""
from __future__ import annotations

import json
import string
from functools import lru_cache
from pathlib import Path
from typing import Any

from pipeline.i18n.languages import DEFAULT_LANGUAGE, LANGUAGES

LOCALES_DIR = Path(__file__).resolve().parents[2] / "locales"
_FORMATTER = string.Formatter()


@lru_cache(maxsize=None)
def catalogue(code: str) -> dict[str, str]:
    """One language's messages, read once (shared, never changed after)."""
    if code not in LANGUAGES:
        raise KeyError(f"no UI language {code!r}")
    path = LOCALES_DIR / f"{code}.json"
    data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    return {key: value for key, value in data.items() if not key.startswith("_")}


def placeholders(text: str) -> set[str]:
    """The ``{name}`` fields of a message ("{kb:.0f}" counts as "kb")."""
    return {field.split(":")[0].split("!")[0] for _, field, _, _ in _FORMATTER.parse(text) if field}


def translate(key: str, lang: str | None = None, /, **values: Any) -> str:
    """The message ``key`` in ``lang`` (English when the language or the key is missing),
    its placeholders filled from ``values``. An unknown key is a bug: KeyError."""
    code = lang if lang in LANGUAGES else DEFAULT_LANGUAGE
    text = catalogue(code).get(key)
    if text is None:
        text = catalogue(DEFAULT_LANGUAGE)[key]
    return text.format(**values) if values else text
