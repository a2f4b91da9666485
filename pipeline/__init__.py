"""Portrait Lab pipeline: face restoration, matting and ID photos as a library.

Importing the package is cheap: models are built and weights are loaded only when a
pipeline object asks for them, and nothing is ever downloaded at import time.
"""
from __future__ import annotations

__version__ = "0.1.0"
