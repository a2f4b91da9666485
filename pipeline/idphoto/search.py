"""Finding a document the way people type, and describing it in a line.

Two tables next to the specs drive the search, so a country's names and a document's rank
are data, not code:

- ``data/id_photo_countries.csv``: each country's English names, ISO codes, own-language
  names and other words people type ("britain", "deutschland", "中国", "french"), plus
  ``related_names`` that find its documents after a country's own (the Schengen states
  find the Schengen visa);
- ``data/id_photo_popularity.csv``: one rank per document, most asked for first.

A query matches a document when every word matches in any order (country names, document,
id). Whole words rank above the starts of words, and a country's names above the document
text; equal matches go by popularity.
"""
from __future__ import annotations

import csv
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.core.errors import SpecDataError

if TYPE_CHECKING:  # the specs module imports this one
    from pipeline.idphoto.specs import IdPhotoSpec

DATA_DIR = Path(__file__).with_name("data")
COUNTRIES_PATH = DATA_DIR / "id_photo_countries.csv"
POPULARITY_PATH = DATA_DIR / "id_photo_popularity.csv"
NAME_COLUMNS = ("english_names", "iso_codes", "own_names", "other_names")
COUNTRY_COLUMNS = frozenset({"country", *NAME_COLUMNS, "related_names", "notes"})
# A query is a few words: anything past this is cut off before searching, so a pasted page of
# text costs what a short query costs (each word is compared with every name of 67 documents).
MAX_QUERY_CHARS = 80
SEARCH_PREFIX_MIN = 3  # shorter Latin words are codes ("uk", "us"): they must match a whole word
# Scripts written without spaces between words: a query word may match inside a longer word.
UNSPACED_SCRIPTS = ("CJK", "HIRAGANA", "KATAKANA", "THAI", "LAO", "KHMER", "MYANMAR")
# Points for how one query word matched; a document's score is the sum over the query's words.
COUNTRY_WORD, DOCUMENT_WORD, COUNTRY_PREFIX, DOCUMENT_PREFIX, RELATED = 3, 2, 2, 1, 1
KB_PER_MB = 1024


@dataclass(frozen=True)
class SearchData:
    """The two tables, as word sets per country and a rank per document id."""

    country_words: dict[str, frozenset[str]]
    related_words: dict[str, frozenset[str]]
    ranks: dict[str, int]


# -- words ------------------------------------------------------------------------------
def normalise(text: str) -> str:
    """Lower case without accents or dots, so "México" is "mexico" and "U.S.A." is "usa"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold().replace(".", ""))
    stripped = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    return unicodedata.normalize("NFC", stripped)


def words(text: str) -> list[str]:
    """The words of ``text``: split at spaces, punctuation and symbols in any script."""
    spaced = "".join(" " if unicodedata.category(c)[0] in "PZS" else c for c in normalise(text))
    return spaced.split()


@lru_cache(maxsize=1024)
def _unspaced(word: str) -> bool:
    return any(unicodedata.name(c, "").startswith(UNSPACED_SCRIPTS) for c in word)


def _starts_one(word: str, candidates: frozenset[str] | set[str]) -> bool:
    """``word`` begins (or, in a script without spaces, lies inside) one of ``candidates``."""
    if _unspaced(word):
        return any(word in candidate for candidate in candidates)
    if len(word) < SEARCH_PREFIX_MIN and word.isascii():
        return False
    return any(candidate.startswith(word) for candidate in candidates)


# -- the tables -----------------------------------------------------------------------------
def _names(cell: str | None) -> list[str]:
    return [name.strip() for name in (cell or "").split(";") if name.strip()]


def _read(path: Path, needed: frozenset[str]) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = sorted(needed - set(reader.fieldnames or ()))
        rows = list(reader)
    if missing:
        raise SpecDataError(f"{path.name} lacks the column(s): {', '.join(missing)}")
    for number, row in enumerate(rows, start=2):
        if None in row or any(row.get(column) is None for column in needed):
            raise SpecDataError(f"{path.name} line {number}: the row has the wrong number of cells")
    return rows


@lru_cache(maxsize=4)
def load_search_data(countries: Path = COUNTRIES_PATH, popularity: Path = POPULARITY_PATH) -> SearchData:
    """Both tables, read once (``SpecDataError`` naming the file on a malformed one)."""
    country_words: dict[str, frozenset[str]] = {}
    related_words: dict[str, frozenset[str]] = {}
    for row in _read(countries, COUNTRY_COLUMNS):
        country = row["country"].strip()
        if country in country_words:
            raise SpecDataError(f"{countries.name}: {country} is listed twice")
        names = [row["country"]] + [name for column in NAME_COLUMNS for name in _names(row[column])]
        country_words[country] = frozenset(w for name in names for w in words(name))
        related_words[country] = frozenset(w for name in _names(row["related_names"]) for w in words(name))
    ranks: dict[str, int] = {}
    for row in _read(popularity, frozenset({"rank", "id"})):
        spec_id, rank = row["id"].strip(), row["rank"].strip()
        if spec_id in ranks or not rank.isdigit():
            raise SpecDataError(f"{popularity.name}: {spec_id!r} is listed twice or its rank {rank!r} "
                                "is not a whole number")
        ranks[spec_id] = int(rank)
    return SearchData(country_words, related_words, ranks)


# -- search ---------------------------------------------------------------------------------
def _word_points(word: str, own: frozenset[str], document: set[str], related: frozenset[str]) -> int:
    """How well one query word matches one document (0: not at all)."""
    if word in own:
        return COUNTRY_WORD
    if word in document:
        return DOCUMENT_WORD
    if _starts_one(word, own):
        return COUNTRY_PREFIX
    if _starts_one(word, document):
        return DOCUMENT_PREFIX
    if word in related or _starts_one(word, related):
        return RELATED
    if word.endswith("s") and len(word) > SEARCH_PREFIX_MIN:  # "passports", "visas": one "s", once
        return _word_points(word[:-1], own, document, related) if not word.endswith("ss") else 0
    return 0


def score(spec: IdPhotoSpec, query_words: Sequence[str], data: SearchData) -> int:
    """The sum of each word's points, or 0 when any word does not match at all."""
    own = data.country_words.get(spec.country) or frozenset(words(spec.country))
    document = set(words(f"{spec.id} {spec.document}"))
    related = data.related_words.get(spec.country, frozenset())
    total = 0
    for word in query_words:
        points = _word_points(word, own, document, related)
        if not points:
            return 0
        total += points
    return total


def search_specs(specs: Sequence[IdPhotoSpec], query: str = "", data: SearchData | None = None
                 ) -> list[IdPhotoSpec]:
    """The documents matching every word of ``query``, best first (all, by popularity, for
    an empty query). Unranked documents (a custom table) follow the ranked ones in table order."""
    data = data or load_search_data()
    query_words = words(query[:MAX_QUERY_CHARS])
    unranked = len(data.ranks) + 1
    found = []
    for index, spec in enumerate(specs):
        points = score(spec, query_words, data) if query_words else 1
        if points:
            found.append((-points, data.ranks.get(spec.id, unranked), index, spec))
    return [spec for *_, spec in sorted(found, key=lambda item: item[:3])]


# -- describing a document ------------------------------------------------------------------
def format_mm(value: float) -> str:
    """A length as people write it: whole, or one decimal (44.958 -> "45", 50.8 -> "50.8")."""
    return f"{round(value, 1):g}"


def format_kb(kb: float) -> str:
    """A file size: KB below a megabyte, else MB (10240 -> "10 MB", 54 -> "54 KB")."""
    return f"{round(kb / KB_PER_MB, 1):g} MB" if kb >= KB_PER_MB else f"{round(kb, 1):g} KB"


def file_size_text(min_kb: float | None, max_kb: float | None) -> str:
    """The accepted file sizes: "54 KB-10 MB", "30-80 KB", "at most 240 KB", "at least 50 KB" or ""."""
    if min_kb and max_kb:
        low, high = format_kb(min_kb), format_kb(max_kb)
        same_unit = low[-2:] == high[-2:]
        return f"{low[:-3]}-{high}" if same_unit else f"{low}-{high}"
    if max_kb:
        return f"at most {format_kb(max_kb)}"
    return f"at least {format_kb(min_kb)}" if min_kb else ""


def size_text(spec: IdPhotoSpec) -> str:
    """The stated size: "35x45 mm" for a print, "600x600 px" for an upload."""
    if spec.width_mm and spec.height_mm:
        return f"{format_mm(spec.width_mm)}x{format_mm(spec.height_mm)} mm"
    return f"{spec.width_px}x{spec.height_px} px"


def rules_parts(spec: IdPhotoSpec) -> list[str]:
    """The rules a visitor checks first, in plain words: print or online upload and its size,
    the accepted pixels and file sizes, the head size and the background."""
    if spec.width_mm:
        width, height = spec.size_px(None)
        parts = [f"Print, {size_text(spec)} ({width}x{height} px at {spec.output_dpi(None)} dpi)"]
    else:
        parts = [f"Online upload, {size_text(spec)}"]
    if spec.has_pixel_range:
        parts.append(f"accepted {spec.pixel_range_text}")
    sizes = file_size_text(spec.min_file_kb, spec.max_file_kb)
    if sizes:
        parts.append(f"file {sizes}" if not spec.width_mm else f"digital file {sizes}")
    low, high = spec.head_ratio_range()
    top = "" if spec.head_top == "crown" else f" ({spec.head_top_label})"
    parts.append(f"head {low * 100:.0f}-{high * 100:.0f} % of the photo height{top}")
    parts.append(f"background: {spec.background or 'not stated (white used)'}")
    return parts


def rules_text(spec: IdPhotoSpec) -> str:
    """``rules_parts`` as one line, for the CLI and the web app's document picker."""
    return "; ".join(rules_parts(spec)) + "."
