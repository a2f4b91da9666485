"""Builds the networks named in the manifest and loads their weights, once per process.

The manifest (``weights/manifest.json``) names an ``arch`` for each model; this module
maps those names to constructors from gfpgan/facexlib. Checkpoints are read with
``weights_only=True`` (no pickle code execution) and loaded *strictly*, so a file for
the wrong architecture fails loudly instead of producing garbage faces.

``ModelStore`` caches loaded networks per (model, device): every request shares them,
and none of them holds per-request state (callers keep that in their own context).
"""
from __future__ import annotations

import contextlib
import io
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pipeline.core.errors import InvalidOptionError, WeightsCorruptError
from pipeline.models.accelerate import SpeedSettings, optimise_network, speed_from_environment
from pipeline.models.compat_basicsr import import_gfpgan_clean_arch, install_functional_tensor_alias
from pipeline.models.device import ComputeSettings, default_compute
from pipeline.models.locations import fetch_command
from pipeline.models.manifest import Manifest, ModelEntry, load_manifest
from pipeline.models.weight_status import WeightState, WeightStatus, check, require


def _build_gfpgan_clean(options: Mapping[str, Any]) -> nn.Module:
    gfpgan_clean = import_gfpgan_clean_arch()
    return gfpgan_clean(
        out_size=512,
        num_style_feat=512,
        channel_multiplier=int(options.get("channel_multiplier", 2)),
        decoder_load_path=None,
        fix_decoder=False,
        num_mlp=8,
        input_is_latent=True,
        different_w=True,
        narrow=1,
        sft_half=True,
    )


def _build_retinaface_resnet50(options: Mapping[str, Any]) -> nn.Module:
    from facexlib.detection.retinaface import RetinaFace

    # RetinaFace moves itself to its `device` at construction; build on CPU and move later.
    return RetinaFace(network_name="resnet50", half=False, phase="test", device=torch.device("cpu"))


def _build_parsenet(options: Mapping[str, Any]) -> nn.Module:
    from facexlib.parsing.parsenet import ParseNet

    return ParseNet(in_size=512, out_size=512, parsing_ch=19)


def _build_bisenet(options: Mapping[str, Any]) -> nn.Module:
    from facexlib.parsing.bisenet import BiSeNet

    return BiSeNet(num_class=19)


def _build_modnet(options: Mapping[str, Any]) -> nn.Module:
    from facexlib.matting.modnet import MODNet

    return MODNet(backbone_pretrained=False)


def _build_arcface_ir_se50(options: Mapping[str, Any]) -> nn.Module:
    from facexlib.recognition.arcface_arch import Backbone

    return Backbone(num_layers=50, drop_ratio=0.6, mode="ir_se")


def _build_rrdbnet(options: Mapping[str, Any]) -> nn.Module:
    """Real-ESRGAN x2plus/x4plus: RRDBNet (basicsr), ``scale`` 2 folds 2x2 pixels first."""
    install_functional_tensor_alias()  # basicsr's package import needs it (see compat_basicsr)
    from basicsr.archs.rrdbnet_arch import RRDBNet

    return RRDBNet(num_in_ch=3, num_out_ch=3, scale=int(options.get("scale", 4)), num_feat=64,
                   num_block=int(options.get("num_block", 23)), num_grow_ch=32)


def _build_srvgg(options: Mapping[str, Any]) -> nn.Module:
    """realesr-general-x4v3: the compact SRVGG network (basicsr)."""
    install_functional_tensor_alias()
    from basicsr.archs.srvgg_arch import SRVGGNetCompact

    return SRVGGNetCompact(num_in_ch=3, num_out_ch=3, num_feat=64, num_conv=int(options.get("num_conv", 32)),
                           upscale=int(options.get("scale", 4)), act_type="prelu")


def _build_restoreformer(options: Mapping[str, Any]) -> nn.Module:
    """RestoreFormer as gfpgan's GFPGANer builds it (``RestoreFormer()``, the published file's
    shapes). Its decoders print a line while they are built; it is kept out of stdout (the
    CLI's output)."""
    install_functional_tensor_alias()  # gfpgan's package import needs it (see compat_basicsr)
    from gfpgan.archs.restoreformer_arch import RestoreFormer

    with contextlib.redirect_stdout(io.StringIO()):
        return RestoreFormer()


ARCH_BUILDERS: dict[str, Callable[[Mapping[str, Any]], nn.Module]] = {
    "gfpgan_clean": _build_gfpgan_clean,
    "restoreformer": _build_restoreformer,
    "retinaface_resnet50": _build_retinaface_resnet50,
    "parsenet": _build_parsenet,
    "bisenet": _build_bisenet,
    "modnet": _build_modnet,
    "arcface_ir_se50": _build_arcface_ir_se50,
    "rrdbnet": _build_rrdbnet,
    "srvgg": _build_srvgg,
}

# Checkpoints of these projects wrap the tensors in one of these keys.
_WRAPPER_KEYS = ("params_ema", "params", "state_dict", "model")


def build_network(entry: ModelEntry) -> nn.Module:
    """A randomly initialised network of the entry's architecture (on CPU)."""
    try:
        builder = ARCH_BUILDERS[entry.arch]
    except KeyError:
        raise InvalidOptionError(
            f"Model '{entry.name}' uses architecture '{entry.arch}', which has no builder.",
            hint=f"Known architectures: {', '.join(sorted(ARCH_BUILDERS))}.",
        ) from None
    return builder(dict(entry.arch_options))


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Read a checkpoint as a plain state dict: unwrap EMA/params keys, drop 'module.'."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch.load raises many types on damaged files (KeyError, UnpicklingError, ...)
        raise WeightsCorruptError(
            f"Weights file {path.name} could not be read as a PyTorch checkpoint ({error}).",
            hint=f"Re-download it with: python -m pipeline weights fetch <name> (file {path}).",
        ) from error
    if not isinstance(checkpoint, dict):
        raise WeightsCorruptError(f"Weights file {path.name} does not contain a state dict.")
    for key in _WRAPPER_KEYS:
        if key in checkpoint and isinstance(checkpoint[key], dict):
            checkpoint = checkpoint[key]
            break
    return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in checkpoint.items()}


def load_network(
    entry: ModelEntry, directory: Path | None = None, compute: ComputeSettings | None = None,
    speed: SpeedSettings | None = None,
) -> nn.Module:
    """Build the entry's network, load its verified weights strictly, ready for inference
    (with the load-time speed switches of ``speed``; default: this device's, see accelerate)."""
    path = require(entry, directory)
    network = build_network(entry)
    state = read_state_dict(path)
    try:
        network.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise WeightsCorruptError(
            f"Weights file {path.name} does not fit the {entry.arch} architecture of '{entry.name}'.",
            hint=f"Re-download it with: {fetch_command([entry.name])}. Details: {str(error)[:300]}",
        ) from error
    compute = compute or default_compute()
    speed = (speed or speed_from_environment()).resolved(compute)
    return optimise_network(prepare_for_inference(network, compute), entry.arch, compute, speed)


def prepare_for_inference(network: nn.Module, compute: ComputeSettings) -> nn.Module:
    """Eval mode, no gradients, float32 on the chosen device (``optimise_network`` may then
    store restorer/parser weights in bf16; other networks use autocast)."""
    network.eval()
    for parameter in network.parameters():
        parameter.requires_grad_(False)
    network = network.to(compute.device)
    if hasattr(network, "device"):
        network.device = compute.device  # facexlib modules keep their own device attribute
    return network


class ModelStore:
    """Process-wide cache of loaded networks: each model is loaded once and shared.

    Loading is guarded by a per-model lock so two first requests don't load twice; the
    cached modules are only ever called in inference mode, never mutated.
    """

    def __init__(
        self,
        manifest: Manifest | None = None,
        directory: Path | None = None,
        compute: ComputeSettings | None = None,
        speed: SpeedSettings | None = None,
    ) -> None:
        self.manifest = manifest or load_manifest()
        self.directory = directory
        self.compute = compute or default_compute()
        self.speed = (speed or speed_from_environment()).resolved(self.compute)
        self._networks: dict[str, nn.Module] = {}
        self._load_seconds: dict[str, float] = {}  # how long each model took to load (read by the web app's metrics)
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, name: str) -> nn.Module:
        if name in self._networks:
            return self._networks[name]
        with self._guard:
            lock = self._locks.setdefault(name, threading.Lock())
        with lock:
            if name not in self._networks:
                entry = self.manifest.get(name)
                started = time.perf_counter()
                self._networks[name] = load_network(entry, self.directory, self.compute, self.speed)
                self._load_seconds[name] = time.perf_counter() - started
        return self._networks[name]

    def status(self, name: str) -> WeightStatus:
        return check(self.manifest.get(name), self.directory)

    def is_available(self, name: str) -> bool:
        """True when the model is loaded or its file is there and not corrupt."""
        if name in self._networks:
            return True
        return self.status(name).state in (WeightState.PRESENT, WeightState.UNVERIFIED)

    def loaded_names(self) -> list[str]:
        return sorted(self._networks)

    def load_seconds(self) -> dict[str, float]:
        """Seconds each loaded model took to load (build, read, verify, move to the device)."""
        return dict(self._load_seconds)


# How the published checkpoints wrap their state dicts, keyed by ``arch`` (others store it bare).
PUBLISHED_LAYOUTS: dict[str, Callable[[dict[str, torch.Tensor]], object]] = {
    "gfpgan_clean": lambda state: {"params_ema": state},
    "restoreformer": lambda state: {"params": state},  # RestoreFormer.pth (GFPGANer's fallback key)
    "rrdbnet": lambda state: {"params_ema": state},  # RealESRGAN_x2plus.pth
    "srvgg": lambda state: {"params": state},  # realesr-general-x4v3.pth
    "retinaface_resnet50": lambda state: {f"module.{key}": value for key, value in state.items()},
}


def _published_layout(entry: ModelEntry, state: dict[str, torch.Tensor]) -> object:
    """Wrap a state dict like the published file of its architecture."""
    wrap = PUBLISHED_LAYOUTS.get(entry.arch)
    return state if wrap is None else wrap(state)


def save_random_weights(
    manifest: Manifest, directory: Path, names: list[str] | None = None, seed: int = 1000
) -> Manifest:
    """Save seeded random networks of the real architectures as the manifest's files.

    For tests and benchmarks on machines that cannot download weights (cost does not
    depend on the values). Returns a manifest whose bytes/sha256 describe these files, so
    the real verifying loader accepts them; the published manifest never does.
    """
    import dataclasses
    import hashlib

    directory.mkdir(parents=True, exist_ok=True)
    for index, name in enumerate(names or manifest.names()):
        entry = manifest.get(name)
        if entry.is_bundled:
            continue
        torch.manual_seed(seed + index)
        path = directory / str(entry.file)
        torch.save(_published_layout(entry, build_network(entry).state_dict()), path)
        data = path.read_bytes()
        manifest = manifest.replace_entry(
            dataclasses.replace(entry, bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
        )
    return manifest
