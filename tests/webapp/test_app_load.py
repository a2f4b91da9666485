"""Load test of the real web app: 20 concurrent API clients each make one ID photo.

The server runs in this process (random-weight models of the real architectures, see
``tests/appserver.py``) with the default queue settings (1 heavy job at a time on CPU,
64 waiting at most). Each client uploads its own copy of the astronaut photo (a different
small mark in a corner, so contents and upload paths differ) and checks that:

- every request succeeds;
- every returned file lies in that client's own session directory, and no two clients get
  the same file;
- this process's resident memory stays bounded (sampled during the run).

Figures (wall time, latency median/p90/max, RSS before/peak/after) are printed on one line
and written to ``test-artifacts/load-test.json``.
"""
from __future__ import annotations

import json
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from appserver import random_weight_studio, running_app  # noqa: E402

from pipeline.core.encode import save_image  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CLIENTS = 20
RSS_GROWTH_LIMIT_MB = 1536.0
OVERALL_TIMEOUT_S = 600.0  # the queue runs one job at a time: ~20 x 3-7 s idle, 4x that on a loaded CI machine
SPEC = "icao_generic"


def rss_mb() -> float:
    """Resident memory of this process (the server runs in it), from /proc."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError("no VmRSS in /proc/self/status")


class PeakSampler(threading.Thread):
    def __init__(self, interval_s: float = 0.1) -> None:
        super().__init__(name="rss-sampler", daemon=True)
        self.interval_s = interval_s
        self.peak = rss_mb()
        self.samples = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(self.interval_s):
            self.peak = max(self.peak, rss_mb())
            self.samples += 1

    def stop(self) -> float:
        self._halt.set()
        self.join(timeout=5)
        self.peak = max(self.peak, rss_mb())
        return self.peak


def marked_copies(rgb: np.ndarray, directory: Path, count: int) -> list[Path]:
    """``count`` PNGs of the photo, each with a different 4x4 mark in its top-left corner."""
    paths = []
    for index in range(count):
        copy = rgb.copy()
        copy[:4, :4] = ((index * 37) % 256, (index * 91) % 256, (index * 53 + 1) % 256)
        path = directory / f"portrait-{index:02d}.png"
        save_image(path, copy)
        paths.append(path)
    return paths


def file_paths(value: object) -> list[str]:
    """Every server-side file path in a prediction (FileData dicts, nested in tuples/lists)."""
    if isinstance(value, dict):
        return [value["path"]] if isinstance(value.get("path"), str) else []
    if isinstance(value, (list, tuple)):
        return [path for item in value for path in file_paths(item)]
    return []


def close_all(clients: list) -> None:
    """Close the clients together. Each close waits up to 1 s for its heartbeat thread, which
    sees the request to stop only between two server messages: one after the other, 20 s."""
    with ThreadPoolExecutor(max_workers=max(1, len(clients))) as pool:
        list(pool.map(lambda client: client.close(), clients))


def check_results(storage, results: list[dict]) -> None:
    # -- every request succeeded with a real result ----------------------------------
    assert len(results) == CLIENTS
    for result in results:
        assert result["report"].startswith(f"ID-photo compliance for {SPEC}"), result["report"][:200]
        assert "Compliance:" in result["verdict"]
        assert len(result["photo"]) == 1 and Path(result["photo"][0]).suffix in (".jpg", ".jpeg", ".png")
        assert len(result["paths"]) >= 2  # the photo and its overlay at least

    # -- nobody sees another's output ------------------------------------------------
    hashes = {r["session_hash"] for r in results}
    assert len(hashes) == CLIENTS
    keys = {storage.session_key(h) for h in hashes}
    assert len(keys) == CLIENTS
    seen: dict[Path, int] = {}
    for result in results:
        own_dir = (storage.sessions_dir / storage.session_key(result["session_hash"])).resolve()
        assert not result["missing"], f"client {result['index']}: {result['missing']} missing right after the call"
        for resolved in {Path(path).resolve() for path in result["paths"]}:  # the photo is also in the downloads
            assert resolved.is_relative_to(own_dir), \
                f"client {result['index']} got a file outside its session: {resolved}"
            assert resolved not in seen, f"clients {seen.get(resolved)} and {result['index']} share {resolved}"
            seen[resolved] = result["index"]


def test_twenty_concurrent_clients_make_id_photos(tmp_path, astronaut_rgb):
    from gradio_client import Client, handle_file

    photos = marked_copies(astronaut_rgb, tmp_path, CLIENTS)
    studio = random_weight_studio(tmp_path / "weights")
    with running_app(tmp_path / "root", studio) as (app, url):
        storage = app.storage
        assert app.config.resolved_concurrency("cpu") == 1 and app.config.queue_max == 64  # the defaults
        rss_before = rss_mb()
        sampler = PeakSampler()
        sampler.start()
        start_barrier = threading.Barrier(CLIENTS)
        clients: list = []

        def one_client(index: int) -> dict:
            client = Client(url, download_files=False, verbose=False)
            clients.append(client)  # kept open until the checks: closing it ends the session, deleting its files
            start_barrier.wait(timeout=60)  # every client is connected: the requests really overlap
            started = time.perf_counter()
            verdict, photo, overlay, report, sheet, files = client.predict(
                handle_file(str(photos[index])), SPEC, "", None, "none", api_name="/id_photo")
            latency = time.perf_counter() - started
            paths = file_paths([photo, overlay, sheet, files])
            return {"index": index, "session_hash": client.session_hash, "latency": latency,
                    "verdict": verdict, "report": report, "paths": paths, "photo": file_paths(photo),
                    "missing": [p for p in paths if not Path(p).is_file()]}

        wall_started = time.perf_counter()
        try:
            with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
                futures = [pool.submit(one_client, i) for i in range(CLIENTS)]
                deadline = wall_started + OVERALL_TIMEOUT_S
                results = [f.result(timeout=max(1.0, deadline - time.perf_counter())) for f in futures]
            wall = time.perf_counter() - wall_started
            rss_peak = sampler.stop()
            rss_after = rss_mb()
            report_figures(app, results, wall, rss_before, rss_peak, rss_after, sampler.samples)
            check_results(storage, results)
        finally:
            close_all(clients)
        assert rss_peak - rss_before < RSS_GROWTH_LIMIT_MB, \
            f"RSS grew from {rss_before:.0f} to a peak of {rss_peak:.0f} MB"
        assert rss_after - rss_before < RSS_GROWTH_LIMIT_MB, f"RSS grew from {rss_before:.0f} to {rss_after:.0f} MB"


def report_figures(app, results: list[dict], wall: float, rss_before: float, rss_peak: float, rss_after: float,
                   samples: int) -> None:
    """Print the figures on one line and write them to test-artifacts/load-test.json."""
    latencies = sorted(r["latency"] for r in results)
    figures = {
        "clients": CLIENTS,
        "spec": SPEC,
        "concurrency_limit": app.config.resolved_concurrency("cpu"),
        "queue_max": app.config.queue_max,
        "wall_s": round(wall, 2),
        "latency_median_s": round(statistics.median(latencies), 2),
        "latency_p90_s": round(latencies[int(np.ceil(0.9 * CLIENTS)) - 1], 2),
        "latency_max_s": round(latencies[-1], 2),
        "latency_min_s": round(latencies[0], 2),
        "throughput_per_s": round(CLIENTS / wall, 3),
        "rss_before_mb": round(rss_before, 1),
        "rss_peak_mb": round(rss_peak, 1),
        "rss_after_mb": round(rss_after, 1),
        "rss_samples": samples,
    }
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "load-test.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(f"\nload test: {CLIENTS} clients in {wall:.1f} s; latency median {figures['latency_median_s']} s, "
          f"p90 {figures['latency_p90_s']} s, max {figures['latency_max_s']} s; RSS before {rss_before:.0f} MB, "
          f"peak {rss_peak:.0f} MB, after {rss_after:.0f} MB")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-s", "-q"]))
