"""dashboard.figures: pure builders checked against independent computations."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
import pytest

from dashboard import figures
from dashboard.figures import (FAKE_COLOR, MAIN, REAL_COLOR, SELECTED, SYMBOL_CODES, WRONG, export_html,
                               message_figure, points_csv, positions_patch, roc_figure, scatter_figure, selection_patch,
                               symbol_for, threshold_patch, typed_array)
from dashboard_fixtures import synthetic_points


def as_dict(fig):
    """The figure as the browser receives it (typed arrays decoded back to lists)."""
    return json.loads(pio.to_json(fig, validate=False, engine="json"))


def decoded(value):
    if isinstance(value, dict) and "bdata" in value:
        import base64

        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"])).tolist()
    return value


def test_colours_and_symbols_follow_the_notebook():
    assert REAL_COLOR == "rgba(65,157,120,0.5)" and FAKE_COLOR == "rgba(244,97,151,0.5)"
    symbols = symbol_for(["gamma", "alpha", "beta", "alpha"])
    assert list(symbols) == ["alpha", "beta", "gamma"] and len(set(symbols.values())) == 3


def test_scatter_has_few_traces_whatever_the_number_of_points():
    small, large = synthetic_points(50), synthetic_points(5000, seed=1)
    assert len(scatter_figure(small).data) == len(scatter_figure(large).data) == 3 + 2 * 3


def test_scatter_main_trace_carries_every_point_with_its_symbol_label_and_hover():
    points = synthetic_points(300)
    fig = scatter_figure(points, threshold=0.5, color_by="label")
    main = fig.data[MAIN]
    assert main.type == "scattergl" and len(main.x) == 300
    np.testing.assert_allclose(main.x, points["x"]) and np.testing.assert_allclose(main.y, points["y"])
    symbols = symbol_for(points["dataset"])
    assert list(main.marker.symbol) == [SYMBOL_CODES[symbols[d]] for d in points["dataset"]]
    np.testing.assert_array_equal(main.marker.color, points["label"])
    scale = dict((round(s, 2), c) for s, c in main.marker.colorscale)
    assert scale[0.0] == REAL_COLOR and scale[1.0] == FAKE_COLOR
    assert list(main.customdata) == points["sample_id"].tolist()
    row = points.iloc[7]
    assert main.text[7] == (f"label {'FAKE' if row['label'] else 'REAL'} · prob_fake {row['prob_fake']:.3f}"
                            f" · {row['dataset']}")
    assert "%{customdata}" in main.hovertemplate and "%{text}" in main.hovertemplate
    assert "0.50" in main.hovertemplate and "0.70" in scatter_figure(points, threshold=0.7).data[MAIN].hovertemplate
    assert "%{hovertext}" in main.hovertemplate
    assert list(main.hovertext) == ["FAKE" if p >= 0.5 else "REAL" for p in points["prob_fake"]]


def test_symbol_codes_cover_every_symbol_used():
    assert set(figures.SYMBOLS) <= set(SYMBOL_CODES)


def test_typed_array_round_trips():
    for values in (np.array([0.25, -1.5, 3.0]), np.array([0, 1, 1], dtype=np.int64), np.array([True, False]),
                   np.array([], dtype=np.float64)):
        spec = typed_array(values)
        assert decoded(spec) == pytest.approx(values.astype(float).tolist())
    with pytest.raises(TypeError):
        typed_array(np.array(["a"]))


def test_legend_is_label_source_in_notebook_colours():
    points = synthetic_points(200)
    fig = scatter_figure(points)
    legend = fig.data[3:]
    assert all(list(t.x) == [None] and t.showlegend for t in legend)
    assert [t.name for t in legend] == [f"{lab}-{d}" for lab in ("REAL", "FAKE") for d in ("alpha", "beta", "gamma")]
    only_fake = scatter_figure(points, labels_shown=[1])
    assert [t.name for t in only_fake.data[3:]] == ["FAKE-alpha", "FAKE-beta", "FAKE-gamma"]
    assert {t.marker.color for t in legend[:3]} == {"rgba(65,157,120,0.9)"}
    assert [t.marker.symbol for t in legend[:3]] == ["circle", "square", "diamond"]
    assert len(only_fake.data[MAIN].x) == int((points["label"] == 1).sum())


@pytest.mark.parametrize("threshold", [0.2, 0.5, 0.8])
def test_misclassified_rings_are_exactly_the_wrong_points(threshold):
    points = synthetic_points(400, seed=2)
    fig = scatter_figure(points, threshold=threshold)
    wrong = (points["prob_fake"] >= threshold).astype(int) != points["label"]
    np.testing.assert_allclose(fig.data[WRONG].x, points["x"][wrong])
    np.testing.assert_allclose(fig.data[WRONG].y, points["y"][wrong])
    assert fig.data[WRONG].name == f"misclassified ({int(wrong.sum())})"
    assert fig.data[WRONG].hoverinfo == "skip"


def test_colour_modes():
    points = synthetic_points(200, seed=3)
    correct = scatter_figure(points, threshold=0.5, color_by="correct").data[MAIN].marker
    wrong = ((points["prob_fake"] >= 0.5).astype(int) != points["label"]).astype(int)
    np.testing.assert_array_equal(correct.color, wrong)
    prob = scatter_figure(points, color_by="prob").data[MAIN].marker
    np.testing.assert_allclose(prob.color, points["prob_fake"], rtol=1e-6)
    assert prob.showscale and prob.cmin == 0 and prob.cmax == 1
    with pytest.raises(ValueError, match="color_by"):
        scatter_figure(points, color_by="rainbow")


def test_small_figure_is_valid_plotly():
    fig = scatter_figure(synthetic_points(30), selected="beta/k000003", title="t")
    go.Figure(fig.to_dict())  # raises on any invalid property


def test_threshold_patch_equals_a_rebuilt_figure():
    points = synthetic_points(500, seed=4)
    patch = json.loads(pio.to_json(threshold_patch(points, threshold=0.7, color_by="correct"), validate=False))
    ops = {tuple(op["location"]): op["params"]["value"] for op in patch["operations"]}
    rebuilt = as_dict(scatter_figure(points, threshold=0.7, color_by="correct"))["data"]
    assert ops[("data", MAIN, "hovertemplate")] == rebuilt[MAIN]["hovertemplate"]
    # each point's prediction at the new threshold, shown in its hover
    assert ops[("data", MAIN, "hovertext")] == rebuilt[MAIN]["hovertext"]
    assert ops[("data", MAIN, "hovertext")] == ["FAKE" if p >= 0.7 else "REAL" for p in points["prob_fake"]]
    assert decoded(ops[("data", MAIN, "marker", "color")]) == decoded(rebuilt[MAIN]["marker"]["color"])
    np.testing.assert_allclose(decoded(ops[("data", WRONG, "x")]), decoded(rebuilt[WRONG]["x"]), rtol=1e-6)
    np.testing.assert_allclose(decoded(ops[("data", WRONG, "y")]), decoded(rebuilt[WRONG]["y"]), rtol=1e-6)
    # in label mode the colours do not depend on the threshold, so the patch leaves them alone
    label_patch = json.loads(pio.to_json(threshold_patch(points, threshold=0.7, color_by="label"), validate=False))
    assert ("data", MAIN, "marker", "color") not in {tuple(op["location"]) for op in label_patch["operations"]}


@pytest.mark.parametrize("labels_shown", [[0, 1], [1]])
def test_positions_patch_equals_a_rebuilt_figure_with_the_new_positions(labels_shown):
    points = synthetic_points(300, seed=5)
    moved = points.assign(x=points["y"] * 2 + 1, y=-points["x"])
    patch = json.loads(pio.to_json(positions_patch(moved, threshold=0.6, labels_shown=labels_shown), validate=False))
    ops = {tuple(op["location"]): op["params"]["value"] for op in patch["operations"]}
    assert set(ops) == {("data", t, axis) for t in (MAIN, WRONG) for axis in ("x", "y")}  # positions only
    rebuilt = as_dict(scatter_figure(moved, threshold=0.6, labels_shown=labels_shown))["data"]
    for trace in (MAIN, WRONG):
        for axis in ("x", "y"):
            np.testing.assert_allclose(decoded(ops[("data", trace, axis)]), decoded(rebuilt[trace][axis]), rtol=1e-6)
    assert len(decoded(ops[("data", MAIN, "x")])) == int(points["label"].isin(labels_shown).sum())


def test_selected_ring_and_its_patch():
    points = synthetic_points(100)
    target = points.iloc[17]
    fig = scatter_figure(points, selected=target["sample_id"])
    assert fig.data[SELECTED].x == (pytest.approx(target["x"]),)
    patch = json.loads(pio.to_json(selection_patch(points, "nope/none"), validate=False))
    assert {tuple(op["location"]): op["params"]["value"] for op in patch["operations"]} == {
        ("data", SELECTED, "x"): [], ("data", SELECTED, "y"): []}


def test_message_figure_says_why():
    fig = message_figure("Projection failed: perplexity too large")
    assert fig.layout.annotations[0].text == "Projection failed: perplexity too large"
    assert len(fig.data) == 0


def test_roc_figure_overlays_curves_with_auc_and_operating_points():
    fig = roc_figure([
        {"name": "v4", "fpr": [0, 0.5, 1], "tpr": [0, 0.7, 1], "auc": 0.6, "color": "#00f", "point": (0.5, 0.7)},
        {"name": "v5", "fpr": [0, 0.2, 1], "tpr": [0, 0.9, 1], "auc": 0.85, "color": "#f80", "point": None},
    ])
    names = [t.name for t in fig.data]
    assert "v4 (AUC 0.600)" in names and "v5 (AUC 0.850)" in names
    points = [t for t in fig.data if t.mode == "markers"]
    assert len(points) == 1 and points[0].x == (0.5,)


def test_roc_curves_of_many_samples_are_drawn_thinned_but_the_same_shape():
    from sklearn.metrics import roc_auc_score, roc_curve

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 100_000)
    scores = rng.normal(labels * 1.2, 1.0)
    fpr, tpr, _ = roc_curve(labels, scores)
    assert len(fpr) > 10_000
    fig = roc_figure([{"name": "v", "fpr": fpr, "tpr": tpr, "auc": 0.8, "color": "#00f", "point": None}])
    curve = next(t for t in fig.data if t.name.startswith("v "))
    x, y = np.asarray(curve.x), np.asarray(curve.y)
    assert len(x) <= figures.ROC_DRAWN_POINTS + 2
    assert (x[0], y[0], x[-1], y[-1]) == (fpr[0], tpr[0], fpr[-1], tpr[-1])
    assert np.all(np.diff(x) >= 0) and np.all(np.diff(y) >= 0)
    assert abs(np.trapezoid(y, x) - roc_auc_score(labels, scores)) < 0.002
    grid = np.linspace(0, 1, 1001)
    assert np.max(np.abs(np.interp(grid, x, y) - np.interp(grid, fpr, tpr))) < 0.01
    small = roc_figure([{"name": "s", "fpr": [0, 0.5, 1], "tpr": [0, 0.7, 1], "auc": 0.6, "point": None}])
    assert list(small.data[1].x) == [0, 0.5, 1]  # short curves are drawn as they are


def test_export_html_is_standalone_and_holds_the_points():
    points = synthetic_points(40)
    html = export_html(scatter_figure(points, title="t-SNE of v4"), "t-SNE of v4")
    assert "<title>t-SNE of v4</title>" in html
    assert "<script src=\"http" not in html and "plotly.js" in html.lower()
    assert points["key"].iloc[5] in html


def test_points_csv_round_trips():
    points = synthetic_points(60, seed=5)
    frame = pd.read_csv(io.StringIO(points_csv(points, 0.3)))
    assert list(frame.columns) == ["sample_id", "dataset", "key", "x", "y", "label", "prob_fake", "pred"]
    assert frame["sample_id"].tolist() == points["sample_id"].tolist()
    np.testing.assert_allclose(frame["x"], points["x"], rtol=1e-5)
    np.testing.assert_allclose(frame["prob_fake"], points["prob_fake"], rtol=1e-5)
    assert frame["pred"].tolist() == np.where(points["prob_fake"] >= 0.3, "FAKE", "REAL").tolist()
    assert frame["label"].tolist() == np.where(points["label"] == 1, "FAKE", "REAL").tolist()


def test_module_has_no_dash_callbacks_or_io():
    source = open(figures.__file__).read()
    assert "callback" not in source and "open(" not in source
