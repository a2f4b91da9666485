"""Paper sizes for print sheets: the named photo papers and custom ``WxH[unit]`` sizes.

Apart from the layout because it turns what a person types (``4x6``, ``a4``, ``10x15cm``)
into millimetres; the web app lists the names and the layout only ever sees millimetres.
"""
from __future__ import annotations

import re

from pipeline.core.errors import InvalidOptionError
from pipeline.core.limits import MAX_PAPER_SIDE_MM
from pipeline.core.units import MM_PER_INCH

#: Common photo papers, portrait orientation (width <= height), in millimetres.
PAPER_SIZES_MM: dict[str, tuple[float, float]] = {
    "4x6": (101.6, 152.4),
    "5x7": (127.0, 177.8),
    "a4": (210.0, 297.0),
    "letter": (215.9, 279.4),
}

_UNIT_TO_MM: dict[str, float] = {
    "mm": 1.0,
    "cm": 10.0,
    "in": MM_PER_INCH,
    "inch": MM_PER_INCH,
    "inches": MM_PER_INCH,
    '"': MM_PER_INCH,
}
_NUMBER = r"(\d+(?:\.\d*)?|\.\d+)"
_CUSTOM_PAPER = re.compile(
    rf"^\s*{_NUMBER}\s*[x×*]\s*{_NUMBER}\s*(mm|cm|inches|inch|in|\")?\s*$", re.IGNORECASE
)
_PAPER_FORMS_HINT = (
    f"Use a paper name ({', '.join(PAPER_SIZES_MM)}) or a custom size such as "
    "100x150mm, 10x15cm, 4x6in or 100x150 (millimetres when no unit is given)."
)


def parse_paper(value: str) -> tuple[float, float]:
    """Paper size in millimetres, portrait (width <= height), from a name or ``WxH[unit]``.

    Names (``4x6``, ``5x7``, ``a4``, ``letter``; any case) win over custom sizes, so
    ``"4x6"`` is the 4x6-inch photo paper, while an unnamed ``"100x150"`` is millimetres.
    Custom units: ``mm`` (default), ``cm``, ``in``. The result is always portrait because
    ``plan_sheet`` decides the orientation itself.
    """
    if not isinstance(value, str):
        raise InvalidOptionError(f"The paper size must be text such as 'a4'; got {value!r}.", hint=_PAPER_FORMS_HINT)
    name = value.strip().lower()
    if name in PAPER_SIZES_MM:
        return PAPER_SIZES_MM[name]
    match = _CUSTOM_PAPER.match(value)
    if match is None:
        raise InvalidOptionError(f"'{value}' is not a paper size Portrait Lab understands.", hint=_PAPER_FORMS_HINT)
    unit = (match.group(3) or "mm").lower()
    scale = _UNIT_TO_MM[unit]
    width, height = float(match.group(1)) * scale, float(match.group(2)) * scale
    if not (0 < width <= MAX_PAPER_SIDE_MM and 0 < height <= MAX_PAPER_SIDE_MM):
        raise InvalidOptionError(
            f"The paper size '{value}' is {width:g} x {height:g} mm; each side must be more than 0 "
            f"and at most {MAX_PAPER_SIDE_MM:g} mm.",
            hint=_PAPER_FORMS_HINT,
        )
    return (min(width, height), max(width, height))
