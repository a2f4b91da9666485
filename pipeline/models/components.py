"""Objects built once per process and shared by every request (detectors, maskers, restorers).

A pipeline asks for a component by key; the first request builds it under a lock, later
ones get the same object. Components hold no per-request state, so sharing them is safe.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class SharedComponents:
    """A thread-safe key -> object map whose values are created on first use, exactly once."""

    def __init__(self) -> None:
        self._built: dict[str, Any] = {}
        self._lock = threading.Lock()

    def get(self, key: str, create: Callable[[], Any]) -> Any:
        if key not in self._built:
            with self._lock:
                if key not in self._built:
                    self._built[key] = create()
        return self._built[key]
