""""Fix the cut-out": what the server keeps for a hand fix, and what it tells the page's editor.

After a Background or ID-photo result, the session keeps the photo's automatic analysis
(``FOUND_FILE``: faces, landmarks, the matte before strokes) in the job's folder, which goes
with the session. The page's editor (``webapp/editor_script.py``) shows a small copy of the
photo with the matte as a tint; the visitor paints keep and remove strokes, and the next run
of the tab's job (its "Apply") sends them back as a PNG. A run on the same photo then starts
from the kept analysis: only the strokes' refinement and what follows run.

What travels: to the page, two small pictures as data URLs (never a file route, so there is
nothing new to guard); from the page, the strokes PNG of the photo the editor was given
(``token``): strokes painted on another photo are never applied.
"""
from __future__ import annotations

import base64
import binascii
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from pipeline.core.atomic_write import write_atomically
from pipeline.core.encode import save_image
from pipeline.core.errors import InvalidOptionError, OutputWriteError
from pipeline.i18n import Message

FOUND_FILE = "cutout-analysis.npz"
EDITOR_MAX_SIDE = 1024  # the editor's copy of the photo: sharp enough to paint a strand on a phone
EDITOR_MAX_PIXELS = EDITOR_MAX_SIDE * EDITOR_MAX_SIDE  # the most pixels the page's strokes can have
PHOTO_PREVIEW = "editor-photo.jpg"
MATTE_PREVIEW = "editor-matte.png"
PNG_DATA_URL = "data:image/png;base64,"
# The page exports smaller strokes when they would not fit in a request; more is not strokes.
MAX_STROKES_DATA_URL_CHARS = 480 * 1024


@dataclass(frozen=True)
class EditorView:
    """A result's pictures for the editor (in the job's folder) and the kept analysis."""

    found: Path  # the photo's automatic analysis (pipeline.cutout.found)
    matte: Path  # the matte used, at the editor's size (grey PNG)
    photo: Path | None  # the photo at the editor's size (written with a new analysis only)


@dataclass(frozen=True)
class FoundHandle:
    """The session's note of its last result (a ``gr.State``: it never leaves the server):
    which upload it was of, its editor view, and the token the page's strokes must carry."""

    photo: str
    view: EditorView
    token: str
    applied: str = ""  # strokes_digest of the page's strokes this result used


def editor_size(width: int, height: int) -> tuple[int, int]:
    """(width, height) of the editor's copy: the photo's, at most ``EDITOR_MAX_SIDE`` on its long side."""
    scale = min(1.0, EDITOR_MAX_SIDE / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def editor_view(rgb: np.ndarray, alpha: np.ndarray, out_dir: Path, found: Path, *, with_photo: bool) -> EditorView:
    """Write the editor's pictures of a result into ``out_dir``: the matte used (corrected by
    any strokes) and, for a newly analysed photo, the photo itself."""
    size = editor_size(rgb.shape[1], rgb.shape[0])
    matte = cv2.resize((np.clip(alpha, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8), size, interpolation=cv2.INTER_AREA)
    # one grey channel, quick compression: the editor's tint, made again at every Apply
    encoded, png = cv2.imencode(".png", matte, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not encoded:
        raise OutputWriteError("The editor's matte could not be encoded.")
    matte_path = out_dir / MATTE_PREVIEW
    write_atomically(matte_path, png.tobytes())
    photo_path = None
    if with_photo:
        small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA) if size != (rgb.shape[1], rgb.shape[0]) else rgb
        photo_path = Path(save_image(out_dir / PHOTO_PREVIEW, small, quality=88))
    return EditorView(found=found, matte=matte_path, photo=photo_path)


def strokes_digest(painted: Any) -> str:
    """FNV-1a (32 bits, hex) of the page's strokes data URL ("" for none): the editor compares it
    with its own, to say "applied" only when the result used the strokes it shows."""
    text = painted.get("strokes") if isinstance(painted, dict) else None
    value = 0x811C9DC5
    for byte in (text if isinstance(text, str) else "").encode("latin-1", "replace"):
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return f"{value:08x}"


def next_handle(previous: Any, photo: str, view: EditorView | None, applied: str = "") -> FoundHandle | None:
    """The session's handle after a result: the token is kept while the analysis is (the
    editor keeps its strokes), and new with a new analysis (the editor starts again)."""
    if view is None:
        return None
    if isinstance(previous, FoundHandle) and previous.view.found == view.found and previous.photo == photo:
        # the same analysis: its photo preview stays the first one's (a page that emptied its
        # editor, for the same photo uploaded again, is given it again)
        return FoundHandle(photo, EditorView(view.found, view.matte, previous.view.photo), previous.token, applied)
    return FoundHandle(photo, view, secrets.token_urlsafe(12))


def editor_value(handle: Any) -> dict[str, Any] | None:
    """What the page's editor is given: the token, the matte and the photo as data URLs (the
    page draws the photo again only for a new token, or when it had emptied its editor); None
    when there is nothing to fix (its pictures are gone)."""
    if not isinstance(handle, FoundHandle):
        return None
    try:
        value: dict[str, Any] = {"token": handle.token, "matte": _data_url(handle.view.matte, "image/png"),
                                 "applied": handle.applied or strokes_digest(None)}
        if handle.view.photo is not None:
            value["photo"] = _data_url(handle.view.photo, "image/jpeg")
    except OSError:  # the visitor deleted their files: the editor empties
        return None
    return value


def _data_url(path: Path, mime: str) -> str:
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def painted_on(value: Any, handle: FoundHandle | None) -> dict | None:
    """The page editor's value when it was painted on the photo of ``handle`` (its token), else
    None; a value that is not the editor's at all (a script's string) is refused."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _unreadable()
    return value if handle is not None and value.get("token") == handle.token else None


def painted_strokes(value: Any, handle: FoundHandle | None) -> bytes | None:
    """The PNG the page's editor sent, when it was painted on the photo of ``handle``; None for
    no strokes or strokes of another photo (the editor had not been given this one yet).
    Anything else is refused, never dropped without a word: strokes for this photo that are not
    a PNG data URL within the limit (a PNG, not another format behind its prefix), or a value
    that is not the editor's at all (a script's string)."""
    value = painted_on(value, handle)
    strokes = value.get("strokes") if value is not None else None
    if strokes is None:
        return None
    if not isinstance(strokes, str) or not strokes.startswith(PNG_DATA_URL) or len(strokes) > MAX_STROKES_DATA_URL_CHARS:
        raise _unreadable()
    try:
        payload = base64.b64decode(strokes[len(PNG_DATA_URL):], validate=True)
    except (binascii.Error, ValueError) as error:
        raise _unreadable() from error
    if not payload.startswith(PNG_SIGNATURE):
        raise _unreadable()
    return payload


def _unreadable() -> InvalidOptionError:
    return InvalidOptionError(Message("error.cutout.strokes_unreadable"),
                              hint=Message("error.cutout.strokes_unreadable_hint"))
