"""Background replacement: exact compositing checks on a synthetic portrait with a known matte."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from pipeline.cutout.background import (
    BACKGROUND_MODES,
    COLOUR_PRESETS,
    BackgroundOptions,
    blurred_background,
    composite,
    cover_fit,
    despill,
    estimate_background_colour,
    feather_alpha,
    parse_colour,
    radial_gradient,
    vertical_gradient,
)
from pipeline.core.errors import InvalidOptionError

GREEN = (30, 160, 60)
HEIGHT, WIDTH = 120, 100


def soft_ellipse_alpha(height: int = HEIGHT, width: int = WIDTH, softness: float = 0.16) -> np.ndarray:
    """1 inside an ellipse, 0 outside, a linear ramp of a few pixels across its edge."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    radius = np.sqrt(((xs - width / 2) / (0.3 * width)) ** 2 + ((ys - height / 2) / (0.33 * height)) ** 2)
    return np.clip((1.0 + softness / 2 - radius) / softness, 0.0, 1.0).astype(np.float32)


def textured_foreground(height: int = HEIGHT, width: int = WIDTH, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = np.array([200, 140, 115], dtype=np.int16)
    return np.clip(base + rng.integers(-45, 46, (height, width, 3)), 0, 255).astype(np.uint8)


def over(foreground: np.ndarray, alpha: np.ndarray, background: np.ndarray | tuple[int, int, int]) -> np.ndarray:
    a = alpha[..., None].astype(np.float64)
    mixed = a * foreground.astype(np.float64) + (1 - a) * np.asarray(background, dtype=np.float64)
    return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def portrait() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(photo, its exact matte, the true foreground): a textured ellipse over a green wall."""
    alpha = soft_ellipse_alpha()
    foreground = textured_foreground()
    return over(foreground, alpha, GREEN), alpha, foreground


@pytest.fixture(scope="module")
def backdrop_image() -> np.ndarray:
    """A landscape-format picture for mode "image" (different aspect from the portrait)."""
    rng = np.random.default_rng(11)
    picture = rng.integers(0, 256, (60, 150, 3)).astype(np.uint8)
    return cv2.GaussianBlur(picture, (0, 0), 2)


def expected_background(mode: str, options: BackgroundOptions, rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    size = rgb.shape[:2]
    if mode == "colour":
        expected = np.empty((*size, 3), np.uint8)
        expected[:] = parse_colour(options.colour)
        return expected
    if mode == "vertical-gradient":
        return vertical_gradient(parse_colour(options.colour), parse_colour(options.colour2), size)
    if mode == "radial-gradient":
        return radial_gradient(parse_colour(options.colour), parse_colour(options.colour2), size)
    if mode == "image":
        return cover_fit(options.image, size)
    if mode == "blur":
        return blurred_background(rgb, alpha, options.blur_strength)
    raise AssertionError(mode)


OPAQUE_MODES = [mode for mode in BACKGROUND_MODES if mode != "transparent"]


@pytest.mark.parametrize("mode", OPAQUE_MODES)
def test_each_mode_changes_only_the_background(mode, portrait, backdrop_image):
    rgb, alpha, _ = portrait
    options = BackgroundOptions(
        mode=mode, colour="red", colour2="#102030", image=backdrop_image,
        blur_strength=0.6, feather_px=0.0, despill=False,
    )
    out = composite(rgb, alpha, options)
    background = expected_background(mode, options, rgb, alpha)
    assert out.alpha is None
    assert out.rgb.shape == rgb.shape and out.rgb.dtype == np.uint8

    person, wall = alpha == 1.0, alpha == 0.0
    edge = ~person & ~wall
    assert person.sum() > 1000 and wall.sum() > 1000 and edge.sum() > 100
    difference = out.rgb.astype(int)
    assert np.abs(difference[person] - rgb[person]).max() <= 1
    assert np.abs(difference[wall] - background[wall]).max() <= 1
    assert np.abs(difference[edge] - over(rgb, alpha, background)[edge]).max() <= 1


@pytest.mark.parametrize("mode", OPAQUE_MODES)
def test_default_feather_and_despill_keep_person_and_far_background(mode, portrait, backdrop_image):
    rgb, alpha, _ = portrait
    options = BackgroundOptions(mode=mode, colour="blue", colour2="white", image=backdrop_image)
    out = composite(rgb, alpha, options).rgb
    background = expected_background(mode, options, rgb, alpha)
    kernel = np.ones((9, 9), np.uint8)
    deep_person = cv2.erode((alpha == 1).astype(np.uint8), kernel) > 0
    far_wall = cv2.erode((alpha == 0).astype(np.uint8), kernel) > 0
    assert np.abs(out[deep_person].astype(int) - rgb[deep_person]).max() <= 1
    assert np.abs(out[far_wall].astype(int) - background[far_wall]).max() <= 1


def test_despilled_composite_uses_recovered_foreground_on_edges(portrait):
    rgb, alpha, _ = portrait
    options = BackgroundOptions(mode="colour", colour="white", feather_px=0.0, despill=True)
    out = composite(rgb, alpha, options).rgb
    recovered = despill(rgb, alpha, estimate_background_colour(rgb, alpha))
    expected = over(recovered, alpha, (255, 255, 255))
    assert np.abs(out.astype(int) - expected).max() <= 1


def test_despill_removes_the_old_walls_tint_from_hair_edges(portrait):
    rgb, alpha, foreground = portrait
    edge = (alpha >= 0.3) & (alpha < 0.98)
    assert edge.sum() > 100

    estimated = estimate_background_colour(rgb, alpha)
    assert np.abs(np.array(estimated) - GREEN).max() <= 2

    recovered = despill(rgb, alpha, estimated)
    error_with = np.abs(recovered[edge].astype(int) - foreground[edge]).mean()
    error_without = np.abs(rgb[edge].astype(int) - foreground[edge]).mean()
    assert error_with < 3.0
    assert error_with < 0.1 * error_without
    # pure person and pure wall pixels are untouched
    untouched = (alpha <= 0.02) | (alpha >= 0.98)
    assert np.array_equal(recovered[untouched], rgb[untouched])

    # End to end: on a new white wall the edges match the ideal composite, not a green fringe.
    ideal = over(foreground, alpha, (255, 255, 255))
    plain = composite(rgb, alpha, BackgroundOptions(colour="white", feather_px=0, despill=False)).rgb
    clean = composite(rgb, alpha, BackgroundOptions(colour="white", feather_px=0, despill=True)).rgb
    fringe_without = np.abs(plain[edge].astype(int) - ideal[edge]).mean()
    fringe_with = np.abs(clean[edge].astype(int) - ideal[edge]).mean()
    assert fringe_with < 0.2 * fringe_without


def test_estimate_background_colour_ignores_far_away_wall_and_person():
    alpha = soft_ellipse_alpha()
    rgb = over(textured_foreground(), alpha, GREEN)
    rgb[:, :8] = (250, 10, 10)  # a red curtain at the far left edge, outside the band
    assert np.abs(np.array(estimate_background_colour(rgb, alpha)) - GREEN).max() <= 2


def test_transparent_mode_returns_foreground_and_rounded_alpha(portrait):
    rgb, alpha, _ = portrait
    out = composite(rgb, alpha, BackgroundOptions(mode="transparent", feather_px=0.0, despill=False))
    assert out.alpha is not None and out.alpha.dtype == np.uint8 and out.alpha.shape == alpha.shape
    assert np.array_equal(out.alpha, np.rint(alpha * 255).astype(np.uint8))
    solid = out.alpha == 255
    assert np.array_equal(out.rgb[solid], rgb[solid])  # the person is untouched
    despilled = composite(rgb, alpha, BackgroundOptions(mode="transparent", feather_px=0.0, despill=True))
    assert np.array_equal(despilled.rgb, out.rgb)  # a cut-out is always despilled

    feathered = composite(rgb, alpha, BackgroundOptions(mode="transparent", feather_px=2.0))
    assert np.array_equal(feathered.alpha, np.rint(feather_alpha(alpha, 2.0) * 255).astype(np.uint8))
    assert not np.array_equal(feathered.alpha, out.alpha)


@pytest.mark.parametrize("feather_px", [0.0, 2.0])
def test_a_cut_out_holds_nothing_of_the_removed_background(portrait, feather_px):
    """Dropping the alpha channel of a transparent result must not show the old wall."""
    rgb, alpha, truth = portrait
    speckled = alpha.copy()
    speckled[5, 5] = 0.01  # matting noise far from the person: a faint pixel of wall
    out = composite(rgb, speckled, BackgroundOptions(mode="transparent", feather_px=feather_px))
    hidden = out.alpha == 0
    assert hidden.sum() > 1000 and np.all(out.rgb[hidden] == 255)
    shown = out.alpha > 0
    wall_distance = np.abs(out.rgb[shown].astype(int) - np.array(GREEN)).sum(axis=1)
    assert wall_distance.min() > 60, "a visible pixel still holds the old wall's colour"
    edge = (out.alpha > 0) & (out.alpha < 255) & (speckled > 0.3)
    assert edge.sum() > 50
    error_raw = np.abs(rgb[edge].astype(int) - truth[edge]).mean()
    error_out = np.abs(out.rgb[edge].astype(int) - truth[edge]).mean()
    assert error_out < error_raw / 2, (error_out, error_raw)  # edges hold the person's colour


def test_vertical_gradient_endpoints_and_monotonic():
    top, bottom = (10, 200, 30), (250, 40, 90)
    gradient = vertical_gradient(top, bottom, (9, 5))
    assert gradient.shape == (9, 5, 3) and gradient.dtype == np.uint8
    assert (gradient[0] == top).all() and (gradient[-1] == bottom).all()
    assert (np.diff(gradient[:, 2, 0].astype(int)) > 0).all()  # red rises
    assert (np.diff(gradient[:, 2, 1].astype(int)) < 0).all()  # green falls
    assert (gradient == gradient[:, :1]).all()  # constant along each row


def test_radial_gradient_centre_and_corners():
    centre, edge = (255, 255, 255), (20, 60, 140)
    gradient = radial_gradient(centre, edge, (21, 31))
    assert tuple(gradient[10, 15]) == centre
    for corner in (gradient[0, 0], gradient[0, -1], gradient[-1, 0], gradient[-1, -1]):
        assert tuple(corner) == edge
    row = gradient[10, 15:, 2].astype(int)
    assert (np.diff(row) <= 0).all() and row[0] > row[-1]


@pytest.mark.parametrize("source_size, frame", [((61, 151), (120, 100)), ((201, 81), (90, 160)), ((41, 41), (300, 200))])
def test_cover_fit_fills_frame_without_distortion(source_size, frame):
    source_height, source_width = source_size
    source = np.full((source_height, source_width, 3), (40, 90, 160), np.uint8)
    radius = min(source_size) // 8
    cv2.circle(source, (source_width // 2, source_height // 2), radius, (250, 250, 0), -1)
    fitted = cover_fit(source, frame)
    assert fitted.shape == (*frame, 3)

    scale = max(frame[0] / source_height, frame[1] / source_width)
    disc = np.argwhere(fitted[..., 2] < 80)  # the yellow disc has almost no blue
    height_px = disc[:, 0].max() - disc[:, 0].min() + 1
    width_px = disc[:, 1].max() - disc[:, 1].min() + 1
    assert abs(height_px - width_px) <= 2  # still a circle: no stretching
    assert abs(height_px - (2 * radius + 1) * scale) <= 3  # scaled by the cover factor
    centre = disc.mean(axis=0)
    assert np.abs(centre - (np.array(frame) - 1) / 2).max() <= 1.5  # centred crop
    # the frame is filled: every border pixel is picture (backdrop colour), no padding
    for strip in (fitted[0], fitted[-1], fitted[:, 0], fitted[:, -1]):
        assert np.abs(strip.astype(int) - (40, 90, 160)).max() <= 2


def test_blurred_background_does_not_bleed_the_person():
    height, width = 160, 160
    rng = np.random.default_rng(5)
    wall = np.clip(np.array([70, 110, 150]) + rng.integers(-30, 31, (height, width, 3)), 0, 255).astype(np.uint8)
    alpha = np.zeros((height, width), np.float32)
    cv2.circle(alpha, (80, 80), 35, 1.0, -1)
    rgb = over(np.full((height, width, 3), (255, 0, 0), np.uint8), alpha, wall)

    blurred = blurred_background(rgb, alpha, 0.8)
    sigma = 0.8 * 0.04 * 160
    naive = cv2.GaussianBlur(rgb, (0, 0), sigma)
    ring = (cv2.dilate(alpha, np.ones((13, 13), np.uint8)) > 0) & (alpha == 0)
    behind = alpha == 1
    wall_red = wall[..., 0][alpha == 0].mean()

    assert abs(blurred[..., 0][ring].mean() - wall_red) < 8
    assert abs(blurred[..., 0][behind].mean() - wall_red) < 8  # the hole is filled with wall
    assert naive[..., 0][ring].mean() - wall_red > 30  # a plain blur would have bled red
    assert blurred[..., 0][alpha == 0].std() < wall[..., 0][alpha == 0].std() / 3  # and it is blurred


def test_parse_colour_presets_and_hex():
    assert set(COLOUR_PRESETS) == {"white", "off-white", "light-grey", "light-blue", "blue", "red"}
    assert parse_colour("white") == (255, 255, 255)
    assert parse_colour("off-white") == (245, 245, 240)
    assert parse_colour("light-grey") == (217, 217, 217)
    assert parse_colour("light-blue") == (185, 215, 240)
    assert parse_colour("blue") == (0x43, 0x8E, 0xDB)
    assert parse_colour("Red") == (0xD7, 0x45, 0x32)
    assert parse_colour("#438edb") == (67, 142, 219)
    assert parse_colour("438EDB") == (67, 142, 219)
    assert parse_colour(" #0a0B0c ") == (10, 11, 12)
    assert parse_colour("#f80") == (255, 136, 0)


@pytest.mark.parametrize("bad", ["", "bleu", "#12345", "#1234567", "#GGGGGG", "rgb(1,2,3)", "f80", "##fff", 123, None])
def test_parse_colour_rejects_bad_values_and_lists_presets(bad):
    with pytest.raises(InvalidOptionError) as caught:
        parse_colour(bad)
    assert "light-blue" in caught.value.user_message and "#RRGGBB" in caught.value.user_message


def test_background_options_validation(backdrop_image):
    defaults = BackgroundOptions()
    assert defaults.validated() is defaults
    assert BackgroundOptions(mode="image", image=backdrop_image).validated().mode == "image"
    assert BackgroundOptions(mode="blur", blur_strength=0, feather_px=0).validated().blur_strength == 0


@pytest.mark.parametrize(
    "changes",
    [
        {"mode": "sepia"},
        {"colour": "purple-ish"},
        {"mode": "vertical-gradient", "colour2": "#12"},
        {"mode": "image"},
        {"mode": "image", "image": np.zeros((10, 10), np.uint8)},
        {"mode": "image", "image": np.zeros((10, 10, 3), np.float32)},
        {"blur_strength": -0.1},
        {"blur_strength": 1.5},
        {"blur_strength": float("nan")},
        {"blur_strength": "0.5"},
        {"blur_strength": True},
        {"feather_px": -1.0},
        {"feather_px": float("inf")},
        {"feather_px": 500},
        {"despill": "yes"},
    ],
)
def test_background_options_reject_bad_values(changes):
    with pytest.raises(InvalidOptionError):
        BackgroundOptions(**changes).validated()


def test_composite_validates_options_and_shapes(portrait):
    rgb, alpha, _ = portrait
    with pytest.raises(InvalidOptionError):
        composite(rgb, alpha, BackgroundOptions(mode="image"))
    with pytest.raises(ValueError):
        composite(rgb, alpha[:-1], BackgroundOptions())
    with pytest.raises(ValueError):
        composite(rgb.astype(np.float32), alpha, BackgroundOptions())
