"""Benchmark: what a threshold change costs the server at 100k points per pane.

    python bench/threshold.py [--n 100000]

Times, per pane, the work of the threshold callbacks: the metrics table (`PaneScores.metrics`,
one bincount) and the figure patch (`threshold_patch`) serialised as Dash sends it; and,
for comparison, scikit-learn's per-dataset metrics (`pipeline.metrics.metrics_by_group`)
and a full figure rebuild. Prints a table, then one JSON line. Never passes or fails.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.io.json as pj

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dashboard.figures import scatter_figure, threshold_patch  # noqa: E402
from dashboard.scores import PaneScores, metrics_rows  # noqa: E402
from pipeline.metrics import metrics_by_group  # noqa: E402


def points(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    datasets = np.array(["faceforge", "diffusers_png", "gan_png", "testing", "celeb"])[rng.integers(0, 5, n)]
    keys = np.array([f"k{i:07d}" for i in range(n)])
    label = rng.integers(0, 2, n).astype(np.int8)
    return pd.DataFrame({"sample_id": np.char.add(np.char.add(datasets, "/"), keys), "dataset": datasets, "key": keys,
                         "label": label, "prob_fake": rng.random(n).astype(np.float32),
                         "x": rng.normal(size=n).astype(np.float32), "y": rng.normal(size=n).astype(np.float32)})


def best_of(fn, repeat=5) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    args = parser.parse_args()
    frame = points(args.n)
    scores = PaneScores.from_frame(frame)
    result = {"n": args.n}
    result["metrics_table_s"] = best_of(lambda: metrics_rows(scores.metrics(0.37)))
    result["patch_and_json_s"] = best_of(lambda: pj.to_json_plotly(threshold_patch(frame, threshold=0.37,
                                                                                   color_by="correct")))
    result["threshold_update_s"] = result["metrics_table_s"] + result["patch_and_json_s"]
    result["sklearn_metrics_s"] = best_of(lambda: metrics_by_group(frame["dataset"], frame["label"],
                                                                   frame["prob_fake"], 0.37), repeat=2)
    result["full_figure_and_json_s"] = best_of(lambda: pj.to_json_plotly(scatter_figure(frame, threshold=0.37)),
                                               repeat=2)
    for name, value in result.items():
        if name != "n":
            print(f"{name:24s} {value * 1000:8.1f} ms")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
