"""The visitor's language on the page.

- Labels, info texts and the page's fixed words are ``ui.*`` catalogue keys, given to Gradio
  as ``gr.I18n`` (:func:`ui`): the browser translates them, following its own language.
- The picker (:func:`language_picker`) overrides that: the choice is kept in the visitor's
  own browser (localStorage, and a cookie the server reads with each request); the server
  keeps no record of it.
- Words the server writes while a job runs (results, verdicts, errors) are rendered in the
  language of the request (:func:`t`): the picker's cookie, else Accept-Language, else English.
"""
from __future__ import annotations

import contextvars
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import gradio as gr
from gradio.i18n import I18nData
from starlette.requests import cookie_parser

from pipeline.i18n import DEFAULT_LANGUAGE, LANGUAGES, catalogue, language_from_accept, translate
from pipeline.i18n.languages import BROWSER_TAGS

LANGUAGE_COOKIE = "portrait_lab_lang"
LANGUAGE_STORAGE_KEY = "portrait-lab-language"
UI_PREFIX = "ui."
VISITOR_LANGUAGE: contextvars.ContextVar[str] = contextvars.ContextVar("visitor_language", default=DEFAULT_LANGUAGE)


def ui_translations() -> gr.I18n:
    """Every language's ``ui.*`` messages for the browser (the rest is rendered server-side)."""
    return gr.I18n(**{code: {key: text for key, text in catalogue(code).items() if key.startswith(UI_PREFIX)}
                      for code in LANGUAGES})


def ui(key: str) -> Any:
    """A label the browser shows in the visitor's language (a ``ui.*`` key; KeyError if English lacks it)."""
    full = key if key.startswith(UI_PREFIX) else UI_PREFIX + key
    catalogue(DEFAULT_LANGUAGE)[full]  # noqa: B018 - a typo fails when the page is built, not in a browser
    return I18nData(full)


def t(key: str, /, **values: Any) -> str:
    """``key`` in the language of the request being served."""
    return translate(key, VISITOR_LANGUAGE.get(), **values)


def request_language(request: Any) -> str:
    """The language a request asks for: the picker's cookie, else Accept-Language, else English."""
    headers = getattr(request, "headers", None) or {}
    cookie_header = headers.get("cookie") if hasattr(headers, "get") else None
    if cookie_header:  # Starlette's lenient parser: another site's odd cookie must not hide ours
        chosen = cookie_parser(cookie_header).get(LANGUAGE_COOKIE)
        if chosen in LANGUAGES:
            return chosen
    return language_from_accept(headers.get("accept-language") if hasattr(headers, "get") else None)


@contextmanager
def speaking(lang: str) -> Iterator[None]:
    """Render the server's words in ``lang`` inside the block."""
    token = VISITOR_LANGUAGE.set(lang if lang in LANGUAGES else DEFAULT_LANGUAGE)
    try:
        yield
    finally:
        VISITOR_LANGUAGE.reset(token)


# The page's language at load and on a pick: the stored choice, else the browser's first
# language we have; Gradio's own locale store (``changeLocale`` of its core module, the one
# its Settings panel uses) then re-renders every label.
LANGUAGE_JS = """
(() => {
  const TAGS = %(tags)s, CODES = %(codes)s, KEY = %(key)r, COOKIE = %(cookie)r;
  const resolve = (tag) => {
    const parts = String(tag || '').replace('_', '-').toLowerCase().split('-');
    for (let end = parts.length; end > 0; end--) {
      const tag = parts.slice(0, end).join('-');
      const code = Object.prototype.hasOwnProperty.call(TAGS, tag) ? TAGS[tag] : null;
      if (code) return code;
    }
    return null;
  };
  const coreModule = () => {
    const urls = performance.getEntriesByType('resource').map((entry) => entry.name)
      .concat([...document.querySelectorAll('link[rel=modulepreload], script[type=module]')]
        .map((el) => el.href || el.src));
    return urls.find((url) => /\\/assets\\/core-[\\w-]+\\.js(\\?|$)/.test(url || '')
      && new URL(url, location.href).origin === location.origin);  // only this server's own module
  };
  window.portraitLabLanguage = {
    preferred() {
      let stored = null;
      try { stored = localStorage.getItem(KEY); } catch (e) { stored = null; }
      if (CODES.includes(stored)) return stored;
      const cookie = document.cookie.split('; ').find((pair) => pair.startsWith(COOKIE + '='));
      if (cookie && CODES.includes(cookie.slice(COOKIE.length + 1))) return cookie.slice(COOKIE.length + 1);
      for (const tag of navigator.languages || [navigator.language]) {
        const code = resolve(tag);
        if (code) return code;
      }
      return 'en';
    },
    async apply(code, remember) {
      if (!CODES.includes(code)) return false;
      let kept = false;
      if (remember) {
        try { localStorage.setItem(KEY, code); kept = localStorage.getItem(KEY) === code; } catch (e) { kept = false; }
      }
      document.cookie = COOKIE + '=' + code + '; path=/; SameSite=Strict';
      document.documentElement.setAttribute('lang', code);
      const url = coreModule();
      if (url) {
        const core = await import(url);
        if (typeof core.changeLocale === 'function') core.changeLocale(code);
      }
      document.documentElement.setAttribute('lang', code);
      return kept;
    },
  };
  // Gradio's own words (the upload box's) follow only the language it started in: a pick on a
  // page nobody has worked on yet reloads it in the new language; with a photo or a search
  // there, nothing is lost: the labels switch at once and the rest on the next visit.
  // Any press or key outside the picker counts (a webcam shot or the clipboard button fires
  // no change event): a reload then never takes a photo away.
  let touched = false;
  ['change', 'input', 'drop', 'paste', 'pointerdown', 'keydown'].forEach((type) => document.addEventListener(
    type, (event) => {
      if (!(event.target instanceof Element) || !event.target.closest('#language-picker')) touched = true;
    }, true));
  window.portraitLabLanguage.pick = async (code) => {
    const kept = await window.portraitLabLanguage.apply(code, true);
    if (!touched && kept) location.reload();  // without storage, a reload would forget the pick
  };
  // Before Gradio starts (this runs in the head, its module after): it takes its first locale
  // from the browser, and what it draws then keeps that language; so it is told ours.
  const first = window.portraitLabLanguage.preferred();
  try {
    Object.defineProperty(navigator, 'language', {configurable: true, get: () => first});
    Object.defineProperty(navigator, 'languages', {configurable: true, get: () => [first]});
  } catch (e) { /* a browser that refuses: the picker's switch after start still applies */ }
  document.documentElement.setAttribute('lang', first);
})();
""" % {"tags": json.dumps(BROWSER_TAGS), "codes": json.dumps(list(LANGUAGES)), "key": LANGUAGE_STORAGE_KEY,
       "cookie": LANGUAGE_COOKIE}

PICK_LANGUAGE_JS = "(code) => { window.portraitLabLanguage.pick(code); return code; }"
LOAD_LANGUAGE_JS = ("() => { const code = window.portraitLabLanguage.preferred(); "
                    "window.portraitLabLanguage.apply(code, false); return code; }")


def language_picker() -> gr.Dropdown:
    """The visible picker: each language by its own name, so anyone finds theirs."""
    return gr.Dropdown(choices=[(lang.native, lang.code) for lang in LANGUAGES.values()], value=DEFAULT_LANGUAGE,
                       label=ui("language.picker"), elem_id="language-picker", interactive=True, scale=0,
                       min_width=160, container=True)


def wire_language_picker(demo: gr.Blocks, picker: gr.Dropdown) -> None:
    """The browser applies the language (no server round trip, nothing stored server-side)."""
    picker.input(None, picker, picker, js=PICK_LANGUAGE_JS, queue=False, api_visibility="private")
    demo.load(None, None, picker, js=LOAD_LANGUAGE_JS, queue=False, api_visibility="private")


BASE_FONTS = ("system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica Neue", "Arial")


def theme_fonts() -> list[str]:
    """The theme's font stack: the system's UI font, then a face with CJK glyphs on Windows,
    macOS, Android and Linux (every language's, so no text falls to tofu boxes). No web fonts:
    nothing is fetched from a CDN."""
    cjk = [font for lang in LANGUAGES.values() for font in lang.fonts]
    return list(dict.fromkeys([*BASE_FONTS, *cjk, "sans-serif"]))


def font_css() -> str:
    """Per page language (``:lang``), that language's own faces first, so Japanese, Chinese
    and Korean each get their own forms of the characters they share (Latin text keeps the
    system's UI font, which lacks these glyphs, so they fall through to them). It overrides the
    theme's ``--font``, in the light and the dark scheme."""
    rules = []
    for lang in LANGUAGES.values():
        if lang.fonts:
            families = ", ".join(f'"{font}"' if " " in font else font
                                 for font in dict.fromkeys([*BASE_FONTS, *lang.fonts, *theme_fonts()]))
            selector = f":root:lang({lang.code})"
            rules.append(f"{selector}, {selector}.dark, {selector} .dark {{ --font: {families}; }}")
    return "\n".join(rules)
