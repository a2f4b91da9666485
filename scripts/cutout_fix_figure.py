"""The README's before/after pair of a corrected cut-out: ``python scripts/cutout_fix_figure.py``.

The public-domain astronaut on a light-blue background, made by the offline matting (what a
server without model weights runs): a strip of the flag behind her left arm stays in the
picture. One "remove" stroke down that strip, the same mask ``--strokes`` and the page's
editor send, takes it out; the rest of the cut-out is unchanged. The figure shows the lower
left of the photo: before, the stroke, after. It runs the real command-line pipeline, so the
pair is what the product gives.
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline import cli  # noqa: E402
from pipeline.core.samples import astronaut  # noqa: E402

OUT = ROOT / "docs" / "samples" / "cutout_fix_before_after.jpg"
STROKE = ((8, 400), (8, 505))  # (x, y) ends of the stroke, in the 512 px photo
STROKE_WIDTH = 12
CROP = (0, 300, 200, 512)  # left, top, right, bottom
SCALE = 2


def _background(folder: Path, *extra: str) -> np.ndarray:
    code = cli.main(["background", "--sample", "--mode", "colour", "--colour", "light-blue", "-o", str(folder), *extra])
    if code != 0:
        raise SystemExit(f"the background command failed ({code})")
    (result,) = folder.glob("*.png")
    return np.asarray(Image.open(result).convert("RGB"))


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        strokes = np.zeros((512, 512, 4), np.uint8)
        cv2.line(strokes, *STROKE, (0, 0, 0, 255), STROKE_WIDTH)
        Image.fromarray(strokes, "RGBA").save(work / "strokes.png")
        before = _background(work / "before")
        after = _background(work / "after", "--strokes", str(work / "strokes.png"))
    painted = astronaut().copy()  # the stroke as the editor shows it: orange over the photo
    cv2.line(painted, *STROKE, (255, 109, 0), STROKE_WIDTH)
    left, top, right, bottom = CROP
    panels = [Image.fromarray(np.ascontiguousarray(image[top:bottom, left:right])) for image in (before, painted, after)]
    width, height = (right - left) * SCALE, (bottom - top) * SCALE
    figure = Image.new("RGB", (3 * width + 2 * 8, height), "white")
    for index, panel in enumerate(panels):
        figure.paste(panel.resize((width, height), Image.LANCZOS), (index * (width + 8), 0))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    figure.save(OUT, quality=90)
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
