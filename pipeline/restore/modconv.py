"""StyleGAN2's modulated convolution in its batch-friendly form.

The reference builds one weight tensor per sample (weight x style, then demodulated) and
runs them as a grouped convolution with ``groups=batch``: fine for one face, but grouped
convolutions batch poorly on every backend. The same result comes from

    conv(x * style, weight) * demod,   demod[b, o] = rsqrt(sum_i style[b, i]^2 * sum_k weight[o, i, k]^2 + eps)

because the per-sample factors act on input and output channels only: one shared weight,
an ordinary batched convolution. The difference is float rounding (checked in
tests/restore/test_modconv.py). Switchable per network so benchmarks can show what it buys.
"""
from __future__ import annotations

import types

import torch
import torch.nn.functional as F
from torch import nn


def batched_modulated_forward(module: nn.Module, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """Drop-in forward for gfpgan/basicsr ``ModulatedConv2d`` (clean architecture)."""
    scale = module.modulation(style)  # (b, c_in)
    weight = module.weight[0]  # (c_out, c_in, k, k), shared by the batch
    if module.sample_mode == "upsample":
        x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    elif module.sample_mode == "downsample":
        x = F.interpolate(x, scale_factor=0.5, mode="bilinear", align_corners=False)
    out = F.conv2d(x * scale[:, :, None, None].to(x.dtype), weight.to(x.dtype), padding=module.padding)
    if module.demodulate:
        energy = weight.float().pow(2).sum(dim=(2, 3))  # (c_out, c_in)
        demod = torch.rsqrt(scale.float().pow(2) @ energy.t() + module.eps)  # (b, c_out)
        out = out * demod[:, :, None, None].to(out.dtype)
    return out


def _is_modulated_conv(module: nn.Module) -> bool:
    return (type(module).__name__ == "ModulatedConv2d" and hasattr(module, "modulation")
            and hasattr(module, "demodulate") and getattr(module, "weight", None) is not None
            and module.weight.dim() == 5)


def use_batched_modulation(network: nn.Module, enabled: bool = True) -> int:
    """Switch every modulated convolution of ``network`` to (or back from) the batched form.
    Done once when a model is loaded, before it is shared; returns how many layers changed."""
    changed = 0
    for module in network.modules():
        if not _is_modulated_conv(module):
            continue
        if enabled:
            module.forward = types.MethodType(batched_modulated_forward, module)
        elif "forward" in module.__dict__:
            del module.forward
        changed += 1
    return changed
