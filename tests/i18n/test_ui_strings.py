"""The web UI's words go through the catalogue: no UI module writes a visitor-facing literal
where Gradio shows it (a label, an info text, a placeholder, a button's or a Markdown's text, a
tab or fold title, an error toast), and every ``ui(...)``/``t(...)`` key the web app names
exists in English (so in every language: tests/i18n/test_catalogues.py).

Read from the source with ``ast`` (no app is built): a few milliseconds.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

from pipeline.i18n import catalogue

ROOT = Path(__file__).resolve().parents[2]
WEBAPP = ROOT / "webapp"
UI_MODULES = sorted([*(WEBAPP / "tabs").glob("*.py"),
                     *(WEBAPP / name for name in ("ui.py", "wiring.py", "review.py", "weights_banner.py",
                                                  "server.py", "handlers.py"))])
# gr.<name>(first positional argument) is shown as it is.
SHOWN_FIRST = {"Markdown", "Button", "DownloadButton", "Tab", "Accordion", "Error", "Warning", "Info", "HTML"}
SHOWN_KEYWORDS = {"label", "info", "placeholder", "title"}
# value= is shown text only on these components (elsewhere it is a number, a choice's id, a path).
VALUE_SHOWN = {"Markdown", "HTML", "Button", "DownloadButton", "Textbox"}
LETTERS = re.compile(r"[^\W\d_]")
# (module, the literal): words that are not a visitor's, with the reason.
ALLOWED = {
    ("server.py", "Portrait Lab"): "the product's name, the page's <title>: the same in every language",
}


def _callee(node: ast.Call) -> str | None:
    """``Markdown`` for ``gr.Markdown(...)``; None for anything that is not ``gr.<name>``."""
    func = node.func
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "gr":
        return func.attr
    return None


def _literal_words(node: ast.AST | None) -> str | None:
    """The text of a literal with letters in it (an f-string counts, whatever it holds)."""
    if isinstance(node, ast.JoinedStr):
        return ast.unparse(node)
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and LETTERS.search(node.value):
        return node.value
    if isinstance(node, ast.BinOp):  # "..." + "..." or "...%s" % x
        return _literal_words(node.left) or _literal_words(node.right)
    return None


def shown_literals(path: Path, root: Path = ROOT) -> list[str]:
    """Each visitor-facing literal of one module, as ``module:line: text``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call) or (name := _callee(node)) is None:
            continue
        places = [node.args[0]] if name in SHOWN_FIRST and node.args else []
        places += [kw.value for kw in node.keywords
                   if kw.arg in SHOWN_KEYWORDS or (kw.arg == "value" and name in VALUE_SHOWN)]
        for place in places:
            words = _literal_words(place)
            if words is not None and (path.name, words) not in ALLOWED:
                found.append(f"{path.relative_to(root)}:{place.lineno}: {words!r}")
    return found


def test_the_ui_modules_show_no_literal_words():
    found = [literal for path in UI_MODULES for literal in shown_literals(path)]
    assert not found, "words shown without the catalogue (use ui(...) or t(...)):\n" + "\n".join(found)


def test_the_scan_finds_a_literal_label_an_f_string_toast_and_a_title(tmp_path):
    """The scan itself can fail: each kind of place it guards, written the old way."""
    module = tmp_path / "tab.py"
    module.write_text('import gradio as gr\n'
                      'gr.Slider(0, 1, label="Strength", info="0 keeps the photo")\n'
                      'gr.Button("Restore")\n'
                      'gr.Markdown(value="## Face by face")\n'
                      'raise gr.Error(f"Upload {what} first.", title="No photo")\n'
                      'with gr.Accordion("Server details"): pass\n'
                      'gr.Button(ui("restore.run"))\n'  # through the catalogue: not reported
                      'gr.Image(elem_id="id-result", buttons=["fullscreen"])\n', encoding="utf-8")
    found = [line.split(": ", 1)[1] for line in shown_literals(module, tmp_path)]
    assert found == ["'Strength'", "'0 keeps the photo'", "'Restore'", "'## Face by face'", '"f\'Upload {what} first.\'"',
                     "'No photo'", "'Server details'"], found


KEY_CALL = re.compile(r"\b(ui|t)\(\s*f?[\"']([^\"'{}]+)[\"']")


def used_keys() -> set[str]:
    """Every constant key the web app passes to ``ui(...)`` or ``t(...)`` (an f-string key's
    constant part is checked by the test of its own family below)."""
    keys = set()
    for path in WEBAPP.rglob("*.py"):
        for helper, key in KEY_CALL.findall(path.read_text(encoding="utf-8")):
            if path.name == "language.py" and key in {"{full}", "key"}:
                continue
            keys.add(key if helper == "t" or key.startswith("ui.") else "ui." + key)
    return keys


def test_every_key_the_web_app_names_is_in_the_english_catalogue():
    english = catalogue("en")
    keys = {key for key in used_keys() if not key.endswith((".", "_"))}  # f"...{name}" prefixes: below
    assert len(keys) > 100, len(keys)  # the scan sees the app's keys
    missing = sorted(key for key in keys if key not in english)
    assert not missing, f"keys used in webapp/ but missing from locales/en.json: {missing}"


def test_every_key_made_from_a_name_is_in_the_english_catalogue():
    """The keys built from data (a colour, a background mode, a verdict, a batch job, a table's
    keys) exist for every value the app can meet."""
    from pipeline.cutout.background import BACKGROUND_MODES, COLOUR_PRESETS
    from webapp.handlers import VERDICTS
    from webapp.studio import BATCH_JOBS, BATCH_STATUS_WORDS, ID_PHOTO_STAGES, LICENCE_WORDS
    from webapp.tabs.privacy import PRIVACY_POINTS
    from webapp.weights_banner import COMING_KEYS, MISSING_KEYS

    english = catalogue("en")
    made = [*(f"ui.colour.{name}" for name in COLOUR_PRESETS), *(f"ui.background.mode_{mode}" for mode in BACKGROUND_MODES),
            *(f"web.alt.background.{mode}" for mode in BACKGROUND_MODES),
            *(f"web.idphoto.overall_{verdict}" for verdict in VERDICTS), *VERDICTS.values(), *BATCH_JOBS.values(),
            *BATCH_STATUS_WORDS.values(), *(key for _, key in ID_PHOTO_STAGES.values()),
            *(key for key in LICENCE_WORDS.values() if key), *PRIVACY_POINTS, *COMING_KEYS, *MISSING_KEYS]
    assert [key for key in made if key not in english] == []
