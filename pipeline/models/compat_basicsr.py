"""Compatibility shim for basicsr 1.4.2 on current torchvision.

basicsr (a dependency of gfpgan) imports ``torchvision.transforms.functional_tensor``,
a private module torchvision removed in 0.17, so ``import gfpgan`` fails with
``ModuleNotFoundError``. basicsr only uses ``rgb_to_grayscale`` from it, which lives in
``torchvision.transforms.functional`` now. Registering an alias module before the import
is the smallest fix that leaves the installed packages untouched.
"""
from __future__ import annotations

import importlib
import sys
import types

REMOVED_MODULE = "torchvision.transforms.functional_tensor"


def install_functional_tensor_alias() -> bool:
    """Register the alias if torchvision lacks the module; return True if it was added."""
    if REMOVED_MODULE in sys.modules:
        return False
    try:
        importlib.import_module(REMOVED_MODULE)
        return False
    except ModuleNotFoundError:
        pass
    functional = importlib.import_module("torchvision.transforms.functional")
    alias = types.ModuleType(REMOVED_MODULE)
    alias.rgb_to_grayscale = functional.rgb_to_grayscale  # type: ignore[attr-defined]
    alias.__doc__ = "Alias registered by pipeline.models.compat_basicsr for basicsr 1.4.2."
    sys.modules[REMOVED_MODULE] = alias
    return True


def import_gfpgan_clean_arch() -> type:
    """Return gfpgan's ``GFPGANv1Clean`` class, importing gfpgan safely."""
    install_functional_tensor_alias()
    module = importlib.import_module("gfpgan.archs.gfpganv1_clean_arch")
    return module.GFPGANv1Clean
