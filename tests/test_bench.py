"""The benchmark scripts run end to end at toy sizes and print the JSON line their issue
names (never a timing assertion: a slow machine must not fail a test)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_bench(script: str, *args: str, timeout: int = 600) -> dict:
    done = subprocess.run([sys.executable, str(ROOT / "bench" / script), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert len(lines) >= 2, "a table, then one JSON line"
    return json.loads(lines[-1])


def test_projection_bench_compares_with_sklearn_and_reports_quality():
    result = run_bench("projection.py", "--n", "400", "--dim", "16", "--trust-sample", "300")
    assert {"n", "dim", "ours_s", "sklearn_s", "speedup", "trustworthiness_ours", "trustworthiness_sklearn"} <= set(result)
    assert (result["n"], result["dim"]) == (400, 16)
    assert result["speedup"] == pytest.approx(result["sklearn_s"] / result["ours_s"], rel=0.01)
    # 24 well-separated clusters: both layouts keep neighbourhoods (random would be ~0.5).
    assert result["trustworthiness_ours"] > 0.85 and result["trustworthiness_sklearn"] > 0.85
    assert 0 < result["ours_first_layout_s"] <= result["ours_s"]


def test_embeddings_bench_reads_back_every_layout():
    result = run_bench("embeddings.py", "--n", "300", "--dim", "8", "--repeat", "1")
    assert len(result["layouts"]) == 6
    assert result["best_layout"] in result["layouts"]
    for figures in result["layouts"].values():
        assert figures["size_mb"] > 300 * 8 * 4 / 1e6 / 4  # a real file, not an empty one


def test_threshold_bench_runs():
    result = run_bench("threshold.py", "--n", "3000")
    assert result["n"] == 3000


def test_browser_draw_bench_times_every_variant_in_chromium():
    result = run_bench("browser_draw.py", "--n", "500", "--repeat", "1")
    assert result["n"] == 500 and 0 < result["ringed"] < 500
    assert set(result["variants"]) == {"full", "no symbols", "no colour scale", "no hover data", "no rings",
                                       "no legend entries", "bare"}
    assert all(v["draw_s"] > 0 and v["pan_s"] > 0 for v in result["variants"].values())
