"""Benchmark: what each part of a pane's scatter costs this browser to draw, without the app.

    python bench/browser_draw.py [--n 100000] [--repeat 3]

Builds the pane figure with `dashboard.figures.scatter_figure` for n synthetic points
(4 sources, labels at random, so about half the points are misclassified and ringed:
a worst case), then in Debian's headless Chromium (Playwright, plotly.js from the plotly
package, no Dash) times `Plotly.newPlot` until two animation frames have passed (a full
draw) and one `Plotly.relayout` of the x range (a pan or zoom step), for the full figure
and for variants that each leave one part out: per-point symbols, the colour scale, hover
data, the misclassified rings, the legend entries; and a bare baseline (positions only).
The difference to the full figure is what that part costs here. Medians of --repeat.

Without a GPU, Chromium draws WebGL with SwiftShader on the CPU, so these figures measure
that rasteriser: on a machine with a GPU the same figure draws far faster (not measured).
Prints a table, then one JSON line last. Never passes or fails on time.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import plotly
import plotly.io as pio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dashboard.figures import MAIN, SELECTED, WRONG, scatter_figure  # noqa: E402

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync"]
TIME_JS = """async ([fig, repeat]) => {
    const div = document.getElementById('graph');
    const frame = () => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
    const median = (v) => v.sort((p, q) => p - q)[Math.floor(v.length / 2)] / 1000;
    const draws = [], pans = [];
    for (let k = 0; k < repeat; k++) {
        let t0 = performance.now();
        await Plotly.newPlot(div, fig.data, fig.layout);
        await frame();
        draws.push(performance.now() - t0);
        const [a, b] = div._fullLayout.xaxis.range;
        t0 = performance.now();
        await Plotly.relayout(div, {'xaxis.range': [a + (b - a) * 0.03, b + (b - a) * 0.03]});
        await frame();
        pans.push(performance.now() - t0);
        Plotly.purge(div);
    }
    return [median(draws), median(pans)]; }"""
VARIANTS = ("full", "no symbols", "no colour scale", "no hover data", "no rings", "no legend entries", "bare")


def synthetic_points(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    datasets = np.array([f"source_{i % 4}" for i in range(n)])
    keys = np.array([f"k{i:07d}" for i in range(n)])
    return pd.DataFrame({
        "sample_id": np.char.add(np.char.add(datasets, "/"), keys).astype(object), "dataset": datasets, "key": keys,
        "label": rng.integers(0, 2, n), "prob_fake": rng.uniform(0, 1, n).astype(np.float32),
        "x": rng.normal(0, 30, n).astype(np.float32), "y": rng.normal(0, 30, n).astype(np.float32),
    })


def variant(full: dict, name: str) -> dict:
    figure = copy.deepcopy(full)
    main = figure["data"][MAIN]
    if name in ("no symbols", "bare"):
        main["marker"].pop("symbol")
    if name in ("no colour scale", "bare"):
        for key in ("colorscale", "cmin", "cmax", "showscale"):
            main["marker"].pop(key, None)
        main["marker"]["color"] = "rgba(65,157,120,0.5)"
    if name in ("no hover data", "bare"):
        for key in ("text", "customdata", "hovertext", "hovertemplate"):
            main.pop(key, None)
        main["hoverinfo"] = "skip"
    if name in ("no rings", "bare"):
        figure["data"][WRONG]["x"], figure["data"][WRONG]["y"] = [], []
    if name in ("no legend entries", "bare"):
        figure["data"] = figure["data"][:SELECTED + 1]
    return figure


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if not Path("/usr/bin/chromium").exists():
        print("error: /usr/bin/chromium is missing; install Debian's chromium package.", file=sys.stderr)
        return 2

    from playwright.sync_api import sync_playwright

    points = synthetic_points(args.n)
    full = json.loads(pio.to_json(scatter_figure(points, threshold=0.5)))
    rings = int((points["label"].to_numpy() != (points["prob_fake"].to_numpy() >= 0.5)).sum())
    plotly_js = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    rows = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.set_content("<html><body><div id='graph' style='width:480px;height:450px'></div></body></html>")
        page.add_script_tag(path=str(plotly_js))
        renderer = page.evaluate("""() => { const gl = document.createElement('canvas').getContext('webgl');
            const info = gl && gl.getExtension('WEBGL_debug_renderer_info');
            return info ? gl.getParameter(info.UNMASKED_RENDERER_WEBGL) : 'unknown'; }""")
        for name in VARIANTS:
            draw, pan = page.evaluate(TIME_JS, [variant(full, name), args.repeat])
            rows[name] = {"draw_s": round(draw, 3), "pan_s": round(pan, 3)}
        browser.close()

    print(f"{args.n} points, {rings} ringed; WebGL renderer: {renderer}")
    print(f"{'figure':20} {'draw s':>8} {'pan s':>8} {'part costs (draw) s':>20}")
    for name, row in rows.items():
        cost = rows["full"]["draw_s"] - row["draw_s"] if name not in ("full", "bare") else float("nan")
        print(f"{name:20} {row['draw_s']:8.3f} {row['pan_s']:8.3f} {cost:20.3f}")
    print(json.dumps({"n": args.n, "ringed": rings, "renderer": renderer, "variants": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
