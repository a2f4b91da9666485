"""A folder of N single-face photos through the restore batch: one photo at a time against
many photos in flight whose faces share network calls (issue 17), measured side by side.

    .venv/bin/python bench/batch_bench.py                         # CPU: 8 photos, 8 in flight
    .venv/bin/python bench/batch_bench.py --device cuda --photos 256 --workers 32 --max-batch 32

Both paths are ``pipeline.batch.run_batch`` (the `batch` command's and the Batch tab's code)
over the same files with the same weights: decode, detect (MTCNN), align, GFPGAN, paste,
encode, publish. "one at a time" is one photo after another with the micro-batcher off (the
plain CPU default); "batched" keeps ``--workers`` photos in flight with the micro-batcher on
(``max_batch`` = ``--max-batch``, the CUDA default), so each network call takes the faces of
many photos. A third path keeps as many photos in flight without the micro-batcher, to show
what the overlap alone gives. The paths take turns (reversed every other turn) so a shared
machine's drift hits all alike. Reported: photos/s for each path, batched/one, the network calls and
their mean size, and the largest pixel difference between the two outputs.

Photos: crops of the public-domain NASA astronaut at shifted positions (one face each).
Weights: the real GFPGAN v1.4 when present and verified in the weights folder, else seeded
random weights of the real architecture (the cost does not depend on the values).
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.batch import run_batch  # noqa: E402
from pipeline.batch.inputs import BatchItem  # noqa: E402
from pipeline.batch.jobs import restore_job  # noqa: E402
from pipeline.core.decode import decode_image  # noqa: E402
from pipeline.core.samples import astronaut  # noqa: E402
from pipeline.models.accelerate import SpeedSettings  # noqa: E402
from pipeline.models.device import choose_compute  # noqa: E402
from pipeline.models.locations import weights_dir  # noqa: E402
from pipeline.models.manifest import load_manifest  # noqa: E402
from pipeline.models.weight_status import WeightState, check  # noqa: E402
from pipeline.restore.engine import RestorationPipeline, RestoreOptions  # noqa: E402

MODEL = "gfpgan-v1.4"


def make_photos(folder: Path, count: int) -> list[BatchItem]:
    """``count`` different single-face photos: 400x400 crops of the astronaut, shifted."""
    rgb = astronaut()
    folder.mkdir(parents=True, exist_ok=True)
    items = []
    for index in range(count):
        dy, dx = (index * 7) % 60, (index * 11) % 80
        path = folder / f"face{index:04d}.jpg"
        Image.fromarray(np.ascontiguousarray(rgb[dy:dy + 400, 60 + dx:460 + dx])).save(path, quality=92)
        items.append(BatchItem(path.name, path))
    return items


def weights(scratch: Path) -> tuple[Path, object, str]:
    """The real GFPGAN when verified, else seeded random weights of its architecture."""
    manifest = load_manifest()
    if check(manifest.get(MODEL), weights_dir()).state == WeightState.PRESENT:
        return weights_dir(), manifest, "real, verified"
    from pipeline.models.store import save_random_weights

    return scratch / "weights", save_random_weights(manifest, scratch / "weights", [MODEL]), \
        "RANDOM (seeded, real architecture): timings valid, faces not"


def run_path(engine: RestorationPipeline, items: list[BatchItem], out: Path, workers: int) -> float:
    """One pass of ``items``; photos per second."""
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    summary = run_batch(items, restore_job(engine, RestoreOptions(detector="mtcnn")), out, job_name="restore",
                        workers=workers, make_zip=False)
    seconds = time.perf_counter() - started
    failed = [row.name for row in summary.rows if row.status == "error"]
    if failed:
        raise SystemExit(f"photos failed: {failed}")
    return len(items) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=8)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--max-batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=1, help="turns per path (after one warm-up of each)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="auto", help="auto (bf16 where the hardware has it), fp32 ...")
    args = parser.parse_args()
    compute = choose_compute(args.device, args.precision)
    with tempfile.TemporaryDirectory(prefix="batch-bench-") as scratch_text:
        scratch = Path(scratch_text)
        directory, manifest, kind = weights(scratch)
        items = make_photos(scratch / "photos", args.photos)
        one = RestorationPipeline(manifest, directory, compute, speed=SpeedSettings(micro_batch=False, max_batch=1))
        many = RestorationPipeline(manifest, directory, compute,
                                   speed=SpeedSettings(micro_batch=True, max_batch=args.max_batch))
        paths = {"one at a time": (one, 1), "in flight, unbatched": (one, args.workers), "batched": (many, args.workers)}
        for name, (engine, workers) in paths.items():  # warm-up: models load, caches fill
            run_path(engine, items[:2], scratch / "warm", workers)
        calls_before = many.restorer(MODEL).batcher.calls
        rates: dict[str, list[float]] = {name: [] for name in paths}
        for turn in range(args.repeats):
            order = list(paths) if turn % 2 == 0 else list(paths)[::-1]
            for name in order:
                engine, workers = paths[name]
                rates[name].append(run_path(engine, items, scratch / name.replace(" ", "_"), workers))
        calls = many.restorer(MODEL).batcher.calls - calls_before
        diff = max(int(np.abs(decode_image(scratch / "one_at_a_time" / "results" / f"{item.stem}_restore.png").rgb
                              .astype(int) - decode_image(scratch / "batched" / "results" / f"{item.stem}_restore.png")
                              .rgb.astype(int)).max()) for item in items)
        _print(args, compute, kind, rates, calls, diff)


def _print(args: argparse.Namespace, compute, kind: str, rates: dict[str, list[float]], calls: int,  # noqa: ANN001
           diff: int) -> None:
    device = torch.cuda.get_device_name(compute.device) if compute.device.type == "cuda" else "CPU"
    one, unbatched, many = (float(np.median(rates[name])) for name in ("one at a time", "in flight, unbatched", "batched"))
    print(f"device: {device} ({compute.describe()}); weights: {kind}; torch {torch.__version__}")
    print(f"{args.photos} single-face photos, {args.repeats} turn(s) per path after a warm-up")
    print("| path | photos in flight | network calls | faces per call | photos/s |")
    print("|---|---|---|---|---|")
    print(f"| one at a time | 1 | {args.photos * args.repeats} | 1 | {one:.3f} |")
    print(f"| in flight, unbatched | {args.workers} | {args.photos * args.repeats} | 1 | {unbatched:.3f} |")
    print(f"| batched | {args.workers} | {calls} | {args.photos * args.repeats / max(calls, 1):.1f} | {many:.3f} |")
    print(f"batched / one at a time: {many / one:.2f}x; in flight unbatched / one at a time: {unbatched / one:.2f}x; "
          f"largest pixel difference between the one-at-a-time and batched outputs: {diff}")


if __name__ == "__main__":
    main()
