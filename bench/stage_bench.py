"""The restore job's two other networks, timed against their references (issue 16).

Called by ``restore_bench.py --stages ...``; runs in the benchmark's parent process after the
restore workers have closed, both sides in the same process, taking turns run by run
(ours, reference, reference, ours, ...) so a shared machine's drift hits both alike.

- **upsampler**: ours (``BackgroundUpsampler.upscale``) against Real-ESRGAN's own
  ``RealESRGANer.enhance`` (``realesrgan`` 0.3.0, requirements-bench.txt), on the same weights
  file, the same tile size and the same context (its ``tile_pad``; ``pre_pad`` 0, as
  Real-ESRGAN's inference script defaults). The reference network is built as Real-ESRGAN's
  inference script builds it. Reported: tiles/s, input megapixels/s, ours/reference, and the
  largest pixel difference between the two outputs (a correctness check).
- **identity**: ours (``IdentityScorer.scores``: one batched ArcFace call for both crops of
  every face) against facexlib's ``Backbone`` loaded as ``init_recognition_model`` loads it
  and called one crop at a time, as the weights' own project infers (TreB1eN/
  InsightFace_Pytorch ``Learner.infer``). The reference is given ready 112x112 crops (made
  once, untimed, with our warp) so the scores compare the networks' use only; ours is timed
  from the 512 aligned crops, warp included. Reported: faces/s (a face = its original and its
  restored crop), ours/reference, and the largest score difference.

Weights: the real files when present in the weights folder, else seeded random weights of
the real architectures (cost does not depend on the values; the report says which).
"""
from __future__ import annotations

import contextlib
import io
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

STAGES = ("restore", "upsampler", "identity")
IDENTITY_MODEL = "arcface"
REAL_STATES = ("present", "unverified")  # WeightState values a real file may have
REFERENCE_INSTALL = ".venv/bin/python -m pip install --no-deps -r requirements-bench.txt"


@dataclass(frozen=True)
class StagePlan:
    """What the two stages run: models, photo sides, identity batch sizes and the repeats."""

    stages: tuple[str, ...]
    upsampler_models: tuple[str, ...]
    upsampler_sizes: tuple[int, ...]
    identity_batches: tuple[int, ...]
    warmups: int
    repeats: int


def parse_stages(text: str) -> tuple[str, ...]:
    """"restore,upsampler" -> ("restore", "upsampler"); an unknown name is a ValueError."""
    stages = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = sorted(set(stages) - set(STAGES))
    if unknown or not stages:
        raise ValueError(f"choose from {','.join(STAGES)} (got {text!r})")
    return stages


# ----------------------------------------------------------------------------- device helpers


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def gpu_reset(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)


def gpu_peak_mb(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    torch.cuda.synchronize(device)
    return torch.cuda.max_memory_allocated(device) / 2**20


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


# ----------------------------------------------------------------------------- timing


def _median(times: list[float]) -> float:
    return float(np.median(times))


def timed_pair(ours: Callable[[], Any], reference: Callable[[], Any] | None, device: torch.device,
               warmups: int, repeats: int) -> dict[str, Any]:
    """Both sides ``warmups`` + ``repeats`` times, taking turns (the first side alternates);
    the seconds of the timed runs, each side's peak GPU memory and its last output."""
    sides = {"ours": ours} | ({"reference": reference} if reference is not None else {})
    result: dict[str, Any] = {label: {"runs_s": [], "peak_gpu_mb": None, "output": None} for label in sides}
    for index in range(warmups + repeats):
        order = list(sides) if index % 2 == 0 else list(sides)[::-1]
        for label in order:
            gpu_reset(device)
            start = time.perf_counter()
            output = sides[label]()
            sync(device)
            seconds = time.perf_counter() - start
            if index >= warmups:
                side = result[label]
                side["runs_s"].append(seconds)
                side["output"] = output
                side["peak_gpu_mb"] = max(filter(None, [side["peak_gpu_mb"], gpu_peak_mb(device)]), default=None)
    for side in result.values():
        side["median_s"] = _median(side["runs_s"])
    return result


# ----------------------------------------------------------------------------- weights


def prepare_stage_weights(manifest: Any, directory: Path, scratch: Path, names: list[str]) -> tuple[Path, Any, str]:
    """The weights folder when every file is there (verified, or present without a published
    hash), otherwise seeded random weights of the real architectures for all ``names``."""
    from pipeline.models.store import save_random_weights
    from pipeline.models.weight_status import check

    states = {name: check(manifest.get(name), directory).state.value for name in names}
    if all(state in REAL_STATES for state in states.values()):
        unverified = [name for name, state in states.items() if state == "unverified"]
        note = f"; unverified (no published sha256): {', '.join(unverified)}" if unverified else ""
        return directory, manifest, f"real ({directory}{note})"
    random_dir = scratch / "stage_weights"
    manifest = save_random_weights(manifest, random_dir, names)
    missing = ", ".join(name for name, state in states.items() if state not in REAL_STATES)
    return random_dir, manifest, (f"RANDOM (seeded, real architectures; {missing} not in {directory}): "
                                  "timings are valid, the outputs are not pictures or identities")


# ----------------------------------------------------------------------------- upsampler


def _reference_rrdbnet(options: Mapping[str, Any]) -> torch.nn.Module:
    from basicsr.archs.rrdbnet_arch import RRDBNet

    return RRDBNet(num_in_ch=3, num_out_ch=3, num_feat=64, num_block=int(options.get("num_block", 23)),
                   num_grow_ch=32, scale=int(options.get("scale", 4)))


def _reference_srvgg(options: Mapping[str, Any]) -> torch.nn.Module:
    from realesrgan.archs.srvgg_arch import SRVGGNetCompact

    return SRVGGNetCompact(num_in_ch=3, num_out_ch=3, num_feat=64, num_conv=int(options.get("num_conv", 32)),
                           upscale=int(options.get("scale", 4)), act_type="prelu")


# The networks as Real-ESRGAN's inference_realesrgan.py builds them, by manifest architecture.
REFERENCE_NETWORKS: dict[str, Callable[[Mapping[str, Any]], torch.nn.Module]] = {
    "rrdbnet": _reference_rrdbnet,
    "srvgg": _reference_srvgg,
}


def reference_tile_count(height: int, width: int, scale: int, tile: int) -> int:
    """Tiles RealESRGANer.tile_process runs (pre_pad 0): its grid over the image after its
    mod pad (to a multiple of 2 for x2 networks, of 4 for x1)."""
    multiple = {2: 2, 1: 4}.get(scale, 1)
    height, width = height + (-height) % multiple, width + (-width) % multiple
    return math.ceil(height / tile) * math.ceil(width / tile)


def ours_tile_count(height: int, width: int, arch: str, scale: int, tile: int, overlap: int) -> int:
    """Tiles BackgroundUpsampler runs: plan_tiles over the photo padded to the network's fold."""
    from pipeline.restore.tiles import plan_tiles
    from pipeline.restore.upsampler import FOLD

    fold = FOLD.get(arch, {}).get(scale, 1)
    return len(plan_tiles(height + (-height) % fold, width + (-width) % fold, tile, overlap, fold))


class ReferenceUpsampler:
    """RealESRGANer on the same weights file, tile size and context as ours (pre_pad 0)."""

    def __init__(self, entry: Any, weights_dir: Path, compute: Any, tile: int, tile_pad: int) -> None:
        from pipeline.models.compat_basicsr import install_functional_tensor_alias

        install_functional_tensor_alias()  # realesrgan imports basicsr's data package
        from realesrgan import RealESRGANer

        options = entry.arch_options
        self.half = compute.device.type == "cuda" and compute.dtype != torch.float32  # its --fp32 off
        self.upsampler = RealESRGANer(scale=int(options.get("scale", 4)), model_path=str(weights_dir / entry.file),
                                      model=REFERENCE_NETWORKS[entry.arch](options), tile=tile, tile_pad=tile_pad,
                                      pre_pad=0, half=self.half, device=compute.device)

    def upscale(self, rgb: np.ndarray) -> np.ndarray:
        with contextlib.redirect_stdout(io.StringIO()):  # it prints a line per tile
            bgr, _ = self.upsampler.enhance(np.ascontiguousarray(rgb[..., ::-1]))
        return np.ascontiguousarray(bgr[..., ::-1])


def _photo(side: int) -> np.ndarray:
    from pipeline.core.samples import astronaut

    rgb = astronaut()
    shrink = side < rgb.shape[0]
    return cv2.resize(rgb, (side, side), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)


def _side_rates(side: dict[str, Any], tiles: int, megapixels: float) -> dict[str, Any]:
    median = side["median_s"]
    return {"median_s": median, "runs_s": side["runs_s"], "tiles": tiles, "tiles_per_s": tiles / median,
            "megapixels_per_s": megapixels / median, "peak_gpu_mb": side["peak_gpu_mb"]}


def upsampler_row(store: Any, compute: Any, name: str, size: int, plan: StagePlan,
                  reference_ready: bool) -> dict[str, Any]:
    """One model at one photo size: both sides timed, their outputs compared."""
    from pipeline.restore.upsampler import BackgroundUpsampler, tile_settings

    entry = store.manifest.get(name)
    scale = int(entry.arch_options.get("scale", 4))
    ours = BackgroundUpsampler(store, compute)
    settings = tile_settings(compute, entry.arch)
    rgb, small = _photo(size), _photo(64)
    ours.upscale(small, name, scale)  # loads the network and warms it up, untimed
    reference = None
    if reference_ready:
        reference = ReferenceUpsampler(entry, Path(store.directory), compute, settings.tile, settings.overlap)
        reference.upscale(small)
    runs = timed_pair(lambda: ours.upscale(rgb, name, scale),
                      (lambda: reference.upscale(rgb)) if reference else None,
                      compute.device, plan.warmups, plan.repeats)
    megapixels = size * size / 1e6
    row = {"model": name, "arch": entry.arch, "scale": scale, "size": size, "tile": settings.tile,
           "context": settings.overlap, "batch": settings.batch,
           "ours": _side_rates(runs["ours"], ours_tile_count(size, size, entry.arch, scale, settings.tile,
                                                             settings.overlap), megapixels),
           "reference": None, "max_abs_diff": None, "mean_abs_diff": None,
           "reference_half": reference.half if reference else None}
    if reference is not None:
        row["reference"] = _side_rates(runs["reference"], reference_tile_count(size, size, scale, settings.tile),
                                       megapixels)
        diff = np.abs(runs["ours"]["output"].astype(np.int16) - runs["reference"]["output"].astype(np.int16))
        row["max_abs_diff"], row["mean_abs_diff"] = int(diff.max()), float(diff.mean())
    return row


# ----------------------------------------------------------------------------- identity


class ReferenceIdentity:
    """facexlib's Backbone loaded as init_recognition_model loads it (minus its hard-coded
    ``.to('cuda')``), called one crop at a time in float32, as TreB1eN's Learner.infer does."""

    def __init__(self, weights_file: Path, device: torch.device) -> None:
        from facexlib.recognition.arcface_arch import Backbone

        model = Backbone(num_layers=50, drop_ratio=0.6, mode="ir_se")
        model.load_state_dict(torch.load(weights_file, map_location="cpu"), strict=True)
        self.model, self.device = model.eval().to(device), device

    def embed(self, crop: np.ndarray) -> np.ndarray:
        """One 112x112 RGB crop: BGR, ToTensor, Normalize(0.5, 0.5), one network call."""
        bgr = torch.from_numpy(np.ascontiguousarray(crop[..., ::-1])).permute(2, 0, 1).float().div(255)
        with torch.no_grad():
            return self.model(bgr.sub(0.5).div(0.5).unsqueeze(0).to(self.device))[0].cpu().numpy()

    def scores(self, original: np.ndarray, restored: np.ndarray) -> np.ndarray:
        first = np.stack([self.embed(crop) for crop in original])
        second = np.stack([self.embed(crop) for crop in restored])
        return np.sum(first * second, axis=1)


def identity_faces(aligned: list[np.ndarray], count: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` aligned crops (the photos' faces, mirrored on odd rounds) and a stand-in for
    their restorations (a slight blur: the network's cost does not depend on the pixels)."""
    rounds = [np.stack(aligned) if r % 2 == 0 else np.stack(aligned)[:, :, ::-1]
              for r in range(-(-count // len(aligned)))]
    original = np.ascontiguousarray(np.concatenate(rounds)[:count])
    restored = np.stack([cv2.GaussianBlur(crop, (0, 0), 1.5) for crop in original])
    return original, restored


def identity_rows(store: Any, compute: Any, aligned: list[np.ndarray], plan: StagePlan) -> list[dict[str, Any]]:
    """Each batch size: ours (batched) and the reference (one crop at a time), timed and compared."""
    from pipeline.restore.identity import IdentityScorer, arcface_crops

    scorer = IdentityScorer(store, IDENTITY_MODEL)
    reference = ReferenceIdentity(Path(store.directory) / str(store.manifest.get(IDENTITY_MODEL).file), compute.device)
    rows = []
    for count in plan.identity_batches:
        original, restored = identity_faces(aligned, count)
        small_original, small_restored = arcface_crops(original), arcface_crops(restored)  # the reference's input
        scorer.scores(original[:1], restored[:1])  # loads the network, warms it up (untimed)
        reference.scores(small_original[:1], small_restored[:1])
        runs = timed_pair(lambda: scorer.scores(original, restored),
                          lambda: reference.scores(small_original, small_restored),
                          compute.device, plan.warmups, plan.repeats)
        sides = {label: {"median_s": side["median_s"], "runs_s": side["runs_s"],
                         "faces_per_s": count / side["median_s"], "peak_gpu_mb": side["peak_gpu_mb"]}
                 for label, side in runs.items()}
        difference = np.abs(np.asarray(runs["ours"]["output"]) - np.asarray(runs["reference"]["output"]))
        rows.append({"faces": count, **sides, "max_score_diff": float(difference.max()),
                     "mean_score_ours": float(np.mean(runs["ours"]["output"]))})
    return rows


# ----------------------------------------------------------------------------- both stages


def run_stages(plan: StagePlan, compute: Any, manifest: Any, weights_dir: Path, scratch: Path,
               aligned: list[np.ndarray]) -> dict[str, Any]:
    """The upsampler and identity stages of ``plan``; each with its weights and its rows."""
    from pipeline.models.store import ModelStore

    report: dict[str, Any] = {}
    if "upsampler" in plan.stages:
        folder, stage_manifest, text = prepare_stage_weights(manifest, weights_dir, scratch / "upsampler",
                                                             list(plan.upsampler_models))
        store = ModelStore(stage_manifest, folder, compute)
        version = _version("realesrgan")
        rows = []
        for name in plan.upsampler_models:
            for size in plan.upsampler_sizes:
                _progress(f"upsampler {name} {size}x{size}: {plan.warmups} warm-up + {plan.repeats} timed per side")
                rows.append(upsampler_row(store, compute, name, size, plan, version is not None))
        report["upsampler"] = {"weights": text, "reference_version": version, "rows": rows}
    if "identity" in plan.stages:
        folder, stage_manifest, text = prepare_stage_weights(manifest, weights_dir, scratch / "identity",
                                                             [IDENTITY_MODEL])
        _progress(f"identity, faces {','.join(map(str, plan.identity_batches))}: "
                  f"{plan.warmups} warm-up + {plan.repeats} timed per side")
        rows = identity_rows(ModelStore(stage_manifest, folder, compute), compute, aligned, plan)
        report["identity"] = {"weights": text, "rows": rows}
    return report


def _progress(text: str) -> None:
    import sys

    print(f"[restore_bench] {text} ...", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- the report


def _ratio(ours: float, reference: float | None) -> str:
    return "n/a" if not reference else f"{ours / reference:.2f}"


def _mb(value: float | None) -> str:
    return "n/a (CPU)" if value is None else f"{value:,.0f} MiB"


def upsampler_markdown(stage: dict[str, Any], precision: str) -> list[str]:
    version = stage["reference_version"]
    reference = (f"Real-ESRGAN's RealESRGANer.enhance (realesrgan {version})" if version else
                 f"reference not measured: realesrgan is not installed ({REFERENCE_INSTALL})")
    lines = ["", f"## Background upsampler: ours (BackgroundUpsampler.upscale, {precision}) vs {reference}", "",
             f"- weights: {stage['weights']}",
             "- same weights file, tile size and context on both sides (reference: tile_pad = our context, "
             "pre_pad 0); rates per input pixel; ours/reference > 1: ours is faster", "",
             "| model | photo | tile + context | tiles (ours / ref) | ours tiles/s | ref tiles/s | ours MP/s "
             "| ref MP/s | ours/ref | max abs pixel diff | mean abs diff | peak GPU ours / ref |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for row in stage["rows"]:
        ours, ref = row["ours"], row["reference"] or {}
        n = len(ours["runs_s"])
        diff = "n/a" if row["max_abs_diff"] is None else f"{row['max_abs_diff']}"
        mean = "n/a" if row["mean_abs_diff"] is None else f"{row['mean_abs_diff']:.3f}"
        lines.append(
            f"| {row['model']} (x{row['scale']}) | {row['size']}x{row['size']} (n={n}) | {row['tile']} + {row['context']} "
            f"| {ours['tiles']} / {ref.get('tiles', 'n/a')} | {ours['tiles_per_s']:.3f} "
            f"| {_fmt(ref.get('tiles_per_s'), '.3f')} | {ours['megapixels_per_s']:.4f} "
            f"| {_fmt(ref.get('megapixels_per_s'), '.4f')} | {_ratio(ours['tiles_per_s'], ref.get('tiles_per_s'))} "
            f"| {diff} | {mean} | {_mb(ours['peak_gpu_mb'])} / {_mb(ref.get('peak_gpu_mb'))} |")
    halves = {row["reference_half"] for row in stage["rows"] if row["reference_half"] is not None}
    if halves:
        lines += ["", f"Reference precision: {'fp16 (its half=True)' if True in halves else 'fp32'}."]
    return lines


def _fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def identity_markdown(stage: dict[str, Any], precision: str) -> list[str]:
    lines = ["", f"## Identity score: ours (IdentityScorer.scores, batched, {precision}) vs facexlib Backbone, "
             "one crop at a time (fp32)", "",
             f"- weights: {stage['weights']}",
             "- a face = its original and its restored crop (two network inputs); ours from the 512 aligned "
             "crops (warp included), the reference from ready 112x112 crops; ours/reference > 1: ours is faster", "",
             "| faces | ours faces/s | ref faces/s | ours/ref | max score difference | peak GPU ours / ref |",
             "|---:|---:|---:|---:|---:|---|"]
    for row in stage["rows"]:
        ours, ref = row["ours"], row["reference"]
        lines.append(f"| {row['faces']} (n={len(ours['runs_s'])}) | {ours['faces_per_s']:.2f} | {ref['faces_per_s']:.2f} "
                     f"| {_ratio(ours['faces_per_s'], ref['faces_per_s'])} | {row['max_score_diff']:.5f} "
                     f"| {_mb(ours['peak_gpu_mb'])} / {_mb(ref['peak_gpu_mb'])} |")
    return lines


def stages_markdown(stages: dict[str, Any], device_name: str, precision: str) -> str:
    """The two stages' tables, and what was not measured on this hardware (never a figure)."""
    lines: list[str] = []
    if "upsampler" in stages:
        lines += upsampler_markdown(stages["upsampler"], precision)
    if "identity" in stages:
        lines += identity_markdown(stages["identity"], precision)
    if lines and device_name.startswith("CPU"):
        lines += ["", "GPU: not measured (this run: CPU); run with --device cuda where a GPU is available."]
    return "\n".join(lines) + ("\n" if lines else "")
