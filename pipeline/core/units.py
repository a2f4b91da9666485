"""Sizes as people read them, in one place for every message that states one."""
from __future__ import annotations


def human_bytes(count: int) -> str:
    """``count`` bytes in KB, MB or GB (1 KB = 1024 bytes), one decimal, none when it is 0:
    "390.6 KB", "24 MB", "1.6 GB"."""
    for unit, size in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if count >= size:
            return f"{count / size:.1f}".removesuffix(".0") + f" {unit}"
    return f"{count} bytes"
