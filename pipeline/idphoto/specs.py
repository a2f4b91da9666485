"""ID-photo specifications: data (``pipeline/idphoto/data/id_photo_specs.csv``), not code.

Each row is one document's published rules with its sources. Empty cells mean no source
states that rule; where the geometry needs a rule anyway, ``IdPhotoSpec`` applies a
documented default (``defaults_applied`` says which), so a report can tell a user which
limits are official and which are ours.

A row is either a print (a size in mm) or a digital upload (pixels); a document whose print
and online rules differ has one row for each, so a print is never refused for an upload rule.
"""
from __future__ import annotations

import csv
import difflib
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from pipeline.core.errors import InvalidOptionError, SpecDataError, UnknownSpecError
from pipeline.core.limits import check_photo_size
from pipeline.core.units import MM_PER_INCH
from pipeline.i18n import Message
from pipeline.idphoto.search import format_mm, search_specs, suggest_specs

SPECS_PATH = Path(__file__).with_name("data") / "id_photo_specs.csv"
MAX_ECHOED_ID = 80  # an unknown id is echoed back at most this long (it may be anything a visitor typed)
DEFAULT_DPI = 300
# ICAO Doc 9303: chin to crown 70-80 % of the photo's height, used where a document states no head size.
DEFAULT_HEAD_RATIO = (0.70, 0.80)
# ICAO TR Portrait Quality Table 9: eye midpoint 30-50 % of the height from the top,
# i.e. 50-70 % from the bottom; used where a document states no eye line.
DEFAULT_EYE_RATIO_FROM_BOTTOM = (0.50, 0.70)
# Where a document's head height ends at the top, in the words a report uses. "crown" (the
# default, and ICAO's and the US's reading): chin to the top of the hair. "forehead": the
# document measures the head without the hair (France, South Korea, Germany, Switzerland: "top
# of the skull, hair excluded"; Italy: "to the forehead"); its row's notes name the source.
HEAD_TOPS: dict[str, str] = {
    "crown": "chin to the top of the hair",
    "forehead": "chin to the top of the head, hair excluded",
}
DEFAULT_HEAD_TOP = "crown"

Range = tuple[float, float]
# Columns every table must have; the later ones (head_top, the pixel range) may be missing.
REQUIRED_COLUMNS = frozenset({
    "id", "country", "document", "width_mm", "height_mm", "width_px", "height_px", "dpi", "head_height_min_mm",
    "head_height_max_mm", "head_height_min_ratio", "head_height_max_ratio", "eye_line_min_mm", "eye_line_max_mm",
    "eye_line_min_ratio", "eye_line_max_ratio", "crown_margin_min_mm", "crown_margin_max_mm", "background",
    "background_hex", "min_file_kb", "max_file_kb", "source", "notes",
})


@dataclass(frozen=True)
class IdPhotoSpec:
    """One document's photo rules. Lengths in mm, ratios as fractions of the photo height."""

    id: str
    country: str
    document: str
    width_mm: float | None = None
    height_mm: float | None = None
    width_px: int | None = None  # the pixels we produce (for a pixel range: our choice inside it)
    height_px: int | None = None
    # A digital upload's accepted pixel sizes, where the document gives a range or a minimum
    # instead of one exact size (each end optional; width and height together).
    min_width_px: int | None = None
    min_height_px: int | None = None
    max_width_px: int | None = None
    max_height_px: int | None = None
    dpi: int | None = None
    head_height_mm: Range | None = None  # chin to the head's top (``head_top`` says which top)
    head_height_ratio: Range | None = None
    eye_line_mm: Range | None = None  # eye line measured from the bottom edge
    eye_line_ratio: Range | None = None
    crown_margin_mm: Range | None = None  # top of the head to the top edge
    background: str = ""
    background_hex: str | None = None  # an exact colour the document names
    default_background: str | None = None  # our choice (preset or hex) where white is not allowed
    min_file_kb: float | None = None
    max_file_kb: float | None = None
    source: str = ""
    notes: str = ""
    head_top: str = DEFAULT_HEAD_TOP  # a key of HEAD_TOPS
    custom: bool = False

    # -- size --------------------------------------------------------------------------
    @property
    def effective_dpi(self) -> int:
        return self.dpi or DEFAULT_DPI

    @property
    def size_mm(self) -> tuple[float, float]:
        """Physical size: stated mm, else pixels at the stated (or default) dpi."""
        if self.width_mm and self.height_mm:
            return (self.width_mm, self.height_mm)
        assert self.width_px and self.height_px  # validated on creation
        return (self.width_px / self.effective_dpi * MM_PER_INCH, self.height_px / self.effective_dpi * MM_PER_INCH)

    def size_px(self, dpi: int | None = None) -> tuple[int, int]:
        """Exact output pixels: the stated pixel size (always, for pixel-only documents,
        where dpi is just metadata), else the mm size at ``dpi``.

        For a document with a pixel range the stated size is the row's chosen size inside the
        range, not computed here: one fixed, reviewable number per document (its notes say
        why), because "the largest allowed" can be huge (New Zealand allows 4500x6000 px) and
        "the smallest" can fall short of a minimum file size (US online renewal: 54 KB)."""
        if self.width_px and self.height_px and (dpi is None or not self.width_mm):
            return (self.width_px, self.height_px)
        chosen = dpi or self.effective_dpi
        width_mm, height_mm = self.size_mm
        return (round(width_mm / MM_PER_INCH * chosen), round(height_mm / MM_PER_INCH * chosen))

    def output_dpi(self, dpi: int | None = None) -> int:
        """The dpi written into the file: the request, the spec's, or what makes px and mm agree."""
        if dpi:
            return dpi
        if self.dpi:
            return self.dpi
        if self.width_px and self.width_mm:
            return round(self.width_px / self.width_mm * MM_PER_INCH)
        return DEFAULT_DPI

    # -- placement rules as fractions of the photo height -----------------------------------
    def head_ratio_range(self) -> Range:
        if self.head_height_mm:
            height = self.size_mm[1]
            return (self.head_height_mm[0] / height, self.head_height_mm[1] / height)
        return self.head_height_ratio or DEFAULT_HEAD_RATIO

    def eye_ratio_range(self) -> Range:
        """Eye line from the bottom edge, as a fraction of the height."""
        if self.eye_line_mm:
            height = self.size_mm[1]
            return (self.eye_line_mm[0] / height, self.eye_line_mm[1] / height)
        return self.eye_line_ratio or DEFAULT_EYE_RATIO_FROM_BOTTOM

    def crown_margin_ratio_range(self) -> Range | None:
        if not self.crown_margin_mm:
            return None
        height = self.size_mm[1]
        return (self.crown_margin_mm[0] / height, self.crown_margin_mm[1] / height)

    @property
    def defaults_applied(self) -> tuple[str, ...]:
        applied = []
        if not (self.head_height_mm or self.head_height_ratio):
            applied.append("head height 70-80 % of the photo (ICAO Doc 9303 default; the document states none)")
        if not (self.eye_line_mm or self.eye_line_ratio):
            applied.append("eye line 50-70 % of the height from the bottom (ICAO portrait-quality default)")
        if not self.dpi and not (self.width_px and self.width_mm):
            applied.append(f"{DEFAULT_DPI} dpi (the document states none)")
        if not self.background_hex:
            applied.append(f"background colour {self.background_colour} (our choice: the document names no exact "
                           f"colour{'' if self.default_background else ' and allows white'})")
        return tuple(applied)

    # -- pixel range (digital uploads) -----------------------------------------------------
    @property
    def has_pixel_range(self) -> bool:
        return bool(self.min_width_px or self.max_width_px)

    @property
    def pixel_shape(self) -> tuple[int, int] | None:
        """The width:height both ends of the range share (1:1, 3:4), else None (no shape rule)."""
        if not (self.min_width_px and self.min_height_px and self.max_width_px and self.max_height_px):
            return None
        low, high = _reduced(self.min_width_px, self.min_height_px), _reduced(self.max_width_px, self.max_height_px)
        return low if low == high else None

    def accepts_pixels(self, width: int, height: int) -> bool:
        """Inside the document's pixel range, and of its shape (to 1 px of rounding) when both
        ends state one. Only meaningful where ``has_pixel_range``."""
        if self.min_width_px and self.min_height_px and (width < self.min_width_px or height < self.min_height_px):
            return False
        if self.max_width_px and self.max_height_px and (width > self.max_width_px or height > self.max_height_px):
            return False
        shape = self.pixel_shape
        return shape is None or abs(height - width * shape[1] / shape[0]) <= 1

    @property
    def pixel_range_text(self) -> str:
        """The accepted sizes in words: "600x600 to 1200x1200 px, square", "at least 600x750 px"."""
        low = f"{self.min_width_px}x{self.min_height_px}" if self.min_width_px else None
        high = f"{self.max_width_px}x{self.max_height_px}" if self.max_width_px else None
        if not (low or high):
            return ""
        text = f"{low} to {high} px" if low and high else (f"at least {low} px" if low else f"at most {high} px")
        shape = self.pixel_shape
        if shape:
            text += ", square" if shape[0] == shape[1] else f", {shape[0]}:{shape[1]} (width:height)"
        return text

    @property
    def head_top_label(self) -> str:
        """What the head height is measured to, in words for reports."""
        return HEAD_TOPS[self.head_top]

    @property
    def background_colour(self) -> str:
        """The colour to use when the user names none: the document's, else our allowed choice, else white."""
        return self.background_hex or self.default_background or "white"

    @property
    def label(self) -> str:
        """Country, document and size (mm whole or to one decimal); a pixel-only upload shows no
        mm (it has no printed size)."""
        pixels = f"{self.width_px}x{self.height_px} px" if self.width_px else ""
        if not self.width_mm:
            return f"{self.country}: {self.document} ({pixels})"
        width_mm, height_mm = (format_mm(value) for value in self.size_mm)
        return f"{self.country}: {self.document} ({width_mm}x{height_mm} mm{', ' + pixels if pixels else ''})"


@dataclass(frozen=True)
class SpecRegistry:
    specs: tuple[IdPhotoSpec, ...]
    _by_id: dict[str, IdPhotoSpec] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {spec.id: spec for spec in self.specs})

    def get(self, spec_id: str) -> IdPhotoSpec:
        try:
            return self._by_id[spec_id]
        except KeyError:
            close = difflib.get_close_matches(spec_id, list(self._by_id), n=5, cutoff=0.8)
            # what the words find, else their near misses, in any language ("pasaprte japon")
            close += [spec.id for spec in suggest_specs(self.specs, spec_id) if spec.id not in close]
            close = close[:5]
            shown = spec_id if len(spec_id) <= MAX_ECHOED_ID else spec_id[:MAX_ECHOED_ID - 1] + "…"
            raise UnknownSpecError(
                Message("error.spec.unknown", {"id": shown}),
                hint=Message("error.spec.unknown_hint_close", {"close": ", ".join(close)}) if close
                else Message("error.spec.unknown_hint"),
            ) from None

    def search(self, query: str = "") -> list[IdPhotoSpec]:
        """The documents matching every word of ``query`` in any order, best first; all of
        them, most asked for first, for an empty query (``idphoto.search`` says how)."""
        return search_specs(self.specs, query)

    def countries(self) -> list[str]:
        return sorted({spec.country for spec in self.specs})


def _reduced(width: int, height: int) -> tuple[int, int]:
    """A width:height in lowest terms (600x600 -> 1:1, 900x1200 -> 3:4)."""
    divisor = math.gcd(width, height) or 1
    return (width // divisor, height // divisor)


def _number(text: str | None, column: str = "", spec_id: str = "?") -> float | None:
    text = (text or "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise SpecDataError(f"spec {spec_id}: {column or 'a number column'} is not a number: {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise SpecDataError(f"spec {spec_id}: {column or 'a number column'} must be a finite number >= 0, "
                            f"got {text!r}")
    return value


def _integer(row: dict[str, str], column: str, spec_id: str) -> int | None:
    value = _number(row.get(column), column, spec_id)
    if value is not None and value != int(value):
        raise SpecDataError(f"spec {spec_id}: {column} must be a whole number, got {value!r}")
    return None if value is None else int(value)


def _range(low: str, high: str, what: str, spec_id: str) -> Range | None:
    a, b = _number(low, what, spec_id), _number(high, what, spec_id)
    if a is None and b is None:
        return None
    if a is None or b is None or a > b or a < 0:
        raise SpecDataError(f"spec {spec_id}: {what} must be an ordered pair of numbers, got {low!r}, {high!r}")
    return (a, b)


def spec_from_row(row: dict[str, str]) -> IdPhotoSpec:
    """One CSV row -> validated spec (``SpecDataError``, a ValueError, naming the row on any problem).
    Columns added later (``head_top``, the pixel range) may be missing from an older table."""
    spec_id = row["id"].strip()
    pixels = {column: _integer(row, column, spec_id) for column in (
        "width_px", "height_px", "min_width_px", "min_height_px", "max_width_px", "max_height_px", "dpi")}
    spec = IdPhotoSpec(
        id=spec_id,
        country=row["country"].strip(),
        document=row["document"].strip(),
        width_mm=_number(row["width_mm"], "width_mm", spec_id),
        height_mm=_number(row["height_mm"], "height_mm", spec_id),
        **pixels,
        head_height_mm=_range(row["head_height_min_mm"], row["head_height_max_mm"], "head height (mm)", spec_id),
        head_height_ratio=_range(row["head_height_min_ratio"], row["head_height_max_ratio"], "head ratio", spec_id),
        eye_line_mm=_range(row["eye_line_min_mm"], row["eye_line_max_mm"], "eye line (mm)", spec_id),
        eye_line_ratio=_range(row["eye_line_min_ratio"], row["eye_line_max_ratio"], "eye-line ratio", spec_id),
        crown_margin_mm=_range(row["crown_margin_min_mm"], row["crown_margin_max_mm"], "crown margin (mm)", spec_id),
        head_top=(row.get("head_top") or "").strip() or DEFAULT_HEAD_TOP,
        background=row["background"].strip(),
        background_hex=row["background_hex"].strip() or None,
        default_background=(row.get("default_background") or "").strip() or None,
        min_file_kb=_number(row["min_file_kb"], "min_file_kb", spec_id),
        max_file_kb=_number(row["max_file_kb"], "max_file_kb", spec_id),
        source=row["source"].strip(),
        notes=row["notes"].strip(),
    )
    validate_spec(spec)
    return spec


def validate_spec(spec: IdPhotoSpec) -> None:
    """Raise ``SpecDataError`` (a ValueError) if a spec could not produce a photo, lacks a
    source, or names an unknown head top."""
    problems = _size_problems(spec) + _pixel_range_problems(spec) + _rule_problems(spec)
    if problems:
        raise SpecDataError(f"spec {spec.id or '?'}: " + "; ".join(problems))


def _size_problems(spec: IdPhotoSpec) -> list[str]:
    problems = []
    if not re.fullmatch(r"[a-z0-9_]+", spec.id):
        problems.append("id must be lowercase letters, digits and underscores")
    if not (spec.width_mm and spec.height_mm) and not (spec.width_px and spec.height_px):
        problems.append("needs a size in mm or in pixels")
    if bool(spec.width_mm) != bool(spec.height_mm) or bool(spec.width_px) != bool(spec.height_px):
        problems.append("width and height must be given together")
    sizes = (spec.width_mm, spec.height_mm, spec.width_px, spec.height_px, spec.dpi, spec.min_width_px,
             spec.min_height_px, spec.max_width_px, spec.max_height_px)
    if any(value is not None and not (math.isfinite(value) and value > 0) for value in sizes):
        problems.append("sizes and dpi must be positive numbers")
    if spec.width_mm and spec.height_mm:
        for name in ("head_height_mm", "eye_line_mm", "crown_margin_mm"):
            value = getattr(spec, name)
            if value and value[1] > spec.height_mm:
                problems.append(f"{name} exceeds the photo height")
    return problems


def _pixel_range_problems(spec: IdPhotoSpec) -> list[str]:
    """A pixel range belongs to a digital upload, holds the size we produce, and is ordered."""
    if spec.min_width_px is None and spec.min_height_px is None and spec.max_width_px is None \
            and spec.max_height_px is None:
        return []
    if (spec.min_width_px is None) != (spec.min_height_px is None) \
            or (spec.max_width_px is None) != (spec.max_height_px is None):
        return ["min_width_px/min_height_px and max_width_px/max_height_px must each be given together"]
    problems = []
    if spec.width_mm or spec.height_mm:
        problems.append("a pixel range is a digital upload's rule: give the printed size its own row")
    if not (spec.width_px and spec.height_px):
        problems.append("a pixel range needs width_px/height_px: the size we produce inside it")
    elif not spec.accepts_pixels(spec.width_px, spec.height_px):
        problems.append(f"width_px x height_px {spec.width_px}x{spec.height_px} is outside its own range "
                        f"({spec.pixel_range_text})")
    if spec.min_width_px and spec.max_width_px and spec.min_height_px and spec.max_height_px \
            and (spec.min_width_px > spec.max_width_px or spec.min_height_px > spec.max_height_px):
        problems.append("the minimum pixel size is above the maximum")
    return problems


def _rule_problems(spec: IdPhotoSpec) -> list[str]:
    problems = []
    if not spec.custom and not spec.source:
        problems.append("every spec needs a source")
    if spec.background_hex and not re.fullmatch(r"#[0-9A-Fa-f]{6}", spec.background_hex):
        problems.append(f"background_hex {spec.background_hex!r} is not #RRGGBB")
    for name in ("head_height_ratio", "eye_line_ratio"):
        value = getattr(spec, name)
        if value and not (0 < value[0] <= value[1] < 1):
            problems.append(f"{name} must lie between 0 and 1")
    if spec.default_background and not re.fullmatch(r"#[0-9A-Fa-f]{6}|[a-z-]+", spec.default_background):
        problems.append(f"default_background {spec.default_background!r} is not a preset name or #RRGGBB")
    if spec.max_file_kb == 0:
        problems.append("max_file_kb is 0")
    if spec.min_file_kb and spec.max_file_kb and spec.min_file_kb > spec.max_file_kb:
        problems.append("min_file_kb is above max_file_kb")
    if spec.head_top not in HEAD_TOPS:
        problems.append(f"head_top {spec.head_top!r} is not one of: {', '.join(HEAD_TOPS)}")
    elif spec.head_top != DEFAULT_HEAD_TOP and not (spec.head_height_mm or spec.head_height_ratio):
        # The ICAO default head height is measured to the crown, so a different top needs the
        # document's own head-size rule to refer to.
        problems.append(f"head_top {spec.head_top!r} needs the document's own head height (mm or ratio)")
    return problems


@lru_cache(maxsize=4)
def load_specs(path: Path = SPECS_PATH) -> SpecRegistry:
    # utf-8-sig: a table saved by a spreadsheet starts with a byte-order mark
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = sorted(REQUIRED_COLUMNS - set(reader.fieldnames or ()))
        if missing:
            raise SpecDataError(f"{path.name} lacks the column(s): {', '.join(missing)}")
        rows = list(reader)
    for number, row in enumerate(rows, start=2):
        if None in row or any(row.get(column) is None for column in REQUIRED_COLUMNS):
            raise SpecDataError(f"{path.name} line {number}: the row has {'too many' if None in row else 'too few'} "
                                "cells (a comma too many or missing?)")
    specs = tuple(spec_from_row(row) for row in rows)
    ids = [spec.id for spec in specs]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise SpecDataError(f"duplicate spec ids: {', '.join(duplicates)}")
    return SpecRegistry(specs)


def custom_spec(width: float, height: float, unit: str = "mm", dpi: int = DEFAULT_DPI,
                background_hex: str | None = None) -> IdPhotoSpec:
    """A user-defined size in mm or px; placement follows the ICAO defaults.

    Every bad input raises ``InvalidOptionError`` (never a bare ValueError or OverflowError).
    """
    if not all(math.isfinite(value) and value > 0 for value in (width, height, dpi)):
        raise InvalidOptionError(Message("error.idphoto.custom_positive"))
    if unit == "px" and (int(width) < 1 or int(height) < 1):
        raise InvalidOptionError(Message("error.idphoto.custom_min_px"))
    if unit == "mm":
        spec = IdPhotoSpec(id="custom", country="Custom", document=f"{width:g}x{height:g} mm", width_mm=width,
                           height_mm=height, dpi=dpi, background_hex=background_hex, custom=True)
    elif unit == "px":
        spec = IdPhotoSpec(id="custom", country="Custom", document=f"{int(width)}x{int(height)} px",
                           width_px=int(width), height_px=int(height), dpi=dpi, background_hex=background_hex,
                           custom=True)
    else:
        raise InvalidOptionError(f"Unknown unit '{unit}'.", hint="Use mm or px.")
    try:
        validate_spec(spec)
    except ValueError as error:
        raise InvalidOptionError(f"That custom size is not usable: {error}",
                                 hint="Background colours are #RRGGBB, e.g. #FFFFFF.") from None
    check_photo_size(*spec.size_px())
    return spec
