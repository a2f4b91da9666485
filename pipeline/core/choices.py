"""The values a user picks from, in one place that imports nothing heavy.

The CLI's parser must start without torch, and the pipelines that check a value must agree
with the list the parser and the app offer; both read these.
"""
from __future__ import annotations

DETECTOR_AUTO = "auto"  # the manifest's default detector when its weights are there, else a bundled one
MATTING_AUTO = "auto"  # the matting network when its weights are there, else the offline fallback
MATTING_NETWORK = "modnet"  # insist on the matting network (missing weights are an error)
# insist on the offline fallback: Selfie Segmentation, or plain-wall GrabCut where MediaPipe has no wheel
MATTING_FALLBACK = "fallback"
MATTING_METHODS = (MATTING_AUTO, MATTING_NETWORK, MATTING_FALLBACK)
DEVICE_CHOICES = ("auto", "cpu", "cuda")
PRECISION_CHOICES = ("auto", "fp32", "bf16")
ID_PHOTO_FORMATS = ("jpg", "png")  # what document portals accept
UPSAMPLER_NONE = "none"  # no background network: the photo is enlarged by bicubic interpolation


def check_matting_method(method: str) -> str:
    """``method`` if it is one of :data:`MATTING_METHODS`, else the user's error that lists them."""
    from pipeline.core.errors import InvalidOptionError

    if method not in MATTING_METHODS:
        raise InvalidOptionError(
            f"Unknown matting method {method!r}.", hint=f"Choose one of: {', '.join(MATTING_METHODS)}."
        )
    return method
