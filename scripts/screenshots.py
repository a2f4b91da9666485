"""Capture one screenshot of each tab of the web app into docs/screenshots/<tab>.png.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots] [--chromium /usr/bin/chromium]

The app is started in this process on 127.0.0.1 with a temporary folder and RANDOM-WEIGHT
models of the real architectures (``tests/appserver.py``), because the real weights are not
downloaded here. The screenshots show the interface, not result quality: faces "restored"
by a random-weight GFPGAN look noisy, and the missing-weights banner is shown.

Each tab is captured full-page at 1280 px wide after running its job on the public-domain
astronaut photo: Restore (before/after slider), Background (colour replacement), ID Photo,
Batch (2 images; if the batch job fails, the tab is captured with its inputs filled and the
error is reported), and Privacy.

Needs Debian's Chromium (apt-get install chromium) and Playwright for Python.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
WIDTH = 1280
JOB_TIMEOUT_MS = 180_000
CAPTION = ("Screenshots of Portrait Lab taken with random-weight models of the real architectures "
           "(the real weights are not installed here): they show the interface, not result quality.")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    parser.add_argument("--chromium", type=Path, default=Path("/usr/bin/chromium"))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("error: Playwright for Python is not installed (pip install playwright)", file=sys.stderr)
        return 2
    if not args.chromium.exists():
        print(f"error: no Chromium at {args.chromium} (apt-get install chromium)", file=sys.stderr)
        return 2

    from appserver import random_weight_studio, running_app

    from pipeline.core.encode import save_image
    from pipeline.core.samples import astronaut

    args.out.mkdir(parents=True, exist_ok=True)
    print(f"note: {CAPTION}")
    notes: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="portrait-lab-shots-") as scratch:
        scratch_dir = Path(scratch)
        rgb = astronaut()
        photo = scratch_dir / "astronaut.png"
        save_image(photo, rgb)
        second = scratch_dir / "astronaut-mirrored.png"
        save_image(second, rgb[:, ::-1].copy())
        print("starting the app with random-weight models ...")
        studio = random_weight_studio(scratch_dir / "weights")
        with running_app(scratch_dir / "root", studio) as (_app, url), sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(args.chromium), headless=True,
                                                 args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": WIDTH, "height": 900})
            page.goto(url, wait_until="load")
            page.get_by_role("tab", name="Restore").wait_for()

            shots = [("restore", "Restore", lambda panel: restore(page, panel, photo)),
                     ("background", "Background", lambda panel: background(page, panel, photo)),
                     ("idphoto", "ID Photo", lambda panel: id_photo(page, panel, photo)),
                     ("batch", "Batch", lambda panel: batch(page, panel, [photo, second])),
                     ("privacy", "Privacy", lambda panel: None)]
            for name, tab, action in shots:
                started = time.perf_counter()
                page.get_by_role("tab", name=tab).click()
                panel = page.locator("[role=tabpanel]").filter(visible=True).first
                panel.wait_for(state="visible")
                try:
                    note = action(panel)
                except Exception as error:  # keep going: the other tabs are still worth capturing
                    note = f"the job did not finish ({type(error).__name__}: {str(error).splitlines()[0]})"
                if note:
                    notes[name] = note
                page.wait_for_timeout(500)  # let transitions and toasts settle
                target = args.out / f"{name}.png"
                page.screenshot(path=str(target), full_page=True)
                print(f"{target.relative_to(REPO) if target.is_relative_to(REPO) else target}: "
                      f"{time.perf_counter() - started:.1f} s" + (f"  (NOTE: {note})" if note else ""))
            browser.close()
    for name, note in notes.items():
        print(f"note: {name}.png: {note}")
    return 0


def upload(panel, files) -> None:
    """Put files into the first upload input of a tab and wait until the upload shows."""
    panel.locator("input[type=file]").first.set_input_files([str(f) for f in files] if isinstance(files, list)
                                                             else str(files))


def wait_for_preview(panel) -> None:
    panel.locator("img").first.wait_for(state="visible", timeout=30_000)


def error_toast(page) -> str | None:
    toast = page.locator(".toast-body")
    if toast.count() and toast.first.is_visible():
        return " ".join(toast.first.inner_text().split())
    return None


def wait_for_done(page, condition_js: str, what: str) -> str | None:
    """Wait until ``condition_js`` is true or an error toast appears; return a note on error."""
    page.wait_for_function(f"() => ({condition_js}) || !!document.querySelector('.toast-body')",
                           timeout=JOB_TIMEOUT_MS)
    message = error_toast(page)
    return f"{what} failed in the app: {message}" if message else None


def restore(page, panel, photo: Path) -> str | None:
    upload(panel, photo)
    wait_for_preview(panel)
    panel.get_by_role("button", name="Restore", exact=True).click()
    return wait_for_done(
        page, "[...document.querySelectorAll('[role=tabpanel]')].some(p => p.offsetParent !== null"
              " && p.querySelectorAll('.slider-wrap img, [data-testid=image] img, img').length >= 3"
              " && [...p.querySelectorAll('button, a')].some(b => b.innerText.includes('Download restored')"
              " && b.offsetParent !== null))", "Restore")


def background(page, panel, photo: Path) -> str | None:
    upload(panel, photo)
    wait_for_preview(panel)
    panel.get_by_role("button", name="Replace background").click()
    return wait_for_done(
        page, "[...document.querySelectorAll('[role=tabpanel]')].some(p => p.offsetParent !== null"
              " && [...p.querySelectorAll('button, a')].some(b => b.innerText.trim() === 'Download'"
              " && b.offsetParent !== null))", "Background replacement")


def id_photo(page, panel, photo: Path) -> str | None:
    upload(panel, photo)
    wait_for_preview(panel)
    panel.get_by_role("button", name="Make ID photo").click()
    note = wait_for_done(
        page, "document.querySelector('#id-verdict .pl-report')"
              " && document.querySelector('#id-result img')?.complete", "ID photo")
    page.wait_for_timeout(1000)  # the print sheet and the downloads list render after the report
    return note


def batch(page, panel, photos: list[Path]) -> str | None:
    upload(panel, photos)
    # The file list shows each name's stem and extension in separate elements.
    names = " && ".join(f"p.innerText.includes('{photo.stem}')" for photo in photos)
    page.wait_for_function("() => [...document.querySelectorAll('[role=tabpanel]')]"
                           f".some(p => p.offsetParent !== null && {names})", timeout=30_000)  # both listed
    panel.get_by_role("button", name="Run batch").click()
    return wait_for_done(
        page, "[...document.querySelectorAll('[role=tabpanel]')].some(p => p.offsetParent !== null"
              " && p.innerText.includes('file(s) in'))", "The batch job")


if __name__ == "__main__":
    sys.exit(main())
