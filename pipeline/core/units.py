"""Units: sizes as people read them, and the inch, in one place for every module."""
from __future__ import annotations

MM_PER_INCH = 25.4


def human_bytes(count: int) -> str:
    """``count`` bytes in KB, MB or GB (1 KB = 1024 bytes), one decimal, none when it is 0:
    "390.6 KB", "24 MB", "1.6 GB"."""
    for unit, size in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if count >= size:
            return f"{count / size:.1f}".removesuffix(".0") + f" {unit}"
    return f"{count} bytes"
