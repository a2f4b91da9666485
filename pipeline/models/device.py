"""Chooses the compute device and precision once, for every model of the process.

CUDA first: on a GPU with bf16 in hardware (Ampere and newer) the restorer runs in
bfloat16, because GFPGAN's StyleGAN2 demodulation sums overflow float16 (inf/NaN faces)
while bf16 keeps float32's range. Older GPUs (T4, V100) only emulate bf16, so "auto" keeps
them in float32 there.
On a CPU with bf16 in hardware (AVX512-BF16, AMX, Arm BF16) "auto" also picks bf16 for
GFPGAN and ParseNet: there the benchmark portrait took 3.0 s instead of 6.2 s in fp32, with
the output above 35 dB PSNR against the fp32 reference (bench/restore_bench.py, README
"Performance"). Matting stays float32 on CPU (its bf16 speed and quality are unmeasured).
Other CPUs emulate bf16, which is slower than fp32, so they stay in float32.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch

from pipeline.core import settings
from pipeline.core.choices import DEVICE_CHOICES, PRECISION_CHOICES
from pipeline.core.errors import DeviceUnavailableError, InvalidOptionError

ENV_DEVICE = settings.DEVICE
ENV_PRECISION = settings.PRECISION


@dataclass(frozen=True)
class ComputeSettings:
    """Where models run and in which precision reduced-precision stages compute."""

    device: torch.device
    dtype: torch.dtype

    @property
    def uses_autocast(self) -> bool:
        return self.dtype != torch.float32

    def autocast(self) -> torch.autocast:
        """Reduced-precision context for model calls (disabled when running in fp32)."""
        return torch.autocast(device_type=self.device.type, dtype=self.dtype if self.uses_autocast else None,
                              enabled=self.uses_autocast)

    def synchronize(self) -> None:
        """Wait for queued GPU work, so a stage's timing includes it (no-op on CPU)."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def describe(self) -> str:
        name = str(self.device)
        if self.device.type == "cuda":
            name += f" ({torch.cuda.get_device_name(self.device)})"
        return f"{name}, {str(self.dtype).replace('torch.', '')}"


def _parse_device(requested: str) -> torch.device:
    requested = requested.strip().lower()
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested == "cpu":
        return torch.device("cpu")
    if requested == "cuda" or requested.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise DeviceUnavailableError(
                f"Device '{requested}' was requested but CUDA is not available on this machine.",
                hint="Use --device cpu (or auto), or install a CUDA build of torch with a working driver.",
            )
        device = torch.device(requested)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceUnavailableError(
                f"Device '{requested}' does not exist: this machine has {torch.cuda.device_count()} GPU(s)."
            )
        return device
    raise InvalidOptionError(
        f"Unknown device '{requested}'.", hint=f"Choose one of: {', '.join(DEVICE_CHOICES)} or cuda:N."
    )


# /proc/cpuinfo flags of CPUs that compute bf16 in hardware (x86: AVX512-BF16, AMX; Arm: BF16).
NATIVE_BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})


@lru_cache(maxsize=1)
def cpu_has_native_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """True when this CPU does bf16 arithmetic in hardware (where bf16 pays on CPU)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return False
    flags: set[str] = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            flags.update(value.split())
    return bool(flags & NATIVE_BF16_CPU_FLAGS) and torch.backends.mkldnn.is_available()


def _parse_precision(requested: str, device: torch.device) -> torch.dtype:
    requested = requested.strip().lower()
    if requested not in PRECISION_CHOICES:
        raise InvalidOptionError(
            f"Unknown precision '{requested}'.", hint=f"Choose one of: {', '.join(PRECISION_CHOICES)}."
        )
    if requested == "fp32":
        return torch.float32
    if device.type != "cuda":
        # An explicit "bf16" is honoured (emulated where the CPU lacks it); "auto" only where it pays.
        return torch.bfloat16 if requested == "bf16" or cpu_has_native_bf16() else torch.float32
    if requested == "auto":
        return torch.bfloat16 if cuda_has_native_bf16(device) else torch.float32
    # An explicit "bf16" is honoured where the GPU can at least emulate it.
    if not torch.cuda.is_bf16_supported(including_emulation=True):
        raise DeviceUnavailableError("This GPU does not support bfloat16.", hint="Use --precision fp32.")
    return torch.bfloat16


# bf16 tensor cores arrived with Ampere (compute capability 8.0). Older GPUs (T4 is 7.5,
# V100 7.0) only emulate bf16 convolutions, far slower than fp32; torch's own
# is_bf16_supported() counts that emulation as support unless told not to.
NATIVE_BF16_CUDA_CAPABILITY = (8, 0)


def cuda_has_native_bf16(device: torch.device) -> bool:
    """True when this GPU computes bf16 in hardware (where bf16 pays on CUDA)."""
    return tuple(torch.cuda.get_device_capability(device)) >= NATIVE_BF16_CUDA_CAPABILITY


def choose_compute(device: str | None = None, precision: str | None = None) -> ComputeSettings:
    """Resolve the device/precision from arguments, then environment, then 'auto'."""
    resolved_device = _parse_device(device or os.environ.get(ENV_DEVICE) or "auto")
    resolved_dtype = _parse_precision(precision or os.environ.get(ENV_PRECISION) or "auto", resolved_device)
    return ComputeSettings(device=resolved_device, dtype=resolved_dtype)


@lru_cache(maxsize=1)
def default_compute() -> ComputeSettings:
    """The process-wide choice, made once (environment variables are read at first use)."""
    return choose_compute()
