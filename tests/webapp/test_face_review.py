"""The Restore tab's face-by-face review (issue 16, items 2 and 5): each face before and after
with its identity score, and its own strength, changed without running the network again; the
kept faces live in the visitor's job folder and go with the session."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from appserver import ARTIFACTS, chromium_browser, open_tab, random_weight_studio, running_app  # noqa: E402

from pipeline.core.decode import decode_image  # noqa: E402
from pipeline.core.encode import save_image  # noqa: E402
from pipeline.core.errors import InvalidOptionError  # noqa: E402
from pipeline.restore.engine import RestoreOptions  # noqa: E402
from webapp.review import FACES_FILE, SCORE_MEANING  # noqa: E402

OPTIONS = RestoreOptions(detector="mtcnn")
# Four restorations of the astronaut: GFPGAN and ParseNet answer the same aligned face once
# (tests/network_answers.py); the review, the guard and the page around them run every time.
pytestmark = pytest.mark.usefixtures("networks_answer_once")


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    return random_weight_studio(tmp_path_factory.mktemp("review-weights"))


@pytest.fixture(scope="module")
def restored(studio, astronaut_rgb, tmp_path_factory):
    folder = tmp_path_factory.mktemp("review-job")
    photo = save_image(folder / "astronaut.png", astronaut_rgb)
    return studio.restore(photo, OPTIONS, folder), folder


def test_a_restoration_keeps_its_faces_and_shows_each_with_its_score(restored):
    outcome, folder = restored
    review = outcome.review
    assert review is not None and review.faces_file == folder / FACES_FILE and review.faces_file.is_file()
    assert review.strengths == (1.0,) and review.scores is not None and len(review.scores) == 1
    (card, caption), = review.cards
    assert Path(card).parent == folder and caption.startswith("Face 1 · strength 1.00 · 0.")
    assert SCORE_MEANING in outcome.summary and "- Face 1: 0." in outcome.summary  # what the score means
    # random weights: the person is gone, and the summary says so first, with what to do
    assert outcome.summary.startswith("⚠ 1 face(s) may no longer look like the same person")
    assert "identity changed" in outcome.summary and "press Apply" in outcome.summary
    assert "output 512x512 px" in outcome.summary


def test_one_faces_strength_changes_without_the_network(studio, restored, astronaut_rgb, tmp_path, monkeypatch):
    outcome, _ = restored

    def no_network(*args, **kwargs):
        raise AssertionError("the review ran the restoration network")

    monkeypatch.setattr(studio.engine, "restorer", no_network)
    again = studio.reblend(outcome.review, 0, 0.0, tmp_path)
    assert np.array_equal(decode_image(again.after).rgb, astronaut_rgb)  # strength 0: the photo as it was
    assert again.review.strengths == (0.0,) and again.review.scores[0] == pytest.approx(1.0, abs=1e-6)
    assert "strength 0.00" in again.review.cards[0][1] and "same person" in again.review.cards[0][1]
    assert again.before == outcome.before and again.after.parent == tmp_path and again.review.selected == 0
    assert "output 512x512 px" in again.summary  # the restoration's own notes stay
    half = studio.reblend(outcome.review, 0, 0.5, tmp_path / "half" if (tmp_path / "half").mkdir() is None else None)
    assert not np.array_equal(decode_image(half.after).rgb, astronaut_rgb)
    assert half.review.scores[0] > outcome.review.scores[0]  # closer to the original face


def test_a_review_whose_faces_were_deleted_is_a_plain_sentence(studio, restored, tmp_path):
    import dataclasses

    outcome, _ = restored
    gone = dataclasses.replace(outcome.review, faces_file=tmp_path / "deleted.npz")
    with pytest.raises(InvalidOptionError, match="no longer available"):
        studio.reblend(gone, 0, 0.5, tmp_path)
    with pytest.raises(IndexError):
        studio.reblend(outcome.review, 3, 0.5, tmp_path)


def test_the_review_in_a_phone_browser(studio, astronaut_rgb, tmp_path):
    """A visitor restores a photo, sees the face card, turns that face down and applies it."""
    photo = save_image(tmp_path / "astronaut.png", astronaut_rgb)
    with running_app(tmp_path / "root", studio) as (_, url), chromium_browser() as browser:
        context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
        page = context.new_page()
        try:
            page.goto(url, wait_until="load")
            page.locator("#id-spec-search").wait_for(timeout=60_000)  # the page is up (ID Photo opens first)
            open_tab(page, "Restore")
            panel = page.locator("[role=tabpanel]:visible")
            panel.locator("input[type=file]").first.set_input_files(str(photo))
            page.get_by_role("button", name="Restore", exact=True).click()
            review = page.locator("#restore-review")
            review.wait_for(state="visible", timeout=120_000)
            page.locator("#restore-faces img").first.wait_for(state="visible", timeout=30_000)
            first_caption = review.inner_text()
            slider = review.get_by_role("spinbutton").first  # the slider's number box
            slider.fill("0")
            slider.press("Enter")
            review.get_by_role("button", name="Apply to this face").click()
            page.wait_for_function("() => document.querySelector('#restore-review').innerText"
                                   ".includes('strength 0.00')", timeout=60_000)
            summary = page.locator("[role=tabpanel]:visible").inner_text()
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "restore-review-phone.png"), full_page=True)
            # the visitor deletes their files: nothing may offer to work on the deleted faces
            open_tab(page, "Privacy")
            page.get_by_role("button", name="Delete my files now").click()
            page.get_by_text("Deleted ").first.wait_for(timeout=30_000)
            open_tab(page, "Restore")
            review.wait_for(state="hidden", timeout=30_000)
            # a new photo after a new restoration: the old faces may not be worked on either
            panel = page.locator("[role=tabpanel]:visible")
            panel.locator("input[type=file]").first.set_input_files(str(photo))
            page.get_by_role("button", name="Restore", exact=True).click()
            review.wait_for(state="visible", timeout=120_000)
            other = save_image(tmp_path / "other.png", np.ascontiguousarray(astronaut_rgb[:, ::-1]))
            panel.locator("input[type=file]").first.set_input_files(str(other))
            review.wait_for(state="hidden", timeout=30_000)
        finally:
            context.close()
    assert "strength 1.00" in first_caption and "identity" in first_caption
    assert "Face 1 now at strength 0.00" in summary and "same person" in summary


def test_the_summary_shows_both_strengths_and_scores_when_the_guard_acts(studio, astronaut_rgb, tmp_path):
    photo = save_image(tmp_path / "astronaut.png", astronaut_rgb)
    outcome = studio.restore(photo, RestoreOptions(detector="mtcnn", identity_guard=True), tmp_path)
    assert "The identity guard lowered its strength from 1.00 to 0." in outcome.summary
    assert outcome.review.strengths[0] < 1.0 and outcome.review.scores[0] >= 0.30
    assert not outcome.summary.startswith("⚠")  # the guarded face is recognisable again
