"""Document names and search in every UI language (issue 18, point 4).

The side table ``pipeline/idphoto/data/id_photo_names_i18n.csv`` names every document and its
country in each language other than English (English is the spec table's own); checked here:
it is complete and consistent, a query in any language (CJK without spaces included) finds the
right document first, a near miss in any language still suggests it, and a document's label
reads in the visitor's language. All in memory: well under a second.
"""
from __future__ import annotations

import csv
import json
import re

import pytest

from pipeline.core.errors import UnknownSpecError
from pipeline.i18n import LANGUAGES, LOCALES_DIR
from pipeline.idphoto.search import NAMES_PATH, labelled_search, spec_label, suggest_specs
from pipeline.idphoto.specs import IdPhotoSpec, load_specs

REGISTRY = load_specs()
OTHER_LANGUAGES = [code for code in LANGUAGES if code != "en"]
NAME_ROWS = list(csv.DictReader(open(NAMES_PATH, newline="", encoding="utf-8-sig")))
GLOSSARY = json.loads((LOCALES_DIR / "glossary.json").read_text(encoding="utf-8"))["terms"]
SCRIPT = {"zh-CN": r"[\u4e00-\u9fff]", "zh-TW": r"[\u4e00-\u9fff]", "ja": r"[\u3040-\u30ff\u4e00-\u9fff]",
          "ko": r"[\uac00-\ud7af]"}


def ids(query: str) -> list[str]:
    return [spec.id for spec in REGISTRY.search(query)]


# -- the table ----------------------------------------------------------------------------------
def test_every_document_has_a_country_and_document_name_in_every_language():
    pairs = [(row["id"], row["lang"]) for row in NAME_ROWS]
    assert len(pairs) == len(set(pairs)), "a document is named twice in one language"
    expected = {(spec.id, lang) for spec in REGISTRY.specs for lang in OTHER_LANGUAGES}
    assert set(pairs) == expected, sorted(set(pairs) ^ expected)[:10]
    for row in NAME_ROWS:
        where = f"{row['id']} {row['lang']}"
        assert row["country"].strip() and row["document"].strip() and row["source"].strip(), where
        if row["lang"] in SCRIPT:  # a CJK language's names are in its script, not English left in
            assert re.search(SCRIPT[row["lang"]], row["country"] + row["document"]), where
        # an official name says where it comes from; a name of ours says so
        assert (row["source"] == "common usage") != bool(row["official_name"].strip()), where
    for spec in REGISTRY.specs:  # English: the spec table's own columns
        assert spec.country and spec.document


def test_a_country_has_one_name_per_language():
    country_of = {spec.id: spec.country for spec in REGISTRY.specs}
    names: dict[tuple[str, str], set[str]] = {}
    for row in NAME_ROWS:
        names.setdefault((country_of[row["id"]], row["lang"]), set()).add(row["country"])
    assert {key: value for key, value in names.items() if len(value) > 1} == {}


def test_passport_and_visa_use_the_glossary_words():
    english = {spec.id: spec.document.lower() for spec in REGISTRY.specs}
    for row in NAME_ROWS:
        for term in ("passport", "visa"):
            if term in english[row["id"]]:
                words = GLOSSARY[term][row["lang"]].split("|")
                text = (row["document"] + " " + row["official_name"]).casefold()
                assert any(word.casefold() in text for word in words), (row["id"], row["lang"], term)


# -- search in any language -------------------------------------------------------------------------
@pytest.mark.parametrize("query, best", [
    ("中国 签证", "cn_visa"), ("中国签证", "cn_visa"), ("签证 中国", "cn_visa"),
    ("パスポート 日本", "jp_passport"), ("日本パスポート", "jp_passport"), ("日本 旅券", "jp_passport"),
    ("여권 미국", "us_passport"), ("미국 여권", "us_passport"), ("미국여권", "us_passport"),
    ("visado Schengen", "schengen_visa"), ("passeport français", "fr_passport"),
    ("美國 簽證", "us_visa"), ("美國簽證", "us_visa"), ("美国签证", "us_visa"),
    ("pasaporte japón", "jp_passport"), ("pasaporte japon", "jp_passport"), ("passeport japon", "jp_passport"),
    ("日本护照", "jp_passport"), ("日本護照", "jp_passport"), ("英国护照", "uk_passport_print"),
    ("中国护照", "cn_passport"), ("한국 비자", "kr_visa"), ("ビザ 韓国", "kr_visa"), ("日本国旅券", "jp_passport"),
    ("visa Chine", "cn_visa"), ("pasaporte Estados Unidos", "us_passport"), ("Royaume-Uni passeport", "uk_passport_print"),
    ("中国visa", "cn_visa"), ("米国 ビザ", "us_visa"), ("南韓 護照", "kr_passport"), ("一寸", "cn_one_inch"), ("居民身份证", "cn_id_card"), ("中国身份证", "cn_id_card"),
])
def test_a_query_in_any_language_finds_its_document_first(query, best):
    found = ids(query)
    assert found and found[0] == best, found[:5]


@pytest.mark.parametrize("query, country", [
    ("中国签证", "China"), ("美國簽證", "USA"), ("日本パスポート", "Japan"), ("미국여권", "USA"),
])
def test_an_unspaced_query_finds_only_its_country(query, country):
    assert {spec.country for spec in REGISTRY.search(query)} == {country}


def test_cjk_pieces_do_not_match_single_characters_scattered_in_other_names():
    assert {spec.country for spec in REGISTRY.search("中国")} == {"China"}
    assert ids("签证中国")[0] == "cn_visa"
    assert ids("美国中国") == []  # two countries: nothing, as "united states china"


# -- near misses ------------------------------------------------------------------------------------
@pytest.mark.parametrize("typed, expected", [
    ("pasaporte japon", "jp_passport"), ("passeport japon", "jp_passport"), ("日本护照", "jp_passport"),
    ("pasaprte japon", "jp_passport"), ("passeprot japon", "jp_passport"), ("visdo schengen", "schengen_visa"),
    ("pasport japan", "jp_passport"), ("パスポト 日本", "jp_passport"),
])
def test_a_near_miss_in_any_language_suggests_the_document(typed, expected):
    assert expected in [spec.id for spec in suggest_specs(REGISTRY.specs, typed)]
    with pytest.raises(UnknownSpecError) as refused:
        REGISTRY.get(typed)
    assert expected in refused.value.hint


def test_nonsense_suggests_nothing():
    assert suggest_specs(REGISTRY.specs, "atlantis passport") == []
    assert suggest_specs(REGISTRY.specs, "zzzz qqqq") == []


# -- labels in the visitor's language ------------------------------------------------------------------
def test_a_label_reads_in_the_visitor_s_language():
    japan = REGISTRY.get("jp_passport")
    assert spec_label(japan, "ja") == "日本 · パスポート (35 × 45 mm)"
    assert spec_label(japan, "en") == japan.label == "Japan: Passport (35x45 mm)"
    assert spec_label(REGISTRY.get("cn_visa"), "zh-CN").startswith("中国 · 签证")
    assert spec_label(REGISTRY.get("us_visa"), "zh-TW").startswith("美國 · 簽證")
    assert spec_label(REGISTRY.get("us_passport_online"), "ko").endswith("(1200 × 1200 px)")
    assert spec_label(REGISTRY.get("us_passport"), "fr").endswith("(50,8 × 50,8 mm)")  # a decimal comma
    assert spec_label(REGISTRY.get("us_passport"), "ja").endswith("(50.8 × 50.8 mm)")
    assert spec_label(japan, "xx") == japan.label  # an unknown language: English
    custom = IdPhotoSpec(id="xx_permit", country="Atlantis", document="Work permit", width_mm=35, height_mm=45,
                         source="example.org")
    assert spec_label(custom, "fr") == custom.label  # a document without translations: English


@pytest.mark.parametrize("lang", OTHER_LANGUAGES)
def test_the_search_api_gives_labels_in_a_language(lang):
    choices = labelled_search(REGISTRY.specs, "", lang)
    assert [value for _, value in choices] == ids("")
    labels = [label for label, _ in choices]
    assert len(set(labels)) == len(labels)  # two documents never read the same
    if lang in SCRIPT:
        assert all(re.search(SCRIPT[lang], label) for label in labels)
    assert labelled_search(REGISTRY.specs, "jp passport", lang)[0][1] == "jp_passport"
    assert labelled_search(REGISTRY.specs, "us")[0] == (REGISTRY.get("us_passport").label, "us_passport")


# -- where labels are shown: the ID Photo tab's picker, the `specs` command ------------------------------
@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    """The real Studio on the real spec table; no weights (the picker needs none)."""
    import torch

    from pipeline.models.device import ComputeSettings
    from pipeline.models.manifest import load_manifest
    from pipeline.restore.engine import RestorationPipeline
    from webapp.studio import Studio

    compute = ComputeSettings(device=torch.device("cpu"), dtype=torch.float32)
    return Studio(RestorationPipeline(manifest=load_manifest(), weights_directory=tmp_path_factory.mktemp("none"),
                                      compute=compute))


def test_the_picker_lists_documents_in_the_visitor_s_language(studio):
    from webapp.language import speaking
    from webapp.tabs.idphoto import find_documents

    with speaking("ja"):
        picked = find_documents(studio, "日本パスポート", "icao_generic")
        every = studio.spec_choices()
    assert picked["value"] == "jp_passport"
    assert picked["choices"][0] == ("日本 · パスポート (35 × 45 mm)", "jp_passport")
    assert every[0][0].startswith("アメリカ · パスポート")
    with speaking("zh-TW"):
        assert find_documents(studio, "美國簽證", "icao_generic")["choices"][0][0].startswith("美國 · 簽證")
    assert studio.spec_choices("us")[0][0] == "USA: Passport (printed photo, 2x2 in) (50.8x50.8 mm)"  # English


def test_the_specs_command_lists_names_in_the_chosen_language(capsys):
    from argparse import Namespace

    from pipeline.cli.commands import cmd_specs

    assert cmd_specs(Namespace(query=["パスポート", "日本"], lang="ja")) == 0
    assert capsys.readouterr().out.splitlines()[0].split(None, 1) == ["jp_passport", "日本 · パスポート (35 × 45 mm)"]
    assert cmd_specs(Namespace(query=["中国签证"])) == 0  # no --lang: English
    assert capsys.readouterr().out.splitlines()[0].split(None, 1) == ["cn_visa", REGISTRY.get("cn_visa").label]
