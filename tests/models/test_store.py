"""Random-weight networks of the official architectures, saved under the manifest's file
names in the published layouts, load strictly through the real verifying loader."""
from __future__ import annotations

import dataclasses
import hashlib

import pytest
import torch

from pipeline.core.errors import WeightsCorruptError, WeightsMissingError
from pipeline.models.accelerate import SpeedSettings
from pipeline.models.manifest import load_manifest
from pipeline.models.store import ModelStore, load_network, read_state_dict

DOWNLOADABLE = ["gfpgan-v1.4", "gfpgan-v1.3", "gfpgan-v1.2", "restoreformer", "retinaface-r50", "parsenet",
                "bisenet", "modnet", "arcface"]


@pytest.mark.parametrize("name", DOWNLOADABLE)
def test_each_model_loads_strictly(random_weights, cpu_compute, name):
    directory, manifest = random_weights
    entry = manifest.get(name)
    network = load_network(entry, directory, cpu_compute, SpeedSettings.plain())  # no folding: keys as saved
    assert not network.training
    saved = read_state_dict(directory / entry.file)
    loaded = network.state_dict()
    assert saved.keys() == loaded.keys()
    some_key = next(k for k, v in saved.items() if v.is_floating_point() and v.numel() > 1)
    assert torch.equal(saved[some_key], loaded[some_key])


def test_published_layouts_are_unwrapped(random_weights):
    directory, manifest = random_weights
    gfpgan = torch.load(directory / manifest.get("gfpgan-v1.4").file, weights_only=True)
    assert list(gfpgan) == ["params_ema"]
    # RestoreFormer.pth keeps its tensors under "params" (GFPGANer takes "params" when there is no
    # "params_ema"), so a loader that only unwrapped "params_ema" would fail on the real file.
    restoreformer = torch.load(directory / manifest.get("restoreformer").file, weights_only=True)
    assert list(restoreformer) == ["params"]
    state = read_state_dict(directory / manifest.get("retinaface-r50").file)
    assert state and not any(key.startswith("module.") for key in state)


def test_wrong_architecture_is_a_clear_error(random_weights, cpu_compute, tmp_path):
    directory, manifest = random_weights
    wrong = tmp_path / manifest.get("gfpgan-v1.4").file
    wrong.write_bytes((directory / manifest.get("parsenet").file).read_bytes())
    data = wrong.read_bytes()
    entry = dataclasses.replace(manifest.get("gfpgan-v1.4"), bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
    with pytest.raises(WeightsCorruptError) as error:
        load_network(entry, tmp_path, cpu_compute)
    assert "does not fit" in error.value.user_message


def test_missing_weights_name_the_file_and_the_fetch_command(cpu_compute, tmp_path):
    store = ModelStore(directory=tmp_path, compute=cpu_compute)
    with pytest.raises(WeightsMissingError) as error:
        store.get("gfpgan-v1.4")
    text = error.value.user_message
    assert "GFPGANv1.4.pth" in text and "python -m pipeline weights fetch gfpgan-v1.4" in text


def test_hash_mismatch_is_refused_by_the_loader(random_weights, cpu_compute):
    directory, _ = random_weights
    real_manifest = load_manifest()  # published hashes: the random file cannot match
    with pytest.raises(WeightsCorruptError):
        load_network(real_manifest.get("parsenet"), directory, cpu_compute)


def test_store_loads_each_model_once(random_weights, cpu_compute):
    directory, manifest = random_weights
    store = ModelStore(manifest, directory, cpu_compute)
    assert store.get("parsenet") is store.get("parsenet")
    assert store.loaded_names() == ["parsenet"]


def test_garbage_file_with_a_matching_hash_is_a_clear_error(cpu_compute, tmp_path):
    entry = load_manifest().get("modnet")
    data = b"half a download" * 100
    (tmp_path / entry.file).write_bytes(data)
    entry = dataclasses.replace(entry, bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
    with pytest.raises(WeightsCorruptError) as error:
        load_network(entry, tmp_path, cpu_compute)
    assert "could not be read" in error.value.user_message
