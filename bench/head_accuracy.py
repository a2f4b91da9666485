"""How far each head-measuring method lands from hand-checked positions.

For each portrait in tests/data/portraits (a child, a young adult, the astronaut) it detects
the face, measures the eye line, the chin and the top of the hair with every method this
machine can run (dense landmarks; face parsing when its weights are installed; the 5-point
estimate, which is the reference: what the project used before), and prints the errors as a
share of the true head height (chin to the top of the hair), with each method's worst error
as a ratio to the 5-point estimate's. ``pipeline/faces/methods.py`` holds the figures the
report quotes; this is where they come from.

    .venv/bin/python bench/head_accuracy.py [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.core.samples import astronaut  # noqa: E402
from pipeline.cutout.cutter import CutoutPipeline  # noqa: E402
from pipeline.faces.analysis import FaceAnalysis  # noqa: E402
from pipeline.faces.evidence import FaceEvidence  # noqa: E402
from pipeline.faces.geometry import measure_head  # noqa: E402

PORTRAITS = ROOT / "tests" / "data" / "portraits"


def load_portraits() -> list[tuple[str, np.ndarray, dict[str, float]]]:
    truth = json.loads((PORTRAITS / "ground_truth.json").read_text())
    truth |= json.loads((PORTRAITS / "astronaut_ground_truth.json").read_text())
    out = []
    for name, values in sorted(truth.items()):
        rgb = astronaut() if name == "astronaut" else np.asarray(Image.open(PORTRAITS / name).convert("RGB"))
        out.append((name, rgb, values))
    return out


def errors_pct(head, truth: dict[str, float]) -> dict[str, float]:
    """Signed errors (measured - true) as % of the true head height."""
    height = truth["chin_y"] - truth["crown_y"]
    return {"eyes": 100 * (head.eye_y - truth["eye_y"]) / height,
            "chin": 100 * (head.chin_y - truth["chin_y"]) / height,
            "crown": 100 * (head.crown_y - truth["crown_y"]) / height}


def measure_all(faces: FaceAnalysis, cutter: CutoutPipeline) -> dict[str, dict[str, dict[str, float]]]:
    """method -> portrait -> position -> error %."""
    results: dict[str, dict[str, dict[str, float]]] = {}
    for name, rgb, truth in load_portraits():
        detected, _, _ = faces.detect(rgb)
        face = max(detected, key=lambda f: f.area)
        matte = cutter.cut_out(rgb, faces=[face]).matte
        evidence = faces.evidence(rgb, face)
        variants = {"5-point estimate (reference)": FaceEvidence(face)}
        if evidence.dense is not None:
            variants["dense landmarks"] = FaceEvidence(face, dense=evidence.dense)
        if evidence.parsing is not None:
            variants["face parsing"] = FaceEvidence(face, parsing=evidence.parsing)
        for method, variant in variants.items():
            head = measure_head(variant, matte.alpha)
            results.setdefault(method, {})[name] = errors_pct(head, truth) | {"matting": matte.method}
    return results


def print_table(results: dict[str, dict[str, dict[str, float]]]) -> None:
    reference = "5-point estimate (reference)"
    worst_ref = {pos: max(abs(r[pos]) for r in results[reference].values()) for pos in ("eyes", "chin")}
    for method, per_photo in results.items():
        print(f"\n{method}")
        for name, err in per_photo.items():
            print(f"  {name:16s} eyes {err['eyes']:+6.2f} %  chin {err['chin']:+6.2f} %  "
                  f"crown {err['crown']:+6.2f} % (crown from {err['matting']})")
        worst = {pos: max(abs(r[pos]) for r in per_photo.values()) for pos in ("eyes", "chin", "crown")}
        ratios = "  ".join(f"{pos} {worst[pos] / worst_ref[pos]:.2f}x" for pos in ("eyes", "chin") if worst_ref[pos])
        print(f"  worst: eyes {worst['eyes']:.2f} %  chin {worst['chin']:.2f} %  crown {worst['crown']:.2f} %"
              f"   (worst error / reference's: {ratios})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()
    faces = FaceAnalysis()
    results = measure_all(faces, CutoutPipeline(faces))
    print_table(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
