"""Every tab, checked by axe-core inside Chromium (issue 15, items 7 and 8).

axe-core (pinned in tests/browser/package-lock.json; ``npm ci --prefix tests/browser``, which
scripts/test.sh runs) is injected into the real page and run with the WCAG 2.0/2.1/2.2 A and AA
rules plus axe's best practices: colour contrast, labels, button and link names, image alt
texts and every aria-* rule among them. Each of the five tabs is audited at a desktop
(1280x900) and a phone (390x844) size, in the light and the dark colour scheme (a phone set to
dark mode gets Gradio's dark theme), and the ID Photo tab once more after a real ID photo of
the astronaut, so the result images, the report and the downloads are covered too.

Two kinds of finding are told apart:

- the app's own (its theme, its CSS, its components): asserted absent;
- Gradio's own markup that no app code can change (``GRADIO_INTERNAL``): left out, each with
  the reason, and kept to the few listed.

Without npm or the installed package the tests are skipped with the reason.
"""
from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from appserver import ARTIFACTS, open_tab  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
AXE_PACKAGE = REPO / "tests" / "browser"
AXE_JS = AXE_PACKAGE / "node_modules" / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
# The rules the issue names; a check below makes sure axe really ran each of them.
REQUIRED_RULES = ("color-contrast", "label", "button-name", "image-alt", "link-name", "aria-allowed-attr",
                  "aria-required-attr", "aria-valid-attr", "aria-valid-attr-value", "aria-roles",
                  "aria-prohibited-attr", "aria-hidden-focus", "aria-input-field-name")
SIZES = {"desktop": (1280, 900), "phone": (390, 844)}
SCHEMES = ("light", "dark")
TABS = {"idphoto": "ID Photo", "background": "Background", "restore": "Restore", "batch": "Batch",
        "privacy": "Privacy"}
VIEWS = [f"{tab}-{size}-{scheme}" for tab in TABS for size in SIZES for scheme in SCHEMES]
RESULT_VIEWS = [f"idphoto-result-{size}-{scheme}" for size in SIZES for scheme in SCHEMES]
JOB_TIMEOUT_MS = 180_000


@dataclass(frozen=True)
class Known:
    """A violation the app's own code does not answer for here: which rule, on which elements
    (a CSS selector the failing element matches), and why."""
    rule: str
    selector: str
    reason: str


# Gradio's own markup, fixed in its Svelte code; nothing the app passes changes it.
GRADIO_INTERNAL = {
    "empty-placeholder": Known(
        "aria-prohibited-attr", '.empty[aria-label]',
        'Gradio\'s Empty placeholder in an output with no value yet is <div aria-label="Empty value"> '
        "without a role; no component setting changes it (and it holds only an icon)"),
    "upload-area-name": Known(
        "label-content-name-mismatch", "button.upload-container[aria-label]",
        "Gradio's upload area is named by its own aria-label (\"Drop an image file here to upload\") "
        "while it shows its own words (\"Drop Image Here - or - Click to Upload\"); both are Gradio's "
        "fixed strings"),
}
AUDIT_JS = """async ({tags, known}) => {
    const result = await axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']});
    const label = el => {
        const block = el.closest('.block, fieldset, [role=tabpanel]');
        const text = block?.querySelector('[data-testid=block-label], [data-testid=block-info], legend, label');
        return (text?.textContent || block?.id || '').trim().slice(0, 60);
    };
    const nodes = result.violations.flatMap(v => v.nodes.map(n => {
        const el = document.querySelector(n.target[0]);
        const data = (n.any[0] || n.all[0] || n.none[0] || {}).data || {};
        return {rule: v.id, impact: v.impact, target: n.target.join(' '), html: n.html.slice(0, 140),
                component: el ? label(el) : '', known: el ? known.filter(([, rule, sel]) => rule === v.id
                && el.matches(sel)).map(([key]) => key) : [],
                contrast: v.id === 'color-contrast' ? {ratio: data.contrastRatio, fg: data.fgColor,
                bg: data.bgColor, size: data.fontSize, needs: data.expectedContrastRatio} : null};
    }));
    const ran = [...result.passes, ...result.violations, ...result.incomplete, ...result.inapplicable]
        .map(r => r.id);
    return {nodes, ran, version: axe.version};
}"""


@pytest.fixture(scope="module")
def axe_script() -> Path:
    """The installed axe.min.js; skipped with the reason (never passed) where it is missing,
    before any server or browser starts."""
    if AXE_JS.is_file():
        return AXE_JS
    if shutil.which("npm") is None:
        pytest.skip("axe-core needs npm, which is not installed (install Node.js 18+ with npm; "
                    "scripts/test.sh then runs npm ci in tests/browser)")
    pytest.skip(f"axe-core is not installed in {AXE_PACKAGE.relative_to(REPO)}: run "
                "npm ci --prefix tests/browser (scripts/test.sh does)")


def audit(page, script: Path) -> dict:
    """Run axe in the page as it is now; inject it first where this document lacks it."""
    if not page.evaluate("() => typeof axe !== 'undefined'"):
        page.add_script_tag(path=str(script))
    known = [[key, k.rule, k.selector] for key, k in GRADIO_INTERNAL.items()]
    return page.evaluate(AUDIT_JS, {"tags": AXE_TAGS, "known": known})


@pytest.fixture(scope="module")
def tab_audits(axe_script, browser, bare_server) -> dict[str, dict]:
    """One axe run per tab, size and colour scheme, on one server and one browser."""
    _, url, _ = bare_server
    audits: dict[str, dict] = {}
    for size, (width, height) in SIZES.items():
        for scheme in SCHEMES:
            page = browser.new_page(viewport={"width": width, "height": height}, locale="en-US",
                                    color_scheme=scheme)
            try:
                page.goto(url, wait_until="load")
                page.get_by_role("tab", selected=True).wait_for()
                for tab_id, name in TABS.items():
                    open_tab(page, name)
                    audits[f"{tab_id}-{size}-{scheme}"] = audit(page, axe_script)
            finally:
                page.close()
    return audits


@pytest.fixture(scope="module")
def result_audits(axe_script, browser, bare_server, photo) -> dict[str, dict]:
    """The ID Photo tab after a real ID photo of the astronaut: result images, report, downloads,
    and the "Fix the cut-out" editor, open."""
    _, url, _ = bare_server
    page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="en-US", color_scheme="light")
    audits: dict[str, dict] = {}
    try:
        page.goto(url, wait_until="load")
        page.get_by_role("tab", selected=True).wait_for()
        open_tab(page, TABS["idphoto"])
        panel = page.locator("[role=tabpanel]:visible")
        panel.locator("input[type=file]").first.set_input_files(str(photo))
        panel.get_by_role("button", name="Make ID photo").click()
        page.locator("#id-verdict .pl-report").wait_for(timeout=JOB_TIMEOUT_MS)
        page.wait_for_function("() => document.querySelector('#id-result img')?.complete", timeout=30_000)
        page.locator("#id-fix").get_by_text("Fix the cut-out").click()  # the cut-out editor is audited open
        page.locator("#id-editor canvas").wait_for(state="visible", timeout=30_000)
        page.mouse.move(0, 0)  # the pointer left on the button would audit its hover colours
        page.wait_for_timeout(1000)  # the print sheet and the downloads render after the report
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "accessibility-idphoto-result.png"), full_page=True)
        for size, (width, height) in SIZES.items():
            page.set_viewport_size({"width": width, "height": height})
            for scheme in SCHEMES:
                page.emulate_media(color_scheme=scheme)  # Gradio follows the system scheme live
                page.wait_for_timeout(300)
                audits[f"idphoto-result-{size}-{scheme}"] = audit(page, axe_script)
    finally:
        page.close()
    return audits


def describe(nodes: list[dict]) -> str:
    """One readable line per failing element: rule, component, selector, and for contrast the
    measured ratio and colours."""
    lines = []
    for node in nodes:
        line = f"{node['rule']} [{node['impact']}] in {node['component'] or '(page)'!r}: {node['target']}"
        contrast = node["contrast"]
        if contrast:
            line += (f" -- {contrast['ratio']}:1, {contrast['fg']} on {contrast['bg']} at {contrast['size']}"
                     f" (needs {contrast['needs']})")
        else:
            line += f" -- {node['html']}"
        lines.append(line)
    return "\n".join(lines)


def unexplained(audit_result: dict, *, contrast: bool) -> list[dict]:
    """The violations neither Gradio's nor on the tabs' open list; contrast or the rest."""
    return [node for node in audit_result["nodes"] if not node["known"]
            and (node["rule"] == "color-contrast") == contrast]


def all_audits(tab_audits: dict, result_audits: dict) -> dict[str, dict]:
    return {**tab_audits, **result_audits}


# -- the app's own: theme, CSS, components -------------------------------------------------------
@pytest.mark.parametrize("view", VIEWS)
def test_text_contrast_meets_wcag_aa(tab_audits, view):
    """Every text at 4.5:1 or better (3:1 for large text), help text and labels included."""
    failing = unexplained(tab_audits[view], contrast=True)
    assert not failing, f"{len(failing)} text(s) below WCAG AA contrast on {view}:\n{describe(failing)}"


@pytest.mark.parametrize("view", VIEWS)
def test_controls_images_and_aria_are_sound(tab_audits, view):
    """Names of buttons, links and fields, alt texts and aria use: nothing axe flags."""
    failing = unexplained(tab_audits[view], contrast=False)
    assert not failing, f"{len(failing)} violation(s) on {view}:\n{describe(failing)}"


@pytest.mark.parametrize("view", RESULT_VIEWS)
def test_the_id_photo_result_passes_axe(result_audits, view):
    """With a result on screen: the images, the report page, the downloads."""
    failing = [*unexplained(result_audits[view], contrast=True), *unexplained(result_audits[view], contrast=False)]
    assert not failing, f"{len(failing)} violation(s) on {view}:\n{describe(failing)}"


def test_axe_ran_every_rule_the_issue_names(tab_audits, result_audits):
    """A rule left out by a tag change or an axe upgrade would pass silently; this says so."""
    lock = json.loads((AXE_PACKAGE / "package-lock.json").read_text(encoding="utf-8"))
    pinned = lock["packages"]["node_modules/axe-core"]["version"]
    for view, result in all_audits(tab_audits, result_audits).items():
        missing = [rule for rule in REQUIRED_RULES if rule not in result["ran"]]
        assert not missing, f"axe {result['version']} did not run {missing} on {view}"
        assert result["version"] == pinned, f"axe {result['version']} ran; the lock pins {pinned} (npm ci)"


def test_gradio_exclusions_still_match_something(tab_audits, result_audits):
    """An exclusion Gradio no longer needs should go, so none outlives its reason."""
    seen = {key for result in all_audits(tab_audits, result_audits).values()
            for node in result["nodes"] for key in node["known"]}
    stale = sorted(set(GRADIO_INTERNAL) - seen)
    assert not stale, f"these Gradio exclusions match nothing any more; remove them: {stale}"
