"""The compliance report as a page: what failed and what to do first, the rest folded away.

The text report (``ComplianceReport.to_text``) is a fixed-width table for files and terminals;
on a phone it wraps mid-row and buries the one failure among fifteen passes. This renders
the same report's dict (``to_dict``: what the JSON download holds) as HTML for the web page:
one row per check with a symbol and a word for its verdict, failures and warnings first with
their advice in bold, then what could not be checked, the passes, and how the head was
measured, each in a closed fold. Every string from the report is escaped.

It speaks the visitor's language (``webapp.language.VISITOR_LANGUAGE``, set for the request
being served): its own words from the catalogue, the checks' words from the messages the
report saved with them (``messages``), so a report written in English reads in Japanese too;
a report saved without them shows its saved text.
"""
from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pipeline.i18n import translate
from pipeline.idphoto.compliance.report import message_from_data
from webapp.language import VISITOR_LANGUAGE

# verdict -> (symbol, the key of the word a screen reader says, css modifier)
VERDICT_MARKS: dict[str, tuple[str, str, str]] = {
    "fail": ("\u2717", "report.page.mark.fail", "fail"),
    "warn": ("\u26a0", "report.page.mark.warn", "warn"),
    "not_assessed": ("?", "report.page.mark.not_assessed", "na"),
    "pass": ("\u2713", "report.page.mark.pass", "pass"),
}
POSITIONS = ("eyes", "chin", "crown")  # report.position.<name>

# Kept with the markup it styles (the page's css adds it); wraps long words so nothing
# scrolls sideways at 390 px.
REPORT_CSS = """
.pl-report { overflow-wrap: anywhere; line-height: 1.45; }
.pl-report ul { list-style: none; padding-left: 0; margin: 0.3em 0; }
.pl-report li { margin: 0.45em 0; padding: 0.35em 0.5em; border-left: 4px solid #6b7280; }
.pl-report li.pl-fail { border-left-color: #b91c1c; }
.pl-report li.pl-warn { border-left-color: #92400e; }
.pl-report li.pl-pass { border-left-color: #166534; }
.pl-report .pl-advice { font-weight: 700; display: block; margin-top: 0.2em; }
.pl-report .pl-detail { display: block; font-size: 0.9em; }
.pl-report .pl-source { display: block; font-size: 0.85em; color: var(--body-text-color-subdued); }
.pl-report details { margin: 0.5em 0; }
.pl-report summary { cursor: pointer; font-weight: 600; }
.pl-sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _t(key: str, /, **values: Any) -> str:
    """A word of the page's own, in the visitor's language."""
    return translate(key, VISITOR_LANGUAGE.get(), **values)


def _text(item: Mapping[str, Any], name: str) -> Any:
    """A report field in the visitor's language: from its saved message when there is one,
    else the text as saved."""
    message = message_from_data((item.get("messages") or {}).get(name))
    return message.text(VISITOR_LANGUAGE.get()) if message is not None else item.get(name, "")


def _check_item(check: Mapping[str, Any], *, with_advice: bool) -> str:
    symbol, word, css = VERDICT_MARKS.get(check["status"], VERDICT_MARKS["not_assessed"])
    parts = [f'<span aria-hidden="true">{symbol}</span> <span class="pl-sr-only">{_e(_t(word))}:</span> '
             f'<strong>{_e(_text(check, "title"))}</strong>: {_e(_text(check, "measured"))}',
             f'<span class="pl-detail">{_e(_t("report.page.allowed", threshold=_text(check, "threshold")))}</span>']
    advice = _text(check, "advice")
    if with_advice and advice:
        parts.append(f'<span class="pl-advice">{_e(advice)}</span>')
    parts.append(f'<span class="pl-source">{_e(_t("report.page.source", source=_text(check, "source")))}</span>')
    return f'<li class="pl-{css}">' + " ".join(parts) + "</li>"


def _fold(summary: str, items: Iterable[str]) -> str:
    body = "".join(items)
    return f"<details><summary>{_e(summary)}</summary><ul>{body}</ul></details>" if body else ""


def _headline(report: Mapping[str, Any]) -> str:
    counts = report.get("counts", {})
    warnings = counts.get("warn", 0)
    parts = [_t("report.page.failed", count=counts.get("fail", 0)),
             _t("report.page.warning_one" if warnings == 1 else "report.page.warnings", count=warnings),
             _t("report.page.passed", count=counts.get("pass", 0))]
    if counts.get("not_assessed"):
        parts.append(_t("report.page.not_checked", count=counts["not_assessed"]))
    return f'<p class="pl-headline">{_e(_t("report.page.separator").join(parts))}</p>'


def report_html(report: Mapping[str, Any], notes: Iterable[str] = ()) -> str:
    """The page form of ``ComplianceReport.to_dict()``; ``notes`` are the job's notes for the
    visitor (already plain sentences), shown folded after the checks."""
    checks = list(report.get("checks", ()))
    urgent = [c for c in checks if c["status"] == "fail"] + [c for c in checks if c["status"] == "warn"]
    unchecked = [c for c in checks if c["status"] == "not_assessed"]
    passed = [c for c in checks if c["status"] == "pass"]
    parts = ['<div class="pl-report">', _headline(report)]
    if urgent:
        parts.append("<ul>" + "".join(_check_item(c, with_advice=True) for c in urgent) + "</ul>")
    parts.append(_fold(_t("report.page.fold_not_checked", count=len(unchecked)),
                       (_check_item(c, with_advice=True) for c in unchecked)))
    parts.append(_fold(_t("report.page.fold_passed", count=len(passed)),
                       (_check_item(c, with_advice=False) for c in passed)))
    measured = report.get("measured_with") or {}
    parts.append(_fold(_t("report.measured_heading"), (
        f"<li>{_e(_t(f'report.position.{position}') if position in POSITIONS else position)}: "
        f"{_e(_text(how, 'how'))} ({_e(_text(how, 'expected_error'))})</li>" for position, how in measured.items())))
    parts.append(_fold(_t("report.page.fold_defaults"), (f"<li>{_e(default)}</li>" for default in _defaults(report))))
    parts.append(_fold(_t("report.page.fold_notes"), (f"<li>{_e(note)}</li>" for note in notes)))
    parts.append("</div>")
    return "".join(part for part in parts if part)


def _defaults(report: Mapping[str, Any]) -> list[Any]:
    """The defaults applied, in the visitor's language where the report saved their messages."""
    saved = list(report.get("defaults_applied", ()))
    messages = (report.get("messages") or {}).get("defaults_applied") or []
    if len(messages) != len(saved):
        return saved
    rendered = [message_from_data(data) for data in messages]
    return [m.text(VISITOR_LANGUAGE.get()) if m is not None else text for m, text in zip(rendered, saved)]


def report_page_from_file(report_json: Path) -> str:
    """The page for an ID photo's ``_report.json`` (the file the visitor can download)."""
    result = json.loads(Path(report_json).read_text(encoding="utf-8"))
    corrected = (result.get("corrections") or {}).get("summary")  # what was done to the face's light and colour
    return report_html(result["compliance"], notes=[*([corrected] if corrected else []), *result.get("warnings", ())])
