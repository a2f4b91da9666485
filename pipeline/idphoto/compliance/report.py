"""The compliance report object: every check of one photo, its overall verdict, and the two
forms it is delivered in (JSON-ready dict for machines, plain text for people), each in the
reader's language.

Apart from the checks because the report only collects and presents results; it never
measures anything. The checks' words are messages (``pipeline.i18n``): the dict renders them
in one language and also keeps each message's key and values (``messages``), so a page can
show a saved report in its own visitor's language.
"""
from __future__ import annotations

from collections.abc import Mapping
import unicodedata
from dataclasses import dataclass, fields
from typing import Any

from pipeline.faces.methods import METHODS, expected_error_text
from pipeline.i18n import DEFAULT_LANGUAGE, LANGUAGES, Message, Text, catalogue, render, translate
from pipeline.idphoto.compliance.verdicts import SEVERITY, CheckResult, Status

# A check's fields that are words (rendered in the reader's language); the others are ids and numbers.
TEXT_FIELDS = ("title", "measured", "threshold", "source", "advice")
# The text report's sections, in order: (status, heading key).
SECTIONS = (("fail", "report.section.fail"), ("warn", "report.section.warn"),
            ("not_assessed", "report.section.not_assessed"), ("pass", "report.section.pass"))


def message_data(value: Any) -> Any:
    """A message as JSON data ({"key", "values"}, nested messages too); anything else unchanged."""
    if isinstance(value, Message):
        return {"key": value.key, "values": {name: message_data(item) for name, item in value.values.items()}}
    return value


def message_from_data(data: Any) -> Any:
    """The message that :func:`message_data` saved (None when ``data`` is not one, or names a
    key this version does not have: the saved text then stands)."""
    if not (isinstance(data, Mapping) and isinstance(data.get("key"), str)):
        return None
    if data["key"] not in catalogue(DEFAULT_LANGUAGE):
        return None
    values = {}
    for name, item in (data.get("values") or {}).items():
        nested = message_from_data(item)
        values[name] = nested if nested is not None else item
    return Message(data["key"], values)


def _language(lang: str | None) -> str:
    return lang if lang in LANGUAGES else DEFAULT_LANGUAGE


@dataclass(frozen=True)
class PositionMethodReport:
    """How one head position was found, for the report's 'how it was measured' part."""

    position: str  # eyes | chin | crown
    method: str  # a faces.methods key
    label: Text
    expected_error: Text

    @classmethod
    def of(cls, position: str, method: str) -> PositionMethodReport:
        return cls(position, method, METHODS[method].label, expected_error_text(position, method))


def check_dict(check: CheckResult, lang: str) -> dict[str, object]:
    """One check as JSON data: its words in ``lang``, its id, status and value as they are, and
    its messages (``messages``) for a reader in another language."""
    data: dict[str, object] = {}
    for item in fields(check):
        value = getattr(check, item.name)
        data[item.name] = render(value, lang) if item.name in TEXT_FIELDS else value
    data["messages"] = {name: message_data(getattr(check, name)) for name in TEXT_FIELDS
                        if isinstance(getattr(check, name), Message)}
    return data


@dataclass(frozen=True)
class ComplianceReport:
    """All checks of one photo against one spec; ``overall`` is the worst verdict."""

    spec_id: str
    checks: tuple[CheckResult, ...]
    defaults_applied: tuple[Text, ...] = ()  # rules we assumed because the document states none
    measured_with: tuple[PositionMethodReport, ...] = ()  # how the head positions were found

    @property
    def overall(self) -> Status:
        """fail if any check fails, else warn if any warns, else pass. A check that could not be
        assessed does not lower the verdict by itself; it stays visible in the list."""
        statuses = {check.status for check in self.checks}
        if "fail" in statuses:
            return "fail"
        if "warn" in statuses:
            return "warn"
        return "pass"

    def check(self, check_id: str) -> CheckResult:
        """The result with this id (KeyError if the report has none)."""
        for result in self.checks:
            if result.id == check_id:
                return result
        raise KeyError(check_id)

    def statuses(self) -> dict[str, Status]:
        return {check.id: check.status for check in self.checks}

    def counts(self) -> dict[str, int]:
        return {status: sum(c.status == status for c in self.checks) for status in SEVERITY}

    def to_dict(self, lang: str = DEFAULT_LANGUAGE) -> dict[str, object]:
        """JSON data in ``lang``: ids and statuses stay the same in every language."""
        lang = _language(lang)
        return {
            "spec_id": self.spec_id,
            "lang": lang,
            "overall": self.overall,
            "counts": self.counts(),
            "checks": [check_dict(check, lang) for check in self.checks],
            "defaults_applied": [render(default, lang) for default in self.defaults_applied],
            "measured_with": {m.position: {"method": m.method, "how": render(m.label, lang),
                                           "expected_error": render(m.expected_error, lang),
                                           "messages": {"how": message_data(m.label),
                                                        "expected_error": message_data(m.expected_error)}}
                              for m in self.measured_with},
            "messages": {"defaults_applied": [message_data(default) for default in self.defaults_applied]},
        }

    def to_text(self, lang: str = DEFAULT_LANGUAGE) -> str:
        """Readable report in ``lang``: failures first with their advice, then warnings, passes,
        how the head was measured and the defaults that stand in for rules the document does
        not state."""
        lang = _language(lang)
        counts = self.counts()
        lines = [translate("report.text.heading", lang, spec=self.spec_id,
                           verdict=translate(f"report.verdict.{self.overall}", lang)),
                 "  " + translate("report.text.counts", lang, failed=counts["fail"], warned=counts["warn"],
                                  passed=counts["pass"], not_assessed=counts["not_assessed"])]
        rows = [(c.status, *(str(render(getattr(c, name), lang)) for name in TEXT_FIELDS)) for c in self.checks]
        widths = [max((_width(row[index]) for row in rows), default=0) for index in (1, 2, 3)]
        allowed = translate("report.text.allowed", lang)
        labels = {status: translate(f"report.label.{status}", lang) for status, _ in SECTIONS}
        label_width = max(_width(label) for label in labels.values())
        for status, heading in SECTIONS:
            group = [row for row in rows if row[0] == status]
            if not group:
                continue
            lines += ["", translate(heading, lang)]
            for _, title, measured, threshold, source, advice in group:
                lines.append(f"  [{_pad(labels[status], label_width)}] {_pad(title, widths[0])}  "
                             f"{_pad(measured, widths[1])}  {allowed} {_pad(threshold, widths[2])}  ({source})")
                if advice:
                    lines.append(f"         -> {advice}")
        lines += self._measured_lines(lang) + self._defaults_lines(lang)
        return "\n".join(lines)

    def _measured_lines(self, lang: str) -> list[str]:
        if not self.measured_with:
            return []
        return ["", translate("report.measured_heading", lang) + ":"] + [
            "  - " + translate("report.text.measured_item", lang,
                               position=translate(f"report.position.{m.position}", lang),
                               how=render(m.label, lang), error=render(m.expected_error, lang))
            for m in self.measured_with]

    def _defaults_lines(self, lang: str) -> list[str]:
        if not self.defaults_applied:
            return []
        return ["", translate("report.text.defaults_heading", lang) + ":"] + [
            f"  - {render(default, lang)}" for default in self.defaults_applied]


def _width(text: str) -> int:
    """Columns a text takes in a terminal: CJK and full-width characters take two."""
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - _width(text))
