"""The page's one script (``launch(js=...)``): what Gradio's components cannot say themselves.

- Live regions: the elements with the ``live-region`` class (the ID-photo verdict, the batch
  summary) are announced by screen readers when their text changes.
- Alt texts and names Gradio has no parameter for: the before/after slider's two pictures,
  download links (whose text is only the file's size) and the example photo's button.
- A skip link, the first thing the keyboard reaches: it jumps to the shown tab's main button,
  or to its upload box while the button waits for a photo.
"""
from __future__ import annotations

SKIP_LINK_TEXT = "Skip to the main button"

PAGE_JS = """
() => {
  const SLIDER_ALTS = ['Your photo before restoration', 'Your photo after restoration'];
  const label = () => {
    document.querySelectorAll('.live-region:not([aria-live])').forEach((el) => {
      el.setAttribute('role', 'status');
      el.setAttribute('aria-live', 'polite');
    });
    document.querySelectorAll('a[download]:not([aria-label])').forEach((link) => {
      const name = link.getAttribute('download');
      const shown = link.textContent.trim();  // the size; a name must hold the words shown
      if (name) link.setAttribute('aria-label', 'Download ' + name + (shown ? ', ' + shown : ''));
    });
    document.querySelectorAll('button.gallery-item:not([aria-label])').forEach((button) => {
      button.setAttribute('aria-label', 'Use the example photo');
    });
    document.querySelectorAll('#restore-result img').forEach((img, index) => {
      if (!img.getAttribute('alt')) img.setAttribute('alt', SLIDER_ALTS[Math.min(index, 1)]);
    });
  };
  label();
  new MutationObserver(label).observe(document.body, {childList: true, subtree: true});
  const shown = (el) => el.offsetParent !== null;
  const landmark = document.createElement('nav');  // a skip link belongs in a landmark
  landmark.setAttribute('aria-label', 'Skip link');
  const link = document.createElement('a');
  link.href = '#';
  link.className = 'skip-link';
  landmark.append(link);
  link.textContent = %(text)r;
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
}
""" % {"text": SKIP_LINK_TEXT}

# Off-screen until focused, then at the top-left corner, as skip links are. On a phone, a
# narrower page margin and tighter tabs, so all five tabs fit in one row (no "more" menu that
# would hide Batch and Privacy and reshuffle the row after a pick).
PAGE_CSS = """
.job-status { min-height: 3.2rem; }
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
</style>"""
