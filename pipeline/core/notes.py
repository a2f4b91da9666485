"""Notes about the server rather than the photo.

A fallback model in use ("the full face detector is not installed") is true of every photo
this server handles. Marked as a :class:`ServerNote`, it stays a plain string everywhere a
note is shown, and a batch can say it once, above its rows, instead of on each row (where it
would also turn every row into a warning).
"""
from __future__ import annotations

from collections.abc import Iterable


class ServerNote(str):
    """A note about how this server is set up, the same for every photo."""

    __slots__ = ()


def split_notes(notes: Iterable[str]) -> tuple[list[str], list[str]]:
    """(notes about this photo, notes about the server), each in its first-seen order."""
    photo: list[str] = []
    server: list[str] = []
    for note in notes:
        target = server if isinstance(note, ServerNote) else photo
        if note not in target:
            target.append(note)
    return photo, server
