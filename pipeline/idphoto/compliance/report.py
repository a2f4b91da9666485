"""The compliance report object: every check of one photo, its overall verdict, and the two
forms it is delivered in (JSON-ready dict for machines, plain text for people).

Apart from the checks because the report only collects and presents results; it never
measures anything.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from pipeline.faces.methods import METHODS, expected_error_text
from pipeline.idphoto.compliance.verdicts import SEVERITY, CheckResult, Status

POSITION_WORDS = {"eyes": "Eye centres", "chin": "Chin", "crown": "Top of the head"}


@dataclass(frozen=True)
class PositionMethodReport:
    """How one head position was found, for the report's 'how it was measured' part."""

    position: str  # eyes | chin | crown
    method: str  # a faces.methods key
    label: str
    expected_error: str

    @classmethod
    def of(cls, position: str, method: str) -> PositionMethodReport:
        return cls(position, method, METHODS[method].label, expected_error_text(position, method))


@dataclass(frozen=True)
class ComplianceReport:
    """All checks of one photo against one spec; ``overall`` is the worst verdict."""

    spec_id: str
    checks: tuple[CheckResult, ...]
    defaults_applied: tuple[str, ...] = ()  # rules we assumed because the document states none
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

    def to_dict(self) -> dict[str, object]:
        return {
            "spec_id": self.spec_id,
            "overall": self.overall,
            "counts": {status: sum(c.status == status for c in self.checks) for status in SEVERITY},
            "checks": [asdict(check) for check in self.checks],
            "defaults_applied": list(self.defaults_applied),
            "measured_with": {m.position: {"method": m.method, "how": m.label, "expected_error": m.expected_error}
                              for m in self.measured_with},
        }

    def to_text(self) -> str:
        """Readable report: failures first with their advice, then warnings, passes, and the
        defaults that stand in for rules the document does not state."""
        counts = {status: sum(c.status == status for c in self.checks) for status in SEVERITY}
        lines = [
            f"ID-photo compliance for {self.spec_id}: {self.overall.upper()}",
            f"  {counts['fail']} failed, {counts['warn']} warnings, {counts['pass']} passed, "
            f"{counts['not_assessed']} not assessed",
        ]
        title_width = max((len(c.title) for c in self.checks), default=0)
        measured_width = max((len(c.measured) for c in self.checks), default=0)
        threshold_width = max((len(c.threshold) for c in self.checks), default=0)
        sections = (("fail", "Failures"), ("warn", "Warnings"), ("not_assessed", "Not assessed"), ("pass", "Passed"))
        labels = {"fail": "FAIL", "warn": "WARN", "not_assessed": "N/A ", "pass": "pass"}
        for status, heading in sections:
            group = [c for c in self.checks if c.status == status]
            if not group:
                continue
            lines += ["", heading]
            for c in group:
                lines.append(
                    f"  [{labels[status]}] {c.title:<{title_width}}  {c.measured:<{measured_width}}  "
                    f"allowed: {c.threshold:<{threshold_width}}  ({c.source})"
                )
                if c.advice:
                    lines.append(f"         -> {c.advice}")
        if self.measured_with:
            lines += ["", "How the head was measured:"]
            lines += [f"  - {POSITION_WORDS[m.position]}: {m.label} ({m.expected_error})" for m in self.measured_with]
        if self.defaults_applied:
            lines += ["", "Defaults applied (the document states no rule for these):"]
            lines += [f"  - {default}" for default in self.defaults_applied]
        return "\n".join(lines)
