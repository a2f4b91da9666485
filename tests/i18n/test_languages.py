"""Which language a browser or a request gets: the picker's cookie first, then the browser's
Accept-Language by its q-values, then English; regional and script tags map to ours."""
from __future__ import annotations

import json

import pytest

from pipeline.i18n import LANGUAGES, Message, language_from_accept, render, resolve_language, translate
from webapp.language import LANGUAGE_COOKIE, LANGUAGE_JS, font_css, request_language, speaking, t


@pytest.mark.parametrize(("tag", "code"), [
    ("zh-CN", "zh-CN"), ("zh", "zh-CN"), ("zh-Hans-SG", "zh-CN"), ("zh-TW", "zh-TW"), ("zh-Hant-HK", "zh-TW"),
    ("zh_HK", "zh-TW"), ("ja-JP", "ja"), ("ko", "ko"), ("es-419", "es"), ("es-MX", "es"), ("fr-CA", "fr"),
    ("en-GB", "en"), ("de-DE", None), ("", None), ("x-klingon", None),
])
def test_browser_tags_map_to_our_languages(tag, code):
    assert resolve_language(tag) == code


@pytest.mark.parametrize(("header", "code"), [
    ("de-DE,de;q=0.9,ja;q=0.8,en;q=0.5", "ja"),   # the first one we have, by quality
    ("fr;q=0.4, ko;q=0.9", "ko"),
    ("zh-HK,zh;q=0.9", "zh-TW"),
    ("de, it", "en"), (None, "en"), ("", "en"),
    ("ja;q=0, es", "es"),                          # q=0 means "not this one"
    ("ja;q=abc", "en"),                            # an unreadable quality is no vote
    (",".join(["de"] * 50 + ["ja"]), "en"),        # an absurdly long header is cut, not parsed whole
])
def test_accept_language_picks_the_best_language_we_have(header, code):
    assert language_from_accept(header) == code


class _Request:
    def __init__(self, **headers):
        self.headers = headers


def test_the_picker_cookie_beats_the_browser_and_a_forged_one_is_ignored():
    assert request_language(_Request(cookie=f"a=1; {LANGUAGE_COOKIE}=ko", **{"accept-language": "ja"})) == "ko"
    assert request_language(_Request(cookie=f"{LANGUAGE_COOKIE}=../../etc", **{"accept-language": "ja"})) == "ja"
    assert request_language(_Request(cookie='bad"cookie; ;;', **{"accept-language": "fr-CA"})) == "fr"
    for odd in ('a=b c', 'x={"a":1}', 'x="unterminated'):  # another site's cookie on a shared host
        assert request_language(_Request(cookie=f"{odd}; {LANGUAGE_COOKIE}=ja")) == "ja"
    assert request_language(_Request()) == "en"
    assert request_language(None) == "en"


def test_server_text_follows_the_request_s_language_and_only_inside_it():
    key = "ui.language.picker"
    with speaking("ja"):
        assert t(key) == translate(key, "ja") != translate(key, "en")
    assert t(key) == translate(key, "en")
    with speaking("no-such-language"):
        assert t(key) == translate(key, "en")


def test_a_message_renders_in_the_language_it_is_read_in():
    message = Message("ui.language.picker")
    assert str(message) == translate("ui.language.picker", "en")
    assert message.text("zh-TW") == translate("ui.language.picker", "zh-TW")
    assert render([message, "plain"], "ko") == [translate("ui.language.picker", "ko"), "plain"]
    with pytest.raises(KeyError):
        translate("no.such.key", "ja")


def test_the_page_script_knows_every_language_and_the_fonts_cover_cjk_scripts():
    for code in LANGUAGES:
        assert json.dumps(code) in LANGUAGE_JS
    css = font_css()
    for code in ("zh-CN", "zh-TW", "ja", "ko"):
        assert f":root:lang({code})" in css
    assert "Noto Sans CJK JP" in css and "Microsoft YaHei" in css and "Malgun Gothic" in css
    assert "http" not in css  # no web font is fetched
