"""Benchmark: the dashboard in headless Chromium against a running app.

    python bench/dashboard.py [--source data/cache] [--sizes 20000,100000]

Builds a tiled cache of the largest size from a real one (bench/bigcache.py), serves it
with `python app.py --no-demo`, and in Debian's Chromium (Playwright) measures, per size:
seconds from pressing Run to the first points of that run on screen and to the final
t-SNE layout, and the time a threshold change takes to update the metrics table; one pan
step of a pane (a pan/zoom frame) and, as this browser's floor, a bare Plotly scattergl
plot of as many points without the app. Then a click on a point until its image has
loaded, and the image route's p50/p95 latency under 8 concurrent clients. Peak memory is the largest resident set among the server's
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


FINAL_JS = """(side) => /^t-SNE of [0-9,]+ points$/.test(document.querySelector('#' + side + '-pane-title').innerText)"""


def time_projection(page, points: int, seed: int) -> dict:
    """Seconds from Run to the first points of this run (received from the server, and drawn),
    and to each pane's final layout. Run projects the left pane's checkpoint, then the right one's."""
    page.fill("#max-points", str(points))
    page.press("#max-points", "Tab")
    page.fill("#seed", str(seed))  # a new seed: no saved layout can stand in for the run
    page.press("#seed", "Tab")
    page.wait_for_function("() => !/^t-SNE of/.test(document.querySelector('#left-pane-title').innerText)",
                           timeout=30_000)
    received = []

    def first_figure(response):  # the first layout in progress that the server sent for the left pane
        body = response.request.post_data or ""
        if (not received and response.status == 200 and "_dash-update-component" in response.url
                and '"left-interim-store"' in body and "left-graph.figure" in body
                and int(response.headers.get("content-length") or 0) > 20_000):  # a figure, not a title
            timing = response.request.timing
            received.append((timing["startTime"] + timing["responseEnd"]) / 1000)

    page.on("response", first_figure)
    clicked_at = time.time()
    started = time.perf_counter()
    page.click("#run")
    page.wait_for_function("() => document.getElementById('run').disabled", timeout=30_000)
    first = left_final = interim_updates = None
    titles = set()
    while True:
        title = page.inner_text("#left-pane-title")
        if "iteration" in title:
            titles.add(title)
        now = time.perf_counter() - started
        if first is None and title and page.evaluate(POINTS_JS, "left") > 0:
            first = now
        if left_final is None and page.evaluate(FINAL_JS, "left"):
            left_final = now
        if page.is_enabled("#run") and page.evaluate(FINAL_JS, "right"):
            break
        if now > 1800:
            raise SystemExit("error: the projection did not finish in 30 minutes.")
        time.sleep(0.05)
    both = time.perf_counter() - started
    page.remove_listener("response", first_figure)
    interim_updates = len(titles)
    return {"first_points_received_s": round(received[0] - clicked_at, 2) if received else None,
            "first_points_s": round(first or both, 2), "left_final_s": round(left_final or both, 2),
            "both_final_s": round(both, 2), "interim_layouts_seen": interim_updates,
            "points_shown": page.evaluate(POINTS_JS, "left"), "title": page.inner_text("#left-pane-title")}


# The rings trace's x array: a threshold Patch replaces it (even when the count stays the same).
RINGS_MARK_JS = "() => { window.__rings = document.querySelector('#left-graph .js-plotly-plot')._fullData[1].x; }"
RINGS_NEW_JS = "() => document.querySelector('#left-graph .js-plotly-plot')._fullData[1].x !== window.__rings"


def time_threshold(page) -> dict:
    """Median seconds from a new threshold (keyboard) to: the updated metrics table; the map's
    update (the Patch of its rings) received from the server; the map redrawn with it.

    Headless Chromium here draws WebGL in software (SwiftShader, no GPU), so the redraw
    measures this machine's CPU rasteriser more than the app."""
    table, patch, drawn = [], [], []
    thumb = page.locator("#left-threshold [role=slider]")
    is_patch = lambda r: "_dash-update-component" in r.url and '"left-graph.figure' in (r.request.post_data or "")  # noqa: E731
    for key in ("ArrowRight", "ArrowRight", "ArrowLeft", "ArrowLeft", "ArrowRight", "ArrowRight"):
        before = page.inner_text("#left-metrics-table")
        page.evaluate(RINGS_MARK_JS)
        thumb.focus()
        with page.expect_response(is_patch, timeout=30_000) as response:
            pressed_ms = time.time() * 1000
            started = time.perf_counter()
            thumb.press(key)
            page.wait_for_function("(b) => document.querySelector('#left-metrics-table').innerText !== b",
                                   arg=before, timeout=30_000, polling=10)
            table.append(time.perf_counter() - started)
        timing = response.value.request.timing
        patch.append((timing["startTime"] + timing["responseEnd"] - pressed_ms) / 1000)
        page.wait_for_function(RINGS_NEW_JS, timeout=30_000, polling=10)
        drawn.append(time.perf_counter() - started)
        page.wait_for_timeout(300)
    median = lambda v: round(float(np.median(v)), 3)  # noqa: E731
    return {"threshold_table_s": median(table), "threshold_map_patch_s": median(patch),
            "threshold_map_drawn_s": median(drawn)}


PAN_JS = """async (side) => {
    const gd = document.querySelector('#' + side + '-graph .js-plotly-plot');
    const frame = () => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
    const [a, b] = gd._fullLayout.xaxis.range, step = (b - a) * 0.02, times = [];
    for (let i = 1; i <= 7; i++) {
        const t0 = performance.now();
        await Plotly.relayout(gd, {'xaxis.range': [a + i * step, b + i * step]});
        await frame();
        times.push(performance.now() - t0);
    }
    await Plotly.relayout(gd, {'xaxis.autorange': true});
    await frame();
    times.sort((p, q) => p - q);
    return times[3] / 1000; }"""

BARE_PLOT_JS = """async (n) => {
    const div = document.createElement('div');
    div.style.cssText = 'position:fixed;left:0;top:0;width:480px;height:400px;z-index:-1';
    document.body.appendChild(div);
    const x = new Float32Array(n), y = new Float32Array(n);
    for (let i = 0; i < n; i++) { x[i] = Math.random(); y[i] = Math.random(); }
    const t0 = performance.now();
    await Plotly.newPlot(div, [{type: 'scattergl', mode: 'markers', x: x, y: y, marker: {size: 6}}],
                         {margin: {l: 0, r: 0, t: 0, b: 0}});
    await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
    const drawn = (performance.now() - t0) / 1000;
    Plotly.purge(div);
    div.remove();
    return drawn; }"""


def time_browser_floor(page, points: int) -> dict:
    """What this browser's WebGL costs, whatever the app does: one pan step of the left pane
    (an axis-range change, median of 7: a pan or zoom frame) and, as a baseline in the same page,
    a bare `Plotly.newPlot` of `points` random scattergl points (one trace, no app code)."""
    return {"pan_frame_s": round(page.evaluate(PAN_JS, "left"), 3),
            "bare_scattergl_draw_s": round(page.evaluate(BARE_PLOT_JS, points), 3)}


def time_click(page) -> dict:
    """Seconds from a click on a point to: the detail panel's content received from the server,
    the image received, the image shown, and the sample ringed in both maps (after the image)."""
    x, y = page.evaluate("""() => {
        const gd = document.querySelector('#left-graph .js-plotly-plot');
        const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, r = gd.getBoundingClientRect();
        const t = gd._fullData[0], i = Math.floor(t.x.length / 2);
        return [r.left + xa._offset + xa.l2p(t.x[i]), r.top + ya._offset + ya.l2p(t.y[i])]; }""")
    page.mouse.move(x, y)
    page.wait_for_timeout(500)
    arrived = {}

    def on_response(response):
        timing = response.request.timing
        at = (timing["startTime"] + timing["responseEnd"]) / 1000
        if "/image/" in response.url:
            arrived.setdefault("image", at)
        elif '"output":"detail.children"' in (response.request.post_data or ""):
            arrived.setdefault("detail", at)

    page.on("response", on_response)
    clicked_at = time.time()
    started = time.perf_counter()
    page.mouse.click(x, y)
    page.wait_for_function("() => { const i = document.querySelector('#detail img');"
                           " return i && i.complete && i.naturalWidth > 0; }", timeout=60_000)
    shown = time.perf_counter() - started
    page.wait_for_function("""() => ['left', 'right'].every(s =>
        document.querySelector('#' + s + '-graph .js-plotly-plot')._fullData[2]._length === 1)""", timeout=60_000)
    ringed = time.perf_counter() - started
    page.remove_listener("response", on_response)
    return {"click_detail_received_s": round(arrived["detail"] - clicked_at, 3) if "detail" in arrived else None,
            "click_image_received_s": round(arrived["image"] - clicked_at, 3) if "image" in arrived else None,
            "click_image_shown_s": round(shown, 3), "click_rings_shown_s": round(ringed, 3)}


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
                timing.update(time_threshold(page))
                timing.update(time_browser_floor(page, size))
                result["sizes"][str(size)] = timing
                page.screenshot(path=str(workdir / f"tsne_{size}.png"))
            result.update(time_click(page))
            browser.close()
        result["image_route"] = image_route_latency(url, sample_ids)
    finally:
        result["server_peak_rss_mb"] = round(memory.stop(), 1)
        process.terminate()
        process.wait(30)

    print(f"{'points':>8}{'first points: received s':>26}{'drawn s':>9}{'left final s':>14}{'both final s':>14}"
          f"{'threshold: table s':>20}{'map patch s':>13}{'map drawn s':>13}{'pan frame s':>13}"
          f"{'bare plot s':>13}")
    for size, timing in result["sizes"].items():
        print(f"{size:>8}{timing['first_points_received_s']!s:>26}{timing['first_points_s']:>9}"
              f"{timing['left_final_s']:>14}{timing['both_final_s']:>14}"
              f"{timing['threshold_table_s']:>20}{timing['threshold_map_patch_s']:>13}"
              f"{timing['threshold_map_drawn_s']:>13}{timing['pan_frame_s']:>13}"
              f"{timing['bare_scattergl_draw_s']:>13}   {timing['title']}")
    route = result["image_route"]
    print(f"page load {result['page_load_s']}s; click: detail received {result['click_detail_received_s']}s, image "
          f"received {result['click_image_received_s']}s, image shown {result['click_image_shown_s']}s, rings shown "
          f"{result['click_rings_shown_s']}s; image route p50 "
          f"{route['p50_ms']} ms, p95 {route['p95_ms']} ms ({route['requests']} requests, 8 clients); server peak "
          f"RSS {result['server_peak_rss_mb']} MB (all processes); cpu cores: {os.cpu_count()}; screenshots in {workdir}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
