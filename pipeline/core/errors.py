"""Typed errors of the pipeline.

Every failure a user can cause or fix has its own class, so the CLI and the app can map
it to a clear message (``user_message``) instead of showing a traceback. Anything that
is not a ``PortraitLabError`` is a bug.

A message and its hint are :data:`pipeline.i18n.Text`: a plain string (the operator's words,
English: commands, paths, model ids, for the CLI and the log) or a :class:`~pipeline.i18n.Message`
(a catalogue key and its values, rendered in the reader's language by ``*_in(lang)``). The
English properties stay for the CLI and the log.
"""
from __future__ import annotations

import re
from typing import ClassVar

from pipeline.i18n import Message, Text, render

# A sentence for whoever runs the program, not for a web visitor: a command or a server path.
_OPERATOR_WORDS = re.compile(r"python -m |pip install |(?<![\w.])/[\w.-]+/|\.pth\b")
# Sentence ends, kept (captured) so the sentences left are joined as they were written:
# a space after ". ? !", none after the full-width "。！？" of Chinese and Japanese.
_SENTENCES = re.compile(r"((?<=[.?!])\s+|(?<=[。！？])\s*)")
_FULL_WIDTH_END = ("。", "！", "？")
MODEL_NOT_AVAILABLE = Message("error.model_not_available")
_FALLBACK = Message("error.fallback")


def os_reason(error: OSError) -> str:
    """An OS failure in plain words ("no space left on device"), never "[Errno 28] ...":
    the errno number and the path are for the log, the sentence is for the user."""
    return error.strerror.rstrip(".").lower() if error.strerror else "a system error"


def join_sentences(*parts: str) -> str:
    """Sentences in one paragraph: a space between them, none after a full-width full stop."""
    text = ""
    for part in (p.strip() for p in parts if p and p.strip()):
        text = part if not text else text + ("" if text.endswith(_FULL_WIDTH_END) else " ") + part
    return text


def without_operator_sentences(text: str) -> str:
    """``text`` less its sentences that name a command or a server path (in any language)."""
    pieces = _SENTENCES.split(text)
    kept = [pieces[i] + (pieces[i + 1] if i + 1 < len(pieces) else "")
            for i in range(0, len(pieces), 2) if pieces[i] and not _OPERATOR_WORDS.search(pieces[i])]
    return "".join(kept).strip()


class PortraitLabError(Exception):
    """Base class: ``message`` says what went wrong, ``hint`` what the user can do (both in
    English, as strings; ``text`` and ``hint_text`` keep them as given, for ``*_in(lang)``)."""

    code = "error"

    def __init__(self, message: Text, *, hint: Text | None = None) -> None:
        super().__init__(str(message))
        self.text: Text = message
        self.hint_text: Text | None = hint
        self.message = str(message)
        self.hint = None if hint is None else str(hint)

    # Set where the message itself is the operator's (the server's files, how to fetch a model):
    # the sentence a web visitor, who runs nothing on the server, gets instead.
    visitor_sentence: ClassVar[Text | None] = None

    def user_message_in(self, lang: str | None) -> str:
        """The message and its hint in ``lang`` (a plain-string part stays as written)."""
        return join_sentences(str(render(self.text, lang)),
                              "" if self.hint_text is None else str(render(self.hint_text, lang)))

    def visitor_message_in(self, lang: str | None) -> str:
        """What the web app tells a visitor, in ``lang``: the message less the sentences that
        name a command or a server path (the operator's, for the log), or the class's own sentence."""
        if self.visitor_sentence is not None:
            return str(render(self.visitor_sentence, lang))
        return without_operator_sentences(self.user_message_in(lang)) or _FALLBACK.text(lang)

    @property
    def user_message(self) -> str:
        return self.user_message_in("en")

    @property
    def visitor_message(self) -> str:
        """:meth:`visitor_message_in` English."""
        return self.visitor_message_in("en")


class InvalidImageError(PortraitLabError):
    """The input is not an image we can read (unknown format, truncated, corrupt)."""

    code = "invalid_image"


class ImageTooLargeError(PortraitLabError):
    """The image has more pixels than the configured limit (decompression-bomb guard)."""

    code = "image_too_large"


class NoFaceError(PortraitLabError):
    """A step that needs a face found none (restoration only warns instead)."""

    code = "no_face"


class TooManyFacesError(PortraitLabError):
    """A step that needs exactly one face found several."""

    code = "too_many_faces"


class InvalidOptionError(PortraitLabError):
    """An option is out of range or names something that does not exist."""

    code = "invalid_option"


class WeightsMissingError(PortraitLabError):
    """A model's weights file is not in the weights directory."""

    code = "weights_missing"
    visitor_sentence = MODEL_NOT_AVAILABLE


class WeightsCorruptError(PortraitLabError):
    """A weights file exists but its size or sha256 does not match the manifest."""

    code = "weights_corrupt"
    visitor_sentence = MODEL_NOT_AVAILABLE


class WeightsDownloadError(PortraitLabError):
    """Downloading a weights file failed (network, truncated transfer, wrong hash)."""

    code = "weights_download"
    visitor_sentence = MODEL_NOT_AVAILABLE


class DeviceUnavailableError(PortraitLabError):
    """The requested compute device (for example ``cuda``) is not available."""

    code = "device_unavailable"


class FileSizeTargetError(PortraitLabError):
    """No acceptable JPEG quality fits under the requested file-size limit."""

    code = "file_size_target"


class UnknownSpecError(PortraitLabError):
    """No ID-photo specification has the requested id."""

    code = "unknown_spec"


class SpecDataError(PortraitLabError, ValueError):
    """A row of an ID-photo specification table breaks a rule (named with the row's id).
    A ValueError too, so callers that check rows with ``except ValueError`` keep working."""

    code = "spec_data"


class DiskSpaceError(PortraitLabError):
    """A visitor's storage quota, the server's total, or its free disk space is used up."""

    code = "disk_space"

    @classmethod
    def over_quota(cls, message: Text) -> DiskSpaceError:
        """The visitor's own quota: ``message`` states the sizes; the hint is how to make room."""
        return cls(message, hint=Message("error.disk.over_quota_hint"))

    @classmethod
    def server_short(cls) -> DiskSpaceError:
        """The total quota or the free disk space: nothing the visitor can do but wait."""
        return cls(Message("error.disk.server_short"), hint=Message("error.disk.server_short_hint"))


class OutputWriteError(PortraitLabError):
    """Results could not be written: the disk is full, the folder is read-only, or another
    system error. Nothing half-written is left behind; the run cannot go on usefully."""

    code = "output_write"
    visitor_sentence = Message("error.output_write.visitor")

    @classmethod
    def from_os_error(cls, error: OSError, folder: object) -> OutputWriteError:
        """One plain sentence per failure class; the errno text never reaches the user raw."""
        import errno

        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            return cls(f"The disk holding {folder} is full; nothing more could be written there.",
                       hint="Free some space, or choose another folder, and run again.")
        if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return cls(f"The folder {folder} cannot be written to (permission denied or read-only).",
                       hint="Choose a folder you can write to.")
        return cls(f"A result could not be written to {folder} ({os_reason(error)}).",
                   hint="Check the folder and the disk, then run again.")
