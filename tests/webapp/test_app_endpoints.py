"""The web app's HTTP API, driven through ``gradio_client`` against the real server.

One app (random-weight GFPGAN + ParseNet, bundled MTCNN, fallback matting; see
``tests/appserver.py``) serves every test of this module; the real public-domain
astronaut photo is the input. Checks: the API lists exactly the named endpoints, each
endpoint's outputs have the right shape and pixel sizes, refused inputs come back as the
pipeline's clear message (never a traceback), and a server without restorer weights
says so on the page and through the API.
"""
from __future__ import annotations

import csv
import io
import logging
import os
import re
import zipfile
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from appserver import random_weight_studio, running_app
from pipeline.core.encode import save_image
from pipeline.core.samples import astronaut
from pipeline.models.device import ComputeSettings
from pipeline.models.manifest import load_manifest
from pipeline.restore.engine import RestorationPipeline
from webapp.studio import Studio

NAMED = {
    "/restore": ["photo", "model", "strength", "upscale", "centre", "detector", "fmt", "background", "guard"],
    # strokes: a stroke mask file (a script's hand fix); painted: the page editor's strokes
    "/replace_background": ["photo", "mode", "colour", "colour2", "backdrop", "blur", "feather", "fmt", "strokes",
                            "painted"],
    "/id_photo": ["photo", "spec_id", "colour", "max_kb", "paper", "auto_correct", "brightness", "contrast", "sharpness",
                  "head_size", "head_position", "strokes", "painted"],
    "/batch": ["files", "job", "spec_id", "strength", "colour"],
    "/delete_my_files": [],
}
TRACEBACK_MARKERS = ("Traceback", 'File "', "site-packages")
# The astronaut's face goes through the app a dozen times: GFPGAN and ParseNet answer the same
# aligned face once (tests/network_answers.py); every request still runs the whole job around them.
pytestmark = pytest.mark.usefixtures("networks_answer_once")


# -- fixtures ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server(tmp_path_factory):
    studio = random_weight_studio(tmp_path_factory.mktemp("app-weights"))
    with running_app(tmp_path_factory.mktemp("app-root"), studio) as (app, url):
        yield app, url


@pytest.fixture(scope="module")
def downloads(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("client-downloads")


@pytest.fixture(scope="module")
def client(server, downloads):
    _, url = server
    api = Client(url, verbose=False, download_files=str(downloads))
    yield api
    api.close()


@pytest.fixture(scope="module")
def photo(server) -> str:
    app, _ = server
    path = app.storage.examples_dir / "astronaut.png"
    assert path.is_file()
    return str(path)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("inputs")


def size_of(path: str | Path) -> tuple[int, int]:
    with Image.open(path) as image:
        return image.size


def app_error(call) -> str:
    """Run ``call`` and return the message of the AppError it must raise (no traceback text)."""
    with pytest.raises(AppError) as caught:
        call()
    message = caught.value.message
    assert not any(marker in message for marker in TRACEBACK_MARKERS), message
    return message


# -- the API surface -----------------------------------------------------------------------
def test_api_lists_exactly_the_named_endpoints(server, client):
    _, url = server
    api = client.view_api(return_format="dict", print_info=False)
    assert set(api["named_endpoints"]) == set(NAMED)
    assert api["unnamed_endpoints"] == {}
    for name, parameters in NAMED.items():
        assert [p["parameter_name"] for p in api["named_endpoints"][name]["parameters"]] == parameters, name
    returns = {name: len(api["named_endpoints"][name]["returns"]) for name in NAMED}
    assert returns["/restore"] == 3 and returns["/replace_background"] == 3
    # Gradio publishes a handler's docstring as its API description; ours are notes for developers.
    assert {name: api["named_endpoints"][name].get("description", "") for name in NAMED} == dict.fromkeys(NAMED, "")
    assert returns["/id_photo"] == 6 and returns["/batch"] == 5
    # the photo adjustments are optional for a script: each has its neutral default
    defaults = {p["parameter_name"]: (p["parameter_has_default"], p.get("parameter_default"))
                for p in api["named_endpoints"]["/id_photo"]["parameters"]}
    assert [defaults[name] for name in NAMED["/id_photo"][5:]] == [(True, True)] + [(True, 0)] * 5 + [(True, None)] * 2
    # so are a hand fix's strokes, on both jobs that cut the person out
    assert all(p["parameter_has_default"] and p.get("parameter_default") is None
               for p in api["named_endpoints"]["/replace_background"]["parameters"][-2:])

    # The UI-only events exist on the page but are private: not queued, not in the API.
    config = httpx.get(url + "config").json()
    private = [d for d in config["dependencies"] if d.get("api_visibility") == "private"]
    targets = {trigger for d in private for _, trigger in d["targets"]}
    assert {"change", "load"} <= targets, targets
    assert all(d["queue"] is False for d in private if any(t in ("change", "load") for _, t in d["targets"]))
    # the upload checks are queued (only a queued event shows a warning) and private too
    uploads = [d for d in config["dependencies"] if any(t == "upload" for _, t in d["targets"])]
    assert len(uploads) == 4 and all(d.get("api_visibility") == "private" for d in uploads)
    public = {d["api_name"] for d in config["dependencies"] if d.get("api_visibility") == "public"}
    assert public == {name.lstrip("/") for name in NAMED}


# -- restore -------------------------------------------------------------------------------
def test_the_background_upsampler_is_a_choice_and_says_why_it_starts_off(client, inputs):
    """API callers choose it by name; without a GPU the default is bicubic, and the summary says
    why; a network whose weights are not installed gets a plain sentence, not a traceback."""
    source = save_image(inputs / "small.png", np.ascontiguousarray(astronaut()[::4, ::4]))
    chosen = client.predict(handle_file(str(source)), "gfpgan-v1.4", 1.0, 2, False, "auto", "png",
                            "realesr-general-x4", api_name="/restore")[2]
    default = client.predict(handle_file(str(source)), "gfpgan-v1.4", 1.0, 2, False, "auto", "png",
                             api_name="/restore")[2]
    assert "output 256x256 px" in chosen and "graphics card" not in chosen
    assert "output 256x256 px" in default and "no graphics card" in default
    with pytest.raises(AppError) as refused:
        client.predict(handle_file(str(source)), "gfpgan-v1.4", 1.0, 2, False, "auto", "png", "realesrgan-x2",
                       api_name="/restore")
    assert "not installed on this server" in str(refused.value)
    assert not any(marker in str(refused.value) for marker in TRACEBACK_MARKERS)


def test_restore_output_is_the_input_size_times_upscale(client, inputs):
    # A non-square crop around the face, so a swapped width and height cannot pass.
    crop = np.ascontiguousarray(astronaut()[20:340, 100:356])  # 256 wide, 320 tall
    source = save_image(inputs / "crop.png", crop)
    pair, download, summary = client.predict(handle_file(str(source)), "gfpgan-v1.4", 1.0, 2, False, "auto", "png",
                                             api_name="/restore")
    before, after = pair
    assert size_of(before) == (512, 640)
    assert size_of(after) == (512, 640)
    assert Path(after).suffix == ".png"
    assert download["visible"] is True and size_of(download["value"]) == (512, 640)
    assert "Restored 1 of 1 face(s);" in summary and "output 512x640 px" in summary
    with Image.open(before) as b, Image.open(after) as a:
        difference = np.abs(np.asarray(b.convert("RGB"), dtype=int) - np.asarray(a.convert("RGB"), dtype=int))
    assert difference.mean() > 1.0  # the face was really replaced by the (random) model's output


# -- backgrounds -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def backdrop(inputs) -> str:
    ramp = np.zeros((200, 300, 3), np.uint8)
    ramp[..., 0] = np.linspace(0, 255, 300, dtype=np.uint8)[None, :]
    ramp[..., 2] = 180
    return str(save_image(inputs / "backdrop.png", ramp))


@pytest.mark.parametrize(("mode", "fmt", "image_mode"), [
    ("colour", "jpg", "RGB"),
    ("transparent", "png", "RGBA"),
    ("blur", "webp", "RGB"),
    ("image", "png", "RGB"),
])
def test_replace_background_modes(client, photo, backdrop, mode, fmt, image_mode):
    result, download, summary = client.predict(
        handle_file(photo), mode, "#00FF00", "light-blue", handle_file(backdrop) if mode == "image" else None, 0.6, 1.0,
        fmt, api_name="/replace_background")
    assert summary.startswith(f"Background: {mode};")
    assert download["visible"] is True
    saved = Path(download["value"])
    assert saved.suffix == f".{fmt}"
    with Image.open(saved) as image:
        assert image.size == (512, 512)
        assert image.mode == image_mode
        pixels = np.asarray(image)
    with Image.open(result) as shown:
        assert shown.size == (512, 512)
    if mode == "transparent":  # PNG keeps the alpha: the person opaque, the background clear
        alpha = pixels[..., 3]
        assert alpha.max() == 255 and alpha.min() == 0
        assert 0.1 < float(np.mean(alpha == 0)) < 0.9
    if mode == "colour":  # the background became the custom green (JPEG: nearly)
        green = (pixels[..., 1] > 200) & (pixels[..., 0] < 60) & (pixels[..., 2] < 60)
        assert 0.1 < float(np.mean(green)) < 0.9


# -- ID photos -------------------------------------------------------------------------------
def test_id_photo_without_sheet_has_the_spec_pixel_size(client, photo):
    verdict, result, overlay, report, sheet, files = client.predict(
        handle_file(photo), "icao_generic", "", None, "none", api_name="/id_photo")
    assert size_of(result) == (413, 531)
    assert size_of(overlay) == (413, 531)
    assert sheet is None
    assert "413x531 px at 300 dpi" in verdict
    assert report.startswith("ID-photo compliance for icao_generic:")
    names = sorted(Path(f).name for f in files)
    # named after the visitor's file, then the document
    assert names == sorted(["astronaut-icao_generic.jpg", "astronaut-icao_generic_overlay.png",
                            "astronaut-icao_generic_report.txt", "astronaut-icao_generic_report.json"])


def test_id_photo_with_4x6_sheet_and_pdf(client, photo):
    verdict, result, overlay, report, sheet, files = client.predict(
        handle_file(photo), "us_passport", "", None, "4x6", api_name="/id_photo")
    assert size_of(result) == (600, 600)
    assert "600x600 px" in verdict
    with Image.open(sheet) as page:
        assert sorted(page.size) == [1200, 1800]  # 4x6 in at 300 dpi, either orientation
        assert [round(d) for d in page.info["dpi"]] == [300, 300]
    pdfs = [Path(f) for f in files if f.endswith(".pdf")]
    assert len(pdfs) == 1
    data = pdfs[0].read_bytes()
    assert data.startswith(b"%PDF")
    box = re.search(rb"/MediaBox \[0 0 ([\d.]+) ([\d.]+)\]", data)
    assert box and sorted(round(float(v)) for v in box.groups()) == [288, 432]  # 4x6 in in points
    assert any(f.endswith("_sheet_4x6.png") for f in files)


def test_an_online_document_with_the_default_sheet_still_gives_the_photo(client, photo):
    """The page's paper defaults to 4x6; an online-only document has no print size, so the
    photo comes without a sheet and says why, instead of an error in every output box."""
    verdict, result, overlay, report, sheet, files = client.predict(
        handle_file(photo), "us_passport_online", "", None, "4x6", api_name="/id_photo")
    assert size_of(result)[0] >= 600 and sheet is None
    assert "digital upload, so no print sheet was made" in verdict
    assert not any("_sheet" in Path(f).name for f in files)


def test_id_photo_respects_the_file_size_limit(client, photo):
    verdict, result, *_ = client.predict(handle_file(photo), "icao_generic", "", 25, "none", api_name="/id_photo")
    assert size_of(result) == (413, 531)
    assert 0 < Path(result).stat().st_size <= 25 * 1024


# -- batch -----------------------------------------------------------------------------------
def test_batch_of_an_image_and_a_zip(client, photo, inputs, caplog):
    caplog.set_level(logging.INFO, logger="portrait_lab")
    archive = inputs / "photos.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.write(photo, "inside/second.png")
    summary, gallery, table, downloads, report = client.predict([handle_file(photo), handle_file(str(archive))], "idphoto",
                                               "icao_generic", 1.0, "white", api_name="/batch")
    assert "2 file(s)" in summary
    assert len(table["data"]) == 2
    assert report.startswith("<iframe") and " sandbox " in report  # report.html, shown in the page
    assert any(m.startswith("job=batch status=ok") and m.endswith("images=2") for m in caplog.messages), caplog.messages
    columns = table["headers"]
    rows = [dict(zip(columns, row)) for row in table["data"]]
    assert all(row["Status"] in ("ok", "warning") for row in rows), rows  # plain headers (report.csv: keys)
    assert any("second" in str(row["File"]) for row in rows) and any("astronaut" in str(row["File"]) for row in rows)
    assert len(gallery) == 2 and all(item["caption"].endswith(("ok", "warning")) for item in gallery)
    with Image.open(gallery[0]["image"]) as pair:  # before | after side by side
        assert pair.width > pair.height
    assert len(downloads) == 3
    results_zip, report_csv, report_html = (Path(p) for p in downloads)
    assert (results_zip.suffix, report_csv.suffix, report_html.suffix) == (".zip", ".csv", ".html")
    with zipfile.ZipFile(results_zip) as bundle:
        photos = [n for n in bundle.namelist() if n.lower().endswith((".jpg", ".jpeg"))]
        assert len(photos) == 2, bundle.namelist()
        assert {"report.csv", "report.html"} <= set(bundle.namelist())
        for name in photos:
            with Image.open(io.BytesIO(bundle.read(name))) as image:
                assert image.size == (413, 531)
    rows = list(csv.DictReader(io.StringIO(report_csv.read_text(encoding="utf-8"))))
    assert len(rows) == 2
    assert "<html" in report_html.read_text(encoding="utf-8").lower()


# -- delete ----------------------------------------------------------------------------------
def test_delete_my_files_empties_the_session_and_clears_the_outputs(server, inputs, downloads):
    app, url = server
    # Content of its own: uploads are stored by content hash, and a copy another session
    # still uses is (rightly) kept.
    own = astronaut()
    own[:4, :4] = 7
    upload = save_image(inputs / "own.png", own)
    visitor = Client(url, verbose=False, download_files=str(downloads))
    try:
        visitor.predict(handle_file(str(upload)), "colour", "white", "light-blue", None, 0.5, 1.0, "png",
                        api_name="/replace_background")
        kept = [Path(f).name for f in app.storage.session_files(visitor.session_hash)]
        # the photo's analysis kept for "Fix the cut-out" and the editor's pictures live there too
        assert {"cutout-analysis.npz", "editor-photo.jpg", "editor-matte.png"} <= set(kept), kept
        outputs = visitor.predict(api_name="/delete_my_files")
        # every upload, result and text on show (status lines, verdicts, reports, batch table, the
        # face review's cards, the two cut-out editors) emptied: 27, then the two download buttons
        # emptied and hidden (the editors' kept analyses are server-side state: emptied too, unseen)
        assert len(outputs) == 30
        assert re.fullmatch(r"Deleted \d+ file\(s\) of this session from the server\.", outputs[0]), outputs[0]
        assert int(outputs[0].split()[1]) >= 2  # the result and the upload at least
        left = [v for v in outputs[1:28] if v not in (None, [], "") and not (isinstance(v, dict) and v.get("data") == [])]
        assert not left, left  # the gallery comes back as [], the batch table as its headers without rows
        assert all(update["visible"] is False and update["value"] is None for update in outputs[28:])
        assert app.storage.session_files(visitor.session_hash) == []
        again = visitor.predict(api_name="/delete_my_files")
        assert again[0] == "There were no files of this session on the server."
    finally:
        visitor.close()


# -- refused inputs: the pipeline's message, never a traceback -------------------------------
def test_unreadable_upload_is_refused_clearly(client, inputs):
    fake = inputs / "notes.png"
    fake.write_text("this is a text file renamed to .png\n", encoding="utf-8")
    for call in (
        lambda: client.predict(handle_file(str(fake)), "icao_generic", "", None, "none", api_name="/id_photo"),
        lambda: client.predict(handle_file(str(fake)), "gfpgan-v1.4", 1.0, 1, False, "auto", "png",
                               api_name="/restore"),
        lambda: client.predict(handle_file(str(fake)), "colour", "white", "light-blue", None, 0.5, 1.0, "png",
                               api_name="/replace_background"),
    ):
        assert "not an image we can read" in app_error(call)


def test_id_photo_without_a_face_gives_the_no_face_message(client, inputs):
    wall = save_image(inputs / "wall.png", np.full((400, 300, 3), 205, np.uint8))
    message = app_error(lambda: client.predict(handle_file(str(wall)), "icao_generic", "", None, "none",
                                               api_name="/id_photo"))
    assert message.startswith("No face was found in this photo.")
    assert "look at the camera" in message


def test_a_full_server_disk_is_a_sentence_without_server_paths(client, photo, monkeypatch):
    """The CLI names the folder that is full; a visitor must get no server path at all."""
    import errno

    from pipeline.core.errors import OutputWriteError
    from pipeline.idphoto import outputs

    def full_disk(directory, name, files, **options):
        raise OutputWriteError.from_os_error(OSError(errno.ENOSPC, "No space left on device"), directory)

    monkeypatch.setattr(outputs, "publish", full_disk)
    message = app_error(lambda: client.predict(handle_file(photo), "icao_generic", "", None, "none",
                                               api_name="/id_photo"))
    assert message.startswith("The server could not store your result right now.")
    assert "/" not in message and "Errno" not in message


def test_id_photo_without_a_photo_asks_for_one(client):
    message = app_error(lambda: client.predict(None, "icao_generic", "", None, "none", api_name="/id_photo"))
    assert message == "Upload a photo first."


def _stroke_png(inputs: Path, name: str, remove: tuple[slice, slice]) -> str:
    """A 512 x 512 stroke mask: black (remove) over ``remove``, transparent elsewhere."""
    rgba = np.zeros((512, 512, 4), np.uint8)
    rgba[remove] = (0, 0, 0, 255)
    path = inputs / name
    Image.fromarray(rgba, "RGBA").save(path)
    return str(path)


def test_a_stroke_mask_fixes_the_cut_out_through_the_api(client, photo, inputs):
    """The API's hand fix: a stroke mask (PNG) with the photo; the same outputs come back."""
    lower_left = (slice(400, 500), slice(10, 200))
    strokes = _stroke_png(inputs, "strokes.png", lower_left)
    plain, _, _ = client.predict(handle_file(photo), "transparent", "white", "light-blue", None, 0.5, 0.0, "png",
                                 api_name="/replace_background")
    fixed, download, summary = client.predict(handle_file(photo), "transparent", "white", "light-blue", None, 0.5, 0.0,
                                              "png", handle_file(strokes), api_name="/replace_background")
    alpha = {name: np.asarray(Image.open(path).convert("RGBA"))[..., 3] for name, path in (("plain", plain),
                                                                                          ("fixed", fixed))}
    assert alpha["plain"][lower_left].mean() > 100 and alpha["fixed"][lower_left].max() == 0
    assert download["visible"] is True and summary.startswith("Background: transparent;")
    # an ID photo with the top of her hair removed by hand is placed and judged again
    hair = _stroke_png(inputs, "hair.png", (slice(0, 45), slice(128, 384)))
    first = client.predict(handle_file(photo), "icao_generic", "", None, "none", api_name="/id_photo")
    again = client.predict(handle_file(photo), "icao_generic", "", None, "none", True, 0, 0, 0, 0, 0,
                           handle_file(hair), api_name="/id_photo")
    assert len(again) == len(first) == 6 and again[3] != first[3]  # the report as text
    with Image.open(again[1]) as made:
        assert made.size == (413, 531)


def test_a_grey_stroke_mask_is_refused_with_a_sentence(client, photo, inputs):
    grey = np.zeros((512, 512, 4), np.uint8)
    grey[100:120, 100:300] = (128, 128, 128, 255)
    path = inputs / "grey.png"
    Image.fromarray(grey, "RGBA").save(path)
    message = app_error(lambda: client.predict(handle_file(photo), "colour", "white", "light-blue", None, 0.5, 1.0,
                                               "png", handle_file(str(path)), api_name="/replace_background"))
    assert "neither white nor black" in message


def test_transparent_jpeg_is_refused(client, photo):
    message = app_error(lambda: client.predict(handle_file(photo), "transparent", "white", "light-blue", None, 0.5,
                                               1.0, "jpg", api_name="/replace_background"))
    assert message.startswith("JPEG cannot hold transparency.")


def test_unknown_spec_id_is_refused_with_suggestions(client, photo):
    message = app_error(lambda: client.predict(handle_file(photo), "us_pasport", "", None, "none",
                                               api_name="/id_photo"))
    assert message.startswith("There is no ID-photo specification 'us_pasport'.")
    assert "us_passport" in message  # the hint suggests the near match


# -- a server without restorer weights -------------------------------------------------------
def test_missing_weights_banner_and_clear_restore_error(tmp_path, photo, monkeypatch):
    # build_app points Gradio's process-wide upload folder (GRADIO_TEMP_DIR) at its own root;
    # the module's server gets its own back when this test ends.
    monkeypatch.setenv("GRADIO_TEMP_DIR", os.environ["GRADIO_TEMP_DIR"])
    empty = tmp_path / "no-weights"
    empty.mkdir()
    compute = ComputeSettings(device=torch.device("cpu"), dtype=torch.float32)
    studio = Studio(RestorationPipeline(manifest=load_manifest(), weights_directory=empty, compute=compute))
    with running_app(tmp_path / "root", studio) as (_, url):
        page = httpx.get(url + "config")
        assert page.status_code == 200
        components = page.json()["components"]
        note = next(c for c in components if c["props"].get("elem_id") == "weights-banner")
        assert note["props"]["visible"] is True
        assert note["props"]["value"] == "Restoration is not available on this server yet; backgrounds and ID photos work."
        details = next(c for c in components if c["props"].get("elem_id") == "server-details")
        assert details["type"] == "accordion" and details["props"]["open"] is False
        text = " ".join(str(c["props"].get("value")) for c in components if c["type"] == "markdown")
        command = re.search(r"`(python -m pipeline weights fetch [^`]+)`", text)  # in the Server details
        assert command, text
        assert {"gfpgan-v1.4", "parsenet"} <= set(command.group(1).split()[5:])
        assert "restoration is disabled" in text
        visitor = Client(url, verbose=False, download_files=str(tmp_path / "downloads"))
        try:
            message = app_error(lambda: visitor.predict(handle_file(photo), "gfpgan-v1.4", 1.0, 1, False, "auto",
                                                        "png", api_name="/restore"))
        finally:
            visitor.close()
    assert message == "This restoration model is not available on this server yet; choose an installed one."
