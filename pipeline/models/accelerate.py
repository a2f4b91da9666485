"""Speed switches for restoration, and the load-time transforms of the networks they name.

Every optimisation is a field of ``SpeedSettings`` so the benchmark (bench/restore_bench.py)
can flip each one and show what it buys. ``None`` means "the measured default for this
device" (``resolved``); the environment variable ``PORTRAIT_LAB_SPEED`` (e.g.
``compile=1,max_batch=8``) overrides defaults without code changes.

The transforms run once, when a model is loaded and before it is shared, and never change
what the network computes beyond float rounding:

* reduced-precision weights: GFPGAN and ParseNet stored in the compute dtype (bf16), so no
  per-call weight casts as under autocast;
* channels-last memory format for their 4-D weights (oneDNN and tensor cores prefer NHWC);
* batch-norm folded into the preceding convolution (ParseNet: one pass less per layer);
* ``torch.compile`` with a fallback to eager when compilation is unavailable.
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from pipeline.core import settings
from pipeline.core.errors import InvalidOptionError
from pipeline.models.device import ComputeSettings

logger = logging.getLogger(__name__)

ENV_SPEED = settings.SPEED


@dataclass(frozen=True)
class ArchSpeedTraits:
    """What the load-time transforms need to know about one architecture."""

    fold_batchnorm: bool = False  # its batch norms may be folded into the convolutions before them
    nchw_final_conv: bool = False  # it flattens its final encoder map with ``.view``, which needs NCHW


# The restoration networks the load-time transforms apply to (measured within the PSNR
# bounds), keyed by the manifest's ``arch``; detectors and matting keep float32 weights
# and use autocast.
OPTIMISED_ARCHS: dict[str, ArchSpeedTraits] = {
    "gfpgan_clean": ArchSpeedTraits(nchw_final_conv=True),
    "parsenet": ArchSpeedTraits(fold_batchnorm=True),
}


@dataclass(frozen=True)
class SpeedSettings:
    """Which optimisations the restoration path uses; ``None`` = the device's default."""

    reduced_precision_weights: bool | None = None
    channels_last: bool | None = None
    fold_batchnorm: bool | None = None
    batched_modulation: bool | None = None
    compile: bool | None = None
    device_paste: bool | None = None
    micro_batch: bool | None = None
    max_batch: int | None = None

    @classmethod
    def plain(cls) -> SpeedSettings:
        """Every optimisation off, one face per call: the networks exactly as published."""
        return cls(**{f.name: False for f in dataclasses.fields(cls) if f.name != "max_batch"}, max_batch=1)

    def resolved(self, compute: ComputeSettings) -> SpeedSettings:
        """Fill every ``None`` with the default for ``compute``'s device (see DEFAULTS)."""
        defaults = DEFAULTS["cuda" if compute.device.type == "cuda" else "cpu"]
        values = {f.name: (getattr(self, f.name) if getattr(self, f.name) is not None else defaults[f.name])
                  for f in dataclasses.fields(self)}
        return SpeedSettings(**values)


# The defaults (README "Performance", bench/restore_bench.py --ablate). CPU, measured on a
# 2-core AVX512-BF16 machine: one call of 2 faces ran at 0.93x the faces/s of single faces;
# the batched modulation, the device paste and the micro-batcher gained nothing measurable
# (slower in one ablation run, within the machine's noise in another); and
# torch.compile, though faster per image once warm (2.5 s instead of 2.8-3.5 s), made the first
# image after launch take 21-34 s instead of 8-9 s even with a warm compile cache, which
# one-shot CLI runs and Space restarts would pay.
# CUDA, not yet measured (no GPU lent so far): batch everything, keep the paste on the GPU,
# the scale-conv-scale modulation; compile stays opt-in until it is measured.
DEFAULTS: dict[str, dict[str, Any]] = {
    "cpu": {"reduced_precision_weights": True, "channels_last": True, "fold_batchnorm": True,
            "batched_modulation": False, "compile": False, "device_paste": False, "micro_batch": False,
            "max_batch": 1},
    "cuda": {"reduced_precision_weights": True, "channels_last": True, "fold_batchnorm": True,
             "batched_modulation": True, "compile": False, "device_paste": True, "micro_batch": True,
             "max_batch": 32},
}

SWITCH_DESCRIPTIONS: dict[str, str] = {
    "reduced_precision_weights": "GFPGAN + ParseNet weights stored in the compute dtype (bf16) instead of autocast",
    "channels_last": "NHWC memory format for GFPGAN + ParseNet",
    "fold_batchnorm": "ParseNet batch-norm folded into its convolutions",
    "batched_modulation": "modulated convs as one shared-weight conv instead of per-sample grouped convs",
    "compile": "torch.compile the networks (falls back to eager if compilation fails)",
    "device_paste": "warp and blend on the compute device instead of OpenCV on the CPU (the mask is always made there)",
    "micro_batch": "faces of concurrent requests merged into one network call",
}


def parse_speed(text: str) -> SpeedSettings:
    """``"compile=1,channels_last=off,max_batch=8"`` -> SpeedSettings (unnamed fields = default)."""
    names = {f.name: f for f in dataclasses.fields(SpeedSettings)}
    values: dict[str, Any] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        key, sep, raw = part.partition("=")
        key, raw = key.strip().replace("-", "_"), raw.strip().lower()
        if key not in names or not sep:
            raise InvalidOptionError(
                f"Unknown speed setting '{part}'.",
                hint=f"Use name=value with names: {', '.join(names)} (e.g. compile=1,max_batch=8).",
            )
        if raw == "default":
            values[key] = None
        elif key == "max_batch":
            if not raw.isdigit() or int(raw) < 1:
                raise InvalidOptionError(f"max_batch must be a whole number of at least 1, got '{raw}'.")
            values[key] = int(raw)
        elif raw in settings.TRUE_WORDS:
            values[key] = True
        elif raw in settings.FALSE_WORDS:
            values[key] = False
        else:
            raise InvalidOptionError(f"Speed setting {key} must be on/off (1/0), got '{raw}'.")
    return SpeedSettings(**values)


def speed_from_environment() -> SpeedSettings:
    return parse_speed(os.environ.get(ENV_SPEED, ""))


# ----------------------------------------------------------------------------- transforms


def network_dtype(network: nn.Module) -> torch.dtype:
    """The dtype the network's weights are stored in (inputs must match it)."""
    for parameter in network.parameters():
        return parameter.dtype
    return torch.float32


def fold_batchnorm(network: nn.Module) -> int:
    """Fold eval-mode BatchNorm into the convolution before it (facexlib ConvLayer: conv2d, norm).

    Exact up to float rounding: y = gamma * (conv(x) - mean) / sqrt(var + eps) + beta is a
    convolution with rescaled weights and a bias. Returns how many layers were folded.
    """
    folded = 0
    for module in network.modules():
        conv, norm = getattr(module, "conv2d", None), getattr(module, "norm", None)
        batchnorm = getattr(norm, "norm", None)
        if not (isinstance(conv, nn.Conv2d) and isinstance(batchnorm, nn.BatchNorm2d)):
            continue
        with torch.no_grad():
            scale = batchnorm.weight / torch.sqrt(batchnorm.running_var + batchnorm.eps)
            fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                              conv.dilation, conv.groups, bias=True, padding_mode=conv.padding_mode)
            fused.weight.copy_(conv.weight * scale[:, None, None, None])
            bias = conv.bias if conv.bias is not None else torch.zeros_like(scale)
            fused.bias.copy_((bias - batchnorm.running_mean) * scale + batchnorm.bias)
        fused.to(conv.weight.device).eval().requires_grad_(False)
        module.conv2d = fused
        norm.norm = nn.Identity()
        folded += 1
    return folded


def _contiguous_output(module: nn.Module, inputs: Any, output: torch.Tensor) -> torch.Tensor:
    return output.contiguous()


def use_channels_last(network: nn.Module, traits: ArchSpeedTraits) -> None:
    """NHWC weights; a network that flattens its final encoder map with ``.view`` (GFPGAN)
    gets that one output made NCHW again."""
    for parameter in network.parameters():
        if parameter.dim() == 4:
            parameter.data = parameter.data.contiguous(memory_format=torch.channels_last)
    if traits.nchw_final_conv and hasattr(network, "final_conv"):
        network.final_conv.register_forward_hook(_contiguous_output)


def _input_signature(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """What makes torch.compile (re)compile: tensor shapes, dtypes, devices and layouts; other values."""
    def key(value: Any) -> Any:
        if isinstance(value, torch.Tensor):
            return (tuple(value.shape), value.dtype, value.device, value.is_contiguous(memory_format=torch.channels_last))
        return repr(value)
    return tuple(key(v) for v in args) + tuple((name, key(v)) for name, v in sorted(kwargs.items()))


class CompiledWithFallback(nn.Module):
    """``torch.compile``d network that falls back to eager mode, once and for good, when
    compilation fails (no C++ compiler, unsupported op, old GPU, ...). Every input signature
    not seen before (the first call, a new batch size) may (re)compile, so those calls run
    under a lock, one thread at a time, with the fallback; known signatures run freely."""

    def __init__(self, eager: nn.Module, compiler: Callable[[nn.Module], Callable[..., Any]] | None = None) -> None:
        super().__init__()
        self.eager = eager
        self._compiled: Callable[..., Any] | None = (compiler or torch.compile)(eager)
        self._warm: set[tuple[Any, ...]] = set()
        self._lock = threading.Lock()
        self.fallback_reason: str | None = None

    @property
    def is_compiled(self) -> bool:
        return self._compiled is not None

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        compiled = self._compiled
        if compiled is None:
            return self.eager(*args, **kwargs)
        signature = _input_signature(args, kwargs)
        if signature in self._warm:
            return compiled(*args, **kwargs)
        with self._lock:
            if self._compiled is not None:
                try:
                    result = self._compiled(*args, **kwargs)
                    self._warm.add(signature)
                    return result
                except Exception as error:  # any compiler failure: serve eagerly from now on, say why once
                    message = str(error).splitlines()[0][:200] if str(error) else ""
                    self.fallback_reason = f"{type(error).__name__}: {message}"
                    logger.warning("torch.compile failed (%s); running eagerly", self.fallback_reason)
                    self._compiled = None
        return self.eager(*args, **kwargs)


def optimise_network(network: nn.Module, arch: str, compute: ComputeSettings, speed: SpeedSettings) -> nn.Module:
    """Apply the load-time switches of ``speed`` (resolved) to a freshly loaded network.
    (The modulated-convolution form is chosen by GFPGANRestorer, which owns that switch.)"""
    traits = OPTIMISED_ARCHS.get(arch)
    if traits is None:
        return network
    if speed.fold_batchnorm and traits.fold_batchnorm:
        fold_batchnorm(network)
    if speed.reduced_precision_weights and compute.dtype != torch.float32:
        network = network.to(dtype=compute.dtype)
    if speed.channels_last:
        use_channels_last(network, traits)
    if speed.compile:
        network = CompiledWithFallback(network)
    return network


def autocast_for(network: nn.Module, compute: ComputeSettings) -> contextlib.AbstractContextManager[Any]:
    """Autocast only for float32-stored networks; bf16-stored ones already compute in bf16."""
    return compute.autocast() if network_dtype(network) == torch.float32 else contextlib.nullcontext()


def prepare_input(batch: torch.Tensor, network: nn.Module, speed_channels_last: bool) -> torch.Tensor:
    """Cast a float32 NCHW batch to what ``network`` stores (dtype, memory format)."""
    batch = batch.to(network_dtype(network))
    memory_format = torch.channels_last if speed_channels_last else torch.contiguous_format
    return batch.contiguous(memory_format=memory_format)


def faces_input(faces: np.ndarray, network: nn.Module, device: torch.device, channels_last: bool) -> torch.Tensor:
    """(N, S, S, 3) uint8 RGB faces -> the [-1, 1] NCHW batch GFPGAN and ParseNet take, on
    ``device`` in the network's dtype and layout."""
    batch = torch.from_numpy(faces).to(device).permute(0, 3, 1, 2).float() / 255.0
    return prepare_input((batch - 0.5) / 0.5, network, channels_last)
