"""The demo: real shards, two trained checkpoints and their cache, built by the real code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from cache import CacheReader

ROOT = Path(__file__).resolve().parents[1]


def test_tiny_demo_builds_a_complete_cache(demo_cache):
    reader = CacheReader(demo_cache)
    assert reader.checkpoints() == ["v4", "v5"]
    assert reader.datasets() == ["diffusers_png", "faceforge", "gan_png", "testing"]
    formats = reader.samples().groupby("dataset")["image_format"].unique().to_dict()
    assert list(formats["faceforge"]) == ["jpg"] and list(formats["testing"]) == ["jpeg"]
    errors = reader.errors().set_index("key")["reason"].to_dict()
    assert errors == {"bad_truncated": "corrupt_image", "bad_nolabel": "missing_label",
                      "bad_unknown": "unknown_label", "bad_noimage": "missing_image"}
    assert len(reader.samples()) == 4 * 2 * 24
    for name in ("v4", "v5"):
        checkpoint = Path(reader.manifest(name)["source_path"])
        assert json.loads((checkpoint / "config.json").read_text())["id2label"] == {"0": "REAL", "1": "FAKE"}
        assert len(reader.predictions(name)) == 192


def test_full_demo_v5_is_measurably_better_than_v4(tmp_path):
    """The demo's story must hold: v4 never saw gan_png and fails it; v5 fixes it."""
    result = subprocess.run([sys.executable, "-m", "pipeline.demo", "--out", str(tmp_path)], cwd=ROOT,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    reader = CacheReader(tmp_path / "cache")
    v4 = reader.metrics("v4")["by_dataset"]
    v5 = reader.metrics("v5")["by_dataset"]
    assert v5["overall"]["auc"] > v4["overall"]["auc"] + 0.05
    assert v5["gan_png"]["auc"] > v4["gan_png"]["auc"] + 0.2
    assert v5["overall"]["auc"] > 0.8
    assert len(reader.samples()) == 3200
