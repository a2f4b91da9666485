"""A 6-face "group photo" for benchmarks, made only from public-domain material.

The one public-domain portrait the project ships (scikit-image's NASA astronaut, Eileen
Collins) is cropped six times around her face at different scales, mirrored or slightly
rotated, and laid out 3 x 2 on a 1536 x 1024 canvas. No photo of anybody else is used.

    .venv/bin/python bench/collage.py [out.png]     # writes the collage to look at it
"""
from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.core.samples import astronaut  # noqa: E402

CELL = 512
COLUMNS, ROWS = 3, 2
# Centre of the astronaut's face in the 512 x 512 original (between eyes and mouth).
FACE_CENTRE = (225.0, 120.0)
# (scale, rotation in degrees, mirrored) per cell: faces ~70 to ~190 px wide, tilted a little.
VARIANTS: tuple[tuple[float, float, bool], ...] = (
    (1.6, 0.0, False),
    (1.1, -8.0, True),
    (2.2, 5.0, False),
    (1.35, 9.0, True),
    (0.85, -4.0, False),
    (1.9, -10.0, True),
)
# Where the face centre goes inside its cell (a little above the middle, like a portrait).
FACE_IN_CELL = (CELL / 2, CELL * 0.42)


def _cell(rgb: np.ndarray, scale: float, degrees: float, mirrored: bool) -> np.ndarray:
    source = np.ascontiguousarray(rgb[:, ::-1]) if mirrored else rgb
    cx, cy = FACE_CENTRE
    if mirrored:
        cx = rgb.shape[1] - 1 - cx
    matrix = cv2.getRotationMatrix2D((cx, cy), degrees, scale)
    matrix[:, 2] += np.array(FACE_IN_CELL) - np.array([cx, cy])
    # Replicate the border: a reflected border could mirror the face into a phantom second face.
    return cv2.warpAffine(source, matrix, (CELL, CELL), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def group_photo(rgb: np.ndarray | None = None) -> np.ndarray:
    """(1024, 1536, 3) uint8 RGB with six astronaut faces (different sizes, poses, mirrored)."""
    rgb = astronaut() if rgb is None else rgb
    canvas = np.zeros((ROWS * CELL, COLUMNS * CELL, 3), dtype=np.uint8)
    for index, (scale, degrees, mirrored) in enumerate(VARIANTS):
        row, column = divmod(index, COLUMNS)
        canvas[row * CELL:(row + 1) * CELL, column * CELL:(column + 1) * CELL] = _cell(rgb, scale, degrees, mirrored)
    return canvas


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("group_photo.png")
    cv2.imwrite(str(out), group_photo()[..., ::-1])
    print(f"wrote {out} ({COLUMNS * CELL}x{ROWS * CELL}, {len(VARIANTS)} faces of the public-domain astronaut)")


if __name__ == "__main__":
    main()
