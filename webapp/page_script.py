"""The page's one script (``launch(js=...)``): what Gradio's components cannot say themselves.

- Live regions: the elements with the ``live-region`` class (the ID-photo verdict, the batch
  summary) are announced by screen readers when their text changes.
- Alt texts and names Gradio has no parameter for: the before/after slider's two pictures,
  download links (whose text is only the file's size) and the example photo's button.
- A skip link, the first thing the keyboard reaches: it jumps to the shown tab's main button,
  or to its upload box while the button waits for a photo.

Its words are the catalogues' ``ui.page.*`` messages, embedded for every language and chosen
by the page's ``lang`` (which the language picker sets); each name it gave remembers the
language it was given in (``data-pl-lang``), so a change of language names it again.
"""
from __future__ import annotations

import json

from pipeline.i18n import DEFAULT_LANGUAGE, LANGUAGES, catalogue, translate

PAGE_PREFIX = "ui.page."
SKIP_LINK_TEXT = translate("ui.page.skip_link", DEFAULT_LANGUAGE)  # English, as the tests read it


TAB_PREFIX = "ui.tab."


def page_words() -> dict[str, dict[str, str]]:
    """Every language's ``ui.page.*`` words and tab names, for the script."""
    return {code: {key: text for key, text in catalogue(code).items() if key.startswith((PAGE_PREFIX, TAB_PREFIX))}
            for code in LANGUAGES}


PAGE_JS = """
() => {
  const WORDS = %(words)s;
  const lang = () => (WORDS[document.documentElement.lang] ? document.documentElement.lang : 'en');
  const say = (key) => WORDS[lang()][key] || WORDS.en[key];
  window.portraitLabWords = () => WORDS[lang()];
  // a name this script gave (data-pl-lang) is given again when the page's language changes
  const stale = (el, attribute) => !el.getAttribute(attribute)
    || (el.dataset.plLang !== undefined && el.dataset.plLang !== lang());
  const name = (el, attribute, text) => { el.setAttribute(attribute, text); el.dataset.plLang = lang(); };
  const SLIDER_ALTS = ['ui.page.before', 'ui.page.after'];
  // Gradio names a tab once, in the language of the moment it was drawn: after a pick, a tab
  // still shows its old name. Its text node is given the name in the page's language.
  const TAB_KEYS = Object.keys(WORDS.en).filter((key) => key.startsWith('ui.tab.'));
  const renameTabs = () => {
    document.querySelectorAll('[role=tab], .tab-container button, [role=menu] button').forEach((el) => {
      const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
      for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        const text = node.nodeValue.trim();
        const key = TAB_KEYS.find((k) => Object.values(WORDS).some((words) => words[k] === text));
        if (key && say(key) !== text) node.nodeValue = node.nodeValue.replace(text, say(key));
      }
    });
  };
  const label = () => {
    document.querySelectorAll('.live-region:not([aria-live])').forEach((el) => {
      el.setAttribute('role', 'status');
      el.setAttribute('aria-live', 'polite');
    });
    document.querySelectorAll('a[download]').forEach((link) => {
      const file = link.getAttribute('download');
      const shown = link.textContent.trim();  // the size; a name must hold the words shown
      if (file && stale(link, 'aria-label')) {
        name(link, 'aria-label', say('ui.page.download') + ' ' + file + (shown ? ', ' + shown : ''));
      }
    });
    document.querySelectorAll('button.gallery-item').forEach((button) => {
      if (stale(button, 'aria-label')) name(button, 'aria-label', say('ui.page.example'));
    });
    document.querySelectorAll('#restore-result img').forEach((img, index) => {
      if (stale(img, 'alt')) name(img, 'alt', say(SLIDER_ALTS[Math.min(index, 1)]));
    });
    renameTabs();
    // Gradio's message boxes head a group by its kind, in English whatever the page's language
    document.querySelectorAll('.toast-title').forEach((title) => {
      const kind = ['warning', 'error', 'info'].find((name) => title.classList.contains(name));
      const node = [...title.childNodes].find((child) => child.nodeType === Node.TEXT_NODE && child.nodeValue.trim());
      if (kind && node && node.nodeValue.trim() !== say('ui.page.toast_' + kind)) node.nodeValue = say('ui.page.toast_' + kind) + ' ';
    });
    document.querySelectorAll('.toast-close').forEach((button) => {
      if (stale(button, 'aria-label') || button.getAttribute('aria-label') === 'Close') name(button, 'aria-label', say('ui.page.close'));
    });
    const skip = document.querySelector('.skip-link');
    if (skip && skip.dataset.plLang !== lang()) {
      skip.textContent = say('ui.page.skip_link');
      name(skip.parentElement, 'aria-label', say('ui.page.skip_nav'));
      skip.dataset.plLang = lang();
    }
  };
  label();
  new MutationObserver(label).observe(document.body, {childList: true, subtree: true});
  new MutationObserver(label).observe(document.documentElement, {attributes: true, attributeFilter: ['lang']});
  const shown = (el) => el.offsetParent !== null;
  const landmark = document.createElement('nav');  // a skip link belongs in a landmark
  const link = document.createElement('a');
  link.href = '#';
  link.className = 'skip-link';
  landmark.append(link);
  link.addEventListener('click', (event) => {
    event.preventDefault();
    const panel = [...document.querySelectorAll('[role=tabpanel]')].find(shown) || document;
    const button = [...panel.querySelectorAll('button.primary')].find((b) => shown(b) && !b.disabled);
    const upload = [...panel.querySelectorAll('button, input, [tabindex="0"]')].find(
      (el) => shown(el) && !el.disabled);
    const target = button || upload;
    if (target) { target.focus(); target.scrollIntoView({block: 'center'}); }
  });
  document.body.prepend(landmark);
  label();
}
""" % {"words": json.dumps(page_words(), ensure_ascii=False)}

# Off-screen until focused, then at the top-left corner, as skip links are. On a phone, a
# narrower page margin and tighter tabs, so all five tabs fit in one row (no "more" menu that
# would hide Batch and Privacy and reshuffle the row after a pick).
PAGE_CSS = """
.job-status { min-height: 3.2rem; }
/* After a failure the status line says why (FAILURE_JS); Gradio's "Error" label and its clear
   button would sit on top of those words, so its tracker steps aside once it shows an error. */
.job-status > [data-testid=status-tracker]:has(> .error) { display: none !important; }
input:focus-visible, textarea:focus-visible, [role=listbox]:focus-visible, select:focus-visible {
  outline: 2px solid #4f46e5 !important; outline-offset: 1px; }
@media (max-width: 480px) {
  .tab-container button { padding: 0 6px !important; font-size: 13px !important; }
}
.skip-link { position: absolute; left: -10000px; top: 0; z-index: 1000; padding: 0.5em 1em;
  background: #1d4ed8; color: #fff; font-weight: 600; border-radius: 0 0 6px 0; }
.skip-link:focus { left: 0; }
"""
# Gradio scopes ``css`` to the app's content; the page's own margin is outside it, so it is set
# in the page's head.
PAGE_HEAD = """<style>
@media (max-width: 480px) { .gradio-container .main.app { padding-left: 8px; padding-right: 8px; } }
/* Spanish and French tab names are longer: still one row of five on a 390 px phone (here, as
   Gradio's scoping of ``css`` drops a :lang() rule inside a media query; the hidden row is the
   one Gradio measures to decide how many tabs fit) */
@media (max-width: 480px) {
  html:lang(es) .gradio-container .contain .tab-wrapper .tab-container button,
  html:lang(fr) .gradio-container .contain .tab-wrapper .tab-container button {
    padding: 0 4px !important; font-size: 12px !important; }
}
</style>"""
