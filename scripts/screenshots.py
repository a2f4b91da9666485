"""Screenshots of every tab, at a desktop and a phone size, into docs/screenshots/.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots] [--url URL] [--chromium PATH]

Writes, for each tab (idphoto, background, restore, batch, privacy):

- ``<tab>-desktop.png``: the first screen at 1280x900, what a desktop visitor sees;
- ``<tab>-phone.png``: the whole page at a 390x844 phone size;

then makes an ID photo of the public-domain astronaut on the ID Photo tab and writes
``idphoto-result-desktop.png`` and ``idphoto-result-phone.png`` (whole pages: the photo, the
overlay, the report, the print sheet and the downloads); and the same at the phone size in a
browser set to Chinese and to Japanese: ``idphoto-result-phone-zh-CN.png``, ``-ja.png``
(``--languages-only`` takes just those).

Without --url the app is started in this process on 127.0.0.1 the way the tests start it
(tests/appserver.py): a temporary folder and RANDOM-WEIGHT models of the real architectures,
because the real weights are not downloaded here: the screenshots show the interface, not
result quality. With --url the running app
at that address is captured instead (it must have an ID Photo tab that can run).

Needs Debian's Chromium (apt-get install chromium) and Playwright for Python.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from appserver import CHROMIUM_ARGS, open_tab  # noqa: E402  (after the path; the tests' helpers)

SIZES = {"desktop": (1280, 900), "phone": (390, 844)}
# The tabs in the page's order: file name, the tab's label (its start: "Restore" may carry a note).
TABS = (("idphoto", "ID Photo"), ("background", "Background"), ("restore", "Restore"), ("batch", "Batch"),
        ("privacy", "Privacy"))
JOB_TIMEOUT_MS = 180_000
SETTLE_MS = 500  # transitions and lazy images after a tab change or a resize


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    parser.add_argument("--url", help="capture the app running at this address instead of starting one")
    parser.add_argument("--chromium", type=Path, default=Path("/usr/bin/chromium"))
    parser.add_argument("--languages-only", action="store_true", help="only the Chinese and Japanese results")
    return parser.parse_args(argv)


@contextmanager
def app_url(url: str | None, scratch: Path) -> Iterator[str]:
    """The given address, or the app started here with random-weight models (as in the tests)."""
    if url:
        yield url if url.endswith("/") else url + "/"
        return
    from appserver import random_weight_studio, running_app

    print("starting the app with random-weight models ...")
    with running_app(scratch / "root", random_weight_studio(scratch / "weights")) as (_app, local_url):
        yield local_url


def shoot(page, target: Path, *, full_page: bool) -> None:
    page.mouse.move(0, 0)  # no hover colours on whatever the last click left the pointer over
    page.screenshot(path=str(target), full_page=full_page)
    print(f"{target.relative_to(REPO) if target.is_relative_to(REPO) else target}")


def capture_tabs(browser, url: str, out: Path) -> None:
    """Each tab as it opens, at both sizes: the desktop's first screen, the phone's whole page."""
    for size, (width, height) in SIZES.items():
        page = browser.new_page(viewport={"width": width, "height": height}, locale="en-US", color_scheme="light")
        try:
            page.goto(url, wait_until="load")
            page.get_by_role("tab", selected=True).wait_for()
            for file_name, label in TABS:
                open_tab(page, label, SETTLE_MS)
                page.evaluate("() => window.scrollTo(0, 0)")
                shoot(page, out / f"{file_name}-{size}.png", full_page=size == "phone")
        finally:
            page.close()


def _in(lang: str, english: str) -> str:
    """A ``ui.*`` label in ``lang``, found by its English text."""
    from pipeline.i18n import catalogue, translate

    key = next(key for key, text in catalogue("en").items() if key.startswith("ui.") and text == english)
    return translate(key, lang)


def capture_id_photo_result(browser, url: str, photo: Path, out: Path, lang: str = "en") -> None:
    """An ID photo of the astronaut, then the whole page: at both sizes in English, at the
    phone size (``idphoto-result-phone-<lang>.png``) in another language."""
    sizes = SIZES if lang == "en" else {"phone": SIZES["phone"]}
    width, height = SIZES["desktop"]
    page = browser.new_page(viewport={"width": width, "height": height}, locale="en-US" if lang == "en" else lang,
                            color_scheme="light")
    try:
        page.goto(url, wait_until="load")
        page.get_by_role("tab", selected=True).wait_for()
        page.wait_for_function(f"() => document.documentElement.lang === {lang!r}", timeout=30_000)
        open_tab(page, _in(lang, "ID Photo"), SETTLE_MS)
        panel = page.locator("[role=tabpanel]:visible")
        panel.locator("input[type=file]").first.set_input_files(str(photo))
        started = time.perf_counter()
        panel.get_by_role("button", name=_in(lang, "Make ID photo")).click()
        page.wait_for_function("() => document.querySelector('#id-verdict .pl-report')"
                               " || document.querySelector('.toast-body')", timeout=JOB_TIMEOUT_MS)
        toast = page.locator(".toast-body")
        if toast.count() and toast.first.is_visible():
            raise RuntimeError(f"the ID photo failed in the app: {' '.join(toast.first.inner_text().split())}")
        page.wait_for_function("() => document.querySelector('#id-result img')?.complete", timeout=30_000)
        page.wait_for_timeout(1000)  # the print sheet and the downloads render after the report
        print(f"ID photo made in {time.perf_counter() - started:.1f} s")
        for size, (width, height) in sizes.items():
            page.set_viewport_size({"width": width, "height": height})
            page.wait_for_timeout(SETTLE_MS)
            shoot(page, out / f"idphoto-result-{size}{'' if lang == 'en' else '-' + lang}.png", full_page=True)
    finally:
        page.close()


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
    from pipeline.core.encode import save_image
    from pipeline.core.samples import astronaut

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="portrait-lab-shots-") as scratch:
        photo = Path(scratch) / "astronaut.png"
        save_image(photo, astronaut())
        with app_url(args.url, Path(scratch)) as url, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(args.chromium), headless=True,
                                                 args=CHROMIUM_ARGS)
            try:
                if not args.languages_only:
                    capture_tabs(browser, url, args.out)
                    capture_id_photo_result(browser, url, photo, args.out)
                for lang in ("zh-CN", "ja"):
                    capture_id_photo_result(browser, url, photo, args.out, lang)
            finally:
                browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
