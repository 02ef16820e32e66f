"""Fixtures and builders for the dashboard tests (imported by those modules, not conftest).

`dash_cache` is a private copy of the session's `small_cache` (v4, v5 over alpha, beta,
testing), so tests that save layouts or run jobs never change what other tests read.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest


def synthetic_points(n: int = 400, seed: int = 0, datasets=("alpha", "beta", "gamma")) -> pd.DataFrame:
    """Points as the scatter takes them: sample_id, dataset, key, label, prob_fake, x, y."""
    rng = np.random.default_rng(seed)
    dataset = np.array(datasets)[rng.integers(0, len(datasets), n)]
    key = np.array([f"k{i:06d}" for i in range(n)])
    label = rng.integers(0, 2, n).astype(np.int8)
    prob = np.clip(0.5 + (label - 0.5) * 0.6 + rng.normal(0, 0.25, n), 0, 1).astype(np.float32)
    return pd.DataFrame({
        "sample_id": [f"{d}/{k}" for d, k in zip(dataset, key)], "dataset": dataset, "key": key,
        "label": label, "prob_fake": prob,
        "x": rng.normal(size=n).astype(np.float32), "y": rng.normal(size=n).astype(np.float32),
    })


@pytest.fixture(scope="module")
def dash_cache(small_cache, tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("dash") / "cache"
    shutil.copytree(small_cache, target, ignore=shutil.ignore_patterns("jobs", "projections"))
    return target


@pytest.fixture(scope="module")
def dash_data(dash_cache):
    from dashboard.data import DashboardData

    return DashboardData(dash_cache)
