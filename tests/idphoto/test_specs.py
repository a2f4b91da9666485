"""The ID-photo specification data (pipeline/idphoto/data/id_photo_specs.csv) and its loader.

Data checks: it loads, it is big enough, every row is sourced and well formed, a few
researched facts are pinned, and every document's rules can be met by a real face.
Loader checks: sizes, ratios, defaults, search, errors and custom sizes.
"""
from __future__ import annotations

import csv
import math
import re
from pathlib import Path

import numpy as np
import pytest

from pipeline.core.errors import InvalidOptionError, SpecDataError, UnknownSpecError
from pipeline.idphoto.specs import (
    DEFAULT_EYE_RATIO_FROM_BOTTOM,
    DEFAULT_HEAD_RATIO,
    SPECS_PATH,
    IdPhotoSpec,
    custom_spec,
    load_specs,
    spec_from_row,
)

COLUMNS = (
    "id,country,document,width_mm,height_mm,width_px,height_px,min_width_px,min_height_px,max_width_px,"
    "max_height_px,dpi,head_height_min_mm,head_height_max_mm,"
    "head_height_min_ratio,head_height_max_ratio,head_top,eye_line_min_mm,eye_line_max_mm,eye_line_min_ratio,"
    "eye_line_max_ratio,crown_margin_min_mm,crown_margin_max_mm,background,background_hex,default_background,"
    "min_file_kb,"
    "max_file_kb,source,notes"
).split(",")
NOT_COUNTRIES = {"International (ICAO)", "EU / Schengen states"}
RANGES = ("head_height_mm", "head_height_ratio", "eye_line_mm", "eye_line_ratio", "crown_margin_mm")
# Where the eyes sit below the crown, as a fraction of the chin-to-crown height, for a normal face.
EYE_OFFSETS = (0.45, 0.50)


def _raw_rows() -> list[dict[str, str]]:
    with open(SPECS_PATH, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


SPECS = load_specs().specs
SPEC_IDS = [spec.id for spec in SPECS]


def _row(**changes: str) -> dict[str, str]:
    """A valid CSV row (as the loader reads it) with some cells changed."""
    row = dict.fromkeys(COLUMNS, "")
    row.update(id="test_doc", country="Testland", document="Passport", width_mm="35", height_mm="45",
               head_height_min_mm="32", head_height_max_mm="36", background="white", background_hex="#FFFFFF",
               source="example.gov/photos")
    row.update(changes)
    return row


def satisfiable(spec: IdPhotoSpec, steps: int = 2001) -> bool:
    """Is there a head size h in the head range and a crown position c (from the top, inside
    the crown-margin range if any, c >= 0 and chin c + h <= 1) such that the eyes, sitting
    0.45-0.50 of h below the crown, fall inside the eye range? All as fractions of the height."""
    head_low, head_high = spec.head_ratio_range()
    eye_low, eye_high = spec.eye_ratio_range()
    crown_low, crown_high = spec.crown_margin_ratio_range() or (0.0, 1.0)
    for head in np.linspace(head_low, head_high, steps):
        top_low, top_high = max(0.0, crown_low), min(crown_high, 1.0 - head)
        if top_low > top_high:
            continue
        # Eye position from the bottom: 1 - crown - offset * head, over every crown and offset allowed.
        lowest = 1.0 - top_high - EYE_OFFSETS[1] * head
        highest = 1.0 - top_low - EYE_OFFSETS[0] * head
        if max(lowest, eye_low) <= min(highest, eye_high) + 1e-12:
            return True
    return False


# -- the data file ---------------------------------------------------------------------------

def test_data_file_has_the_expected_columns_and_loads():
    with open(SPECS_PATH, newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle))
    assert header == COLUMNS
    registry = load_specs()
    assert len(registry.specs) == len(_raw_rows())


def test_enough_documents_and_countries():
    countries = {spec.country for spec in SPECS} - NOT_COUNTRIES
    assert len(SPECS) >= 40
    assert len(countries) >= 25, sorted(countries)


@pytest.mark.parametrize("row", _raw_rows(), ids=lambda row: row["id"])
def test_every_row_has_the_required_fields_and_a_source(row):
    for key in ("id", "country", "document", "source"):
        assert row[key].strip(), f"{row['id']}: {key} is empty"
    has_mm = bool(row["width_mm"].strip() and row["height_mm"].strip())
    has_px = bool(row["width_px"].strip() and row["height_px"].strip())
    assert has_mm or has_px, f"{row['id']}: no size"
    assert re.search(r"\w+\.\w+", row["source"]), f"{row['id']}: source has no web address"


def test_ids_are_unique_lowercase_identifiers():
    ids = [row["id"] for row in _raw_rows()]
    assert len(ids) == len(set(ids))
    for spec_id in ids:
        assert re.fullmatch(r"[a-z0-9_]+", spec_id), spec_id


@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_ranges_are_ordered_and_inside_the_photo(spec):
    for name in RANGES:
        value = getattr(spec, name)
        if value is None:
            continue
        low, high = value
        assert 0 <= low <= high, (spec.id, name, value)
        if name.endswith("ratio"):
            assert 0 < low and high < 1, (spec.id, name, value)
        elif spec.height_mm:
            assert high <= spec.height_mm, (spec.id, name, value)
    if spec.min_file_kb and spec.max_file_kb:
        assert spec.min_file_kb <= spec.max_file_kb


@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_one_rule_is_stored_once_and_colours_are_honest(spec):
    # A rule is stored in mm or as a ratio, not both (the two could disagree).
    assert not (spec.head_height_mm and spec.head_height_ratio), spec.id
    assert not (spec.eye_line_mm and spec.eye_line_ratio), spec.id
    if spec.background_hex:
        assert re.fullmatch(r"#[0-9A-F]{6}", spec.background_hex), spec.id
    if spec.background_hex == "#FFFFFF":
        # Only documents that say white get the nominal white colour.
        assert "white" in spec.background.lower(), (spec.id, spec.background)


@pytest.mark.parametrize("spec", [s for s in SPECS if s.width_mm and s.width_px], ids=lambda s: s.id)
def test_pixel_and_mm_sizes_have_the_same_shape(spec):
    # A print size and a pixel size in one row must describe the same picture.
    assert spec.width_px / spec.height_px == pytest.approx(spec.width_mm / spec.height_mm, rel=0.02), spec.id


def test_known_facts_match_the_research():
    registry = load_specs()
    us = registry.get("us_passport")
    assert (us.width_mm, us.height_mm) == (50.8, 50.8)  # 2x2 in exactly
    assert us.width_px is None and us.min_file_kb is None  # the print: the upload rules are us_passport_online
    assert us.head_height_mm == (25.4, 34.9)  # 1 to 1 3/8 in
    assert us.eye_line_mm == (28.6, 34.9)  # 1 1/8 to 1 3/8 in from the bottom
    icao = registry.get("icao_generic")
    assert (icao.width_mm, icao.height_mm) == (35, 45)
    assert icao.head_height_ratio == (0.70, 0.80)
    china = registry.get("cn_passport")
    assert (china.width_mm, china.height_mm) == (33, 48)
    assert china.crown_margin_mm == (3, 5)
    assert china.head_height_mm == (28, 33)
    canada = registry.get("ca_passport")
    assert (canada.width_mm, canada.height_mm) == (50, 70)
    assert canada.head_height_mm == (31, 36)
    dv = registry.get("us_dv_lottery")
    assert (dv.width_px, dv.height_px) == (600, 600)
    assert dv.width_mm is None and dv.max_file_kb == 240
    visa = registry.get("us_visa")
    assert visa.head_height_ratio == (0.50, 0.69) and visa.eye_line_ratio == (0.56, 0.69)
    assert registry.get("uk_passport_print").head_height_mm == (29, 34)
    assert registry.get("fr_passport").background_hex is None  # white is forbidden there


@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_every_document_can_be_met_by_a_normal_face(spec):
    assert satisfiable(spec), (spec.id, spec.head_ratio_range(), spec.eye_ratio_range(),
                               spec.crown_margin_ratio_range())


def test_the_satisfiability_check_rejects_impossible_rules():
    # Eyes in the bottom quarter with a head filling 75-80 % of the photo cannot happen.
    impossible = IdPhotoSpec(id="x", country="X", document="x", width_mm=35, height_mm=45,
                             head_height_ratio=(0.75, 0.80), eye_line_ratio=(0.20, 0.25), source="x.org")
    assert not satisfiable(impossible)
    # A 3-5 mm crown margin on a 48 mm photo cannot hold a 46 mm head.
    crowded = IdPhotoSpec(id="y", country="Y", document="y", width_mm=33, height_mm=48,
                          head_height_mm=(46, 47), crown_margin_mm=(3, 5), source="y.org")
    assert not satisfiable(crowded)
    assert satisfiable(load_specs().get("us_passport"))


# -- the loader ----------------------------------------------------------------------------

def test_size_px_for_mm_and_pixel_specs():
    registry = load_specs()
    icao = registry.get("icao_generic")
    assert icao.size_px() == (413, 531)  # 300 dpi default
    assert icao.size_px(300) == (413, 531)
    assert icao.size_px(600) == (827, 1063)
    us = registry.get("us_passport")
    assert us.size_px() == (600, 600)  # 2 in at the default 300 dpi
    assert us.size_px(300) == (600, 600)  # 2 in at 300 dpi
    assert us.output_dpi() == 300  # the default: the print states no dpi
    assert registry.get("us_passport_online").size_px() == registry.get("us_passport_online").size_px(600) \
        == (1200, 1200)  # the size chosen inside the upload's range, at any dpi
    assert registry.get("us_dv_lottery").size_px() == (600, 600)
    id_card = registry.get("cn_id_card")
    assert id_card.size_px() == (358, 441)
    assert id_card.output_dpi() == 350
    assert registry.get("ca_passport").size_px(600) == (1181, 1654)


def test_ratio_ranges_from_mm_from_ratios_and_defaults():
    registry = load_specs()
    us = registry.get("us_passport")
    assert us.head_ratio_range() == pytest.approx((25.4 / 50.8, 34.9 / 50.8))
    assert us.eye_ratio_range() == pytest.approx((28.6 / 50.8, 34.9 / 50.8))
    assert not any("head height" in d or "eye line" in d for d in us.defaults_applied)

    visa = registry.get("us_visa")
    assert visa.head_ratio_range() == (0.50, 0.69)
    assert visa.eye_ratio_range() == (0.56, 0.69)

    china = registry.get("cn_passport")
    assert china.crown_margin_ratio_range() == pytest.approx((3 / 48, 5 / 48))
    assert registry.get("icao_generic").crown_margin_ratio_range() is None

    spain = registry.get("es_dni")  # size and background only
    assert spain.head_ratio_range() == DEFAULT_HEAD_RATIO
    assert spain.eye_ratio_range() == DEFAULT_EYE_RATIO_FROM_BOTTOM
    applied = " | ".join(spain.defaults_applied)
    assert "head height 70-80 %" in applied and "eye line 50-70 %" in applied
    assert "300 dpi" in applied
    assert "background colour white" not in applied  # it names white: #FFFFFF is stored

    uk = registry.get("uk_passport_print")  # cream or light grey: no exact colour, white not allowed
    assert any("background colour light-grey (our choice" in d for d in uk.defaults_applied)
    assert uk.background_colour == "light-grey"
    icao = registry.get("icao_generic")  # "plain, light": white allowed
    assert any("background colour white (our choice" in d and "allows white" in d for d in icao.defaults_applied)
    assert not any("dpi" in d for d in registry.get("de_passport").defaults_applied)


def test_search_by_words():
    registry = load_specs()
    china_visa = {spec.id for spec in registry.search("china visa")}
    assert {"cn_visa", "cn_visa_digital"} <= china_visa
    assert "cn_passport" not in china_visa
    assert all(spec.country == "China" for spec in registry.search("china visa"))
    us = {spec.id for spec in registry.search("us")}
    assert {"us_passport", "us_visa", "us_dv_lottery", "us_green_card"} <= us
    assert len(registry.search("")) == len(registry.specs)
    assert registry.search("no such document anywhere") == []


def test_a_country_code_is_a_whole_word_not_the_start_of_another_country():
    """`specs uk` listed Ukraine ("uk" inside "ukraine"): a code must match a whole word."""
    registry = load_specs()
    assert {spec.country for spec in registry.search("uk")} == {"United Kingdom"}
    assert {spec.country for spec in registry.search("ukr")} == {"Ukraine"}
    assert {spec.id for spec in registry.search("ua")} == {"ua_passport"}
    assert {"de_passport"} <= {spec.id for spec in registry.search("germ pass")}  # prefixes of 3+ letters


def test_get_unknown_id_suggests_close_ones():
    registry = load_specs()
    with pytest.raises(UnknownSpecError) as caught:
        registry.get("china_visa")
    assert "cn_visa" in caught.value.hint
    assert caught.value.code == "unknown_spec"
    with pytest.raises(UnknownSpecError) as nothing:
        registry.get("atlantis_passport")
    assert "Did you mean" not in nothing.value.hint


@pytest.mark.parametrize(
    "changes, problem",
    [
        (dict(head_height_min_mm="36", head_height_max_mm="32"), "ordered pair"),
        (dict(eye_line_min_mm="30", eye_line_max_mm=""), "ordered pair"),
        (dict(width_mm="", height_mm=""), "needs a size"),
        (dict(height_mm=""), "together"),
        (dict(source=""), "source"),
        (dict(background_hex="white"), "#RRGGBB"),
        (dict(background_hex="#FFF"), "#RRGGBB"),
        (dict(head_height_min_mm="", head_height_max_mm="", head_height_min_ratio="0.7",
              head_height_max_ratio="1.2"), "between 0 and 1"),
        (dict(crown_margin_min_mm="3", crown_margin_max_mm="50"), "exceeds the photo height"),
        (dict(id="Bad Id"), "lowercase"),
        (dict(width_mm="-35"), "finite number >= 0"),
        (dict(min_file_kb="100", max_file_kb="50"), "min_file_kb"),
        (dict(head_top="hairline"), "head_top 'hairline' is not one of: crown, forehead"),
        (dict(head_top="forehead", head_height_min_mm="", head_height_max_mm=""), "own head height"),
        (dict(width_mm="", height_mm="", width_px="600", height_px="600", min_width_px="600"), "together"),
        (dict(width_px="600", height_px="600", min_width_px="600", min_height_px="600"), "its own row"),
        (dict(width_mm="", height_mm="", min_width_px="600", min_height_px="600"), "needs width_px"),
        (dict(width_mm="", height_mm="", width_px="500", height_px="500", min_width_px="600", min_height_px="600"),
         "outside its own range"),
        (dict(width_mm="", height_mm="", width_px="600", height_px="600", min_width_px="600", min_height_px="600",
              max_width_px="500", max_height_px="500"), "outside its own range"),
        (dict(dpi="abc"), "dpi is not a number"),
    ],
)
def test_malformed_rows_are_refused(changes, problem):
    assert spec_from_row(_row()).id == "test_doc"  # the base row is valid
    with pytest.raises(SpecDataError, match=re.escape(problem)) as caught:
        spec_from_row(_row(**changes))
    assert isinstance(caught.value, ValueError) and caught.value.code == "spec_data"


def test_custom_sizes():
    mm = custom_spec(35, 45)
    assert mm.custom and mm.size_px() == (413, 531)
    assert custom_spec(35, 45, dpi=600).size_px() == (827, 1063)
    px = custom_spec(600, 750, unit="px")
    assert px.size_px() == (600, 750) and px.width_mm is None
    assert custom_spec(35, 45, background_hex="#E0E0E0").background_hex == "#E0E0E0"
    assert any("head height 70-80 %" in d for d in mm.defaults_applied)


@pytest.mark.parametrize(
    "args, kwargs",
    [
        ((0, 45), {}),
        ((35, -45), {}),
        ((35, 45), dict(dpi=0)),
        ((35, 45), dict(unit="in")),
        ((2000, 2000), {}),  # 558 MP at 300 dpi: over the pixel limit
        ((35, 45), dict(background_hex="red")),
        ((0.5, 600), dict(unit="px")),
        ((math.nan, 45), {}),
        ((math.inf, 45), {}),
    ],
)
def test_custom_size_bad_input_is_an_invalid_option(args, kwargs):
    with pytest.raises(InvalidOptionError):
        custom_spec(*args, **kwargs)


def test_the_documentation_states_the_current_counts():
    doc = (Path(__file__).resolve().parents[2] / "docs" / "id_photo_specs.md").read_text(encoding="utf-8")
    countries = {spec.country for spec in SPECS} - NOT_COUNTRIES
    assert f"{len(SPECS)} documents, {len(countries)} countries" in doc
    for country in countries:
        assert country in doc, country


def test_pixel_only_documents_keep_their_pixels_at_any_dpi():
    dv = load_specs().get("us_dv_lottery")
    assert not dv.width_mm
    assert dv.size_px() == dv.size_px(600) == (600, 600)


def _edited_table(tmp_path, edit) -> Path:
    """The shipped table with one edit applied to its text, written to a temporary file."""
    from pipeline.idphoto.specs import SPECS_PATH

    path = tmp_path / "specs.csv"
    path.write_bytes(edit(SPECS_PATH.read_text(encoding="utf-8")).encode("utf-8"))
    return path


def _first_row_cell(text: str, column: str, value: str) -> str:
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(text)))
    rows[0][column] = value
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def test_a_table_saved_by_a_spreadsheet_with_a_byte_order_mark_loads(tmp_path):
    assert len(load_specs(_edited_table(tmp_path, lambda text: "\ufeff" + text)).specs) == len(load_specs().specs)


@pytest.mark.parametrize("edit, message", [
    (lambda text: text.replace("\n", "\nbroken,row\n", 1), "too few cells"),
    (lambda text: text.replace("id,country", "ident,country", 1), "lacks the column"),
    (lambda text: _first_row_cell(text, "head_height_min_mm", "nan"), "finite"),
    (lambda text: _first_row_cell(text, "max_file_kb", "-5"), "finite number >= 0"),
    (lambda text: _first_row_cell(text, "width_px", "600.9"), "whole number"),
])
def test_a_damaged_table_is_a_typed_error_naming_the_problem(tmp_path, edit, message):
    """The app loads this table at start-up: damage must be a clear SpecDataError, not a crash."""
    from pipeline.core.errors import SpecDataError

    with pytest.raises(SpecDataError, match=message):
        load_specs(_edited_table(tmp_path, edit))
