"""Start the app the way a fresh Hugging Face Space does, and watch what its first visitor gets.

A mirror on 127.0.0.1 serves random-weight files of the real architectures (the real files
cannot be downloaded here) and a manifest describing them. The app starts as a Space would
start it (``SPACE_ID`` set, ``python app.py``, an empty weights folder), and this script
records, with timings:

1. HTTP 200, and which weights were still missing at that moment;
2. the banner's progress as a phone-sized browser shows it (Playwright, Debian's chromium);
3. the Restore button switching on, on the same page, with no reload and no restart, and a
   restoration through the API afterwards;
4. an ID photo requested through the API with the downloaded detector and matting (random
   weights find no face and no person, so this shows the downloaded models are the ones
   used; a good photo needs the real files);
5. that no ``pip`` process ran under the app.

    python scripts/simulate_space.py                      # with this interpreter
    python scripts/simulate_space.py --python /tmp/venv/bin/python   # a fresh Space-like venv
    (bash scripts/space_build_check.sh --keep builds one from the requirement files alone)
"""
from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipeline.models.fetcher import default_models  # noqa: E402
from pipeline.models.manifest import MANIFEST_PATH, load_manifest  # noqa: E402
from pipeline.models.store import save_random_weights  # noqa: E402

CHUNK = 256 * 1024


@dataclass
class Findings:
    """What the first visitor met, with seconds since the app process started."""

    http_200_s: float | None = None
    missing_at_200: list[str] = field(default_factory=list)
    banner_texts: list[str] = field(default_factory=list)
    restore_enabled_s: float | None = None
    restored: str = ""
    id_photo: str = ""
    pip_processes: list[str] = field(default_factory=list)


def write_mirror(folder: Path) -> Path:
    """Random weights of the app's default models, and a manifest with their sizes and hashes."""
    manifest = load_manifest()
    names = default_models(manifest)
    described = save_random_weights(manifest, folder, names)
    raw = json.loads(MANIFEST_PATH.read_text(encoding="utf-8"))
    for item in raw["models"]:
        if item["name"] in names:
            entry = described.get(item["name"])
            item.update(bytes=entry.bytes, sha256=entry.sha256, approx_bytes=None)
    path = folder / "manifest.json"
    path.write_text(json.dumps(raw, indent=2), encoding="utf-8")
    return path


def serve(folder: Path, megabytes_per_s: float) -> ThreadingHTTPServer:
    """The mirror, sending each file at about ``megabytes_per_s`` so progress can be seen."""
    pause = CHUNK / (megabytes_per_s * 1024 * 1024)

    class Handler(SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
            super().__init__(*args, directory=str(folder), **kwargs)

        def copyfile(self, source, outputfile) -> None:  # noqa: ANN001
            while chunk := source.read(CHUNK):
                outputfile.write(chunk)
                time.sleep(pause)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_app(python: str, port: int, mirror_url: str, manifest: Path, work: Path) -> subprocess.Popen:
    env = {**os.environ, "SPACE_ID": "simulated/portrait-lab", "PORTRAIT_LAB_MANIFEST": str(manifest),
           "PORTRAIT_LAB_WEIGHTS_MIRROR": mirror_url, "PORTRAIT_LAB_WEIGHTS_DIR": str(work / "weights"),
           "PORTRAIT_LAB_TMP": str(work / "tmp"), "GRADIO_SERVER_NAME": "127.0.0.1", "PYTHONUNBUFFERED": "1"}
    for variable in ("PORTRAIT_LAB_FETCH_WEIGHTS", "SPACES_ZERO_GPU"):
        env.pop(variable, None)
    log = open(work / "app.log", "w")  # noqa: SIM115 - closed with the process
    return subprocess.Popen([python, "app.py", "--port", str(port)], cwd=REPO, env=env, stdout=log,
                            stderr=subprocess.STDOUT)


def watch_for_pip(app: subprocess.Popen, found: list[str], stop: threading.Event) -> None:
    """Every process under the app (children, grandchildren), sampled every 0.1 s: none may be pip."""
    family = {str(app.pid)}
    while not stop.is_set():
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                status = (proc / "status").read_text()
                words = (proc / "cmdline").read_bytes().decode(errors="replace").split("\0")
            except OSError:
                continue
            parent = next((line.split()[1] for line in status.splitlines() if line.startswith("PPid:")), "")
            if parent not in family:
                continue
            family.add(proc.name)
            names = [Path(word).name for word in words]
            if any(name.startswith("pip") for name in names) or "-mpip" in "".join(words).replace(" ", ""):
                found.append(" ".join(words).strip())
        stop.wait(0.1)


def wait_for_http(url: str, started: float, limit_s: float = 180) -> float:
    import httpx

    while time.perf_counter() - started < limit_s:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return time.perf_counter() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"no HTTP 200 from {url} within {limit_s:.0f} s")


def watch_the_page(url: str, started: float, findings: Findings, limit_s: float = 240,
                   screenshot: Path | None = None) -> None:
    """A phone-sized browser on the Restore tab: the banner's texts, and when Restore switches on."""
    from playwright.sync_api import sync_playwright

    from pipeline.core.encode import save_image
    from pipeline.core.samples import astronaut

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=os.environ.get("PORTRAIT_LAB_CHROMIUM", "/usr/bin/chromium"))
        page = browser.new_page(viewport={"width": 390, "height": 844})
        page.goto(url)
        # The page opens on a tab that can run; Restore's label says "(soon)" until it can.
        page.get_by_role("tab", selected=True).wait_for()
        restore_tab = page.get_by_role("tab", name=re.compile(r"^Restore")).first
        if restore_tab.count() and restore_tab.is_visible():
            restore_tab.click()
        else:  # at 390 px it sits in the "More tabs" menu
            page.get_by_role("button", name="More tabs").click()
            page.get_by_role("button", name=re.compile(r"^Restore")).first.click()
        button = page.get_by_role("button", name="Restore", exact=True)
        button.wait_for()
        # the button also waits for a photo: a visitor who came to restore one has uploaded it
        photo = Path(tempfile.mkdtemp()) / "astronaut.png"
        save_image(photo, astronaut())
        page.locator("[role=tabpanel]:visible input[type=file]").first.set_input_files(str(photo))
        while time.perf_counter() - started < limit_s:
            banner = page.locator("#weights-banner")
            text = banner.inner_text() if banner.count() and banner.is_visible() else ""
            if text and (not findings.banner_texts or findings.banner_texts[-1] != text):
                findings.banner_texts.append(text)
                if screenshot is not None and "downloading" in text:
                    page.screenshot(path=str(screenshot))
            if button.is_enabled():
                findings.restore_enabled_s = time.perf_counter() - started
                break
            time.sleep(0.25)
        browser.close()


def use_the_models(url: str, work: Path, findings: Findings) -> None:
    """Restoration and an ID photo through the API, as a script or the page would ask."""
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    from pipeline.core.samples import astronaut
    from PIL import Image

    photo = work / "astronaut.png"
    Image.fromarray(astronaut()).save(photo)
    client = Client(url, verbose=False, download_files=str(work / "downloads"))
    findings.restored = client.predict(handle_file(str(photo)), "gfpgan-v1.4", 1.0, 1, False, "mtcnn", "png",
                                       api_name="/restore")[2]
    try:
        findings.id_photo = client.predict(handle_file(str(photo)), "us_passport", "", None, "none",
                                           api_name="/id_photo")[0]
    except AppError as error:
        findings.id_photo = f"refused: {error.message}"


def simulate(python: str, megabytes_per_s: float, work: Path, screenshot: Path | None = None) -> Findings:
    mirror_dir = work / "mirror"
    manifest = write_mirror(mirror_dir)
    mirror = serve(mirror_dir, megabytes_per_s)
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    findings, stop, pips = Findings(), threading.Event(), []
    started = time.perf_counter()
    app = start_app(python, port, f"http://127.0.0.1:{mirror.server_address[1]}", manifest, work)
    watcher = threading.Thread(target=watch_for_pip, args=(app, pips, stop), daemon=True)
    watcher.start()
    try:
        findings.http_200_s = wait_for_http(url, started)
        present = {p.name for p in (work / "weights").glob("*")}
        findings.missing_at_200 = sorted(str(load_manifest(manifest).get(n).file) for n in
                                         default_models(load_manifest(manifest))
                                         if str(load_manifest(manifest).get(n).file) not in present)
        watch_the_page(url, started, findings, screenshot=screenshot)
        use_the_models(url, work, findings)
    finally:
        stop.set()
        watcher.join()
        app.terminate()
        app.wait(timeout=30)
        mirror.shutdown()
        mirror.server_close()
    findings.pip_processes = pips
    return findings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=sys.executable, help="the interpreter of the Space-like venv")
    parser.add_argument("--mbps", type=float, default=60.0, help="mirror speed in MB/s (default 60)")
    parser.add_argument("--screenshot", type=Path, help="save the phone-sized page while a model downloads")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="portrait-lab-space-") as work:
        findings = simulate(args.python, args.mbps, Path(work), args.screenshot)
    print(json.dumps(findings.__dict__, indent=2))
    ok = (findings.http_200_s is not None and findings.missing_at_200 and findings.restore_enabled_s is not None
          and "Restored 1 of 1 face(s)" in findings.restored and not findings.pip_processes)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
