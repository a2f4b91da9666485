"""Issue 19: "Fix the cut-out" on the server side. A hand fix starts from the photo's kept
analysis (no detector or network on the photo again) and gives exactly what a full run with
the same strokes gives; the ID photo is placed and judged again on the corrected cut-out; the
page's strokes count only for the photo they were painted on; the editor's pictures travel as
data URLs."""
from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.core.encode import save_image
from pipeline.core.errors import InvalidOptionError
from pipeline.cutout.background import BackgroundOptions
from webapp.cutout_editor import (EDITOR_MAX_SIDE, MAX_STROKES_DATA_URL_CHARS, EditorView, FoundHandle,
                                  editor_value, next_handle, painted_strokes)
from webapp.handlers import ActionContext, Visitor, kept_handle

from conftest import bare_studio


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    return bare_studio(tmp_path_factory.mktemp("fix-weights"))


@pytest.fixture(scope="module")
def photo(tmp_path_factory, astronaut_rgb) -> Path:
    return Path(save_image(tmp_path_factory.mktemp("fix-photo") / "astronaut.png", astronaut_rgb))


def stroke_mask(shape: tuple[int, int], *, remove: tuple[slice, slice] | None = None,
                keep: tuple[slice, slice] | None = None) -> np.ndarray:
    """An RGBA stroke mask: black where removed, white where kept, transparent elsewhere."""
    rgba = np.zeros((*shape, 4), np.uint8)
    if remove is not None:
        rgba[remove] = (0, 0, 0, 255)
    if keep is not None:
        rgba[keep] = (255, 255, 255, 255)
    return rgba


def png_bytes(rgba: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, format="PNG")
    return buffer.getvalue()


def rgba_of(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGBA"))


def alpha_of(path: Path) -> np.ndarray:
    return rgba_of(path)[..., 3]


@dataclass
class Calls:
    shapes: list[tuple[int, ...]]


def record_calls(monkeypatch, owner, name: str) -> Calls:
    """Wrap ``owner.name`` so the shapes of the photos it is called on are recorded."""
    calls = Calls([])
    original = getattr(owner, name)

    def wrapped(rgb, *args, **kwargs):
        calls.shapes.append(tuple(rgb.shape[:2]))
        return original(rgb, *args, **kwargs)

    monkeypatch.setattr(owner, name, wrapped)
    return calls


# The astronaut's lower-left quarter is suit and flag: removing it is a change nobody misses.
LOWER_LEFT = (slice(400, 500), slice(10, 200))


def test_a_background_fix_reuses_the_analysis_and_equals_a_full_run(studio, photo, tmp_path, monkeypatch):
    (tmp_path / "first").mkdir()
    first = studio.replace_background(photo, BackgroundOptions(mode="transparent", feather_px=0), tmp_path / "first")
    assert first.editor is not None and first.editor.found.is_file() and first.editor.photo is not None
    fixed_options = BackgroundOptions(mode="transparent", feather_px=0, strokes=stroke_mask((512, 512), remove=LOWER_LEFT))

    detected = record_calls(monkeypatch, studio.cutter.faces, "detect")
    matted = record_calls(monkeypatch, studio.cutter.matter, "matte")
    (tmp_path / "fixed").mkdir()
    fixed = studio.replace_background(photo, fixed_options, tmp_path / "fixed", found=first.editor.found)
    assert detected.shapes == [] and matted.shapes == []  # only the strokes' refinement ran
    assert fixed.editor is not None and fixed.editor.found == first.editor.found and fixed.editor.photo is None

    (tmp_path / "full").mkdir()
    full = studio.replace_background(photo, fixed_options, tmp_path / "full")
    assert len(detected.shapes) == 1 and len(matted.shapes) == 1  # the full run analysed the photo
    before, after, again = alpha_of(first.image), alpha_of(fixed.image), alpha_of(full.image)
    assert np.array_equal(after, again)
    assert before[LOWER_LEFT].mean() > 100 and after[LOWER_LEFT].max() == 0
    outside = np.ones_like(before, bool)
    outside[350:, :260] = False  # the strokes' band: 5 % of 512 around them
    assert np.array_equal(before[outside], after[outside])
    # the colours of the edges far away stay too: the suit taken out is not the wall that spilled
    # into her hair (the old wall's colour is read where both mattes see background)
    seen = outside & (before > 16)
    assert np.array_equal(rgba_of(first.image)[seen], rgba_of(fixed.image)[seen])


def test_an_analysis_of_another_photo_is_not_reused(studio, photo, tmp_path, monkeypatch, astronaut_rgb):
    first = studio.replace_background(photo, BackgroundOptions(mode="transparent", feather_px=0), tmp_path)
    wider = Path(save_image(tmp_path / "wide.png", np.pad(astronaut_rgb, ((0, 0), (0, 64), (0, 0)), mode="edge")))
    detected = record_calls(monkeypatch, studio.cutter.faces, "detect")
    (tmp_path / "other").mkdir()
    other = studio.replace_background(wider, BackgroundOptions(mode="transparent", feather_px=0), tmp_path / "other",
                                      found=first.editor.found)
    assert detected.shapes == [(512, 576)]  # analysed afresh, and kept anew
    assert other.editor.found != first.editor.found and other.editor.photo is not None


def test_an_id_photo_fix_is_placed_and_judged_again_without_the_network(studio, photo, tmp_path, monkeypatch):
    """Removing the top of her hair by hand: the crown is measured lower, the head is placed
    larger, the report is made again; the photo's detector, mesh and matting do not run (the
    check of the delivered photo still finds its face and mattes it, as for every result)."""
    first = studio.id_photo(photo, "icao_generic", tmp_path)
    hair_top = (slice(0, 45), slice(128, 384))
    strokes = stroke_mask((512, 512), remove=hair_top)
    detected = record_calls(monkeypatch, studio.id_maker.faces, "detect")
    meshed = record_calls(monkeypatch, studio.id_maker.faces, "evidence")
    matted = record_calls(monkeypatch, studio.id_maker.cutter.matter, "matte")
    (tmp_path / "fixed").mkdir()
    fixed = studio.id_photo(photo, "icao_generic", tmp_path / "fixed", strokes=strokes, found=first.editor.found)
    delivered = [shape for shape in detected.shapes + meshed.shapes + matted.shapes if shape != (512, 512)]
    assert (512, 512) not in detected.shapes + meshed.shapes + matted.shapes and len(delivered) == 3
    (tmp_path / "full").mkdir()
    full = studio.id_photo(photo, "icao_generic", tmp_path / "full", strokes=strokes)
    assert fixed.photo.read_bytes() == full.photo.read_bytes()
    assert fixed.report_text == full.report_text
    assert fixed.photo.read_bytes() != first.photo.read_bytes() and fixed.report_text != first.report_text
    fixed_json, first_json = (Path(p).read_text() for p in (fixed.report_json, first.report_json))
    assert '"crown": "matte"' in fixed_json and fixed_json != first_json


def test_the_editor_is_given_small_pictures_as_data_urls(studio, tmp_path, astronaut_rgb):
    big = np.repeat(np.repeat(astronaut_rgb, 3, axis=0), 3, axis=1)  # 1536 x 1536
    path = Path(save_image(tmp_path / "big.png", big))
    outcome = studio.replace_background(path, BackgroundOptions(mode="colour"), tmp_path)
    handle = next_handle(None, str(path), outcome.editor)
    value = editor_value(handle)
    assert set(value) == {"token", "matte", "photo", "applied"} and value["token"] == handle.token
    for key, mime in (("matte", "image/png"), ("photo", "image/jpeg")):
        assert value[key].startswith(f"data:{mime};base64,")
        with Image.open(io.BytesIO(base64.b64decode(value[key].split(",", 1)[1]))) as picture:
            assert picture.size == (EDITOR_MAX_SIDE, EDITOR_MAX_SIDE)
    # a fix of the same photo keeps the token (the page keeps its strokes) and the first photo
    # preview (a page that emptied its editor for the same upload draws it again)
    again = next_handle(handle, str(path), EditorView(outcome.editor.found, outcome.editor.matte, None))
    assert again.token == handle.token and editor_value(again)["photo"] == value["photo"]
    assert next_handle(handle, "/another/upload.png", outcome.editor).token != handle.token
    outcome.editor.matte.unlink()  # the visitor deleted their files: the editor empties
    assert editor_value(handle) is None


def _handle(tmp_path: Path, photo: str = "/uploads/a.png") -> FoundHandle:
    return FoundHandle(photo, EditorView(tmp_path / "found.npz", tmp_path / "matte.png", None), "tok-1")


def _data_url(payload: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(payload).decode()


def test_painted_strokes_count_only_for_the_photo_they_were_painted_on(tmp_path):
    handle = _handle(tmp_path)
    png = png_bytes(stroke_mask((8, 8), keep=(slice(0, 2), slice(0, 2))))
    assert painted_strokes({"token": "tok-1", "strokes": _data_url(png)}, handle) == png
    assert painted_strokes({"token": "tok-0", "strokes": _data_url(png)}, handle) is None  # another photo's
    assert painted_strokes({"token": "tok-1", "strokes": None}, handle) is None  # nothing painted
    assert painted_strokes({"token": "tok-1", "strokes": _data_url(png)}, None) is None  # no result yet
    assert painted_strokes(None, handle) is None  # a page that painted nothing, or a script that sent none


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, format="JPEG")
    return buffer.getvalue()


@pytest.mark.parametrize("value", [
    {"token": "tok-1", "strokes": "data:image/jpeg;base64,AAAA"},  # not a PNG data URL
    {"token": "tok-1", "strokes": "data:image/png;base64,***"},  # not base64
    {"token": "tok-1", "strokes": "data:image/png;base64," + "A" * MAX_STROKES_DATA_URL_CHARS},  # over the limit
    {"token": "tok-1", "strokes": _data_url(_jpeg())},  # another format behind a PNG's prefix
    {"token": "tok-1", "strokes": 12},
    '{"token": "tok-1", "strokes": null}',  # a script's string: not the editor's value
])
def test_unreadable_strokes_for_this_photo_are_refused_not_dropped(tmp_path, value):
    with pytest.raises(InvalidOptionError) as refused:
        painted_strokes(value, _handle(tmp_path))
    assert refused.value.visitor_message_in("en").startswith("The painted strokes could not be read.")


class _Storage:
    def __init__(self, allowed: bool) -> None:
        self.allowed = allowed
        self.asked: list[str] = []

    def may_use(self, session_hash: str, owner_token: str | None, path: str) -> bool:
        self.asked.append(path)
        return self.allowed


def test_a_kept_analysis_is_used_only_for_its_own_upload_and_while_it_is_the_visitors(tmp_path):
    handle = _handle(tmp_path)
    visitor = Visitor("session", "owner")

    def context(allowed: bool) -> ActionContext:
        ctx = ActionContext.__new__(ActionContext)  # only the storage is read
        object.__setattr__(ctx, "storage", _Storage(allowed))
        return ctx

    assert kept_handle(context(True), visitor, handle, "/uploads/a.png") is handle
    assert kept_handle(context(True), visitor, handle, "/uploads/b.png") is None  # a new photo
    refused = context(False)
    assert kept_handle(refused, visitor, handle, "/uploads/a.png") is None  # gone, or not theirs
    assert refused.storage.asked == [str(handle.view.found)]
    assert kept_handle(context(True), visitor, {"photo": "/uploads/a.png"}, "/uploads/a.png") is None


def test_the_old_wall_kept_by_hand_does_not_pass_as_a_plain_background(studio, photo, tmp_path):
    """A careless "keep" over the whole photo leaves her flag and grey backdrop in the ID photo:
    the report must not call that background plain and of the right colour (it is judged, not
    only where the new colour was painted)."""
    everything = stroke_mask((512, 512), keep=(slice(None), slice(None)))
    first = studio.id_photo(photo, "us_passport", tmp_path)
    (tmp_path / "kept").mkdir()
    kept = studio.id_photo(photo, "us_passport", tmp_path / "kept", strokes=everything, found=first.editor.found)
    checks = {check["id"]: check["status"] for check in json.loads(Path(kept.report_json).read_text())["compliance"]["checks"]}
    assert checks["background_uniformity"] == "fail" or checks["background_colour"] == "fail", checks
    before = {check["id"]: check["status"] for check in json.loads(Path(first.report_json).read_text())["compliance"]["checks"]}
    assert before["background_uniformity"] == "pass", before  # the automatic cut-out's painted background


def test_the_editor_is_told_which_strokes_the_result_used(tmp_path):
    """FNV-1a of the strokes' data URL, as the page's script computes it: "Applied" only when
    the result used the strokes on show (a stroke painted during a run is still "not applied")."""
    from webapp.cutout_editor import strokes_digest

    assert strokes_digest(None) == strokes_digest({"token": "t"}) == "811c9dc5"  # FNV-1a of nothing
    assert strokes_digest({"strokes": "a"}) == "e40c292c"  # the published FNV-1a 32 test vector
    assert strokes_digest({"strokes": "data:1"}) != strokes_digest({"strokes": "data:2"})


def test_stroke_masks_larger_than_they_can_be_are_refused_from_their_header(tmp_path, photo):
    """The page's strokes are at most the editor's size, a script's mask at most the photo's
    pixels: a tiny PNG of huge size is refused before it is decoded; a fully transparent mask
    paints nothing (as without one)."""
    from pipeline.core.errors import ImageTooLargeError
    from webapp.cutout_editor import EDITOR_MAX_SIDE
    from webapp.handlers import stroke_mask as strokes_to_apply

    handle = _handle(tmp_path)
    wide = png_bytes(stroke_mask((EDITOR_MAX_SIDE, EDITOR_MAX_SIDE * 2), keep=(slice(0, 2), slice(0, 2))))
    with pytest.raises(ImageTooLargeError):
        strokes_to_apply({"token": "tok-1", "strokes": _data_url(wide)}, handle, None, str(photo))
    big = tmp_path / "big.png"
    big.write_bytes(png_bytes(stroke_mask((1536, 1536), keep=(slice(0, 2), slice(0, 2)))))  # 9x the photo's pixels
    with pytest.raises(ImageTooLargeError):
        strokes_to_apply(None, None, str(big), str(photo))
    fits = tmp_path / "fits.png"
    fits.write_bytes(png_bytes(stroke_mask((512, 512), remove=(slice(0, 2), slice(0, 2)))))
    assert strokes_to_apply(None, None, str(fits), str(photo)).shape == (512, 512, 4)
    clear = tmp_path / "clear.png"
    clear.write_bytes(png_bytes(np.zeros((512, 512, 4), np.uint8)))
    assert strokes_to_apply(None, None, str(clear), str(photo)) is None
    assert strokes_to_apply({"token": "tok-1", "strokes": _data_url(png_bytes(np.zeros((8, 8, 4), np.uint8)))},
                       handle, None, str(photo)) is None
