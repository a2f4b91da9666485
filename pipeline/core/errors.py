"""Typed errors of the pipeline.

Every failure a user can cause or fix has its own class, so the CLI and the app can map
it to a clear message (``user_message``) instead of showing a traceback. Anything that
is not a ``PortraitLabError`` is a bug.
"""
from __future__ import annotations

import re
from typing import ClassVar

# A sentence for whoever runs the program, not for a web visitor: a command or a server path.
_OPERATOR_WORDS = re.compile(r"python -m |pip install |(?<![\w.])/[\w.-]+/|\.pth\b")
_SENTENCES = re.compile(r"(?<=[.?!])\s+")
MODEL_NOT_AVAILABLE = "A model this needs is not available on this server yet, so it cannot run for now."


def os_reason(error: OSError) -> str:
    """An OS failure in plain words ("no space left on device"), never "[Errno 28] ...":
    the errno number and the path are for the log, the sentence is for the user."""
    return error.strerror.rstrip(".").lower() if error.strerror else "a system error"


class PortraitLabError(Exception):
    """Base class: ``message`` says what went wrong, ``hint`` what the user can do."""

    code = "error"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    # Set where the message itself is the operator's (the server's files, how to fetch a model):
    # the sentence a web visitor, who runs nothing on the server, gets instead.
    visitor_sentence: ClassVar[str | None] = None

    @property
    def user_message(self) -> str:
        return f"{self.message} {self.hint}" if self.hint else self.message

    @property
    def visitor_message(self) -> str:
        """What the web app tells a visitor: ``user_message`` less the sentences that name a
        command or a server path (the operator's, for the log), or the class's own sentence."""
        if self.visitor_sentence is not None:
            return self.visitor_sentence
        kept = [s for s in _SENTENCES.split(self.user_message) if not _OPERATOR_WORDS.search(s)]
        return " ".join(kept) or "This could not be done on this server right now."


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
    def over_quota(cls, message: str) -> DiskSpaceError:
        """The visitor's own quota: ``message`` states the sizes; the hint is how to make room."""
        return cls(message, hint="Download what you need, press \"Delete my files now\" on the Privacy tab (in "
                                 "each tab you have open), then try again.")

    @classmethod
    def server_short(cls) -> DiskSpaceError:
        """The total quota or the free disk space: nothing the visitor can do but wait."""
        return cls("The server is short of storage space right now.",
                   hint="Please try again in a few minutes; your file was not stored.")


class OutputWriteError(PortraitLabError):
    """Results could not be written: the disk is full, the folder is read-only, or another
    system error. Nothing half-written is left behind; the run cannot go on usefully."""

    code = "output_write"
    visitor_sentence = "The server could not store the result right now. Please try again in a few minutes."

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
