"""End-to-end test of the real web app in headless Chromium.

The app runs in this process (random-weight models of the real architectures, see
``tests/appserver.py``). The test uploads the astronaut photo on the "ID Photo" tab, makes
an ID photo, and checks what a visitor sees, plus two privacy promises of the page:

- every request the page makes goes to the app itself on 127.0.0.1 (no third-party
  fonts, analytics or CDNs);
- the owner cookie is HttpOnly (page scripts cannot read it).

A full-page screenshot is kept in ``test-artifacts/browser-idphoto.png``.

Needs Debian's Chromium at /usr/bin/chromium (or $PORTRAIT_LAB_CHROMIUM) and Playwright for
Python; without either the test is skipped with the reason (Playwright's own browser
download is not used).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from appserver import random_weight_studio, running_app  # noqa: E402

from pipeline.imageio import save_image  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = Path(os.environ.get("PORTRAIT_LAB_CHROMIUM", "/usr/bin/chromium"))  # Debian's package
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
OWNER_COOKIE = "portrait_lab_owner"
ICAO_GENERIC_PX = (413, 531)  # 35x45 mm at 300 dpi
RUN_TIMEOUT_MS = 120_000


@pytest.fixture(scope="module")
def browser():
    """Headless Debian Chromium driven by Playwright; skipped (with the reason) when missing."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as error:
        pytest.skip(f"Playwright for Python is not installed ({error}); pip install playwright")
    if not CHROMIUM.is_file():
        pytest.skip(f"no Chromium at {CHROMIUM}; install it with: apt-get install chromium "
                    "(or point PORTRAIT_LAB_CHROMIUM at one)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def test_id_photo_in_the_browser(browser, tmp_path, astronaut_rgb):
    photo = tmp_path / "astronaut.png"
    save_image(photo, astronaut_rgb)
    studio = random_weight_studio(tmp_path / "weights")
    with running_app(tmp_path / "root", studio) as (app, url):
        server = urlsplit(url)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        requests: list[str] = []
        cookie_headers: list[tuple[str, str]] = []
        page.on("request", lambda request: requests.append(request.url))
        page.on("websocket", lambda socket: requests.append(socket.url))

        def on_response(response) -> None:
            for value in response.header_values("set-cookie"):
                if value.startswith(f"{OWNER_COOKIE}="):
                    cookie_headers.append((response.url, value))

        page.on("response", on_response)
        try:
            page.goto(url, wait_until="load")
            page.get_by_role("tab", name="ID Photo").click()
            panel = page.locator("[role=tabpanel]", has=page.locator("#id-result"))
            panel.wait_for(state="visible")

            # Upload into the portrait input: the first file input of the ID Photo tab.
            panel.locator("input[type=file]").first.set_input_files(str(photo))
            portrait_block = panel.locator(".block", has=page.locator("input[type=file]")).first
            portrait_block.locator("img").first.wait_for(state="visible", timeout=30_000)

            page.get_by_role("button", name="Make ID photo").click()
            page.wait_for_function(
                "() => (document.querySelector('#id-report textarea')?.value || '').includes('ID-photo compliance')",
                timeout=RUN_TIMEOUT_MS)
            result = page.locator("#id-result img").first
            result.wait_for(state="visible", timeout=30_000)
            page.wait_for_function(
                "() => { const img = document.querySelector('#id-result img');"
                " return img && img.complete && img.naturalWidth > 0; }", timeout=30_000)
            size = result.evaluate("img => [img.naturalWidth, img.naturalHeight]")
            report = page.locator("#id-report textarea").input_value()
            verdict = page.locator("#id-verdict").inner_text()
            script_sees_cookie = page.evaluate(f"() => document.cookie.includes('{OWNER_COOKIE}')")
            cookies = {c["name"]: c for c in context.cookies()}

            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "browser-idphoto.png"), full_page=True)
        finally:
            context.close()

    # What the visitor sees.
    assert report.startswith("ID-photo compliance for icao_generic"), report[:300]
    assert "Compliance:" in verdict, verdict
    assert tuple(size) == ICAO_GENERIC_PX, (f"ID photo is {size[0]}x{size[1]} px, "
                                             f"expected {ICAO_GENERIC_PX[0]}x{ICAO_GENERIC_PX[1]}")

    # Privacy: nothing but the app itself was contacted.
    assert requests, "no requests were recorded"
    foreign = sorted({u for u in requests
                      if urlsplit(u).scheme not in ("data", "blob")
                      and (urlsplit(u).hostname, urlsplit(u).port) != (server.hostname, server.port)})
    assert server.hostname == "127.0.0.1"
    assert not foreign, f"the page contacted other hosts: {foreign}"

    # Privacy: the owner cookie was issued HttpOnly and page scripts cannot read it.
    assert cookie_headers, "no response set the owner cookie"
    for response_url, header in cookie_headers:
        attributes = [part.strip().lower() for part in header.split(";")[1:]]
        assert "httponly" in attributes, f"{response_url} set the owner cookie without HttpOnly: {header}"
    assert OWNER_COOKIE in cookies and cookies[OWNER_COOKIE]["httpOnly"] is True
    assert not script_sees_cookie
