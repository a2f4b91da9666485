"""The ``python -m pipeline weights list`` table.

Why this module exists: the listing is how a user learns what is installed and what a
fetch would download; its layout is presentation, kept apart from the checks it shows.
"""
from __future__ import annotations

from pipeline.models.manifest import ModelEntry
from pipeline.models.weight_status import WeightState, WeightStatus, format_bytes

_TABLE_HEADERS = ("NAME", "STATE", "FILE", "SIZE", "DETAIL")


def format_status_table(statuses: list[WeightStatus]) -> str:
    """Aligned plain-text table for ``python -m pipeline weights list``.

    SIZE is the size the manifest expects ("~" when only approximate), so users see
    what a fetch will download; DETAIL says what was found on disk.
    """
    rows = [_TABLE_HEADERS, *(_status_row(status) for status in statuses)]
    widths = [max(len(row[column]) for row in rows) for column in range(len(_TABLE_HEADERS) - 1)]
    lines = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)


def _status_row(status: WeightStatus) -> tuple[str, str, str, str, str]:
    entry = status.entry
    file_text = entry.file if entry.file is not None else f"(in {entry.bundled_in})"
    return (entry.name, status.state.value, file_text, _expected_size_text(entry), _detail_text(status))


def _detail_text(status: WeightStatus) -> str:
    """What was found, plus, before a download, that a file without a published sha256 can
    only be checked by its size: a user deciding to fetch it should know that first."""
    entry = status.entry
    if status.state is WeightState.MISSING and entry.sha256 is None and not entry.is_bundled:
        return f"{status.detail}; unverified when fetched ({entry.sha256_note or 'no sha256 in manifest'})"
    return status.detail


def _expected_size_text(entry: ModelEntry) -> str:
    if entry.bytes is not None:
        return format_bytes(entry.bytes)
    if entry.approx_bytes is not None:
        return f"~{format_bytes(entry.approx_bytes)}"
    return "-"
