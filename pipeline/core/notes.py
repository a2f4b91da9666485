"""Notes about the server rather than the photo.

A fallback model in use ("the full face detector is not installed") is true of every photo
this server handles. Marked as a :class:`ServerNote` (a catalogue message, rendered in its
reader's language), a batch can say it once, above its rows, instead of on each row (where it
would also turn every row into a warning).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pipeline.i18n import Message, Text


@dataclass(frozen=True)
class ServerNote(Message):
    """A note about how this server is set up, the same for every photo."""


def split_notes(notes: Iterable[Text]) -> tuple[list[Text], list[Text]]:
    """(notes about this photo, notes about the server), each in its first-seen order."""
    photo: list[Text] = []
    server: list[Text] = []
    for note in notes:
        target = server if isinstance(note, ServerNote) else photo
        if note not in target:
            target.append(note)
    return photo, server
