"""HEIC/HEIF support: an optional plugin, loaded on first use and never a crash.

Why this module exists: iPhones save HEIC by default, but reading it needs pillow-heif,
which loads libheif and may be missing or broken. Whether it is there decides which
suffixes are offered and how an unreadable HEIC file is explained; both questions are
answered here.
"""
from __future__ import annotations

import importlib.util
import threading

HEIF_SUFFIXES = frozenset({".heic", ".heif"})
_HEIF_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1"})


def heif_plugin_installed() -> bool:
    """Tell whether pillow-heif can be found without importing it (keeps this import cheap)."""
    try:
        return importlib.util.find_spec("pillow_heif") is not None
    except (ImportError, ValueError):
        return False


_HEIF_LOCK = threading.Lock()
_heif_registered: bool | None = None  # None: not tried yet
_heif_failure_reason = "is not available"  # completes "pillow-heif ..." in error messages


def heif_supported() -> bool:
    """Register pillow-heif with Pillow on first call; tell whether HEIC/HEIF can be read.

    Done lazily because importing pillow-heif loads libheif, which most runs never need,
    and guarded so that a missing or broken plugin only means "no HEIC", never a crash.
    """
    global _heif_registered, _heif_failure_reason
    with _HEIF_LOCK:
        if _heif_registered is None:
            try:
                import pillow_heif

                pillow_heif.register_heif_opener()
            except ModuleNotFoundError:
                _heif_registered = False
                _heif_failure_reason = "is not installed"
            except (ImportError, OSError) as error:
                _heif_registered = False
                _heif_failure_reason = f"could not be loaded ({error})"
            else:
                _heif_registered = True
        return _heif_registered


def heif_failure_reason() -> str:
    """Why HEIC cannot be read, completing "pillow-heif ..." (known once ``heif_supported`` ran)."""
    return _heif_failure_reason


def looks_like_heif(prefix: bytes) -> bool:
    """Recognise an ISO-BMFF ``ftyp`` box with a HEIF brand, to explain a missing plugin."""
    return len(prefix) >= 12 and prefix[4:8] == b"ftyp" and prefix[8:12] in _HEIF_BRANDS
