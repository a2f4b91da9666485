"""Finding a document the way people type it, and the line that describes it (issue 15, item 4).

The search reads two tables next to the specs (``id_photo_countries.csv``: every country's
English names, ISO codes and own-language names; ``id_photo_popularity.csv``: a rank per
document). Checked here: the tables cover the specs, the queries visitors typed find the right
documents with the most asked-for first, sizes are rounded the way people write them, and the
rules line says print or online upload, the pixel range and the file sizes.
"""
from __future__ import annotations

import csv
import re

import pytest

from pipeline import cli
from pipeline.core.errors import SpecDataError
from pipeline.idphoto.search import (
    COUNTRIES_PATH,
    POPULARITY_PATH,
    file_size_text,
    format_mm,
    load_search_data,
    rules_text,
    search_specs,
    words,
)
from pipeline.idphoto.specs import IdPhotoSpec, load_specs

REGISTRY = load_specs()
COUNTRY_ROWS = list(csv.DictReader(open(COUNTRIES_PATH, newline="", encoding="utf-8-sig")))
RANK_ROWS = list(csv.DictReader(open(POPULARITY_PATH, newline="", encoding="utf-8-sig")))


def ids(query: str) -> list[str]:
    return [spec.id for spec in REGISTRY.search(query)]


def countries(query: str) -> set[str]:
    return {spec.country for spec in REGISTRY.search(query)}


def documents_of(country: str) -> set[str]:
    return {spec.id for spec in REGISTRY.specs if spec.country == country}


# -- the tables ----------------------------------------------------------------------------
def test_every_country_has_its_names_codes_and_own_names():
    listed = [row["country"] for row in COUNTRY_ROWS]
    assert sorted(listed) == sorted({spec.country for spec in REGISTRY.specs})  # all, once, none stale
    for row in COUNTRY_ROWS:
        assert row["english_names"].strip() and row["own_names"].strip(), row["country"]
        codes = [code.strip() for code in row["iso_codes"].split(";") if code.strip()]
        # An organisation has no ISO code; its row must say so.
        assert codes or "no ISO" in row["notes"], row["country"]
        assert all(re.fullmatch(r"[A-Z]{2,3}", code) for code in codes), row["country"]


def test_every_document_has_one_popularity_rank():
    ranked = [row["id"] for row in RANK_ROWS]
    assert sorted(ranked) == sorted(spec.id for spec in REGISTRY.specs)
    ranks = [int(row["rank"]) for row in RANK_ROWS]
    assert sorted(ranks) == list(range(1, len(ranks) + 1))


def test_a_malformed_search_table_is_a_typed_error(tmp_path):
    countries = tmp_path / "countries.csv"
    countries.write_text("country,english_names\nUSA,United States\n", encoding="utf-8")
    with pytest.raises(SpecDataError, match="lacks the column"):
        load_search_data(countries, POPULARITY_PATH)
    popularity = tmp_path / "popularity.csv"
    popularity.write_text("rank,id\n1,us_passport\n2,us_passport\n", encoding="utf-8")
    with pytest.raises(SpecDataError, match="listed twice"):
        load_search_data(COUNTRIES_PATH, popularity)
    popularity.write_text("rank,id\nfirst,us_passport\n", encoding="utf-8")
    with pytest.raises(SpecDataError, match="not a whole number"):
        load_search_data(COUNTRIES_PATH, popularity)


# -- what visitors typed ------------------------------------------------------------------
@pytest.mark.parametrize("query", ["us", "usa", "united states", "US", "U.S.A.", "america", "American"])
def test_the_united_states_by_any_name_with_its_passport_first(query):
    assert countries(query) == {"USA"}
    assert set(ids(query)) == documents_of("USA")
    assert ids(query)[0] == "us_passport"


@pytest.mark.parametrize("query", ["uk", "gb", "britain", "great britain", "United Kingdom", "british"])
def test_the_united_kingdom_by_any_name(query):
    assert countries(query) == {"United Kingdom"}
    assert set(ids(query)) == documents_of("United Kingdom")


@pytest.mark.parametrize("query, country", [
    ("deutschland", "Germany"), ("german", "Germany"), ("DEU", "Germany"), ("中国", "China"), ("中國", "China"),
    ("chinese", "China"), ("日本", "Japan"), ("россия", "Russia"), ("méxico", "Mexico"), ("mexico", "Mexico"),
    ("한국", "South Korea"), ("éire", "Ireland"), ("eire", "Ireland"), ("türkiye", "Turkey"),
    ("holland", "Netherlands"), ("schweiz", "Switzerland"), ("भारत", "India"), ("ελλάδα", "Greece"),
    ("uae", "United Arab Emirates"), ("ukr", "Ukraine"), ("ua", "Ukraine"),
])
def test_a_country_by_its_own_name_code_or_people(query, country):
    found = REGISTRY.search(query)
    assert found and found[0].country == country, [spec.id for spec in found]
    assert documents_of(country) <= set(ids(query))


@pytest.mark.parametrize("query, expected", [
    ("china visa", ["cn_visa", "cn_visa_digital"]),
    ("visa china", ["cn_visa", "cn_visa_digital"]),  # any order
    ("french passport", ["fr_passport"]),
    ("passport france", ["fr_passport"]),
    ("us visa", ["us_visa", "us_visa_print", "us_dv_lottery"]),
    ("uk passport online", ["uk_passport_digital"]),
    ("india visa", ["in_evisa", "in_visa"]),
    ("greece visa", ["schengen_visa"]),  # a Schengen state finds the Schengen visa
    ("deutschland visa", ["schengen_visa"]),
    ("us passports", ["us_passport", "us_passport_online"]),  # a plural
])
def test_every_word_must_match_in_any_order(query, expected):
    assert ids(query) == expected


def test_a_country_s_own_documents_come_before_a_related_one():
    assert ids("germany")[:2] == ["de_passport", "schengen_visa"]
    assert ids("france")[0] == "fr_passport" and "schengen_visa" in ids("france")


def test_popular_documents_come_first():
    assert ids("")[:4] == ["us_passport", "us_passport_online", "us_visa", "schengen_visa"]
    assert len(ids("")) == len(REGISTRY.specs)
    assert ids("passport")[0] == "us_passport"
    assert {"us_visa", "schengen_visa", "cn_visa"} == set(ids("visa")[:3])
    assert ids("in")[0].startswith("in_")  # India's code first; "2x2 in" documents after it


def test_codes_are_whole_words_and_nonsense_finds_nothing():
    assert "ua_passport" not in ids("uk")  # "uk" is not the start of "ukraine"
    assert "au_passport" not in ids("us") and "de_passport" not in ids("us")  # Australia, Personalausweis
    assert ids("no such document anywhere") == []
    assert ids("united states china") == []


def test_words_split_in_any_script_and_ignore_accents():
    assert words("Passeport / carte d'identité") == ["passeport", "carte", "d", "identite"]
    assert words("U.S.A.") == ["usa"]
    assert words("中国, visa") == ["中国", "visa"]


def test_a_table_without_the_search_data_still_searches_its_own_words():
    custom = IdPhotoSpec(id="xx_permit", country="Atlantis", document="Work permit", width_mm=35, height_mm=45,
                         source="example.org")
    assert search_specs([custom], "atlantis permit") == [custom]
    assert search_specs([custom], "us") == []


# -- sizes and the rules line ---------------------------------------------------------------
def test_millimetres_are_rounded_the_way_people_write_them():
    assert format_mm(44.958) == "45" and format_mm(60.0287) == "60"
    assert format_mm(50.8) == "50.8" and format_mm(35) == "35" and format_mm(33.867) == "33.9"
    odd = IdPhotoSpec(id="odd", country="X", document="Odd", width_mm=44.958, height_mm=60.0287, source="x.org")
    assert odd.label == "X: Odd (45x60 mm)"
    for spec in REGISTRY.specs:
        assert not re.search(r"\d\.\d\d", spec.label), spec.label


def test_file_sizes_read_as_a_range():
    assert file_size_text(54, 10240) == "54 KB-10 MB"
    assert file_size_text(30, 80) == "30-80 KB"
    assert file_size_text(None, 240) == "at most 240 KB"
    assert file_size_text(50, None) == "at least 50 KB"
    assert file_size_text(None, None) == ""


def test_the_rules_line_says_print_or_upload_pixels_and_file_sizes():
    online = rules_text(REGISTRY.get("us_passport_online"))
    assert online.startswith("Online upload, 1200x1200 px")
    assert "600x600 to 1200x1200 px, square" in online and "54 KB-10 MB" in online
    printed = rules_text(REGISTRY.get("us_passport"))
    assert printed.startswith("Print, 50.8x50.8 mm (600x600 px at 300 dpi)") and "KB" not in printed
    assert "50 KB-10 MB" in rules_text(REGISTRY.get("uk_passport_digital"))
    assert "at least 600x750 px" in rules_text(REGISTRY.get("uk_passport_digital"))
    assert "digital file 30-80 KB" in rules_text(REGISTRY.get("cn_passport"))
    assert "hair excluded" in rules_text(REGISTRY.get("fr_passport"))
    for spec in REGISTRY.specs:
        assert rules_text(spec).startswith("Print" if spec.width_mm else "Online upload"), spec.id


# -- the command line ----------------------------------------------------------------------
def test_cli_specs_lists_the_best_match_first_with_its_rules(capsys):
    assert cli.main(["specs", "us"]) == cli.EXIT_OK
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[0] == "us_passport"
    assert lines[1].strip().startswith("Print, 50.8x50.8 mm")
    assert any("54 KB-10 MB" in line for line in lines)
    assert cli.main(["specs", "britain"]) == cli.EXIT_OK
    assert capsys.readouterr().out.startswith("uk_passport_print")
    assert cli.main(["specs", "中国"]) == cli.EXIT_OK
    assert "cn_passport" in capsys.readouterr().out


def test_a_pasted_page_costs_what_a_short_query_costs():
    """Hostile review: a 950-character word took 12 s (a recursion per trailing "s", each
    scanning the whole word) and 1,200 crashed with RecursionError."""
    import time

    from pipeline.idphoto.specs import load_specs

    registry = load_specs()
    for query in ("s" * 5000, "passports " * 500, "x" * 100_000):
        started = time.perf_counter()
        registry.search(query)
        assert time.perf_counter() - started < 0.05, query[:20]
    assert [spec.id for spec in registry.search("passports usa")][:1] == ["us_passport"]  # plurals still work
