"""Benchmark: the dashboard in headless Chromium against a running app.

    python bench/dashboard.py [--source data/cache] [--sizes 20000,100000]

Builds a tiled cache of the largest size from a real one (bench/bigcache.py), serves it
with `python app.py --no-demo`, and in Debian's Chromium (Playwright) measures, per size:
seconds from pressing Run to the first points of that run on screen and to the final
t-SNE layout, and the time a threshold change takes to update the metrics table. Then a
click on a point until its image has loaded, and the image route's p50/p95 latency under
8 concurrent clients. Peak memory is the largest resident set among the server's
processes. Prints a table, then one JSON line last. Never passes or fails on time.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bigcache import tile_cache  # noqa: E402

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync"]
POINTS_JS = """(side) => { const gd = document.querySelector('#' + side + '-graph .js-plotly-plot');
    return gd && gd._fullData && gd._fullData.length ? (gd._fullData[0]._length || 0) : 0; }"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(cache: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "app.py", "--cache-dir", str(cache), "--port", str(port), "--no-demo"],
                               cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url + "/", timeout=2)
            return process, url
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise SystemExit("error: the app did not start within 2 minutes.")


class PeakMemory:
    """Samples the resident memory of the server and its children in the background."""

    def __init__(self, pid: int):
        import psutil

        self.root = psutil.Process(pid)
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.wait(0.2):
            try:
                processes = [self.root, *self.root.children(recursive=True)]
                total = 0
                for p in processes:
                    try:
                        total += p.memory_info().rss
                    except Exception:
                        pass
                self.peak_mb = max(self.peak_mb, total / 2**20)
            except Exception:
                return

    def stop(self) -> float:
        self._stop.set()
        self._thread.join(2)
        return self.peak_mb


def time_projection(page, points: int, seed: int) -> dict:
    """Seconds from Run to the first points of this run and to the final layout."""
    page.fill("#max-points", str(points))
    page.press("#max-points", "Tab")
    page.fill("#seed", str(seed))  # a new seed: no saved layout can stand in for the run
    page.press("#seed", "Tab")
    page.wait_for_timeout(500)
    before = page.inner_text("#left-pane-title")
    started = time.perf_counter()
    page.click("#run")
    page.wait_for_function("() => document.getElementById('run').disabled", timeout=30_000)
    first = None
    while True:
        title = page.inner_text("#left-pane-title")
        if first is None and title != before and page.evaluate(POINTS_JS, "left") > 0:
            first = time.perf_counter() - started
        if page.is_enabled("#run"):
            break
        if time.perf_counter() - started > 900:
            raise SystemExit("error: the projection did not finish in 15 minutes.")
        time.sleep(0.05)
    page.wait_for_function("(b) => { const t = document.querySelector('#left-pane-title').innerText;"
                           " return t !== b && !t.includes('iteration'); }", arg=before, timeout=60_000)
    final = time.perf_counter() - started
    return {"first_points_s": round(first or final, 2), "final_s": round(final, 2),
            "points_shown": page.evaluate(POINTS_JS, "left"), "title": page.inner_text("#left-pane-title")}


def time_threshold(page) -> float:
    """Median seconds from a new threshold (keyboard) to the updated metrics table."""
    times = []
    thumb = page.locator("#left-threshold [role=slider]")
    for key in ("ArrowRight", "ArrowRight", "ArrowLeft", "ArrowLeft", "ArrowRight"):
        before = page.inner_text("#left-metrics-table")
        thumb.focus()
        started = time.perf_counter()
        thumb.press(key)
        page.wait_for_function("(b) => document.querySelector('#left-metrics-table').innerText !== b", arg=before,
                               timeout=30_000)
        times.append(time.perf_counter() - started)
    return float(np.median(times))


def time_click(page) -> float:
    x, y = page.evaluate("""() => {
        const gd = document.querySelector('#left-graph .js-plotly-plot');
        const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, r = gd.getBoundingClientRect();
        const t = gd._fullData[0], i = Math.floor(t.x.length / 2);
        return [r.left + xa._offset + xa.l2p(t.x[i]), r.top + ya._offset + ya.l2p(t.y[i])]; }""")
    page.mouse.move(x, y)
    page.wait_for_timeout(500)
    started = time.perf_counter()
    page.mouse.click(x, y)
    page.wait_for_function("() => { const i = document.querySelector('#detail img');"
                           " return i && i.complete && i.naturalWidth > 0; }", timeout=30_000)
    return time.perf_counter() - started


def image_route_latency(url: str, sample_ids: list[str], clients: int = 8, per_client: int = 100) -> dict:
    latencies, lock = [], threading.Lock()

    def client(seed):
        rng = random.Random(seed)
        for _ in range(per_client):
            started = time.perf_counter()
            with urllib.request.urlopen(f"{url}/image/{rng.choice(sample_ids)}", timeout=30) as response:
                response.read()
            with lock:
                latencies.append(time.perf_counter() - started)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ms = np.array(latencies) * 1000
    return {"requests": len(ms), "p50_ms": round(float(np.percentile(ms, 50)), 2),
            "p95_ms": round(float(np.percentile(ms, 95)), 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=ROOT / "data" / "cache", help="a real cache to tile")
    parser.add_argument("--sizes", default="20000,100000", help="comma-separated point counts")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if not (args.source / "cache.json").exists():
        print(f"error: {args.source} is not a cache; run `python -m pipeline.demo --out data` first.", file=sys.stderr)
        return 2

    from playwright.sync_api import sync_playwright

    from cache import CacheReader

    workdir = Path(tempfile.mkdtemp(prefix="fakescope-dash-bench-"))
    cache = tile_cache(args.source, workdir / "cache", max(sizes))
    sample_ids = CacheReader(cache).samples(columns=["sample_id"])["sample_id"].tolist()
    process, url = start_server(cache)
    memory = PeakMemory(process.pid)
    result = {"sizes": {}}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            started = time.perf_counter()
            page.goto(url + "/")
            page.wait_for_function("() => document.querySelectorAll('#left-metrics-table td').length > 0",
                                   timeout=120_000)
            result["page_load_s"] = round(time.perf_counter() - started, 2)
            for n, size in enumerate(sizes):
                timing = time_projection(page, size, seed=1000 + n)
                timing["threshold_update_s"] = round(time_threshold(page), 3)
                result["sizes"][str(size)] = timing
                page.screenshot(path=str(workdir / f"tsne_{size}.png"))
            result["click_to_image_s"] = round(time_click(page), 3)
            browser.close()
        result["image_route"] = image_route_latency(url, sample_ids)
    finally:
        result["server_peak_rss_mb"] = round(memory.stop(), 1)
        process.terminate()
        process.wait(30)

    print(f"{'points':>8}{'first points s':>16}{'final layout s':>16}{'threshold s':>13}")
    for size, timing in result["sizes"].items():
        print(f"{size:>8}{timing['first_points_s']:>16}{timing['final_s']:>16}{timing['threshold_update_s']:>13}"
              f"   {timing['title']}")
    route = result["image_route"]
    print(f"page load {result['page_load_s']}s; click to image {result['click_to_image_s']}s; image route p50 "
          f"{route['p50_ms']} ms, p95 {route['p95_ms']} ms ({route['requests']} requests, 8 clients); server peak "
          f"RSS {result['server_peak_rss_mb']} MB (all processes); cpu cores: {os.cpu_count()}; screenshots in {workdir}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
