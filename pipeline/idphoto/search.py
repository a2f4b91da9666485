"""Finding a document the way people type, and describing it in a line.

Three tables next to the specs drive the search, so a country's names and a document's rank
are data, not code:

- ``data/id_photo_countries.csv``: each country's English names, ISO codes, own-language
  names and other words people type ("britain", "deutschland", "中国", "french"), plus
  ``related_names`` that find its documents after a country's own (the Schengen states
  find the Schengen visa);
- ``data/id_photo_popularity.csv``: one rank per document, most asked for first;
- ``data/id_photo_names_i18n.csv``: each document's country and name in every UI language but
  English (the spec table's own), with the issuer's official name where known and its source.
  Search reads all languages at once (a visitor types whichever they know, "美國 簽證",
  "visado Schengen"); a label (:func:`spec_label`) is written in one.

A query matches a document when every word matches in any order (country names, document,
id). Whole words rank above the starts of words, and a country's names above the document
text; equal matches go by popularity. Chinese, Japanese and Korean are often typed without
spaces ("中国签证", "日本パスポート"): such a word is cut into the fewest pieces of this document's
names (two characters or more, or a whole name) and is worth its weakest piece. A query that finds
nothing is tried again with each unknown word replaced by the nearest name in any language
(:func:`suggest_specs`: "pasaprte japon" -> "pasaporte japon").
"""
from __future__ import annotations

import csv
import difflib
import json
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.core.errors import SpecDataError
from pipeline.i18n import DEFAULT_LANGUAGE, LOCALES_DIR, Message, translate

if TYPE_CHECKING:  # the specs module imports this one
    from pipeline.idphoto.specs import IdPhotoSpec

DATA_DIR = Path(__file__).with_name("data")
COUNTRIES_PATH = DATA_DIR / "id_photo_countries.csv"
POPULARITY_PATH = DATA_DIR / "id_photo_popularity.csv"
NAMES_PATH = DATA_DIR / "id_photo_names_i18n.csv"
# the background words of the spec table (column en) in every other UI language: one row per
# distinct description, since many documents share one
BACKGROUNDS_PATH = DATA_DIR / "id_photo_backgrounds_i18n.csv"
GLOSSARY_PATH = LOCALES_DIR / "glossary.json"
LOCAL_COLUMNS = frozenset({"id", "lang", "country", "document", "official_name", "source"})
# The glossary's terms whose alternatives are all searched ("パスポート" also finds by "旅券").
SYNONYM_TERMS = ("passport", "visa")
DECIMAL_COMMA = frozenset({"es", "fr"})  # languages that write 50,8 mm
FULL_WIDTH_PUNCTUATION = frozenset({"zh-CN", "zh-TW", "ja"})  # languages that join rules with ；and 。
NAME_COLUMNS = ("english_names", "iso_codes", "own_names", "other_names")
COUNTRY_COLUMNS = frozenset({"country", *NAME_COLUMNS, "related_names", "notes"})
# A query is a few words: anything past this is cut off before searching, so a pasted page of
# text costs what a short query costs (each word is compared with every name of 67 documents).
MAX_QUERY_CHARS = 80
# Words of a query, after normalising (one character such as U+FDFA decomposes into four words):
# more than a document's name ever has, so the cost of a crafted query stays bounded.
MAX_QUERY_WORDS = 12
SEARCH_PREFIX_MIN = 3  # shorter Latin words are codes ("uk", "us"): they must match a whole word
# Scripts written without spaces between words: a query word may match inside a longer word.
UNSPACED_SCRIPTS = ("CJK", "HIRAGANA", "KATAKANA", "HANGUL", "THAI", "LAO", "KHMER", "MYANMAR")
# An unspaced word's pieces: two characters at least (one, "国", is in half the names), at most
# this many (longer names are two pieces), so cutting an 80-character word stays cheap.
PIECE_MIN, PIECE_MAX = 2, 12
# A near miss: a word this close to a name (difflib's ratio), of at least SUGGEST_MIN_CHARS.
SUGGEST_CUTOFF, SUGGEST_MIN_CHARS = 0.8, 4
# Points for how one query word matched; a document's score is the sum over the query's words.
COUNTRY_WORD, DOCUMENT_WORD, COUNTRY_PREFIX, DOCUMENT_PREFIX, RELATED = 3, 2, 2, 1, 1
KB_PER_MB = 1024


@dataclass(frozen=True)
class SearchData:
    """The two tables, as word sets per country and a rank per document id."""

    country_words: dict[str, frozenset[str]]
    related_words: dict[str, frozenset[str]]
    ranks: dict[str, int]
    # per document id: its country's and its own words in every other language
    local_country_words: dict[str, frozenset[str]] = field(default_factory=dict)
    local_document_words: dict[str, frozenset[str]] = field(default_factory=dict)
    # per document id, per language: its names (labels)
    local_names: dict[str, dict[str, LocalName]] = field(default_factory=dict)


@dataclass(frozen=True)
class LocalName:
    """A document's names in one language: as shown, and as its issuer writes it (with where that
    comes from; "common usage" when the name is ours)."""

    country: str
    document: str
    official_name: str = ""
    source: str = ""


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


@lru_cache(maxsize=1)
def _synonyms() -> dict[str, list[list[str]]]:
    """Per language, the glossary's alternatives for passport and visa ("ビザ|査証"), normalised."""
    terms = json.loads(GLOSSARY_PATH.read_text(encoding="utf-8"))["terms"]
    found: dict[str, list[list[str]]] = {}
    for term in SYNONYM_TERMS:
        for lang, alternatives in terms[term].items():
            found.setdefault(lang, []).append([normalise(word) for word in alternatives.split("|")])
    return found


def _document_words(name: LocalName, lang: str) -> set[str]:
    """A document's words in one language: its name, its official name, and the glossary's
    other word for passport or visa where the name uses one (a "パスポート" is also a "旅券")."""
    found = set(words(f"{name.document} {name.official_name}"))
    text = normalise(f"{name.document} {name.official_name}")
    for alternatives in _synonyms().get(lang, []):
        if any(word in text for word in alternatives):
            found.update(w for word in alternatives for w in words(word))
    return found


def load_local_names(path: Path = NAMES_PATH) -> dict[str, dict[str, LocalName]]:
    """The names table: document id -> language -> its names (``SpecDataError`` on a
    malformed table or a document named twice in one language)."""
    names: dict[str, dict[str, LocalName]] = {}
    for row in _read(path, LOCAL_COLUMNS):
        spec_id, lang = row["id"].strip(), row["lang"].strip()
        if lang in names.setdefault(spec_id, {}):
            raise SpecDataError(f"{path.name}: {spec_id} is named twice in {lang}")
        names[spec_id][lang] = LocalName(row["country"].strip(), row["document"].strip(),
                                         row["official_name"].strip(), row["source"].strip())
    return names


def _ranks(popularity: Path) -> dict[str, int]:
    ranks: dict[str, int] = {}
    for row in _read(popularity, frozenset({"rank", "id"})):
        spec_id, rank = row["id"].strip(), row["rank"].strip()
        if spec_id in ranks or not rank.isdigit():
            raise SpecDataError(f"{popularity.name}: {spec_id!r} is listed twice or its rank {rank!r} "
                                "is not a whole number")
        ranks[spec_id] = int(rank)
    return ranks


@lru_cache(maxsize=4)
def load_search_data(countries: Path = COUNTRIES_PATH, popularity: Path = POPULARITY_PATH,
                     local_names: Path = NAMES_PATH) -> SearchData:
    """The three tables, read once (``SpecDataError`` naming the file on a malformed one)."""
    country_words: dict[str, frozenset[str]] = {}
    related_words: dict[str, frozenset[str]] = {}
    for row in _read(countries, COUNTRY_COLUMNS):
        country = row["country"].strip()
        if country in country_words:
            raise SpecDataError(f"{countries.name}: {country} is listed twice")
        names = [row["country"]] + [name for column in NAME_COLUMNS for name in _names(row[column])]
        country_words[country] = frozenset(w for name in names for w in words(name))
        related_words[country] = frozenset(w for name in _names(row["related_names"]) for w in words(name))
    local = load_local_names(local_names)
    local_countries = {spec_id: frozenset(w for name in by_lang.values() for w in words(name.country))
                       for spec_id, by_lang in local.items()}
    local_documents = {spec_id: frozenset(w for lang, name in by_lang.items() for w in _document_words(name, lang))
                       for spec_id, by_lang in local.items()}
    return SearchData(country_words, related_words, _ranks(popularity), local_countries, local_documents, local)


# -- search ---------------------------------------------------------------------------------
def _parts(name: str) -> set[str]:
    """The pieces of a name a longer unspaced query word may be cut into: any run of its
    characters in a script without spaces, else its starts (three letters or more)."""
    if _unspaced(name):
        return {name[start:end] for start in range(len(name))
                for end in range(start + PIECE_MIN, min(len(name), start + PIECE_MAX) + 1)}
    return {name[:end] for end in range(SEARCH_PREFIX_MIN, len(name))}


@lru_cache(maxsize=512)
def _pieces(own: frozenset[str], document: frozenset[str], related: frozenset[str]) -> dict[str, int]:
    """Every piece of one document's names with the points it earns, as ``_word_points`` gives them."""
    table: dict[str, int] = {}
    for whole, part, names in ((COUNTRY_WORD, COUNTRY_PREFIX, own), (DOCUMENT_WORD, DOCUMENT_PREFIX, document),
                               (RELATED, RELATED, related)):
        for name in names:
            for piece, points in ((name, whole), *((piece, part) for piece in _parts(name))):
                table[piece] = max(table.get(piece, 0), points)
    return table


def _cut_points(word: str, table: dict[str, int]) -> int:
    """An unspaced word cut into the fewest pieces ``table`` knows ("中国签证": 中国 + 签证), worth
    its weakest piece (so "电子签证" typed whole ranks the e-visa, whose name it is, above a visa
    whose photo is "电子照片"); the best among equal cuts; 0 when it cannot be cut so."""
    best: list[tuple[int, int] | None] = [(0, -COUNTRY_WORD)] + [None] * len(word)  # (pieces, -weakest)
    reached = 0
    for end in range(PIECE_MIN, len(word) + 1):
        if end - reached > PIECE_MAX:  # nothing known ends in the last PIECE_MAX characters
            return 0
        for start in range(max(0, end - PIECE_MAX), end - PIECE_MIN + 1):
            before, points = best[start], table.get(word[start:end], 0)
            if before is not None and points:
                cut = (before[0] + 1, max(before[1], -points))
                if best[end] is None or cut < best[end]:  # type: ignore[operator]
                    best[end], reached = cut, end
    last = best[-1]
    return -last[1] if last is not None else 0


def _word_points(word: str, own: frozenset[str], document: frozenset[str], related: frozenset[str]) -> int:
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
    if len(word) >= 2 * PIECE_MIN and _unspaced(word):  # "中国签证", "日本パスポート"
        return _cut_points(word, _pieces(own, document, related))
    if word.endswith("s") and len(word) > SEARCH_PREFIX_MIN:  # "passports", "visas": one "s", once
        return _word_points(word[:-1], own, document, related) if not word.endswith("ss") else 0
    return 0


def score(spec: IdPhotoSpec, query_words: Sequence[str], data: SearchData) -> int:
    """The sum of each word's points, or 0 when any word does not match at all."""
    own = (data.country_words.get(spec.country) or frozenset(words(spec.country))) \
        | data.local_country_words.get(spec.id, frozenset())
    document = frozenset(words(f"{spec.id} {spec.document}")) | data.local_document_words.get(spec.id, frozenset())
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
    query_words = words(query[:MAX_QUERY_CHARS])[:MAX_QUERY_WORDS]
    found = []
    for index, spec in enumerate(specs):
        points = score(spec, query_words, data) if query_words else 1
        if points:
            found.append((-points, _rank(spec, data), index, spec))
    return [spec for *_, spec in sorted(found, key=lambda item: item[:3])]


def _vocabulary(specs: Sequence[IdPhotoSpec], data: SearchData) -> list[str]:
    """Every word of every name, in every language, that a near miss may be corrected to."""
    found: set[str] = set()
    for spec in specs:
        found |= data.country_words.get(spec.country, frozenset()) | data.related_words.get(spec.country, frozenset())
        found |= data.local_country_words.get(spec.id, frozenset()) | data.local_document_words.get(spec.id, frozenset())
        found.update(words(f"{spec.country} {spec.document}"))
    return sorted(word for word in found if len(word) >= SUGGEST_MIN_CHARS)


def suggest_specs(specs: Sequence[IdPhotoSpec], query: str, data: SearchData | None = None) -> list[IdPhotoSpec]:
    """What ``query`` finds, else what it finds with each word no document knows replaced by a
    near name in any language ("pasaprte japon" -> "pasaporte japon"; of the near names, the
    first that still finds a document with the other words); nothing when a word has no near
    name (a guess would be noise)."""
    data = data or load_search_data()
    found = search_specs(specs, query, data)
    if found:
        return found
    typed = words(query[:MAX_QUERY_CHARS])[:MAX_QUERY_WORDS]
    kept = [word for word in typed if any(score(spec, [word], data) for spec in specs)]
    vocabulary = _vocabulary(specs, data)
    for word in typed:
        if word in kept:
            continue
        near = difflib.get_close_matches(word, vocabulary, n=3, cutoff=SUGGEST_CUTOFF) \
            if len(word) >= SUGGEST_MIN_CHARS else []
        fitting = [(name, search_specs(specs, " ".join([*kept, name]), data)) for name in near]
        fitting = [(name, found) for name, found in fitting if found]
        if not fitting:
            return []
        # equally near names ("pasport": passport, paszport) go to the one whose best document
        # is asked for most, not to the alphabet
        closeness = {name: difflib.SequenceMatcher(None, word, name).ratio() for name, _ in fitting}
        best = min(fitting, key=lambda pair: (-round(closeness[pair[0]], 6), _rank(pair[1][0], data)))
        kept.append(best[0])
    return search_specs(specs, " ".join(kept), data)


def _rank(spec: IdPhotoSpec, data: SearchData) -> int:
    """How often a document is asked for (1: most); unranked ones after every ranked one."""
    return data.ranks.get(spec.id, len(data.ranks) + 1)


# -- describing a document ------------------------------------------------------------------
def format_mm(value: float) -> str:
    """A length as people write it: whole, or one decimal (44.958 -> "45", 50.8 -> "50.8")."""
    return f"{round(value, 1):g}"


def format_kb(kb: float) -> str:
    """A file size: KB below a megabyte, else MB (10240 -> "10 MB", 54 -> "54 KB")."""
    return f"{round(kb / KB_PER_MB, 1):g} MB" if kb >= KB_PER_MB else f"{round(kb, 1):g} KB"


def file_size_text(min_kb: float | None, max_kb: float | None, lang: str = DEFAULT_LANGUAGE) -> str:
    """The accepted file sizes: "54 KB-10 MB", "30-80 KB", "at most 240 KB", "at least 50 KB" or ""."""
    if min_kb and max_kb:
        low, high = format_kb(min_kb), format_kb(max_kb)
        same_unit = low[-2:] == high[-2:]
        return f"{low[:-3]}-{high}" if same_unit else f"{low}-{high}"
    if max_kb:
        return translate("doc.rules.at_most", lang, size=format_kb(max_kb))
    return translate("doc.rules.at_least", lang, size=format_kb(min_kb)) if min_kb else ""


def size_text(spec: IdPhotoSpec) -> str:
    """The stated size: "35x45 mm" for a print, "600x600 px" for an upload."""
    if spec.width_mm and spec.height_mm:
        return f"{format_mm(spec.width_mm)}x{format_mm(spec.height_mm)} mm"
    return f"{spec.width_px}x{spec.height_px} px"


def _local_size(spec: IdPhotoSpec, lang: str) -> str:
    """The size in a translated label: "35 × 45 mm", "35 × 45 mm, 390 × 567 px" or "1200 × 1200 px"
    (Spanish and French write "50,8")."""
    pixels = f"{spec.width_px} × {spec.height_px} px" if spec.width_px else ""
    if not spec.width_mm:
        return pixels
    point = "," if lang in DECIMAL_COMMA else "."
    width_mm, height_mm = (format_mm(value).replace(".", point) for value in spec.size_mm)
    return f"{width_mm} × {height_mm} mm" + (f", {pixels}" if pixels else "")


def spec_label(spec: IdPhotoSpec, lang: str = DEFAULT_LANGUAGE, data: SearchData | None = None) -> str:
    """A document's label in ``lang``: "日本 · パスポート (35 × 45 mm)"; English (``spec.label``)
    for English, an unknown language or a document the names table does not know."""
    if lang == DEFAULT_LANGUAGE or spec.custom:
        return spec.label
    name = (data or load_search_data()).local_names.get(spec.id, {}).get(lang)
    if name is None:
        return spec.label
    return f"{name.country} · {name.document} ({_local_size(spec, lang)})"


def labelled_search(specs: Sequence[IdPhotoSpec], query: str = "", lang: str = DEFAULT_LANGUAGE, *,
                    near_misses: bool = False) -> list[tuple[str, str]]:
    """``search_specs`` (or, with ``near_misses``, ``suggest_specs``: what a mistyped query
    meant) as (label in ``lang``, id) pairs: what a picker or a listing shows."""
    data = load_search_data()
    found = suggest_specs(specs, query, data) if near_misses else search_specs(specs, query, data)
    return [(spec_label(spec, lang, data), spec.id) for spec in found]


def rules_parts(spec: IdPhotoSpec, lang: str = DEFAULT_LANGUAGE) -> list[str]:
    """The rules a visitor checks first, in plain words of ``lang``: print or online upload and
    its size, the accepted pixels and file sizes, the head size and the background (the
    document's own background words are data, as the spec table writes them)."""
    if spec.width_mm:
        width, height = spec.size_px(None)
        parts = [translate("doc.rules.print", lang, size=size_text(spec), width=width, height=height,
                           dpi=spec.output_dpi(None))]
    else:
        parts = [translate("doc.rules.online", lang, size=size_text(spec))]
    if spec.has_pixel_range:
        parts.append(translate("doc.rules.accepted", lang, pixels=_pixel_range(spec, lang)))
    sizes = file_size_text(spec.min_file_kb, spec.max_file_kb, lang)
    if sizes:
        parts.append(translate("doc.rules.file" if not spec.width_mm else "doc.rules.digital_file", lang, sizes=sizes))
    low, high = (f"{value * 100:.0f}" for value in spec.head_ratio_range())
    if spec.head_top == "crown":
        parts.append(translate("doc.rules.head", lang, low=low, high=high))
    else:
        parts.append(translate("doc.rules.head_to", lang, low=low, high=high,
                               top=translate(f"doc.rules.head_top.{spec.head_top}", lang)))
    parts.append(translate("doc.rules.background", lang, background=background_words(spec.background, lang))
                 if spec.background
                 else translate("doc.rules.background_unstated", lang))
    return parts


@lru_cache(maxsize=1)
def _background_table(path: Path = BACKGROUNDS_PATH) -> dict[str, dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return {row["en"]: row for row in csv.DictReader(handle)}


def background_words(words: str, lang: str | None = DEFAULT_LANGUAGE) -> str:
    """A document's background words (the spec table's, English) in ``lang``; English where
    the side table has no translation."""
    return (_background_table().get(words.strip()) or {}).get(lang or DEFAULT_LANGUAGE) or words


@dataclass(frozen=True)
class BackgroundWords(Message):
    """A document's background words as a message value: rendered in the report's language."""

    def text(self, lang: str | None = None) -> str:
        return background_words(self.key, lang)


def _pixel_range(spec: IdPhotoSpec, lang: str) -> str:
    """The accepted pixel sizes in ``lang``: "600x600 to 1200x1200 px, square"."""
    low = f"{spec.min_width_px}x{spec.min_height_px}" if spec.min_width_px else None
    high = f"{spec.max_width_px}x{spec.max_height_px}" if spec.max_width_px else None
    key = "doc.rules.pixels_between" if low and high else ("doc.rules.pixels_at_least" if low else "doc.rules.pixels_at_most")
    text = translate(key, lang, low=low, high=high)
    shape = spec.pixel_shape
    if shape:
        text = translate("doc.rules.square", lang, pixels=text) if shape[0] == shape[1] else \
            translate("doc.rules.shape", lang, pixels=text, width=shape[0], height=shape[1])
    return text


def rules_text(spec: IdPhotoSpec, lang: str = DEFAULT_LANGUAGE) -> str:
    """``rules_parts`` as one line in ``lang``, for the CLI and the web app's document picker
    (Chinese and Japanese join with full-width punctuation)."""
    if lang in FULL_WIDTH_PUNCTUATION:
        return "；".join(rules_parts(spec, lang)) + "。"
    return "; ".join(rules_parts(spec, lang)) + "."
