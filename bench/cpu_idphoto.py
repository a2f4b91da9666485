"""CPU time per ID photo for the astronaut (median of N), per stage.

    .venv/bin/python bench/cpu_idphoto.py [--spec icao_generic] [--repeats 5]

Runs with what is installed: RetinaFace/MODNet when their verified weights are present,
else the offline MTCNN detector and the fallback matting (the run prints which). There is
no reference ID-photo implementation among the project's dependencies, so no ratio is
printed; the restoration benchmark (bench/restore_bench.py) compares against GFPGANer.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.core.samples import astronaut  # noqa: E402
from pipeline.faces.analysis import FaceAnalysis  # noqa: E402
from pipeline.idphoto.maker import IdPhotoOptions, IdPhotoPipeline  # noqa: E402
from pipeline.idphoto.specs import load_specs  # noqa: E402
from pipeline.models.device import choose_compute  # noqa: E402
from pipeline.models.store import ModelStore  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default="icao_generic")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    maker = IdPhotoPipeline(FaceAnalysis(ModelStore(compute=choose_compute("cpu"))))
    image, options = astronaut(), IdPhotoOptions(spec=load_specs().get(args.spec))
    first = maker.make(image, options)  # warm-up: model loading is not per-photo cost
    runs, stages = [], []
    for _ in range(args.repeats):
        start = time.perf_counter()
        result = maker.make(image, options)
        runs.append(time.perf_counter() - start)
        stages.append(result.timings)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; detector {first.detector}, "
          f"matting {first.matting_method}; spec {args.spec} -> {first.plan.size[0]}x{first.plan.size[1]} px")
    print(f"ID photo, astronaut 512x512: median {statistics.median(runs) * 1000:.0f} ms of {args.repeats} "
          f"({', '.join(f'{t * 1000:.0f}' for t in runs)} ms)")
    names = [k for k in stages[0] if k != "total"]
    print("  stage medians: " + ", ".join(
        f"{k} {statistics.median(s[k] for s in stages) * 1000:.0f} ms" for k in names))


if __name__ == "__main__":
    main()
