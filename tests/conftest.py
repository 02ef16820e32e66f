"""Shared fixtures: a small real cache (real tar shards, real checkpoints, real precompute)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from helpers import simple_shard, vit_checkpoint  # noqa: E402


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item (rep_setup, rep_call), for fixtures that explain failures."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def small_cache(tmp_path_factory) -> Path:
    """A cache with checkpoints v4 and v5 over 3 datasets x 2 test shards (real files).

    Returns the cache folder; its cache.json points at the shards' data root.
    """
    from pipeline.precompute import main

    root = tmp_path_factory.mktemp("small")
    data = root / "webdataset"
    for d, (dataset, fmt) in enumerate([("alpha", "png"), ("beta", "jpg"), ("testing", "jpeg")]):
        for s in range(2):
            simple_shard(data / dataset / f"test-{s:05d}.tar", 30, seed=d * 10 + s, fmt=fmt, prefix=f"{dataset}{s}_")
    vit_checkpoint(root / "checkpoints" / "v4", seed=4)
    vit_checkpoint(root / "checkpoints" / "v5", seed=5)
    cache = root / "cache"
    code = main([
        "--data-root", str(data), "--cache-dir", str(cache), "--no-progress", "--num-workers", "0",
        "--checkpoint", f"v4={root / 'checkpoints' / 'v4'}", "--checkpoint", f"v5={root / 'checkpoints' / 'v5'}",
    ])
    assert code == 0
    return cache


@pytest.fixture(scope="session")
def demo_cache(tmp_path_factory) -> Path:
    """The demo builder's `tiny` profile: synthetic sources, two trained ViTs, their cache."""
    from pipeline.demo import build_demo

    return build_demo(tmp_path_factory.mktemp("demo"), profile="tiny", progress=lambda message: None)
