"""Matting: guided upsampling, MODNet with random real-architecture weights, the offline
mattings and the order they are chosen in (MODNet, else Selfie Segmentation, else plain wall)."""
from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from pipeline.core.errors import InvalidOptionError, WeightsCorruptError, WeightsMissingError
from pipeline.faces.detect import Face
from pipeline.models.manifest import Manifest, load_manifest
import pipeline.models.store as models
from pipeline.cutout.matting import (
    METHOD_MODNET,
    METHOD_PLAIN_WALL,
    METHOD_SELFIE,
    NO_PERSON_WARNING,
    NOT_PLAIN_WARNING,
    MODNetMatter,
    PortraitMatter,
    modnet_input_size,
)
from pipeline.core.samples import astronaut
from pipeline.cutout.edges import refine_alpha
from pipeline.cutout.plainwall import fallback_matte
from pipeline.cutout.selfie import selfie_available
from pipeline.models.store import ModelStore, save_random_weights

# What a visitor reads when MODNet's weights are missing: plain words, no model id, no command.
SELFIE_LABEL = (
    "The full matting model is not installed, so the offline matting was used; hair edges may be "
    "less clean than with the full matting model."
)
PLAIN_WALL_LABEL = (
    "The full matting model is not installed, so the plain-wall offline matting was used; it needs a "
    "plain, even background, and hair edges may be less clean than with the full matting model."
)
OFFLINE_METHOD = METHOD_SELFIE if selfie_available() else METHOD_PLAIN_WALL  # what this machine runs offline
# Selfie Segmentation on the synthetic portrait over random noise measured IoU 0.979.
BUSY_SELFIE_IOU = 0.9


def iou(mask: np.ndarray, truth: np.ndarray) -> float:
    return float((mask & truth).sum() / (mask | truth).sum())


def person_on_wall(
    background: np.ndarray | None = None, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, list[Face]]:
    """A head-and-shoulders "portrait": the astronaut's face as the head, a neck, a dark
    shirt, on a slightly unevenly lit, slightly noisy plain wall. Returns (rgb, truth, faces)."""
    rng = np.random.default_rng(seed)
    height, width = 480, 400
    if background is None:
        wall = np.empty((height, width, 3), np.float32)
        wall[:] = (208, 202, 192)
        wall += np.linspace(-10, 6, height, dtype=np.float32)[:, None, None]  # light falls off upwards
        wall += rng.normal(0, 2.0, (height, width, 3))
    else:
        wall = background.astype(np.float32)
    truth = np.zeros((height, width), np.uint8)
    cv2.ellipse(truth, (200, 500), (175, 170), 0, 0, 360, 1, -1)  # shoulders and torso
    cv2.rectangle(truth, (168, 250), (232, 350), 1, -1)  # neck
    cv2.ellipse(truth, (200, 180), (62, 87), 0, 0, 360, 1, -1)  # head
    person = np.empty((height, width, 3), np.float32)
    person[:] = (40, 52, 95)
    person += rng.normal(0, 6, (height, width, 3))
    person[93:268, 138:263] = astronaut()[40:215, 165:290]  # hair, face, collar
    person[250:351, 168:233] = (196, 150, 128)
    rgb = np.clip(np.where(truth[..., None] == 1, person, wall), 0, 255).astype(np.uint8)
    landmarks = np.array([[180, 160], [222, 160], [200, 190], [184, 215], [218, 215]], np.float32)
    faces = [Face(box=(150.0, 115.0, 250.0, 250.0), landmarks=landmarks, score=0.99)]
    return rgb, truth.astype(bool), faces


@pytest.fixture(scope="module")
def portrait_on_wall() -> tuple[np.ndarray, np.ndarray, list[Face]]:
    return person_on_wall()


@pytest.fixture
def no_mediapipe(monkeypatch: pytest.MonkeyPatch) -> None:
    """This machine as one without MediaPipe's wheel (ARM, Python 3.13): the package is not found."""
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, *args, **kwargs):
        return None if name == "mediapipe" or name.startswith("mediapipe.") else real_find_spec(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    assert not selfie_available()


@pytest.fixture(scope="module")
def modnet_weights(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Manifest]:
    """Random MODNet weights of the real architecture (only MODNet: saving every model takes ~9 s)."""
    directory = tmp_path_factory.mktemp("modnet-random")
    return directory, save_random_weights(load_manifest(), directory, ["modnet"])


@pytest.fixture(scope="module")
def modnet_store(modnet_weights, cpu_compute) -> ModelStore:
    directory, manifest = modnet_weights
    return ModelStore(manifest, directory, cpu_compute)


# --------------------------------------------------------------------------- refine_alpha


def sharp_edge_scene(size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """A wavy-edged blob (true alpha exactly 0/1) in one colour on another, with sensor noise."""
    rng = np.random.default_rng(0)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    centre = size / 2
    inside = ((xs - centre) / (0.35 * size)) ** 2 + ((ys - centre) / (0.27 * size)) ** 2 + 0.15 * np.sin(xs / 7) < 1
    truth = inside.astype(np.float32)
    rgb = np.where(inside[..., None], np.float32([220, 180, 150]), np.float32([60, 90, 160]))
    rgb = np.clip(rgb + rng.normal(0, 3, rgb.shape), 0, 255).astype(np.uint8)
    return rgb, truth


@pytest.mark.parametrize("factor", [4, 8, 16])
def test_refine_alpha_follows_the_photo_better_than_bilinear(factor):
    rgb, truth = sharp_edge_scene()
    size = truth.shape[0]
    low = cv2.resize(truth, (size // factor, size // factor), interpolation=cv2.INTER_AREA)
    bilinear = cv2.resize(low, (size, size), interpolation=cv2.INTER_LINEAR)
    refined = refine_alpha(low, rgb)
    assert refined.shape == truth.shape and refined.dtype == np.float32
    assert refined.min() >= 0.0 and refined.max() <= 1.0
    error_bilinear = np.abs(bilinear - truth).mean()
    error_refined = np.abs(refined - truth).mean()
    assert error_refined < 0.3 * error_bilinear


def test_refine_alpha_keeps_flat_mattes_and_handles_full_size_input():
    rgb, truth = sharp_edge_scene(96)
    flat = refine_alpha(np.full((12, 12), 0.3, np.float32), rgb)
    assert np.allclose(flat, 0.3, atol=1e-3)
    same_size = refine_alpha(truth, rgb, radius=3)
    assert same_size.shape == truth.shape
    assert np.abs(same_size - truth).mean() < 0.02
    non_square = refine_alpha(np.zeros((10, 7), np.float32), np.zeros((333, 517, 3), np.uint8))
    assert non_square.shape == (333, 517)


def test_refine_alpha_rejects_bad_inputs():
    rgb = np.zeros((20, 20, 3), np.uint8)
    with pytest.raises(ValueError):
        refine_alpha(np.zeros((4, 4, 1), np.float32), rgb)
    with pytest.raises(ValueError):
        refine_alpha(np.zeros((4, 4), np.float32), rgb.astype(np.float32))
    with pytest.raises(ValueError):
        refine_alpha(np.zeros((4, 4), np.float32), rgb, eps=0.0)


# --------------------------------------------------------------------------- MODNet


@pytest.mark.parametrize("size", [(512, 512), (333, 517), (4000, 3000), (100, 2000), (20, 20)])
def test_modnet_input_size_is_bounded_and_divisible_by_32(size):
    height, width = modnet_input_size(*size)
    assert height % 32 == 0 and width % 32 == 0
    assert min(height, width) >= 32
    assert max(height, width) <= 4 * 512
    if max(size) / min(size) <= 4:
        assert abs(min(height, width) - 512) <= 16
        assert abs(height / width - size[0] / size[1]) < 0.05 * size[0] / size[1]


def test_modnet_matte_is_full_size_for_square_and_odd_sizes(modnet_store, astronaut_rgb):
    matter = PortraitMatter(modnet_store)
    odd = cv2.resize(astronaut_rgb, (517, 333), interpolation=cv2.INTER_AREA)
    for image in (astronaut_rgb, odd):
        result = matter.matte(image)
        assert result.method == METHOD_MODNET and result.warnings == ()
        assert result.alpha.shape == image.shape[:2] and result.alpha.dtype == np.float32
        assert np.isfinite(result.alpha).all()
        assert result.alpha.min() >= 0.0 and result.alpha.max() <= 1.0
        assert result.alpha.std() > 0  # the network's output, not a constant placeholder


def test_modnet_is_loaded_once_strictly_and_shared(modnet_weights, cpu_compute, astronaut_rgb, monkeypatch):
    loads: list[str] = []
    real_load = models.load_network

    def counting_load(entry, directory=None, compute=None, speed=None):
        loads.append(entry.name)
        return real_load(entry, directory, compute, speed)

    monkeypatch.setattr(models, "load_network", counting_load)
    directory, manifest = modnet_weights
    store = ModelStore(manifest, directory, cpu_compute)
    small = cv2.resize(astronaut_rgb, (96, 128), interpolation=cv2.INTER_AREA)
    first = PortraitMatter(store, ref_size=128).matte(small, method="modnet")
    second = PortraitMatter(store, ref_size=128).matte(small)
    assert loads == ["modnet"]
    assert store.loaded_names() == ["modnet"]
    assert np.array_equal(first.alpha, second.alpha)  # deterministic, no per-request state
    network = store.get("modnet")
    assert not network.training
    assert not any(parameter.requires_grad for parameter in network.parameters())


def test_modnet_matter_runs_the_network_at_bounded_size(modnet_store):
    calls: list[tuple[int, ...]] = []
    network = modnet_store.get("modnet")
    handle = network.register_forward_pre_hook(lambda module, inputs: calls.append(tuple(inputs[0].shape)))
    try:
        matter = MODNetMatter(network, modnet_store.compute, ref_size=256)
        image = np.random.default_rng(1).integers(0, 256, (700, 300, 3)).astype(np.uint8)
        low = matter.matte_low_resolution(image)
        alpha = matter.matte(image)
    finally:
        handle.remove()
    assert calls[0] == (1, 3, *modnet_input_size(700, 300, 256)) == (1, 3, 608, 256)
    assert low.shape == (608, 256)
    assert alpha.shape == (700, 300)
    with pytest.raises(ValueError):
        MODNetMatter(network, modnet_store.compute, ref_size=500)


def test_modnet_method_without_weights_raises_the_stores_error(tmp_path, cpu_compute, portrait_on_wall):
    matter = PortraitMatter(ModelStore(directory=tmp_path, compute=cpu_compute))
    with pytest.raises(WeightsMissingError) as caught:
        matter.matte(portrait_on_wall[0], method="modnet")
    assert "python -m pipeline weights fetch modnet" in caught.value.user_message
    with pytest.raises(InvalidOptionError):
        matter.matte(portrait_on_wall[0], method="magic")


def test_damaged_modnet_weights_fall_back_in_auto_and_raise_when_asked_for(tmp_path, cpu_compute, portrait_on_wall):
    # A readable checkpoint of the wrong architecture: the strict loader must refuse it.
    torch.save({"conv.weight": torch.zeros(3, 3)}, tmp_path / load_manifest().get("modnet").file)
    matter = PortraitMatter(ModelStore(directory=tmp_path, compute=cpu_compute))
    result = matter.matte(portrait_on_wall[0], portrait_on_wall[2])
    assert result.method == OFFLINE_METHOD
    assert str(result.warnings[0]).startswith("The full matting model could not be loaded, so ")
    with pytest.raises(WeightsCorruptError):
        matter.matte(portrait_on_wall[0], method="modnet")


# --------------------------------------------------------------------------- fallback


def test_fallback_matches_a_person_on_a_plain_wall(portrait_on_wall):
    rgb, truth, faces = portrait_on_wall
    with_faces = fallback_matte(rgb, faces)
    assert with_faces.shape == truth.shape and with_faces.dtype == np.float32
    assert with_faces.min() >= 0.0 and with_faces.max() <= 1.0
    assert iou(with_faces >= 0.5, truth) > 0.9
    assert iou(fallback_matte(rgb) >= 0.5, truth) > 0.9  # the wall model alone suffices here


def test_fallback_on_a_large_photo_segments_a_bounded_copy_and_returns_full_size():
    rgb, truth, faces = person_on_wall(seed=1)
    scale = 2.5
    big = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    big_truth = cv2.resize(truth.astype(np.uint8), (big.shape[1], big.shape[0]), interpolation=cv2.INTER_NEAREST) > 0
    big_faces = [Face(tuple(v * scale for v in face.box), face.landmarks * scale, face.score) for face in faces]
    alpha = fallback_matte(big, big_faces)
    assert alpha.shape == big.shape[:2]
    assert iou(alpha >= 0.5, big_truth) > 0.9


@pytest.mark.mediapipe
def test_without_modnet_auto_uses_selfie_segmentation_labelled(tmp_path, cpu_compute, portrait_on_wall, caplog):
    rgb, truth, faces = portrait_on_wall
    matter = PortraitMatter(ModelStore(directory=tmp_path, compute=cpu_compute))
    with caplog.at_level(logging.INFO, logger="pipeline.cutout.matting"):
        result = matter.matte(rgb, faces)
    assert result.method == METHOD_SELFIE
    assert tuple(map(str, result.warnings)) == (SELFIE_LABEL,)
    assert iou(result.alpha >= 0.5, truth) > 0.9
    # the administrator's hint goes to the log, not to the visitor
    assert "python -m pipeline weights fetch modnet" in caplog.text
    assert not any("python" in str(warning) or "modnet" in str(warning).lower() for warning in result.warnings)

    chosen = matter.matte(rgb, faces, method="fallback")
    assert chosen.method == METHOD_SELFIE and chosen.warnings == ()
    assert np.array_equal(chosen.alpha, result.alpha)  # the same matte: no state kept between calls


def test_without_mediapipe_auto_uses_the_plain_wall_matting_labelled(tmp_path, cpu_compute, portrait_on_wall,
                                                                     no_mediapipe):
    rgb, truth, faces = portrait_on_wall
    matter = PortraitMatter(ModelStore(directory=tmp_path, compute=cpu_compute))
    result = matter.matte(rgb, faces)
    assert result.method == METHOD_PLAIN_WALL
    assert tuple(map(str, result.warnings)) == (PLAIN_WALL_LABEL,)  # plain wall: no "not plain" warning
    assert iou(result.alpha >= 0.5, truth) > 0.9

    chosen = matter.matte(rgb, faces, method="fallback")
    assert chosen.method == METHOD_PLAIN_WALL
    assert tuple(map(str, chosen.warnings)) == ("The offline person matting cannot run on this server, so the plain-wall offline "
                               "matting was used; it needs a plain, even background, and hair edges may be less "
                               "clean than with the full matting model.",)


@pytest.mark.mediapipe
def test_modnet_stays_first_when_its_weights_are_there(modnet_store, portrait_on_wall):
    rgb, _, faces = portrait_on_wall
    matter = PortraitMatter(modnet_store, ref_size=128)
    assert matter.matte(rgb, faces).method == METHOD_MODNET  # auto, with MediaPipe installed too
    assert matter.matte(rgb, faces, method="fallback").method == METHOD_SELFIE


def test_busy_background_is_not_silently_all_foreground(tmp_path, cpu_compute, no_mediapipe):
    noise = np.random.default_rng(3).integers(0, 256, (480, 400, 3)).astype(np.uint8)
    rgb, truth, faces = person_on_wall(background=noise)
    matter = PortraitMatter(ModelStore(directory=tmp_path, compute=cpu_compute))
    for given_faces in (faces, []):
        result = matter.matte(rgb, given_faces)
        assert result.method == METHOD_PLAIN_WALL
        fraction = result.foreground_fraction
        sensible = 0.02 < fraction < 0.98 and iou(result.alpha >= 0.5, truth) > 0.8
        assert sensible or NOT_PLAIN_WARNING in result.warnings
        assert fraction < 0.98 or NOT_PLAIN_WARNING in result.warnings
    assert NOT_PLAIN_WARNING in result.warnings  # noise is never a plain wall


@pytest.mark.mediapipe
def test_selfie_segmentation_finds_the_person_on_a_busy_background(tmp_path, cpu_compute):
    noise = np.random.default_rng(3).integers(0, 256, (480, 400, 3)).astype(np.uint8)
    rgb, truth, faces = person_on_wall(background=noise)
    result = PortraitMatter(ModelStore(directory=tmp_path, compute=cpu_compute)).matte(rgb, faces, method="fallback")
    assert result.method == METHOD_SELFIE and result.warnings == ()
    assert iou(result.alpha >= 0.5, truth) > BUSY_SELFIE_IOU


def test_empty_wall_is_flagged_not_passed_off_as_a_matte(tmp_path, cpu_compute, no_mediapipe):
    wall = np.full((200, 160, 3), (120, 160, 200), np.uint8)
    result = PortraitMatter(ModelStore(directory=tmp_path, compute=cpu_compute)).matte(wall)
    assert result.foreground_fraction < 0.02
    assert NOT_PLAIN_WARNING in result.warnings


@pytest.mark.mediapipe
def test_empty_wall_is_flagged_by_selfie_segmentation_too(tmp_path, cpu_compute):
    wall = np.full((200, 160, 3), (120, 160, 200), np.uint8)
    result = PortraitMatter(ModelStore(directory=tmp_path, compute=cpu_compute)).matte(wall)
    assert result.method == METHOD_SELFIE
    assert result.foreground_fraction < 0.02
    assert tuple(map(str, result.warnings)) == (SELFIE_LABEL, str(NO_PERSON_WARNING))


def test_matter_rejects_non_rgb_input(tmp_path, cpu_compute):
    matter = PortraitMatter(ModelStore(directory=tmp_path, compute=cpu_compute))
    with pytest.raises(ValueError):
        matter.matte(np.zeros((10, 10), np.uint8))
    with pytest.raises(ValueError):
        fallback_matte(np.zeros((10, 10, 3), np.float32))


def test_modnet_runs_under_cuda_autocast_when_available(modnet_weights, astronaut_rgb):
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU; none is available on this machine")
    from pipeline.models.device import ComputeSettings

    directory, manifest = modnet_weights
    for dtype in (torch.float32, torch.bfloat16):
        store = ModelStore(manifest, directory, ComputeSettings(torch.device("cuda"), dtype))
        alpha = PortraitMatter(store).matte(astronaut_rgb, method="modnet").alpha
        assert alpha.shape == (512, 512) and np.isfinite(alpha).all()


@pytest.mark.parametrize("box", [(-1e12, -1e12, 1e12, 1e12), (float("nan"), 10.0, 50.0, 60.0), (5e9, 5e9, 6e9, 6e9)])
def test_fallback_matting_survives_wild_face_boxes(box):
    """A detector gone wrong (random weights gave boxes a million times the photo) must not
    crash OpenCV's int32 drawing: such a face seeds nothing, or is clipped to the photo."""
    wall = np.full((120, 100, 3), 200, np.uint8)
    wall[30:110, 30:70] = (90, 60, 40)  # a dark person-shaped block on a plain wall
    face = Face(box=box, landmarks=np.zeros((5, 2), np.float32), score=0.9)
    alpha = fallback_matte(wall, [face])
    assert alpha.shape == (120, 100) and np.isfinite(alpha).all()
