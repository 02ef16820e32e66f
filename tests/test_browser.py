"""The real app in real headless Chromium (Debian's /usr/bin/chromium via Playwright).

The server is `python app.py --no-demo` in a subprocess on a free port of 127.0.0.1,
over a private copy of the small cache. Screenshots go to artifacts/screenshots/.
Locally these skip when Chromium is missing; under CI (CI=true) they fail instead.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from cache import CacheReader
from dashboard_fixtures import dash_cache  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
SHOTS = ROOT / "artifacts" / "screenshots"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync"]


def _require_browser():
    missing = []
    if not CHROMIUM.exists():
        missing.append(str(CHROMIUM))
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package")
    if missing:
        message = f"browser tests need {' and '.join(missing)} (apt-get install -y chromium; pip install playwright)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(dash_cache):  # noqa: F811
    _require_browser()
    port = _free_port()
    log = open(dash_cache.parent / "server.log", "w")
    process = subprocess.Popen(
        [sys.executable, "app.py", "--cache-dir", str(dash_cache), "--port", str(port), "--no-demo"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while True:
        try:
            urllib.request.urlopen(url + "/", timeout=2)
            break
        except OSError:
            if process.poll() is not None or time.time() > deadline:
                process.kill()
                pytest.fail(f"the app did not start: {(dash_cache.parent / 'server.log').read_text()[-2000:]}")
            time.sleep(0.3)
    yield url
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


@pytest.fixture(autouse=True)
def explain_failure(request, dash_cache):  # noqa: F811
    """On a failed browser test: a screenshot, and the server log's tail in the report."""
    yield
    report = getattr(request.node, "rep_call", None)
    if report is None or not report.failed or "page" not in request.fixturenames:
        return
    page = request.getfixturevalue("page")
    try:
        page.screenshot(path=str(SHOTS / f"failed_{request.node.name}.png"))
        state = {part: page.inner_text(part) for part in ("#status", "#left-pane-title", "#right-pane-title")}
    except Exception as exc:  # the page itself may be what broke
        state = {"page": repr(exc)}
    log = dash_cache.parent / "server.log"
    lines = log.read_text().splitlines() if log.exists() else ["(no server log)"]
    # everything but the access log, which would drown a traceback, and its last few requests
    requests = [line for line in lines if ' HTTP/1.1" ' in line]
    other = [line for line in lines if ' HTTP/1.1" ' not in line]
    print(f"page state: {state}\nserver log:\n" + "\n".join(other[-60:] + requests[-8:]))


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(server + "/")
        page.wait_for_selector("#left-graph .js-plotly-plot", timeout=30_000)
        page.errors = errors
        yield page
        browser.close()


def points_in(page, side: str) -> int:
    return page.evaluate(f"""() => {{
        const gd = document.querySelector('#{side}-graph .js-plotly-plot');
        return gd && gd._fullData && gd._fullData.length ? (gd._fullData[0]._length || 0) : 0; }}""")


def run_tsne(page, iterations: int):
    page.fill("#n-iter", str(iterations))
    page.press("#n-iter", "Tab")
    page.fill("#perplexity", "20")
    page.press("#perplexity", "Tab")
    page.wait_for_timeout(300)
    page.click("#run")


def test_page_loads_with_two_panes(page):
    page.wait_for_timeout(1500)
    assert page.title() == "fakescope"
    for side, checkpoint in (("left", "v4"), ("right", "v5")):
        assert checkpoint in page.inner_text(f"#{side}-checkpoint")
        assert page.is_visible(f"#{side}-graph")
    assert "alpha (60: 30 real / 30 fake)" in page.inner_text("#datasets")
    page.wait_for_function("() => document.querySelectorAll('#left-metrics-table td').length > 0")
    page.screenshot(path=str(SHOTS / "01_loaded.png"))
    assert not page.errors


# Every change of the panes' titles and of the progress bar, recorded in the page as it
# happens (a t-SNE of 180 points optimises in about a second: polling from the test could
# miss a state that lasted 0.4 s).
RECORD_JS = """() => {
    window.__events = [];
    const record = (what, value) => window.__events.push([performance.now(), what, value]);
    for (const side of ['left', 'right']) {
        const title = document.querySelector('#' + side + '-pane-title');
        new MutationObserver(() => record(side, title.innerText))
            .observe(title, {childList: true, subtree: true, characterData: true});
    }
    const progress = document.querySelector('#progress');
    new MutationObserver(() => {
        const bar = progress.querySelector('[role=progressbar]');
        if (bar) record('progress', bar.getAttribute('aria-valuenow'));
    }).observe(progress, {childList: true, subtree: true, attributes: true, characterData: true});
}"""


def test_running_tsne_shows_progress_then_points(page):
    page.evaluate(RECORD_JS)
    run_tsne(page, 5000)
    page.wait_for_function("() => document.getElementById('run').disabled", timeout=10_000)
    assert page.is_visible("#progress-row") and not page.is_disabled("#cancel")
    shot = False
    # The job runs at low CPU priority: on a busy machine it can take many times its usual ~5 s.
    deadline = time.time() + 300
    while not page.is_enabled("#run") and time.time() < deadline:
        if not shot and "iteration" in page.inner_text("#left-pane-title") and points_in(page, "left"):
            page.screenshot(path=str(SHOTS / "02_tsne_running.png"))
            shot = True
        time.sleep(0.1)
    assert page.is_enabled("#run"), "the projection did not finish in 5 minutes"
    events = page.evaluate("() => window.__events")
    progress = [float(v) for _, what, v in events if what == "progress" and v not in (None, "")]
    assert any(0 < v < 100 for v in progress), f"no progress between 0 and 100 was shown: {sorted(set(progress))}"
    final = "t-SNE of 180 points"
    running = {side: [t for t, what, text in events if what == side and text.startswith(final + " — ")]
               for side in ("left", "right")}
    assert running["left"], f"no t-SNE layout was shown while it optimised: {events}"
    left_final = [t for t, what, text in events if what == "left" and text == final]
    assert left_final and any(t > left_final[0] for t in running["right"]), \
        f"the left pane did not show its final layout while the right one still ran: {events}"
    for side in ("left", "right"):
        page.wait_for_function(
            f"() => document.querySelector('#{side}-pane-title').innerText === 't-SNE of 180 points'", timeout=15_000)
        page.wait_for_function(f"() => document.querySelector('#{side}-graph .js-plotly-plot')._fullData[0]._length"
                               " === 180", timeout=15_000)
    assert "done" in page.inner_text("#status")
    page.screenshot(path=str(SHOTS / "03_tsne_done.png"))
    assert not page.errors


# Where to click in the left map: the point standing furthest from its nearest neighbour
# (so the click cannot pick another), clear of the mode bar and the edges, not one of
# `exclude`. Returns [page x, page y, sample_id, gap to its nearest neighbour in px].
ISOLATED_POINT_JS = """(exclude) => {
    const gd = document.querySelector('#left-graph .js-plotly-plot');
    const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, r = gd.getBoundingClientRect(), t = gd._fullData[0];
    const px = [], py = [];
    for (let i = 0; i < t._length; i++) { px.push(xa.l2p(t.x[i])); py.push(ya.l2p(t.y[i])); }
    let best = -1, bestGap = -1;
    for (let i = 0; i < t._length; i++) {
        if (exclude.includes(t.customdata[i])) continue;
        if (py[i] < 40 || py[i] > ya._length - 10 || px[i] < 10 || px[i] > xa._length - 10) continue;
        let gap = Infinity;
        for (let j = 0; j < t._length; j++) if (j !== i) gap = Math.min(gap, Math.hypot(px[i] - px[j], py[i] - py[j]));
        if (gap > bestGap) { bestGap = gap; best = i; }
    }
    return [r.left + xa._offset + px[best], r.top + ya._offset + py[best], t.customdata[best], bestGap]; }"""


def test_clicking_a_point_shows_its_image_in_the_detail_panel(page):
    if points_in(page, "left") == 0:
        run_tsne(page, 250)
        page.wait_for_function("() => !document.getElementById('run').disabled", timeout=300_000)
    page.wait_for_function("() => document.querySelector('#left-graph .js-plotly-plot')._fullData[0]._length > 0")
    # the final layout, not one in progress that is about to be replaced
    page.wait_for_function("() => /^t-SNE of [0-9,]+ points$/.test(document.querySelector('#left-pane-title')"
                           ".innerText)", timeout=30_000)
    page.wait_for_timeout(500)
    x, y, sample_id, gap = page.evaluate(ISOLATED_POINT_JS, [])
    assert gap > 6, f"no point of the left map stands clear of the others ({gap:.1f} px)"
    page.mouse.move(x, y)
    # the hover names the sample, its label and prob_fake, and its prediction at the threshold
    page.wait_for_function("() => { const h = document.querySelector('#left-graph .hoverlayer .hovertext');"
                           " return h && /predicted (FAKE|REAL)/.test(h.textContent); }", timeout=10_000)
    hover = page.evaluate("() => document.querySelector('#left-graph .hoverlayer .hovertext').textContent")
    assert sample_id in hover and "prob_fake" in hover, hover
    page.wait_for_timeout(300)
    page.mouse.click(x, y)
    page.wait_for_selector("#detail img", timeout=15_000)
    page.wait_for_function("() => { const i = document.querySelector('#detail img');"
                           " return i.complete && i.naturalWidth > 0; }", timeout=15_000)
    clicked = page.get_attribute("#detail img", "alt")
    detail = page.inner_text("#detail")
    assert clicked.split("/", 1)[1] in detail and clicked.split("/", 1)[0] in detail
    assert "v4" in detail and "v5" in detail  # both panes' prob_fake and prediction
    # the same sample is ringed in both panes
    page.wait_for_function("""() => ['left', 'right'].every(s =>
        document.querySelector('#' + s + '-graph .js-plotly-plot')._fullData[2]._length === 1)""")
    page.screenshot(path=str(SHOTS / "04_clicked_point.png"))
    assert clicked == sample_id
    ring_on_clicked = """(id) => ['left', 'right'].every(s => {
        const t = document.querySelector('#' + s + '-graph .js-plotly-plot')._fullData;
        const i = Array.from(t[0].customdata).indexOf(id);
        return t[2]._length === 1 && t[2].x[0] === t[0].x[i] && t[2].y[0] === t[0].y[i]; })"""
    assert page.evaluate(ring_on_clicked, clicked)
    # another point: the image changes, then the rings move to it in both panes
    x2, y2, second, _ = page.evaluate(ISOLATED_POINT_JS, [clicked])
    page.mouse.click(x2, y2)
    page.wait_for_function("(b) => { const i = document.querySelector('#detail img'); return i && i.alt === b; }",
                           arg=second, timeout=15_000)
    page.wait_for_function(ring_on_clicked, arg=second, timeout=15_000)


def test_moving_the_threshold_changes_the_metrics_table(page, dash_cache):  # noqa: F811
    frame = CacheReader(dash_cache).predictions("v4", ["alpha", "beta", "testing"])
    median = float(np.round(np.median(frame["prob_fake"]), 2))
    steps = int(round((median - 0.5) / 0.01)) or 5
    before = page.inner_text("#left-metrics-table")
    thumb = page.locator("#left-threshold [role=slider]")
    thumb.focus()
    for _ in range(abs(steps)):
        thumb.press("ArrowRight" if steps > 0 else "ArrowLeft")
    page.wait_for_function("(b) => document.querySelector('#left-metrics-table').innerText !== b", arg=before,
                           timeout=10_000)
    threshold = float(thumb.get_attribute("aria-valuenow"))
    assert threshold == pytest.approx(0.5 + steps * 0.01)
    page.wait_for_timeout(500)
    after = page.inner_text("#left-metrics-table")
    expected_acc = ((frame["prob_fake"] >= threshold).astype(int) == frame["label"]).mean()
    assert f"{expected_acc:.3f}" in after.split("overall", 1)[1]
    page.screenshot(path=str(SHOTS / "05_threshold_moved.png"))


def test_wrong_image_id_is_404(page, server):
    assert page.request.get(server + "/image/alpha/no-such-key").status == 404
    assert page.request.get(server + "/image/..%2F..%2Fcache.json").status == 404
    status = page.evaluate("async () => (await fetch('/image/nope')).status")
    assert status == 404
