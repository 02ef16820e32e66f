"""Callbacks are thin: these call their view functions on a real cache (v4, v5 over alpha,
beta, testing) and check the numbers against independent computations."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import plotly.graph_objects as go
from dash import Patch, no_update
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

from cache import CacheReader
from dashboard import callbacks as cb
from dashboard import ids
from dashboard.data import DashboardData
from dashboard.scores import PaneScores
from dashboard_fixtures import dash_cache, dash_data, synthetic_points  # noqa: F401  (fixtures)
from pipeline.metrics import metrics_by_group

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ["alpha", "beta", "testing"]
PCA_RAW = ("pca", 30, 750, 50, False, 20000, 0)         # method, perplexity, n_iter, pca_dims, standardize, max, seed
TSNE_RAW = ("tsne", 10, 250, 20, False, 20000, 0)


@pytest.mark.parametrize("threshold", [0.0, 0.3, 0.5, 0.71, 1.0])
def test_pane_scores_equal_sklearn_via_pipeline_metrics(threshold):
    frame = synthetic_points(3000, seed=9)
    fast = PaneScores.from_frame(frame).metrics(threshold)
    slow = metrics_by_group(frame["dataset"], frame["label"], frame["prob_fake"], threshold)
    assert list(fast) == list(slow)
    for name in slow:
        for key, value in slow[name].items():
            assert fast[name][key] == pytest.approx(value, abs=1e-12) if value is not None else fast[name][key] is None


def test_metrics_view_matches_sklearn_on_the_cache_and_follows_the_threshold(dash_data):  # noqa: F811
    frame = CacheReader(dash_data.paths.root).predictions("v5", DATASETS)
    median = float(np.round(np.median(frame["prob_fake"]), 4))
    for threshold in (0.5, median):
        rows, alert, youden, best_f1 = cb.metrics_view(dash_data, "v5", DATASETS, threshold)
        assert alert is None and [r["dataset"] for r in rows] == [*DATASETS, "overall"]
        for row in rows:
            part = frame if row["dataset"] == "overall" else frame[frame["dataset"] == row["dataset"]]
            pred = (part["prob_fake"] >= threshold).astype(int)
            assert row["n"] == str(len(part))
            assert row["accuracy"] == f"{accuracy_score(part['label'], pred):.3f}"
            assert row["auc"] == f"{roc_auc_score(part['label'], part['prob_fake']):.3f}"
            assert row["f1_fake"] == f"{f1_score(part['label'], pred, zero_division=0):.3f}"
            if pred.sum():
                assert row["precision_fake"] == f"{precision_score(part['label'], pred):.3f}"
            assert row["recall_real"] == f"{recall_score(part['label'], pred, pos_label=0):.3f}"
    assert 0 <= youden <= 1 and 0 <= best_f1 <= 1
    # moving the threshold to the median prob_fake changes the table: half the samples become REAL
    at_half = cb.metrics_view(dash_data, "v5", DATASETS, 0.5)[0]
    at_median = cb.metrics_view(dash_data, "v5", DATASETS, median)[0]
    assert at_median != at_half and at_median[-1]["auc"] == at_half[-1]["auc"]


def test_metrics_view_states(dash_data):  # noqa: F811
    assert cb.metrics_view(dash_data, None, DATASETS, 0.5) == ([], None, None, None)
    rows, alert, *_ = cb.metrics_view(dash_data, "v4", [], 0.5)
    assert rows == [] and "at least one source dataset" in alert
    rows, alert, *_ = cb.metrics_view(dash_data, "v4", ["nosuch"], 0.5)
    assert rows == [] and "has no predictions" in alert and "nosuch" in alert


def test_defaults_are_the_two_most_recent_checkpoints(dash_data):  # noqa: F811
    assert dash_data.default_checkpoints() == ("v4", "v5")


def test_params_from_controls_names_bad_parameter():
    with pytest.raises(ValueError, match=r"perplexity must lie in \[2.0, 200.0\]"):
        cb.params_from_controls("tsne", 500, 750, 50, False, 20000, 0)


class Progress:
    def __init__(self):
        self.calls = []

    def __call__(self, values):
        self.calls.append(values)


def test_run_job_projects_both_panes_reports_progress_and_saves(dash_data, monkeypatch):  # noqa: F811
    monkeypatch.setattr(cb, "INTERIM_EVERY_S", 0.0)  # every t-SNE report goes to the page
    method, *raw = TSNE_RAW
    params = cb.params_from_controls(method, *raw)
    before = [cb.lookup_layout(dash_data, c, DATASETS, method, params) for c in ("v4", "v5")]
    assert all(b["key"] is None and "press Run" in b["message"] for b in before)

    drawn, views, finished = [None], [], []

    def progress(values):  # what the left pane's draw_progress callback would draw at each report
        progress.calls.append(values)
        token = values[2]
        if token and token.get("done") and not finished:  # while the right pane still runs
            finished.append(cb.finished_view(dash_data, token, before[0], "v4", DATASETS, method, raw, "label",
                                             [0, 1], 0.5, None) + (dash_data.load_layout(before[1]["pending_key"]),))
        if token and not token.get("done") and token["step"] != (views[-1][0]["step"] if views else None):
            figure, title, now_drawn = cb.interim_view(dash_data, token, before[0], "label", [0, 1], 0.5, drawn[0])
            views.append((token, figure, title, dash_data.load_interim(token["key"])))
            drawn[0] = now_drawn if now_drawn is not no_update else drawn[0]

    progress.calls = []
    result, status = cb.run_projection_job(dash_data, progress, {"left": "v4", "right": "v5"}, DATASETS,
                                           method, raw)
    assert "v4 done" in status and "v5 done" in status and result["failed"] == {}
    percents = [c[0] for c in progress.calls]
    assert percents == sorted(percents) and percents[-1] == 100 and percents[0] < 50
    tokens = [c[2] for c in progress.calls if c[2] not in (None, no_update)]
    assert tokens and tokens[0]["key"] == before[0]["pending_key"] and "xy" not in tokens[0]  # small tokens
    # when the left pane is done, its token says so before the right pane starts
    done = [i for i, t in enumerate(tokens) if t.get("done")]
    assert tokens[done[0]]["key"] == before[0]["pending_key"] and done[0] < len(tokens) - 1
    assert cb.interim_view(dash_data, tokens[done[0]], before[0], "label", [0, 1], 0.5, None) == (no_update,) * 3
    store, figure, title, drawn_after, right_layout = finished[0]
    assert store["key"] == before[0]["pending_key"] and title == "t-SNE of 180 points" and drawn_after is None
    assert len(figure.data[0].x) == 180 and list(figure.data[0].customdata)  # final: with hover and ids
    assert right_layout is None  # the left pane showed its layout before the right one had one
    assert cb.finished_view(dash_data, tokens[done[0]], store, "v4", DATASETS, method, raw, "label", [0, 1], 0.5,
                            None) == (no_update,) * 4  # shown already

    # the first layout in progress draws a whole figure, later ones move its points
    assert len(views) >= 3
    first_token, first, first_title, first_xy = views[0]
    assert isinstance(first, go.Figure) and len(first.data[0].x) == 180 and "t-SNE of 180 points" in first_title
    assert first.data[0].customdata is None and first.data[0].hoverinfo == "skip"  # moving points: no hover
    np.testing.assert_allclose(first.data[0].x, first_xy[:, 0], rtol=1e-6)
    token, patch, title, xy = views[-1]
    assert isinstance(patch, Patch) and "iteration" in title
    ops = {tuple(op["location"]): op["params"]["value"] for op in patch.to_plotly_json()["operations"]}
    np.testing.assert_allclose(np.frombuffer(base64.b64decode(ops[("data", 0, "x")]["bdata"]), np.float32), xy[:, 0])
    assert not np.allclose(xy, first_xy)  # the points did move
    assert not list(dash_data.paths.interim_layout(token["key"]).parent.glob("*.npy"))  # cleaned up

    # saved: a fresh reader (a restarted server) finds both layouts at once
    fresh = DashboardData(dash_data.paths.root)
    after = [cb.lookup_layout(fresh, c, DATASETS, method, params) for c in ("v4", "v5")]
    assert [a["key"] for a in after] == [b["pending_key"] for b in before] and after[0]["key"] != after[1]["key"]
    layout = pd.read_parquet(dash_data.paths.projection(after[0]["key"]))
    assert len(layout) == 180 and set(layout.columns) == {"sample_id", "x", "y"}

    fig, title = cb.pane_figure(fresh, after[0], None, "label", [0, 1], 0.5, None)
    assert title.startswith("t-SNE of 180 points")
    main = fig.data[0]
    by_id = layout.set_index("sample_id")
    np.testing.assert_allclose(main.x, by_id.loc[list(main.customdata), "x"], rtol=1e-6)
    # once the run is over a late progress token draws nothing
    assert cb.interim_view(fresh, token, after[0], "label", [0, 1], 0.5, None) == (no_update,) * 3


def test_run_job_reports_a_failed_projection_as_a_message(dash_data):  # noqa: F811
    # 180 points cannot take perplexity 100: the pane says so instead of drawing nothing
    raw = (100, 250, 20, False, 20000, 1)
    result, status = cb.run_projection_job(dash_data, Progress(), {"left": "v4", "right": None}, DATASETS,
                                           "tsne", raw)
    assert "v4 failed" in status and "v5" not in status
    left = cb.lookup_layout(dash_data, "v4", DATASETS, "tsne", cb.params_from_controls("tsne", *raw),
                            failed=result["failed"])
    assert left["key"] is None and "perplexity must be at most" in left["message"]
    fig, _ = cb.pane_figure(dash_data, left, None, "label", [0, 1], 0.5, None)
    assert "Projection failed" in fig.layout.annotations[0].text


def test_run_job_with_invalid_parameters_does_not_run(dash_data):  # noqa: F811
    result, status = cb.run_projection_job(dash_data, Progress(), {"left": "v4", "right": "v5"}, DATASETS,
                                           "tsne", (30, 10, 50, False, 20000, 0))
    assert result is no_update and "n_iter" in status


def test_pca_layout_sampled_by_dataset_and_label_is_the_same_for_both_panes(dash_data):  # noqa: F811
    raw = (30, 750, 50, False, 100, 3)
    cb.run_projection_job(dash_data, Progress(), {"left": "v4", "right": "v5"}, DATASETS, "pca", raw)
    params = cb.params_from_controls("pca", *raw)
    left, right = (cb.lookup_layout(dash_data, c, DATASETS, "pca", params) for c in ("v4", "v5"))
    a = pd.read_parquet(dash_data.paths.projection(left["key"]))
    b = pd.read_parquet(dash_data.paths.projection(right["key"]))
    assert len(a) == 100 and a["sample_id"].tolist() == b["sample_id"].tolist()
    samples = CacheReader(dash_data.paths.root).samples().set_index("sample_id").loc[a["sample_id"]]
    counts = samples.groupby(["dataset", "label"]).size()
    assert counts.min() >= 16 and counts.max() <= 17  # 180 = 6 strata of 30, 100 kept in proportion


def test_threshold_patch_callback_path(dash_data):  # noqa: F811
    method, *raw = PCA_RAW
    params = cb.params_from_controls(method, *raw)
    cb.run_projection_job(dash_data, Progress(), {"left": "v4", "right": None}, DATASETS, method, raw)
    store = cb.lookup_layout(dash_data, "v4", DATASETS, method, params)
    points, _ = cb.pane_points(dash_data, store)
    fig, _ = cb.pane_figure(dash_data, store, None, "correct", [0, 1], 0.3, None)
    wrong = (points["prob_fake"] >= 0.3).astype(int) != points["label"]
    assert len(fig.data[1].x) == int(wrong.sum())


def test_selected_from_click_and_detail_view(dash_data):  # noqa: F811
    frame = CacheReader(dash_data.paths.root).predictions("v4", DATASETS)
    sample = frame.iloc[11]
    click = {"points": [{"curveNumber": 0, "pointIndex": 3, "customdata": sample["sample_id"]}]}
    assert cb.selected_from_click(click) == sample["sample_id"]
    assert cb.selected_from_click({"points": [{"curveNumber": 1}]}) is no_update
    assert cb.selected_from_click(None) is no_update

    detail = json.dumps(cb.detail_view(dash_data, sample["sample_id"], {"left": ("v4", 0.5), "right": ("v5", 0.5)}),
                        default=lambda o: o.to_plotly_json())
    assert f"/image/{sample['sample_id']}" in detail and sample["key"] in detail
    v5 = CacheReader(dash_data.paths.root).predictions("v5", DATASETS).set_index("sample_id").loc[sample["sample_id"]]
    assert f"{sample['prob_fake']:.3f}" in detail and f"{v5['prob_fake']:.3f}" in detail
    assert ("FAKE" if sample["label"] else "REAL") in detail
    missing = json.dumps(cb.detail_view(dash_data, "alpha/none", {}), default=lambda o: o.to_plotly_json())
    assert "not in this cache" in missing


def test_roc_view_has_both_checkpoints(dash_data):  # noqa: F811
    fig = cb.roc_view(dash_data, {"left": "v4", "right": "v5"}, DATASETS, {"left": 0.5, "right": 0.5})
    names = [t.name or "" for t in fig.data]
    assert any(n.startswith("v4 (AUC") for n in names) and any(n.startswith("v5 (AUC") for n in names)
    frame = CacheReader(dash_data.paths.root).predictions("v4", DATASETS)
    assert f"v4 (AUC {roc_auc_score(frame['label'], frame['prob_fake']):.3f})" in names


def test_export_view_csv_and_html(dash_data):  # noqa: F811
    method, *raw = PCA_RAW
    params = cb.params_from_controls(method, *raw)
    cb.run_projection_job(dash_data, Progress(), {"left": "v4", "right": None}, DATASETS, method, raw)
    store = cb.lookup_layout(dash_data, "v4", DATASETS, method, params)
    csv = cb.export_view(dash_data, store, False, "label", [0, 1], 0.5)
    assert csv["filename"].endswith(".csv")
    frame = pd.read_csv(__import__("io").StringIO(csv["content"]))
    assert len(frame) == 180 and {"sample_id", "x", "y", "label", "prob_fake", "pred"} <= set(frame.columns)
    html = cb.export_view(dash_data, store, True, "label", [0, 1], 0.5)
    assert html["filename"].endswith(".html") and "<html>" in html["content"]
    assert cb.export_view(dash_data, {"key": None}, True, "label", [0, 1], 0.5) is no_update


def layout_text(app) -> str:
    layout = app.layout() if callable(app.layout) else app.layout
    return json.dumps(layout, default=lambda o: o.to_plotly_json())


def test_page_has_two_panes_and_dataset_counts(dash_cache):  # noqa: F811
    from dashboard.app import create_app

    text = layout_text(create_app(dash_cache))
    for side in ids.SIDES:
        assert ids.pane(side, ids.GRAPH) in text and ids.pane(side, ids.CHECKPOINT) in text
    assert "alpha (60: 30 real / 30 fake)" in text


def test_empty_and_other_version_caches_read_well(dash_cache, tmp_path):  # noqa: F811
    from dashboard.app import create_app

    empty = tmp_path / "empty"
    shutil.copytree(dash_cache, empty, ignore=shutil.ignore_patterns("checkpoints", "projections", "jobs"))
    assert "No checkpoints in this cache yet" in layout_text(create_app(empty))

    other = tmp_path / "other"
    other.mkdir()
    (other / "cache.json").write_text(json.dumps({"schema_version": 99}))
    text = layout_text(create_app(other))
    assert "schema version 99" in text and "Traceback" not in text

    result = subprocess.run([sys.executable, "app.py", "--cache-dir", str(other), "--no-demo"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0 and "schema version 99" in result.stderr
    missing = subprocess.run([sys.executable, "app.py", "--cache-dir", str(tmp_path / "nothing"), "--no-demo"],
                             cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "no cache.json" in missing.stderr and "Traceback" not in missing.stderr


def test_strata_follow_the_ids_given_in_any_order(dash_data):  # noqa: F811
    datasets = dash_data.reader.datasets()
    samples = dash_data.reader.samples(datasets, columns=["sample_id", "dataset", "label"])
    ids = samples["sample_id"].to_numpy(object)[::-1][:50]
    expected = (samples.set_index("sample_id").loc[ids, "dataset"].astype(str) + "|"
                + samples.set_index("sample_id").loc[ids, "label"].astype(str)).to_numpy(object)
    assert list(dash_data.strata(ids, datasets)) == list(expected)
    assert len(set(expected)) > 1
    chosen = dash_data.sampled_ids(datasets, 40, 0)
    assert len(chosen) == 40 and set(chosen) <= set(samples["sample_id"])
