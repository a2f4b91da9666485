"""Face restoration benchmark: our pipeline against gfpgan's GFPGANer, side by side.

    .venv/bin/python bench/restore_bench.py --quick                 # CPU, about 80 s (restore only)
    .venv/bin/python bench/restore_bench.py --quick --stages upsampler,identity   # CPU, about 70 s
    .venv/bin/python bench/restore_bench.py --device cuda            # full: every stage, batches 1, 8, 32
    .venv/bin/python bench/restore_bench.py --no-batched-modulation --ablate --out bench-out

Stages (--stages, default all; --quick alone runs restore): "restore" is the comparison
with GFPGANer below; "upsampler" (the background upsampler against Real-ESRGAN's
RealESRGANer: tiles/s, megapixels/s, pixel difference) and "identity" (the ArcFace identity
score against facexlib's Backbone one crop at a time: faces/s, score difference) are in
bench/stage_bench.py. The upsampler's reference needs ``pip install --no-deps -r
requirements-bench.txt``; without it only ours is timed and the report says so.

Same inputs and the same weights on both sides: the real verified weights when they are
in the weights folder, otherwise seeded random weights of the real architectures (cost
does not depend on the values; the table says which). Inputs are a 1-face portrait (the
public-domain NASA astronaut) and a 6-face group photo collaged from it (bench/collage.py).

Both sides get the SAME detections: MTCNN runs once here, and its landmarks are handed to
our engine (a pipeline whose ``detect`` returns them) and to GFPGANer (its face helper's
``get_face_landmarks_5`` returns them; everything else is GFPGANer.enhance's own code:
LMEDS alignment, GFPGAN one face at a time, ParseNet mask, paste). So the latencies cover
align + restore + mask + paste, and the PSNR between the outputs measures only the
implementations (with the checkpoint's fixed noise maps on both sides for that pass).

Each side runs in its own process, launched one after the other, so cold start is really
cold (for the process; the OS file cache is warm) and peak RAM/GPU memory are per side.
The processes then stay alive and take turns run by run (ours, reference, reference,
ours, ...) so a shared machine's drift in speed hits both sides alike.

--quick (CPU, about 80 s on 2 cores): the portrait (cold-start image, then 3 timed runs per
side), the restore stage at batch 1 and 2 once each and one 1024x1024 end-to-end run; the
reference spends ~7 s per face there, so the 6-face photo (~65 s per run for both sides)
needs ``--photos portrait,group``. Full mode (the default): both photos, 2 warm-up + 10
timed runs, restore stage at batch 1, 8 and 32, ten end-to-end runs.
Writes restore_bench.md and restore_bench.json to --out (default output/bench, git-ignored)
and prints the markdown, ending with issue 5's targets: PASS/FAIL where this hardware can
judge them (the GPU targets only on an H100/H200), "not measured" otherwise.

Optimisations of ours are the switches of ``pipeline.models.accelerate.SpeedSettings``: ``--X`` /
``--no-X`` force one, the default is the pipeline's own choice for the device; ``--ablate``
also runs ours once per switch with that switch flipped.
"""
from __future__ import annotations

import time

_STARTED = time.perf_counter()  # before the heavy imports: a worker reports its import time

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from importlib import metadata  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import warnings  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

# facexlib builds RetinaFace's backbone with torchvision's deprecated 'pretrained' argument.
warnings.filterwarnings("ignore", category=UserWarning, module=r"torchvision\.models\._utils")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from pipeline.faces.detect import DEFAULT_DETECTION_MAX_SIDE, Face  # noqa: E402
from pipeline.models import locations  # noqa: E402  (its weights_dir() would clash with a local name)
from pipeline.models.accelerate import SWITCH_DESCRIPTIONS, SpeedSettings  # noqa: E402
from pipeline.models.device import ComputeSettings, choose_compute  # noqa: E402
from pipeline.models.manifest import Manifest, load_manifest  # noqa: E402
from pipeline.models.weight_status import WeightState, check  # noqa: E402
from stage_bench import STAGES, StagePlan, parse_stages, run_stages, stages_markdown  # noqa: E402
from stage_bench import gpu_peak_mb as _gpu_peak_mb, gpu_reset as _gpu_reset, sync as _sync  # noqa: E402

_IMPORTED = time.perf_counter()

NEEDED = ("gfpgan-v1.4", "parsenet", "retinaface-r50")
RESTORER = "gfpgan-v1.4"
PSNR_THRESHOLD_DB = {"fp32": 40.0, "bf16": 35.0}
PHOTOS = (("portrait", "1-face portrait"), ("group", "6-face group photo"))
EXPECTED_FACES = {"portrait": 1, "group": 6}


# ----------------------------------------------------------------------------- switches


@dataclass(frozen=True)
class Switch:
    """One optimisation of ours that the benchmark can turn on or off (a SpeedSettings field)."""

    name: str
    description: str

    @property
    def flag(self) -> str:
        return self.name.replace("_", "-")


# Read from the pipeline's own registry of switches: a new SpeedSettings switch shows up here
# (CLI flags, --ablate, the table) without touching the benchmark.
SWITCHES: tuple[Switch, ...] = tuple(Switch(name, text) for name, text in SWITCH_DESCRIPTIONS.items())


def _switch_text(values: dict[str, bool | None], resolved: dict[str, Any], max_batch: int | None) -> str:
    parts = []
    for switch in SWITCHES:
        state = "on" if resolved.get(switch.name) else "off"
        parts.append(f"{switch.name}={state}" + (" (forced)" if values.get(switch.name) is not None else ""))
    parts.append(f"max_batch={resolved.get('max_batch')}" + (" (forced)" if max_batch else ""))
    return ", ".join(parts)


# ----------------------------------------------------------------------------- helpers


def _peak_rss_mb() -> float:
    """Peak resident memory of this process (VmHWM; ru_maxrss where /proc is missing)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _summary(times: list[float]) -> dict[str, Any]:
    return {"median_s": float(np.median(times)), "p90_s": float(np.percentile(times, 90)), "runs_s": times}


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    from pipeline.core.metrics import psnr

    return psnr(a, b)


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda})"
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"CPU {model}, {os.cpu_count()} cores (torch threads {torch.get_num_threads()})"


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def _faces_from(data: Any, photo: str) -> list[Face]:
    boxes, landmarks, scores = data[f"{photo}_boxes"], data[f"{photo}_landmarks"], data[f"{photo}_scores"]
    return [Face(box=tuple(float(v) for v in box), landmarks=np.asarray(lm, dtype=np.float32), score=float(score))
            for box, lm, score in zip(boxes, landmarks, scores)]


# ----------------------------------------------------------------------------- the two sides


class OursSide:
    """Our engine, with the detector replaced by the given faces; everything else as shipped."""

    label = "ours"

    def __init__(self, job: dict[str, Any], compute: ComputeSettings, data: Any) -> None:
        self.job, self.compute, self.data = job, compute, data
        self.pipeline: Any = None

    def construct(self) -> None:
        from pipeline.faces.analysis import FaceAnalysis
        from pipeline.models.store import ModelStore
        from pipeline.restore.engine import RestorationPipeline

        manifest = _job_manifest(self.job)
        forced = {name: value for name, value in self.job["switches"].items() if value is not None}
        speed = SpeedSettings(**forced, max_batch=self.job.get("max_batch"))
        flip = self.job.get("flip")
        if flip is not None:  # ablation: the opposite of what the pipeline would otherwise use
            speed = dataclasses.replace(speed, **{flip: not getattr(speed.resolved(self.compute), flip)})

        class GivenFacesAnalysis(FaceAnalysis):
            given: list[Face] | None = []  # None: detect for real (the end-to-end run)

            def detect(self, rgb, requested="auto", max_side=DEFAULT_DETECTION_MAX_SIDE):  # noqa: ANN001, ANN201
                if self.given is None:
                    return super().detect(rgb, requested, max_side)
                return list(self.given), "given", []

        store = ModelStore(manifest, Path(self.job["weights_dir"]), self.compute, speed)
        self.pipeline = RestorationPipeline(faces=GivenFacesAnalysis(store))
        # Like the reference (which always builds RetinaFace R50 + ParseNet), hold the
        # detector ours would use in production, so memory and cold start compare alike.
        name, _ = self.pipeline.faces.resolve_detector("auto")
        self.pipeline.faces.detector(name)
        self.restorer = self.pipeline.restorer(RESTORER)
        self.pipeline.store.get(self.pipeline.manifest.default("parser").name)  # ParseNet, used for the masks

    def resolved_switches(self) -> dict[str, Any]:
        return {s.name: bool(getattr(self.pipeline.speed, s.name)) for s in SWITCHES} | {
            "max_batch": self.pipeline.speed.max_batch}

    def restore_photo(self, photo: str, fixed_noise: bool = False) -> tuple[np.ndarray, dict[str, float]]:
        from pipeline.restore.engine import RestoreOptions

        self.pipeline.faces.given = _faces_from(self.data, photo)
        result = self.pipeline.restore(self.data[photo], RestoreOptions(model=RESTORER))  # noise "fixed" = default
        timings = dict(result.timings)
        total = timings.pop("total")
        stages = {"align": timings.get("align", 0.0), "restore": timings.get("restore", 0.0),
                  "mask": timings.get("mask", 0.0), "paste": timings.get("paste", 0.0)}
        stages["other"] = max(total - sum(stages.values()), 0.0)
        return result.image, stages

    def restore_faces(self, faces: np.ndarray, fixed_noise: bool = True) -> np.ndarray:
        return self.restorer.restore_batch(faces, "fixed")  # the product default, every run

    def end_to_end(self, encoded: bytes, detector: str) -> tuple[bytes, str]:
        """What a visitor waits for: file bytes in, detection, restoration, file bytes out."""
        from pipeline.core.decode import decode_image
        from pipeline.core.encode import encode_image
        from pipeline.restore.engine import RestoreOptions

        self.pipeline.faces.given = None
        try:
            result = self.pipeline.restore(decode_image(encoded), RestoreOptions(model=RESTORER, detector=detector))
        finally:
            self.pipeline.faces.given = []
        return encode_image(result.image, format="JPEG", quality=95), result.detector


class ReferenceSide:
    """gfpgan's GFPGANer, driven through ``enhance`` itself; only its detector is replaced."""

    label = "reference"

    def __init__(self, job: dict[str, Any], compute: ComputeSettings, data: Any) -> None:
        self.job, self.compute, self.data = job, compute, data
        self.reference: Any = None
        self.fixed_noise = False
        self.stage_times: dict[str, float] = {}
        self.crops: list[np.ndarray] = []

    def construct(self) -> None:
        from pipeline.models.compat_basicsr import install_functional_tensor_alias

        install_functional_tensor_alias()
        from gfpgan import GFPGANer

        # GFPGANer builds facexlib's RetinaFace and ParseNet from ./gfpgan/weights.
        os.chdir(self.job["reference_root"])
        manifest = _job_manifest(self.job)
        model_path = str(Path(self.job["weights_dir"]) / str(manifest.get(RESTORER).file))
        self.reference = GFPGANer(model_path=model_path, upscale=1, arch="clean", channel_multiplier=2,
                                  device=self.compute.device)
        self.network = self.reference.gfpgan
        self._instrument()

    def resolved_switches(self) -> dict[str, bool]:
        return {}

    def _instrument(self) -> None:
        """Time GFPGANer's helper steps and feed it our landmarks, on this instance only."""
        helper = self.reference.face_helper
        side = self

        def timed(stage: str, method: Callable[..., Any]) -> Callable[..., Any]:
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                start = time.perf_counter()
                try:
                    return method(*args, **kwargs)
                finally:
                    _sync(side.compute.device)
                    side.stage_times[stage] = side.stage_times.get(stage, 0.0) + time.perf_counter() - start
            return wrapper

        def given_landmarks(only_center_face: bool = False, eye_dist_threshold: float | None = None, **_: Any) -> int:
            for face in side.given:
                if eye_dist_threshold is not None and face.eye_distance < eye_dist_threshold:
                    continue
                helper.all_landmarks_5.append(np.asarray(face.landmarks, dtype=np.float32))
                helper.det_faces.append(np.array([*face.box, face.score], dtype=np.float32))
            return len(helper.all_landmarks_5)

        helper.get_face_landmarks_5 = timed("detect (given)", given_landmarks)
        helper.align_warp_face = timed("align", helper.align_warp_face)
        helper.get_inverse_affine = timed("paste", helper.get_inverse_affine)
        helper.paste_faces_to_input_image = timed("mask+paste", helper.paste_faces_to_input_image)
        network = self.network

        def gfpgan_call(*args: Any, **kwargs: Any) -> Any:
            if side.fixed_noise:
                kwargs["randomize_noise"] = False  # the checkpoint's noise maps, as ours by default
            return network(*args, **kwargs)

        self.reference.gfpgan = gfpgan_call  # enhance calls self.gfpgan(tensor, return_rgb=False, weight=...)

    def restore_photo(self, photo: str, fixed_noise: bool = False) -> tuple[np.ndarray, dict[str, float]]:
        self.given = _faces_from(self.data, photo)
        self.fixed_noise = fixed_noise
        self.stage_times = {}
        bgr = np.ascontiguousarray(self.data[photo][..., ::-1])
        start = time.perf_counter()
        _, _, restored = self.reference.enhance(bgr, has_aligned=False, only_center_face=False, paste_back=True)
        _sync(self.compute.device)
        total = time.perf_counter() - start
        self.crops = [np.ascontiguousarray(c[..., ::-1]) for c in self.reference.face_helper.cropped_faces]
        paste = self.stage_times.get("paste", 0.0) + self.stage_times.get("mask+paste", 0.0)
        stages = {"align": self.stage_times.get("align", 0.0), "mask+paste": paste}
        stages["restore"] = max(total - stages["align"] - paste - self.stage_times.get("detect (given)", 0.0), 0.0)
        stages["other"] = self.stage_times.get("detect (given)", 0.0)
        return np.ascontiguousarray(restored[..., ::-1]), stages

    def restore_faces(self, faces: np.ndarray, fixed_noise: bool = False) -> np.ndarray:
        """GFPGANer's way for aligned faces: one enhance(has_aligned=True) call per face."""
        self.fixed_noise = fixed_noise
        out = []
        for face in faces:
            _, restored, _ = self.reference.enhance(np.ascontiguousarray(face[..., ::-1]), has_aligned=True)
            out.append(restored[0][..., ::-1])
        _sync(self.compute.device)
        return np.stack(out)


def _job_manifest(job: dict[str, Any]) -> Manifest:
    manifest = load_manifest()
    for name, (size, sha256) in job.get("manifest_overrides", {}).items():
        manifest = manifest.replace_entry(dataclasses.replace(manifest.get(name), bytes=size, sha256=sha256))
    return manifest


# ----------------------------------------------------------------------------- worker


class _Worker:
    """One side in its own process, doing what the parent asks, one command at a time.

    The parent keeps all sides alive and alternates them run by run (ours, reference,
    reference, ours, ...), so drift in a shared machine's speed hits every side alike,
    while memory stays per process. An idle side waits on its pipe and uses no CPU.
    """

    def __init__(self, job: dict[str, Any]) -> None:
        self.job = job
        self.compute = ComputeSettings(device=torch.device(job["device"]), dtype=getattr(torch, job["dtype"]))
        if job.get("threads"):
            torch.set_num_threads(job["threads"])
        self.data = dict(np.load(job["data"]))
        self.side = (OursSide if job["side"] == "ours" else ReferenceSide)(job, self.compute, self.data)
        self.outputs: dict[str, np.ndarray] = {}

    def cold(self) -> dict[str, Any]:
        """Build everything, then the first image (the 1-face portrait)."""
        device = self.compute.device
        _gpu_reset(device)
        start = time.perf_counter()
        self.side.construct()
        _sync(device)
        construct = time.perf_counter() - start
        start = time.perf_counter()
        self.side.restore_photo("portrait")
        _sync(device)
        return {"imports_s": _IMPORTED - _STARTED, "construct_s": construct, "first_image_s": time.perf_counter() - start,
                "first_image_done_at": time.time(), "peak_rss_mb_cold": _peak_rss_mb(),
                "switches": self.side.resolved_switches()}

    def photo(self, photo: str, fixed_noise: bool = False, keep: bool = False) -> dict[str, Any]:
        _sync(self.compute.device)
        start = time.perf_counter()
        image, stages = self.side.restore_photo(photo, fixed_noise=fixed_noise)
        _sync(self.compute.device)
        seconds = time.perf_counter() - start
        if keep:
            self.outputs[f"{photo}_output"] = image
            if isinstance(self.side, ReferenceSide):
                self.outputs[f"{photo}_reference_crops"] = np.stack(self.side.crops)
        return {"seconds": seconds, "stages": stages}

    def faces(self, batch: int, fixed_noise: bool = False, keep: bool = False) -> dict[str, Any]:
        faces = self.data["stage_faces"][:batch]
        _sync(self.compute.device)
        start = time.perf_counter()
        restored = self.side.restore_faces(faces, fixed_noise=fixed_noise)
        _sync(self.compute.device)
        seconds = time.perf_counter() - start
        if keep:
            self.outputs["stage_output"] = restored
        return {"seconds": seconds}

    def end_to_end(self, repeats: int) -> dict[str, Any]:
        """Ours only: the 1024x1024 single-face JPEG, decode to encoded result, real detection."""
        assert isinstance(self.side, OursSide)
        encoded = self.data["photo1024_jpeg"].tobytes()
        detector = str(self.job["end_to_end_detector"])
        times, used = [], ""
        for _ in range(repeats + 1):  # the first run warms this photo's size up and is not counted
            _sync(self.compute.device)
            start = time.perf_counter()
            _, used = self.side.end_to_end(encoded, detector)
            _sync(self.compute.device)
            times.append(time.perf_counter() - start)
        return {**_summary(times[1:]), "detector": used}

    def reset_gpu_peak(self) -> dict[str, Any]:
        _gpu_reset(self.compute.device)
        return {}

    def memory(self) -> dict[str, Any]:
        return {"peak_rss_mb": _peak_rss_mb(), "peak_gpu_mb": _gpu_peak_mb(self.compute.device)}

    def finish(self) -> dict[str, Any]:
        np.savez(self.job["outputs"], **self.outputs)
        return self.memory()


def worker(job_path: Path) -> None:
    """Serve the parent's commands: one JSON line in on stdin, one JSON line back."""
    replies = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything the libraries print goes to stderr, never into the replies
    state = _Worker(json.loads(job_path.read_text()))
    for line in sys.stdin:
        command = json.loads(line)
        name = command.pop("cmd")
        try:
            reply = {"ok": True, **getattr(state, name)(**command)}
        except Exception as error:  # report it to the parent, which stops the benchmark
            import traceback

            traceback.print_exc()
            reply = {"ok": False, "error": f"{type(error).__name__}: {error}"}
        replies.write(json.dumps(reply) + "\n")
        if name == "finish" or not reply["ok"]:
            break


# ----------------------------------------------------------------------------- parent


def _resolve_compute(device: str, precision: str) -> tuple[ComputeSettings, str | None]:
    compute = choose_compute(device, precision)
    note = None
    if compute.device.type == "cpu" and compute.dtype == torch.bfloat16 and precision == "auto":
        note = "auto: this CPU computes bf16 in hardware"
    return compute, note


def _prepare_weights(directory: Path, scratch: Path) -> tuple[Path, Manifest, bool, dict[str, Any], str]:
    manifest = load_manifest()
    present = {n: check(manifest.get(n), directory).state == WeightState.PRESENT for n in NEEDED}
    if all(present.values()):
        return directory, manifest, True, {}, f"real, verified ({directory})"
    from pipeline.models.store import save_random_weights

    random_dir = scratch / "weights"
    manifest = save_random_weights(manifest, random_dir, list(NEEDED))
    overrides = {n: (manifest.get(n).bytes, manifest.get(n).sha256) for n in NEEDED}
    missing = ", ".join(n for n, ok in present.items() if not ok)
    return random_dir, manifest, False, overrides, (
        f"RANDOM (seeded, real architectures; {missing} not present/verified in {directory}): "
        "timings are valid (cost does not depend on the values), the faces are not")


def _detect(photos: dict[str, np.ndarray]) -> tuple[dict[str, list[Face]], dict[str, float]]:
    from pipeline.faces.detect import MTCNNDetector, detect_faces

    detector = MTCNNDetector(torch.device("cpu"))
    found, seconds = {}, {}
    for name, rgb in photos.items():
        start = time.perf_counter()
        found[name] = detect_faces(detector, rgb)
        seconds[name] = time.perf_counter() - start
        if len(found[name]) != EXPECTED_FACES[name]:
            raise SystemExit(f"MTCNN found {len(found[name])} faces on the {name} photo, expected {EXPECTED_FACES[name]}")
    return found, seconds


class _Side:
    """The parent's handle on one worker process."""

    def __init__(self, job: dict[str, Any], scratch: Path) -> None:
        tag = job["variant"].replace(" ", "_").replace("=", "-")
        self.job = {**job, "outputs": str(scratch / f"outputs_{tag}.npz")}
        self.job_path = scratch / f"job_{tag}.json"
        self.job_path.write_text(json.dumps(self.job))
        self.process: subprocess.Popen[str] | None = None
        self.launched = 0.0
        self.result: dict[str, Any] = {"side": job["side"], "variant": job["variant"], "latency": {}, "throughput": {}}

    def start(self) -> None:
        self.launched = time.time()
        self.process = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--worker", str(self.job_path)],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)

    def call(self, cmd: str, **arguments: Any) -> dict[str, Any]:
        assert self.process is not None and self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({"cmd": cmd, **arguments}) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise SystemExit(f"[restore_bench] the {self.job['variant']} worker died during '{cmd}' (see stderr above)")
        reply = json.loads(line)
        if not reply.pop("ok"):
            raise SystemExit(f"[restore_bench] {self.job['variant']} failed during '{cmd}': {reply['error']}")
        return reply

    def close(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


def _alternating(sides: list[_Side], runs: int, action: Callable[[_Side, int], None]) -> None:
    """Run ``action`` ``runs`` times per side, rotating which side goes first each round."""
    for index in range(runs):
        shift = index % len(sides)
        order = sides[shift:] + sides[:shift]
        for side in (order if index % 2 == 0 else order[::-1]):
            action(side, index)


def _measure(sides: list[_Side], photos: list[str], batches: list[int], warmups: int, repeats: int,
             stage_warmups: int, stage_repeats: int, faces_per_photo: dict[str, int], end_to_end_repeats: int) -> None:
    for side in sides:  # launched one at a time: a cold start is timed alone
        print(f"[restore_bench] cold start: {side.job['variant']} ...", file=sys.stderr, flush=True)
        side.start()
        side.result.update(side.call("cold"))
        if side.job.get("flip"):
            name = side.job["flip"]
            side.result["variant"] = f"ours {name}={'on' if side.result['switches'][name] else 'off'}"
        side.result["launch_to_first_image_s"] = side.result["first_image_done_at"] - side.launched
    for side in sides:
        side.call("reset_gpu_peak")
    for photo in photos:
        print(f"[restore_bench] {photo}: {warmups} warm-up + {repeats} timed per side ...", file=sys.stderr, flush=True)
        _alternating(sides, warmups, lambda side, _: side.call("photo", photo=photo) and None)
        runs: dict[int, list[dict[str, Any]]] = {id(side): [] for side in sides}

        def timed(side: _Side, index: int, photo: str = photo) -> None:
            last = index == repeats - 1  # the last run uses fixed noise everywhere; its output is compared
            runs[id(side)].append(side.call("photo", photo=photo, fixed_noise=last, keep=last))

        _alternating(sides, repeats, timed)
        for side in sides:
            times = [run["seconds"] for run in runs[id(side)]]
            stage_runs = [run["stages"] for run in runs[id(side)]]
            stages = {k: float(np.median([r.get(k, 0.0) for r in stage_runs])) for k in stage_runs[0]}
            side.result["latency"][photo] = {**_summary(times), "stages_median_s": stages,
                                             "faces": faces_per_photo[photo]}
    for side in sides:
        memory = side.call("memory")
        side.result["peak_rss_mb_images"], side.result["peak_gpu_mb_images"] = memory["peak_rss_mb"], memory["peak_gpu_mb"]
    for batch in batches:
        print(f"[restore_bench] restore stage, batch {batch}: {stage_warmups} warm-up + {stage_repeats} timed per side ...",
              file=sys.stderr, flush=True)
        for side in sides:
            side.call("reset_gpu_peak")
        _alternating(sides, stage_warmups, lambda side, _: side.call("faces", batch=batch) and None)
        runs = {id(side): [] for side in sides}

        def timed_faces(side: _Side, index: int, batch: int = batch) -> None:
            last = index == stage_repeats - 1 and batch == max(batches)
            runs[id(side)].append(side.call("faces", batch=batch, fixed_noise=last, keep=last)["seconds"])

        _alternating(sides, stage_repeats, timed_faces)
        for side in sides:
            times = runs[id(side)]
            side.result["throughput"][str(batch)] = {**_summary(times), "faces_per_s": batch / float(np.median(times)),
                                                     "peak_gpu_mb": side.call("memory")["peak_gpu_mb"]}
    if end_to_end_repeats:
        print(f"[restore_bench] 1024x1024 end to end (ours): 1 warm-up + {end_to_end_repeats} timed ...",
              file=sys.stderr, flush=True)
        sides[0].result["end_to_end_1024"] = sides[0].call("end_to_end", repeats=end_to_end_repeats)
    for side in sides:
        side.result["peak_rss_mb"] = side.call("finish")["peak_rss_mb"]
        assert side.process is not None
        side.process.wait()
        side.result["wall_s"] = time.time() - side.launched
        side.result["outputs"] = dict(np.load(side.job["outputs"]))


def _fmt_ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1000:,.0f} ms"


def _fmt_ratio(ours: float | None, reference: float | None) -> str:
    if ours is None or reference is None or reference == 0:
        return "n/a"
    return f"{ours / reference:.2f}"


def _fmt_mb(value: float | None, cpu_text: str = "n/a (CPU)") -> str:
    return cpu_text if value is None else f"{value:,.0f} MiB"


def _fmt_db(value: float) -> str:
    return "identical (inf)" if value == float("inf") else f"{value:.2f} dB"


def _comparison(ours: dict[str, Any], reference: dict[str, Any], data: dict[str, np.ndarray],
                precision: str, report_photos: list[str]) -> dict[str, Any]:
    from pipeline.faces.align import alignment_matrix, warp_to_template

    threshold = PSNR_THRESHOLD_DB[precision]
    psnr: dict[str, Any] = {"threshold_db": threshold}
    for photo in report_photos:
        end_to_end = _psnr(ours["outputs"][f"{photo}_output"], reference["outputs"][f"{photo}_output"])
        ours_crops = np.stack([warp_to_template(data[photo], alignment_matrix(f.landmarks))
                               for f in _faces_from(data, photo)])
        ref_crops = reference["outputs"][f"{photo}_reference_crops"]
        crops_db = [_psnr(o, r) for o, r in zip(ours_crops, ref_crops)] if len(ref_crops) == len(ours_crops) else []
        psnr[photo] = {"end_to_end_db": end_to_end, "passes": end_to_end > threshold,
                       "aligned_crops_db_min": min(crops_db) if crops_db else None}
    psnr["restore_stage_same_crops_db_min"] = _stage_psnr(ours, reference)
    return psnr


def _stage_psnr(ours: dict[str, Any], reference: dict[str, Any]) -> float:
    return min(_psnr(o, r) for o, r in zip(ours["outputs"]["stage_output"], reference["outputs"]["stage_output"]))


def _targets(report: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Issue 5's targets, each with what this run measured: PASS, FAIL or why it was not measured."""
    ours, ref = report["ours"], report["reference"]
    on_gpu = report["device_name"].split()[0] not in ("CPU",)
    big_gpu = on_gpu and any(name in report["device_name"] for name in ("H100", "H200"))
    rows: list[tuple[str, str, str]] = []

    def verdict(ok: bool) -> str:
        return "PASS" if ok else "FAIL"

    for photo, title in PHOTOS:
        target = f"CPU: {title} end to end at least 2x faster than the reference, PSNR within bound"
        if on_gpu:
            continue
        if photo not in ours["latency"]:
            rows.append((target, f"not measured in {report['mode']}", "add --photos portrait,group"))
            continue
        speedup = ref["latency"][photo]["median_s"] / ours["latency"][photo]["median_s"]
        passes = report["psnr"][photo]["passes"]
        rows.append((target, f"{speedup:.2f}x, {_fmt_db(report['psnr'][photo]['end_to_end_db'])}",
                     verdict(speedup >= 2.0 and passes)))

    def gpu_verdict(ok: bool | None, missing: str) -> str:
        """PASS/FAIL only on an H100/H200 that measured it; otherwise say what is missing."""
        if not big_gpu:
            return "not measured: needs an H100 or H200 GPU" + ("" if on_gpu else " (this run: CPU)")
        return missing if ok is None else verdict(ok)

    same_output = all(report["psnr"][p]["passes"] for p, _ in PHOTOS if p in report["psnr"])
    stage = ours["throughput"].get("32")
    rows.append(("GPU: restore stage at least 1,000 faces/s at batch 32",
                 f"{stage['faces_per_s']:,.0f} faces/s" if stage and on_gpu else "-",
                 gpu_verdict(None if not stage else stage["faces_per_s"] >= 1000, "not measured: add 32 to --batches")))
    e2e = ours.get("end_to_end_1024")
    rows.append(("GPU: 1024x1024 single-face photo end to end under 30 ms",
                 _fmt_ms(e2e["median_s"]) if e2e and on_gpu else "-",
                 gpu_verdict(None if not e2e else e2e["median_s"] < 0.030, "not measured")))
    group = "group" in ours["latency"]
    ratio = (ref["latency"]["group"]["median_s"] / ours["latency"]["group"]["median_s"]) if group else None
    rows.append(("GPU: at least 5x the reference's throughput on the 6-face photo, PSNR within bound",
                 f"{ratio:.2f}x" if ratio and on_gpu else "-",
                 gpu_verdict(None if ratio is None else ratio >= 5.0 and same_output,
                             "not measured: add --photos portrait,group")))
    return rows


def _markdown(report: dict[str, Any]) -> str:
    ours, ref = report["ours"], report["reference"]
    lines = [
        f"# Face restoration benchmark: ours vs gfpgan GFPGANer ({report['mode']})",
        "",
        f"- date: {report['date']}",
        f"- device: {report['device_name']}",
        f"- torch {report['versions']['torch']}, gfpgan {report['versions']['gfpgan']}, "
        f"facexlib {report['versions']['facexlib']}, basicsr {report['versions']['basicsr']}, Python {platform.python_version()}",
        f"- precision: ours {report['precision']}{' (' + report['precision_note'] + ')' if report['precision_note'] else ''}; "
        "reference fp32 (GFPGANer has no reduced-precision mode)",
        f"- weights: {report['weights']}",
        f"- switches (ours): {report['switches_text']}",
        f"- runs: {report['runs_text']}",
        f"- detections: MTCNN once ({', '.join(f'{k} {v * 1000:.0f} ms' for k, v in report['detect_s'].items())}), "
        "landmarks given to both sides; detection is not in the latencies",
        "",
        "| metric | ours | reference | ours/reference |",
        "|---|---:|---:|---:|",
    ]
    for photo, title in PHOTOS:
        size = report["photo_sizes"][photo]
        if photo not in ours["latency"]:
            lines.append(f"| {title} {size}, latency median / p90 | not measured in {report['mode']} "
                         f"(add --photos portrait,group) | | |")
            continue
        o, r = ours["latency"][photo], ref["latency"][photo]
        n = len(o["runs_s"])
        lines.append(f"| {title} {size}, latency median (n={n}) | {_fmt_ms(o['median_s'])} | {_fmt_ms(r['median_s'])} "
                     f"| {_fmt_ratio(o['median_s'], r['median_s'])} |")
        lines.append(f"| {title} {size}, latency p90 | {_fmt_ms(o['p90_s'])} | {_fmt_ms(r['p90_s'])} "
                     f"| {_fmt_ratio(o['p90_s'], r['p90_s'])} |")
    e2e = ours.get("end_to_end_1024")
    if e2e:
        lines.append(f"| 1024x1024 single-face photo, end to end (JPEG bytes in, {e2e['detector']} detection, restore, "
                     f"JPEG bytes out), median (n={len(e2e['runs_s'])}) | {_fmt_ms(e2e['median_s'])} "
                     "| n/a (GFPGANer takes decoded arrays) | n/a |")
    for batch, o in ours["throughput"].items():
        r = ref["throughput"][batch]
        lines.append(f"| restore stage faces/s, batch {batch} (higher is better) | {o['faces_per_s']:.2f} "
                     f"| {r['faces_per_s']:.2f} | {_fmt_ratio(o['faces_per_s'], r['faces_per_s'])} |")
    lines.append(f"| cold start: construct + first image (1-face) | {_fmt_ms(ours['construct_s'] + ours['first_image_s'])} "
                 f"| {_fmt_ms(ref['construct_s'] + ref['first_image_s'])} "
                 f"| {_fmt_ratio(ours['construct_s'] + ours['first_image_s'], ref['construct_s'] + ref['first_image_s'])} |")
    lines.append(f"| cold start: process launch to first image (incl. imports) | {_fmt_ms(ours['launch_to_first_image_s'])} "
                 f"| {_fmt_ms(ref['launch_to_first_image_s'])} "
                 f"| {_fmt_ratio(ours['launch_to_first_image_s'], ref['launch_to_first_image_s'])} |")
    lines.append(f"| peak RAM after cold start (process VmHWM) | {_fmt_mb(ours['peak_rss_mb_cold'])} "
                 f"| {_fmt_mb(ref['peak_rss_mb_cold'])} | {_fmt_ratio(ours['peak_rss_mb_cold'], ref['peak_rss_mb_cold'])} |")
    lines.append(f"| peak RAM, whole run: images + restore batch up to {max(report['batches'])} (process VmHWM) | {_fmt_mb(ours['peak_rss_mb'])} "
                 f"| {_fmt_mb(ref['peak_rss_mb'])} | {_fmt_ratio(ours['peak_rss_mb'], ref['peak_rss_mb'])} |")
    lines.append(f"| peak GPU memory, images | {_fmt_mb(ours['peak_gpu_mb_images'])} | {_fmt_mb(ref['peak_gpu_mb_images'])} "
                 f"| {_fmt_ratio(ours['peak_gpu_mb_images'], ref['peak_gpu_mb_images'])} |")
    top = str(max(report["batches"]))
    lines.append(f"| peak GPU memory, restore batch {top} | {_fmt_mb(ours['throughput'][top]['peak_gpu_mb'])} "
                 f"| {_fmt_mb(ref['throughput'][top]['peak_gpu_mb'])} "
                 f"| {_fmt_ratio(ours['throughput'][top]['peak_gpu_mb'], ref['throughput'][top]['peak_gpu_mb'])} |")

    psnr = report["psnr"]
    lines += ["", f"Output difference, ours vs reference on the same detections (fixed noise maps on both sides); "
              f"pass = above {psnr['threshold_db']:.0f} dB ({report['precision']}):", "",
              "| photo | PSNR end to end | result | PSNR aligned crops (min over faces) |", "|---|---:|---|---:|"]
    for photo, title in PHOTOS:
        if photo not in psnr:
            lines.append(f"| {title} | not measured in {report['mode']} | | |")
            continue
        p = psnr[photo]
        crops = "n/a" if p["aligned_crops_db_min"] is None else _fmt_db(p["aligned_crops_db_min"])
        lines.append(f"| {title} | {_fmt_db(p['end_to_end_db'])} | {'PASS' if p['passes'] else 'FAIL'} | {crops} |")
    stage_passes = psnr["restore_stage_same_crops_db_min"] > psnr["threshold_db"]
    lines.append(f"| restore stage alone, identical aligned crops (min over faces) | "
                 f"{_fmt_db(psnr['restore_stage_same_crops_db_min'])} | {'PASS' if stage_passes else 'FAIL'} | |")
    crops_agree = all((psnr[p]["aligned_crops_db_min"] or 0) > psnr["threshold_db"] for p, _ in PHOTOS if p in psnr)
    if stage_passes and crops_agree and not all(psnr[p]["passes"] for p, _ in PHOTOS if p in psnr):
        lines += ["", "End to end fails while the aligned crops and the restore stage agree: the difference is in "
                  "mask + paste (pipeline/faces/masks.py, pipeline/restore/paste.py)."]

    lines += ["", "Targets of issue 5:", "", "| target | measured | result |", "|---|---:|---|"]
    lines += [f"| {target} | {value} | {verdict} |" for target, value, verdict in _targets(report)]

    lines += ["", "Stage medians per image (ours: engine timings; reference: GFPGANer's helper steps, timed on the instance):", "",
              "| photo | side | align | restore | mask + paste | other | total median |", "|---|---|---:|---:|---:|---:|---:|"]
    for photo, title in PHOTOS:
        if photo not in ours["latency"]:
            continue
        for label, side in (("ours", ours), ("reference", ref)):
            s = side["latency"][photo]["stages_median_s"]
            paste = s.get("mask+paste", s.get("mask", 0.0) + s.get("paste", 0.0))
            lines.append(f"| {title} | {label} | {_fmt_ms(s.get('align'))} | {_fmt_ms(s.get('restore'))} | {_fmt_ms(paste)} "
                         f"| {_fmt_ms(s.get('other'))} | {_fmt_ms(side['latency'][photo]['median_s'])} |")

    if report["ablation"]:
        lines += ["", "What each switch buys (ours, one switch flipped against the main run):", "",
                  "| variant | 1-face median | 6-face median | " + " | ".join(f"faces/s b{b}" for b in report["batches"])
                  + " | first image after launch | peak RAM | restore-stage PSNR vs ref |",
                  "|---|---:|---:|" + "---:|" * len(report["batches"]) + "---:|---:|---:|"]
        for variant in [ours, *report["ablation"]]:
            latency = variant["latency"]
            cells = [variant["variant"], _fmt_ms(latency["portrait"]["median_s"]),
                     _fmt_ms(latency["group"]["median_s"]) if "group" in latency else "not measured",
                     *[f"{variant['throughput'][str(b)]['faces_per_s']:.2f}" for b in report["batches"]],
                     _fmt_ms(variant["launch_to_first_image_s"]), _fmt_mb(variant["peak_rss_mb"]),
                     _fmt_db(variant["stage_psnr_db_min"])]
            lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Latency ratio < 1 and faces/s ratio > 1 mean ours is faster. Cold start: a fresh process per side; "
              "the OS file cache is warm. Both sides hold a RetinaFace R50 detector and ParseNet (unused detector "
              "included in memory and cold start on both).", ""]
    return "\n".join(lines)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items() if k != "outputs"}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--quick", action="store_true", help="CPU-sized run: batches 1 and 2, few repeats (about 2 min)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    parser.add_argument("--out", type=Path, default=ROOT / "output" / "bench", help="folder for the .md and .json (default output/bench, git-ignored)")
    parser.add_argument("--weights", type=Path, default=None, help="weights folder (default: the pipeline's)")
    parser.add_argument("--stages", type=_stages_arg, default=None,
                        help=f"what to time, any of {','.join(STAGES)} (default: all; --quick: restore)")
    parser.add_argument("--batches", type=lambda s: [int(v) for v in s.split(",")], default=None,
                        help="restore-stage batch sizes, e.g. 1,8,32")
    parser.add_argument("--photos", type=lambda s: [v for v in s.split(",") if v], default=None,
                        help="photos to time: portrait,group (quick: portrait only)")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per photo")
    parser.add_argument("--warmups", type=int, default=None, help="untimed runs per photo first")
    parser.add_argument("--stage-repeats", type=int, default=None,
                        help="timed runs per restore-stage batch size, upsampler photo and identity batch")
    parser.add_argument("--stage-warmups", type=int, default=None,
                        help="untimed runs first, for each of those (quick: 0; full: 1)")
    parser.add_argument("--upsampler-models", type=lambda s: tuple(v for v in s.split(",") if v), default=None,
                        help="upsampler stage networks (quick: realesr-general-x4; full: every manifest upsampler)")
    parser.add_argument("--upsampler-sizes", type=lambda s: tuple(int(v) for v in s.split(",")), default=None,
                        help="upsampler stage photo sides in pixels (quick: 256; full: 512,1024)")
    parser.add_argument("--identity-batches", type=lambda s: tuple(int(v) for v in s.split(",")), default=None,
                        help="identity stage faces per call (quick: 4; full: 1,8,32)")
    parser.add_argument("--max-batch", type=int, default=None, help="ours: faces per network call (default: the device's, 1 on CPU, 32 on CUDA)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads in both workers (and the stages)")
    parser.add_argument("--ablate", action="store_true", help="also run ours with each switch flipped")
    for switch in SWITCHES:
        group = parser.add_mutually_exclusive_group()
        group.add_argument(f"--{switch.flag}", dest=switch.name, action="store_const", const=True, default=None,
                           help=f"force on: {switch.description}")
        group.add_argument(f"--no-{switch.flag}", dest=switch.name, action="store_const", const=False,
                           help="force off (default: the library's choice)")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    return parser


def _stages_arg(text: str) -> tuple[str, ...]:
    try:
        return parse_stages(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _stage_plan(args: argparse.Namespace, manifest: Manifest) -> StagePlan:
    """The upsampler and identity stages' sizes: small on --quick (a CPU), GPU-sized otherwise."""
    if args.quick:
        models, sizes, identity, warmups, repeats = ("realesr-general-x4",), (256,), (4,), 0, 1
    else:
        models, sizes, identity, warmups, repeats = tuple(manifest.names("upsampler")), (512, 1024), (1, 8, 32), 1, 5
    # --quick alone keeps its ~80 s: the restore comparison only; name the other stages to add them.
    stages = args.stages or (("restore",) if args.quick else STAGES)
    return StagePlan(stages=tuple(stages), upsampler_models=args.upsampler_models or models,
                     upsampler_sizes=args.upsampler_sizes or sizes, identity_batches=args.identity_batches or identity,
                     warmups=warmups if args.stage_warmups is None else args.stage_warmups,
                     repeats=args.stage_repeats or repeats)


def main(argv: list[str] | None = None) -> None:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker)
        return

    wall_start = time.perf_counter()
    try:
        compute, precision_note = _resolve_compute(args.device, args.precision)
    except Exception as error:  # DeviceUnavailableError and friends: a message, not a traceback
        parser.error(f"{error} {getattr(error, 'hint', '') or ''}".strip())
    precision = "bf16" if compute.dtype == torch.bfloat16 else "fp32"
    manifest = load_manifest()
    plan = _stage_plan(args, manifest)
    if set(plan.upsampler_models) - set(manifest.names("upsampler")):
        parser.error(f"--upsampler-models: choose from {','.join(manifest.names('upsampler'))}")
    if args.threads:
        torch.set_num_threads(args.threads)  # the stages run in this process

    from pipeline.core.samples import astronaut
    from collage import group_photo

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="restore_bench_") as scratch_name:
        scratch = Path(scratch_name)
        images = {"portrait": astronaut(), "group": group_photo()}
        found, detect_s = _detect(images)
        report: dict[str, Any] = {
            "mode": "quick (CPU-sized)" if args.quick else "full", "stages_run": list(plan.stages),
            "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "device_name": _device_name(compute.device), "load_average": list(os.getloadavg()),
            "versions": {d: _version(d) for d in ("torch", "gfpgan", "facexlib", "basicsr", "facenet-pytorch",
                                                  "realesrgan")},
            "precision": precision, "precision_note": precision_note, "detect_s": detect_s,
        }
        if "restore" in plan.stages:
            report.update(_restore_part(args, parser, compute, scratch, images, found))
            markdown = _markdown(report)
        else:
            markdown = _stages_header(report)
        extra = [stage for stage in plan.stages if stage != "restore"]
        if extra:
            aligned = [_aligned(images[name], face) for name in images for face in found[name]]
            report["stages"] = run_stages(plan, compute, manifest, args.weights or locations.weights_dir(),
                                          scratch, aligned)
            markdown += stages_markdown(report["stages"], report["device_name"], precision)
        report["wall_s"] = time.perf_counter() - wall_start
        load = ", ".join(f"{v:.2f}" for v in report["load_average"])
        markdown += (f"\nLoad average when the run started (1, 5, 15 min): {load} on {os.cpu_count()} cores.\n"
                     f"Benchmark wall time: {report['wall_s']:.0f} s.\n")
        (args.out / "restore_bench.md").write_text(markdown)
        (args.out / "restore_bench.json").write_text(json.dumps(_jsonable(report), indent=2))
        print(markdown)
        print(f"[restore_bench] wrote {args.out / 'restore_bench.md'} and {args.out / 'restore_bench.json'}", file=sys.stderr)


def _aligned(rgb: np.ndarray, face: Face) -> np.ndarray:
    from pipeline.faces.align import alignment_matrix, warp_to_template

    return warp_to_template(rgb, alignment_matrix(face.landmarks))


def _stages_header(report: dict[str, Any]) -> str:
    """The report's first lines when the restore comparison is not run (--stages without restore)."""
    versions = report["versions"]
    return "\n".join([
        f"# Restore stages benchmark: {', '.join(report['stages_run'])} ({report['mode']})", "",
        f"- date: {report['date']}", f"- device: {report['device_name']}",
        f"- torch {versions['torch']}, facexlib {versions['facexlib']}, basicsr {versions['basicsr']}, "
        f"realesrgan {versions['realesrgan']}, Python {platform.python_version()}",
        f"- precision: ours {report['precision']}"
        f"{' (' + report['precision_note'] + ')' if report['precision_note'] else ''}", ""])


def _restore_part(args: argparse.Namespace, parser: argparse.ArgumentParser, compute: ComputeSettings,
                  scratch: Path, images: dict[str, np.ndarray], found: dict[str, list[Face]]) -> dict[str, Any]:
    """The restore comparison (ours against GFPGANer in their own processes): its report keys."""
    precision = "bf16" if compute.dtype == torch.bfloat16 else "fp32"
    if args.quick:
        # On a 2-core CPU the reference spends ~7 s per face, so a 6-face image alone would be
        # ~45 s for it (+ ~20 s ours): --quick times the portrait (the cold-start image warms
        # the process), the restore stage at batch 1 and 2 and one end-to-end 1024 run; the
        # 6-face photo needs --photos portrait,group (about 5 minutes on CPU).
        photos, batches, warmups, repeats, stage_warmups, stage_repeats = ["portrait"], [1, 2], 0, 3, 0, 1
        end_to_end_repeats = 1
    else:
        photos, batches, warmups, repeats, stage_warmups, stage_repeats = ["portrait", "group"], [1, 8, 32], 2, 10, 1, 5
        end_to_end_repeats = 10
    photos = args.photos or photos
    unknown = sorted(set(photos) - {name for name, _ in PHOTOS})
    if unknown or "portrait" not in photos:
        parser.error(f"--photos: choose from portrait,group and include portrait (got {','.join(photos)})")
    batches = args.batches or batches
    warmups = args.warmups if args.warmups is not None else warmups
    repeats = args.repeats or repeats
    stage_repeats = args.stage_repeats or stage_repeats
    stage_warmups = stage_warmups if args.stage_warmups is None else args.stage_warmups
    switches: dict[str, bool | None] = {s.name: getattr(args, s.name) for s in SWITCHES}

    import cv2
    from pipeline.core.encode import encode_image

    phase = time.perf_counter()
    weights_dir, manifest, real, overrides, weights_text = _prepare_weights(
        args.weights or locations.weights_dir(), scratch)
    print(f"[restore_bench] weights ready ({'real' if real else 'random, saved to a temp dir'}) in "
          f"{time.perf_counter() - phase:.1f} s", file=sys.stderr, flush=True)
    data: dict[str, np.ndarray] = {}
    aligned = []
    for name, rgb in images.items():
        faces = found[name]
        data[name] = rgb
        data[f"{name}_boxes"] = np.array([face.box for face in faces], dtype=np.float64)
        data[f"{name}_landmarks"] = np.stack([face.landmarks for face in faces]).astype(np.float32)
        data[f"{name}_scores"] = np.array([face.score for face in faces], dtype=np.float64)
        aligned += [_aligned(rgb, face) for face in faces]
    # Restore-stage inputs: the 7 aligned faces of both photos, repeated (mirrored on odd rounds).
    rounds = [np.stack(aligned) if r % 2 == 0 else np.stack(aligned)[:, :, ::-1]
              for r in range(-(-max(batches) // len(aligned)))]
    data["stage_faces"] = np.ascontiguousarray(np.concatenate(rounds)[:max(batches)])
    # The 1024x1024 single-face photo of the end-to-end target: the astronaut at twice her size, as a JPEG.
    photo1024 = cv2.resize(images["portrait"], (1024, 1024), interpolation=cv2.INTER_CUBIC)
    data["photo1024_jpeg"] = np.frombuffer(encode_image(photo1024, format="JPEG", quality=95), dtype=np.uint8)
    np.savez(scratch / "data.npz", **data)

    # Facexlib builds the reference's detector and parser from ./gfpgan/weights.
    reference_root = scratch / "reference"
    (reference_root / "gfpgan" / "weights").mkdir(parents=True)
    for name in ("retinaface-r50", "parsenet"):
        file = str(manifest.get(name).file)
        os.symlink(weights_dir / file, reference_root / "gfpgan" / "weights" / file)

    base_job = {
        "device": str(compute.device), "dtype": str(compute.dtype).replace("torch.", ""),
        "data": str(scratch / "data.npz"), "weights_dir": str(weights_dir), "manifest_overrides": overrides,
        "reference_root": str(reference_root), "batches": batches, "warmups": warmups, "repeats": repeats,
        "stage_warmups": stage_warmups, "stage_repeats": stage_repeats, "threads": args.threads,
        "max_batch": args.max_batch, "switches": switches, "photos": photos,
        # Random RetinaFace weights find no real faces; then the end-to-end run uses bundled MTCNN.
        "end_to_end_detector": "auto" if real else "mtcnn",
    }
    jobs = [{**base_job, "side": "ours", "variant": "ours"}, {**base_job, "side": "reference", "variant": "reference"}]
    if args.ablate:
        # Each switch flipped against the library default (or against what was forced).
        for switch in SWITCHES:
            jobs.append({**base_job, "side": "ours", "variant": f"ours {switch.name} flipped", "flip": switch.name})
    sides: list[_Side] = []
    try:
        for job in jobs:
            sides.append(_Side(job, scratch))
        _measure(sides, photos, batches, warmups, repeats, stage_warmups, stage_repeats,
                 {name: len(found[name]) for name in images}, end_to_end_repeats)
    finally:
        for side in sides:
            side.close()
    ours, reference, ablation = sides[0].result, sides[1].result, [side.result for side in sides[2:]]
    for variant in ablation:
        variant["stage_psnr_db_min"] = _stage_psnr(variant, reference)
    ours["stage_psnr_db_min"] = _stage_psnr(ours, reference)
    return {
        "weights": weights_text, "weights_real": real,
        "switches": switches, "switches_resolved": ours["switches"],
        "switches_text": _switch_text(switches, ours["switches"], args.max_batch),
        "batches": batches,
        "runs_text": (f"{warmups} warm-up + {repeats} timed per photo after the cold-start image (portrait); "
                      f"restore stage {stage_warmups} warm-up + {stage_repeats} timed per batch size "
                      "(ours: one restore_batch call, at most max_batch faces per network call; "
                      "reference: GFPGANer.enhance(has_aligned=True) per face)"),
        "photo_sizes": {name: f"{rgb.shape[1]}x{rgb.shape[0]}" for name, rgb in images.items()},
        "psnr": _comparison(ours, reference, data, precision, photos),
        "ours": ours, "reference": reference, "ablation": ablation,
    }


if __name__ == "__main__":
    main()
