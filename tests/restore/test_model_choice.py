"""Model choice (issue 16, item 4): GFPGAN v1.4 (the default), v1.3 and v1.2, and RestoreFormer.

Each model's licence is in the manifest and in the Restore tab's model list, and a model whose
licence does not allow commercial use (or is unconfirmed) is never a default. RestoreFormer runs
here with random weights of its real architecture (gfpgan's ``restoreformer_arch``) saved in the
published file's layout, through the RESTORERS table the engine uses; its pre- and
post-processing are checked against the code gfpgan's own ``GFPGANer`` runs around it.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from pipeline.core.metrics import psnr
from pipeline.models.accelerate import SpeedSettings
from pipeline.models.compat_basicsr import install_functional_tensor_alias
from pipeline.models.device import ComputeSettings
from pipeline.models.manifest import load_manifest
from pipeline.models.store import ModelStore, build_network
from pipeline.restore.engine import RestorationPipeline
from pipeline.restore.restorers import RESTORERS, RestoreFormerRestorer

# A dropdown option must fit a phone's width (about 50 characters at the page's font size).
PHONE_LABEL_CHARS = 50


def _attribute_names(network: nn.Module) -> set[tuple[str, str]]:
    """Every attribute of every submodule: a network that stored something per call grows one."""
    return {(path, attribute) for path, module in network.named_modules() for attribute in vars(module)}


@pytest.fixture(scope="module")
def restoreformer_run(random_weights, cpu_compute, astronaut_rgb):
    """One batch of two 512x512 faces through RESTORERS["restoreformer"] in one network call,
    as on a GPU (the expensive part, shared by the tests below), with what the network saw and
    returned recorded by a hook."""
    directory, manifest = random_weights
    store = ModelStore(manifest, directory, cpu_compute, speed=SpeedSettings(max_batch=2))
    entry = manifest.get("restoreformer")
    restorer = RESTORERS[entry.arch](store, entry)
    network = store.get(entry.name)
    calls: list[tuple[torch.Tensor, torch.Tensor, object]] = []
    handle = network.register_forward_hook(
        lambda module, args, output: calls.append((args[0].detach().clone(), output[0].detach().clone(), output[1])))
    faces = np.stack([astronaut_rgb, np.ascontiguousarray(astronaut_rgb[:, ::-1])])
    before = (dict(vars(restorer)), _attribute_names(network))
    try:
        restored = restorer.restore_batch(faces)
    finally:
        handle.remove()
    after = (dict(vars(restorer)), _attribute_names(network))
    return {"faces": faces, "restored": restored, "calls": calls, "before": before, "after": after}


def test_restoreformer_restores_a_batch_through_the_restorers_table(restoreformer_run):
    faces, restored = restoreformer_run["faces"], restoreformer_run["restored"]
    assert restored.shape == (2, 512, 512, 3) and restored.dtype == np.uint8
    assert psnr(restored[0], faces[0]) < 30, "output equals the input: the network did not run"
    assert restored[0].std() > 5, "flat output: the comparison below would prove nothing"
    assert not np.array_equal(restored[0], restored[1])


def test_restoreformer_is_fed_and_read_exactly_as_gfpganer_does(restoreformer_run):
    """GFPGANer (gfpgan/utils.py): img2tensor(bgr / 255, bgr2rgb) and normalize(0.5, 0.5) in;
    ``self.gfpgan(face, ...)[0]`` and tensor2img(rgb2bgr, min_max=(-1, 1)) out."""
    install_functional_tensor_alias()
    from basicsr.utils import img2tensor, tensor2img
    from torchvision.transforms.functional import normalize

    faces, restored = restoreformer_run["faces"], restoreformer_run["restored"]
    inputs = torch.cat([call[0] for call in restoreformer_run["calls"]]).float()
    outputs = torch.cat([call[1] for call in restoreformer_run["calls"]]).float()
    assert len(restoreformer_run["calls"]) == 1  # both faces in one call
    assert all(call[2] is None for call in restoreformer_run["calls"])  # forward returns (image, None)
    assert inputs.shape == outputs.shape == (2, 3, 512, 512)
    for index, face in enumerate(faces):
        expected_input = img2tensor(face[..., ::-1] / 255.0, bgr2rgb=True, float32=True)
        normalize(expected_input, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), inplace=True)
        assert torch.allclose(inputs[index], expected_input, atol=1e-6)
        expected_output = tensor2img(outputs[index], rgb2bgr=True, min_max=(-1, 1))[..., ::-1]
        assert np.array_equal(restored[index], expected_output)


def test_the_restoreformer_restorer_keeps_no_per_request_state(restoreformer_run):
    restorer_before, network_before = restoreformer_run["before"]
    restorer_after, network_after = restoreformer_run["after"]
    assert restorer_after.keys() == restorer_before.keys()
    assert all(restorer_after[key] is value for key, value in restorer_before.items())
    assert network_after == network_before  # e.g. no decoder ``last_z_shape`` left behind


class _Stop(Exception):
    """Raised by a pre-hook once it has seen the network's input: no need to run the network."""


def test_restoreformer_runs_in_float32_where_the_device_computes_in_bf16(astronaut_rgb):
    """Its vector quantiser takes an argmin over distances, which bf16 rounding would change."""
    network = build_network(load_manifest().get("restoreformer")).eval()
    restorer = RestoreFormerRestorer("restoreformer", network, ComputeSettings(torch.device("cpu"), torch.bfloat16))
    seen: dict[str, object] = {}

    def look(module: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        seen.update(dtype=args[0].dtype, autocast=torch.is_autocast_enabled("cpu"))
        raise _Stop

    handle = network.register_forward_pre_hook(look)
    try:
        with pytest.raises(_Stop):
            restorer.restore_batch(astronaut_rgb[None])
    finally:
        handle.remove()
    assert seen == {"dtype": torch.float32, "autocast": False}


def test_the_default_restorer_is_gfpgan_v1_4(random_pipeline):
    from webapp.studio import Studio

    assert random_pipeline.manifest.default("restorer").name == "gfpgan-v1.4"
    assert Studio(engine=random_pipeline).default_restorer() == "gfpgan-v1.4"


@pytest.mark.parametrize("name, change", [
    ("restoreformer", {"default": True}),  # licence unconfirmed
    ("gfpgan-v1.4", {"commercial_use": False}),  # a non-commercial licence
    ("gfpgan-v1.4", {"commercial_use": None}),  # not recorded
])
def test_a_default_whose_licence_does_not_allow_commercial_use_is_refused(name, change):
    entry = load_manifest().get(name)
    with pytest.raises(ValueError, match="a default model's licence must allow commercial use"):
        dataclasses.replace(entry, **change)


def test_the_model_list_shows_each_licence(random_pipeline):
    from webapp.studio import Studio

    labels = dict((name, label) for label, name in Studio(engine=random_pipeline).restorer_choices())
    assert labels == {
        "gfpgan-v1.4": "GFPGAN v1.4 (default) · Apache-2.0",
        "gfpgan-v1.3": "GFPGAN v1.3 (natural) · Apache-2.0",
        "gfpgan-v1.2": "GFPGAN v1.2 (sharper) · Apache-2.0",
        "restoreformer": "RestoreFormer · licence unknown",
    }


def test_a_model_that_is_not_installed_stays_marked_and_labels_fit_a_phone(random_weights, cpu_compute, tmp_path):
    from webapp.studio import Studio

    _, manifest = random_weights
    empty = RestorationPipeline(manifest=manifest, weights_directory=tmp_path, compute=cpu_compute)
    labels = dict((name, label) for label, name in Studio(engine=empty).restorer_choices())
    assert labels["gfpgan-v1.4"] == "GFPGAN v1.4 (default) · Apache-2.0 · not installed"
    assert labels["restoreformer"] == "RestoreFormer · licence unknown · not installed"
    assert all(label.endswith(" · not installed") for label in labels.values())
    assert max(len(label) for label in labels.values()) <= PHONE_LABEL_CHARS
