"""CPU time per image for the astronaut photo, ours vs the reference, same run.

    .venv/bin/python bench/cpu_restore.py [--repeats 5] [--threads N]

Uses random weights of the real architectures (cost does not depend on the values) unless
the real verified weights are present. End to end = detect (MTCNN: random RetinaFace
weights would find random faces) + align + GFPGAN v1.4 + ParseNet mask + paste. The
restore stage is also timed against gfpgan's GFPGANer(has_aligned=True) on the same face.
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline import weights  # noqa: E402
from pipeline.align import alignment_matrix, warp_to_template  # noqa: E402
from pipeline.compat_basicsr import install_functional_tensor_alias  # noqa: E402
from pipeline.device import choose_compute  # noqa: E402
from pipeline.engine import RestorationPipeline, RestoreOptions  # noqa: E402
from pipeline.models import save_random_weights  # noqa: E402
from pipeline.samples import astronaut  # noqa: E402

NEEDED = ["gfpgan-v1.4", "parsenet", "retinaface-r50"]


def _median_seconds(run, repeats: int) -> tuple[float, list[float]]:
    run()  # warm-up: first-call allocations and lazy imports are not per-image cost
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    compute = choose_compute("cpu")
    image = astronaut()

    with tempfile.TemporaryDirectory() as scratch:
        manifest = weights.load_manifest()
        directory = weights.weights_dir()
        real = all(weights.check(manifest.get(n), directory).state == weights.WeightState.PRESENT for n in NEEDED)
        if not real:
            directory = Path(scratch) / "weights"
            manifest = save_random_weights(manifest, directory, NEEDED)
        pipeline = RestorationPipeline(manifest, directory, compute)
        options = RestoreOptions(detector="mtcnn")
        result = pipeline.restore(image, options)
        ours_total, ours_runs = _median_seconds(lambda: pipeline.restore(image, options), args.repeats)

        face = warp_to_template(image, alignment_matrix(result.faces[0].face.landmarks))
        restorer = pipeline.restorer("gfpgan-v1.4")
        ours_stage, _ = _median_seconds(lambda: restorer.restore_batch(face[None]), args.repeats)

        # The reference builds facexlib's detector/parser from ./gfpgan/weights.
        reference_root = Path(scratch) / "reference"
        (reference_root / "gfpgan" / "weights").mkdir(parents=True)
        for name in ("retinaface-r50", "parsenet"):
            file = str(manifest.get(name).file)
            shutil.copy(directory / file, reference_root / "gfpgan" / "weights" / file)
        install_functional_tensor_alias()
        from gfpgan import GFPGANer

        cwd = os.getcwd()
        os.chdir(reference_root)
        try:
            reference = GFPGANer(model_path=str(directory / str(manifest.get("gfpgan-v1.4").file)), upscale=1,
                                 arch="clean", channel_multiplier=2, device=torch.device("cpu"))
            bgr = np.ascontiguousarray(face[..., ::-1])
            ref_stage, _ = _median_seconds(lambda: reference.enhance(bgr, has_aligned=True), args.repeats)
        finally:
            os.chdir(cwd)

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch threads "
          f"{torch.get_num_threads()}, torch {torch.__version__}; weights: {'real' if real else 'random (real architectures)'}")
    print(f"astronaut 512x512, 1 face, end to end (ours): median {ours_total * 1000:.0f} ms of {args.repeats} "
          f"({', '.join(f'{t * 1000:.0f}' for t in ours_runs)} ms)")
    print("  stages of the last run: " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in result.timings.items()))
    print(f"GFPGAN stage on the aligned face: ours {ours_stage * 1000:.0f} ms, reference GFPGANer "
          f"{ref_stage * 1000:.0f} ms, ratio ours/reference {ours_stage / ref_stage:.2f}")


if __name__ == "__main__":
    main()
