"""Pure figure builders: frames in, `go.Figure` (or a `Patch` of one) out.

The scatter follows the notebook: real in rgba(65,157,120,0.5), fake in
rgba(244,97,151,0.5), one marker symbol per source dataset, legend "label-source".
It draws with WebGL and a fixed, small set of traces whatever the number of points:

    0  MAIN      every shown point (per-point colour and symbol arrays)
    1  WRONG     rings around misclassified points (no hover: it falls through to MAIN)
    2  SELECTED  the clicked sample
    3+ legend-only entries (no data)

so that a threshold change is a small `Patch` of traces 0 and 1, not a new figure, and a
t-SNE layout in progress is a `Patch` of positions only (`positions_patch`).

Per-point data is kept lean for 100k-point panes: numeric arrays travel as base64 typed
arrays (plotly.js decodes `{"dtype", "bdata"}`), symbols as numeric codes, customdata is
the sample id alone and the hover text one short string per point. At 100k points a
figure is about 10 MB of JSON built in a quarter of a second (5-column customdata made it
14.5 MB and 0.6 s to serialise).
"""

from __future__ import annotations

import base64

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from dash import Patch

from cache.schema import LABEL_NAMES

REAL_COLOR = "rgba(65,157,120,0.5)"
FAKE_COLOR = "rgba(244,97,151,0.5)"
CORRECT_COLOR = "rgba(140,140,140,0.35)"
WRONG_COLOR = "rgba(214,39,40,0.85)"
RING_COLOR = "rgba(30,30,30,0.8)"
SELECTED_COLOR = "rgba(255,160,0,1)"
PANE_COLORS = {"left": "#1f5fbf", "right": "#e07b00"}
# Symbols that WebGL scatter draws, in the order sources receive them.
SYMBOLS = ("circle", "square", "diamond", "triangle-up", "cross", "x", "triangle-down", "star",
           "hexagon", "pentagon", "triangle-left", "triangle-right")
# plotly's numeric codes of SYMBOLS: a per-point int8 array instead of 100k strings.
SYMBOL_CODES = {"circle": 0, "square": 1, "diamond": 2, "cross": 3, "x": 4, "triangle-up": 5, "triangle-down": 6,
                "triangle-left": 7, "triangle-right": 8, "pentagon": 13, "hexagon": 14, "star": 17}
COLOR_MODES = {"label": "label", "correct": "correct / wrong", "prob": "prob_fake"}
MAIN, WRONG, SELECTED = 0, 1, 2
ROC_DRAWN_POINTS = 400

_LABEL_SCALE = [[0, REAL_COLOR], [0.5, REAL_COLOR], [0.5, FAKE_COLOR], [1, FAKE_COLOR]]
_CORRECT_SCALE = [[0, CORRECT_COLOR], [0.5, CORRECT_COLOR], [0.5, WRONG_COLOR], [1, WRONG_COLOR]]
_PROB_SCALE = [[0, "rgba(65,157,120,0.75)"], [0.5, "rgba(190,190,190,0.6)"], [1, "rgba(244,97,151,0.75)"]]
_HOVER = "<b>%{customdata}</b><br>%{text}<br>predicted <b>%{hovertext}</b> (FAKE at prob_fake ≥ {threshold:.2f})<extra></extra>"


def typed_array(values) -> dict:
    """A numeric array as plotly.js's typed-array spec, for Patches (figures do this by themselves)."""
    values = np.ascontiguousarray(values)
    if values.dtype.kind == "f":
        values = values.astype(np.float32, copy=False)
    elif values.dtype.kind in "iub":
        values = values.astype(np.int8 if values.size == 0 or np.abs(values).max() < 128 else np.int32, copy=False)
    else:
        raise TypeError(f"typed_array takes numbers, got {values.dtype}")
    return {"dtype": {"float32": "f4", "int8": "i1", "int32": "i4"}[values.dtype.name],
            "bdata": base64.b64encode(values.tobytes()).decode("ascii")}


def _hover(threshold: float) -> str:
    return _HOVER.replace("{threshold:.2f}", f"{threshold:.2f}")


def hover_text(points: pd.DataFrame) -> np.ndarray:
    """One line per point: its label, prob_fake and source dataset."""
    labels = np.where(points["label"].to_numpy() == 1, LABEL_NAMES[1], LABEL_NAMES[0])
    probs = points["prob_fake"].to_numpy().astype(np.float64)
    return np.array([f"label {lab} · prob_fake {p:.3f} · {d}"
                     for lab, p, d in zip(labels, probs, points["dataset"].to_numpy())], dtype=object)


def symbol_for(datasets) -> dict[str, str]:
    """A stable marker symbol per source dataset (sorted names, cycling through SYMBOLS)."""
    return {name: SYMBOLS[i % len(SYMBOLS)] for i, name in enumerate(sorted(set(datasets)))}


def shown_points(points: pd.DataFrame, labels_shown=(0, 1)) -> pd.DataFrame:
    """The rows drawn: those whose label is shown, in the layout's order."""
    return points[points["label"].isin(list(labels_shown))]


def _predictions(points: pd.DataFrame, threshold: float) -> np.ndarray:
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must lie in [0, 1], got {threshold}")
    return (points["prob_fake"].to_numpy() >= threshold).astype(np.int8)


def _marker_color(points: pd.DataFrame, pred: np.ndarray, color_by: str) -> dict:
    if color_by == "label":
        return dict(color=points["label"].to_numpy().astype(np.int8), colorscale=_LABEL_SCALE, cmin=0, cmax=1,
                    showscale=False)
    if color_by == "correct":
        wrong = (pred != points["label"].to_numpy()).astype(np.int8)
        return dict(color=wrong, colorscale=_CORRECT_SCALE, cmin=0, cmax=1, showscale=False)
    if color_by == "prob":
        return dict(color=points["prob_fake"].to_numpy().astype(np.float32), colorscale=_PROB_SCALE, cmin=0, cmax=1,
                    showscale=True, colorbar=dict(title=dict(text="prob_fake", side="right"), thickness=10, len=0.6))
    raise ValueError(f"color_by must be one of {', '.join(COLOR_MODES)}, got {color_by!r}")


def _pred_names(pred: np.ndarray) -> np.ndarray:
    return np.where(pred == 1, LABEL_NAMES[1], LABEL_NAMES[0]).astype(object)


def _wrong_xy(points: pd.DataFrame, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    wrong = pred != points["label"].to_numpy()
    return points["x"].to_numpy()[wrong], points["y"].to_numpy()[wrong]


def _legend_entries(datasets: list[str], labels_shown, color_by: str) -> list[dict]:
    symbols = symbol_for(datasets)

    def entry(name, color, symbol, group):
        return dict(type="scattergl", x=[None], y=[None], mode="markers", name=name,
                    marker=dict(color=color, symbol=symbol, size=9), hoverinfo="skip", showlegend=True)

    entries = []
    if color_by == "label":
        colors = {0: REAL_COLOR.replace("0.5)", "0.9)"), 1: FAKE_COLOR.replace("0.5)", "0.9)")}
        for label in sorted(labels_shown):
            for dataset in sorted(symbols):
                entries.append(entry(f"{LABEL_NAMES[label]}-{dataset}", colors[label], symbols[dataset], "label"))
    else:
        if color_by == "correct":
            entries.append(entry("correct", CORRECT_COLOR.replace("0.35)", "0.8)"), "circle", "color"))
            entries.append(entry("wrong", WRONG_COLOR, "circle", "color"))
        for dataset in sorted(symbols):
            entries.append(entry(dataset, "rgba(90,90,90,0.8)", symbols[dataset], "source"))
    return entries


def scatter_figure(
    points: pd.DataFrame,
    *,
    threshold: float = 0.5,
    color_by: str = "label",
    labels_shown=(0, 1),
    selected: str | None = None,
    title: str = "",
    revision: str | None = None,
    hover: bool = True,
) -> go.Figure:
    """The projection scatter of one checkpoint.

    points: one row per sample with columns sample_id, dataset, key, label (0/1),
    prob_fake, x, y. A point is misclassified when (prob_fake >= threshold) != label.
    `selected` is a sample_id to ring; `revision` keeps zoom across updates of one layout.
    `hover=False` leaves out the per-point ids and hover text (a layout in progress: its
    points move, and the figure is then a fifth of the size).
    """
    shown = shown_points(points, labels_shown)
    pred = _predictions(shown, threshold)
    symbols = symbol_for(points["dataset"].unique())
    codes = shown["dataset"].map({d: SYMBOL_CODES[name] for d, name in symbols.items()}).to_numpy(np.int8)
    main = dict(
        type="scattergl", mode="markers", name="samples", showlegend=False,
        x=shown["x"].to_numpy(np.float32), y=shown["y"].to_numpy(np.float32),
        marker=dict(size=7, line=dict(width=0), symbol=codes, **_marker_color(shown, pred, color_by)),
    )
    if hover:
        main.update(customdata=shown["sample_id"].to_numpy(dtype=object), text=hover_text(shown),
                    hovertext=_pred_names(pred), hovertemplate=_hover(threshold))
    else:
        main.update(hoverinfo="skip")
    wx, wy = _wrong_xy(shown, pred)
    wrong = dict(type="scattergl", mode="markers", name=f"misclassified ({len(wx)})", x=wx, y=wy,
                 hoverinfo="skip", showlegend=True,
                 marker=dict(symbol="circle-open", size=12, color=RING_COLOR, line=dict(width=1.2)))
    sx, sy = selected_xy(points, selected)
    chosen = dict(type="scattergl", mode="markers", name="selected", x=sx, y=sy, hoverinfo="skip",
                  showlegend=False, marker=dict(symbol="circle-open", size=24, color=SELECTED_COLOR,
                                                line=dict(width=3)))
    layout = go.Layout(
        template="plotly_white",
        title=dict(text=title, x=0.01, font=dict(size=14)) if title else None,
        margin=dict(l=10, r=10, t=36 if title else 10, b=10),
        xaxis=dict(showticklabels=False, showgrid=False, zeroline=False, title=None),
        yaxis=dict(showticklabels=False, showgrid=False, zeroline=False, title=None),
        legend=dict(orientation="h", yanchor="top", y=-0.01, x=0, font=dict(size=11), itemclick=False,
                    itemdoubleclick=False, traceorder="normal", itemwidth=30, tracegroupgap=0),
        hovermode="closest", clickmode="event", dragmode="zoom",
        uirevision=revision or "layout",
    )
    # Per-point arrays make validation slow (seconds at 100k): build from plain dicts.
    traces = [main, wrong, chosen, *_legend_entries(sorted(symbols), labels_shown, color_by)]
    return go.Figure(data=traces, layout=layout, _validate=False)


def selected_xy(points: pd.DataFrame, selected: str | None) -> tuple[list, list]:
    if not selected:
        return [], []
    row = points[points["sample_id"] == selected]
    if row.empty:
        return [], []
    return [float(row["x"].iloc[0])], [float(row["y"].iloc[0])]


def threshold_patch(points: pd.DataFrame, *, threshold: float, color_by: str, labels_shown=(0, 1)) -> Patch:
    """What a threshold change alters in scatter_figure: predictions (in the hover), colours, rings."""
    shown = shown_points(points, labels_shown)
    pred = _predictions(shown, threshold)
    patch = Patch()
    patch["data"][MAIN]["hovertemplate"] = _hover(threshold)
    patch["data"][MAIN]["hovertext"] = _pred_names(pred)
    if color_by == "correct":
        patch["data"][MAIN]["marker"]["color"] = typed_array(pred != shown["label"].to_numpy())
    wx, wy = _wrong_xy(shown, pred)
    patch["data"][WRONG]["x"] = typed_array(wx)
    patch["data"][WRONG]["y"] = typed_array(wy)
    patch["data"][WRONG]["name"] = f"misclassified ({len(wx)})"
    return patch


def positions_patch(points: pd.DataFrame, *, threshold: float, labels_shown=(0, 1)) -> Patch:
    """New positions for the same points in the same order (t-SNE in progress): x and y of
    MAIN and of the WRONG rings, about 1 MB at 100k points instead of a 10 MB figure."""
    shown = shown_points(points, labels_shown)
    pred = _predictions(shown, threshold)
    wx, wy = _wrong_xy(shown, pred)
    patch = Patch()
    patch["data"][MAIN]["x"] = typed_array(shown["x"].to_numpy())
    patch["data"][MAIN]["y"] = typed_array(shown["y"].to_numpy())
    patch["data"][WRONG]["x"] = typed_array(wx)
    patch["data"][WRONG]["y"] = typed_array(wy)
    return patch


def selection_patch(points: pd.DataFrame | None, selected: str | None) -> Patch:
    """Move the SELECTED ring to `selected` (or hide it when the pane lacks that sample)."""
    sx, sy = selected_xy(points, selected) if points is not None else ([], [])
    patch = Patch()
    patch["data"][SELECTED]["x"] = sx
    patch["data"][SELECTED]["y"] = sy
    return patch


def message_figure(message: str) -> go.Figure:
    """An empty plot that says why it is empty (no layout yet, no data, a failure)."""
    return go.Figure(layout=go.Layout(
        template="plotly_white", margin=dict(l=10, r=10, t=10, b=10),
        xaxis=dict(visible=False), yaxis=dict(visible=False),
        annotations=[dict(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper",
                          font=dict(size=14, color="#555"), align="center")],
    ))


def thin_curve(x, y, max_points: int = ROC_DRAWN_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """At most about `max_points` vertices of the polyline (x, y), evenly spaced along its
    length, first and last kept: a 100k-sample ROC curve has tens of thousands of vertices,
    which made the ROC figure 1.2 MB and its redraw block the page at every threshold change."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(x) <= max_points:
        return x, y
    length = np.concatenate([[0.0], np.cumsum(np.abs(np.diff(x)) + np.abs(np.diff(y)))])
    wanted = np.linspace(0.0, length[-1], max_points)
    keep = np.unique(np.concatenate([[0, len(x) - 1], np.searchsorted(length, wanted).clip(0, len(x) - 1)]))
    return x[keep], y[keep]


def roc_figure(curves: list[dict]) -> go.Figure:
    """ROC curves overlaid. curves: [{name, fpr, tpr, auc, color, point=(fpr, tpr) | None, threshold}].

    Each curve is drawn with at most about ROC_DRAWN_POINTS vertices (`thin_curve`)."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(color="#bbb", dash="dot"),
                             name="chance", hoverinfo="skip"))
    for curve in curves:
        auc = "–" if curve.get("auc") is None else f"{curve['auc']:.3f}"
        fpr, tpr = thin_curve(curve["fpr"], curve["tpr"])
        fig.add_trace(go.Scatter(x=fpr, y=tpr, mode="lines", name=f"{curve['name']} (AUC {auc})",
                                 line=dict(color=curve.get("color"), width=2),
                                 hovertemplate="FPR %{x:.3f}<br>TPR %{y:.3f}<extra>" + curve["name"] + "</extra>"))
        if curve.get("point") is not None:
            fig.add_trace(go.Scatter(
                x=[curve["point"][0]], y=[curve["point"][1]], mode="markers", showlegend=False,
                marker=dict(color=curve.get("color"), size=10, line=dict(color="white", width=1.5)),
                hovertemplate=f"{curve['name']} at threshold {curve.get('threshold', 0.5):.2f}"
                              "<br>FPR %{x:.3f}<br>TPR %{y:.3f}<extra></extra>"))
    fig.update_layout(
        template="plotly_white", margin=dict(l=50, r=10, t=10, b=40),
        xaxis=dict(title="false positive rate (REAL called FAKE)", range=[0, 1], constrain="domain"),
        yaxis=dict(title="true positive rate (FAKE caught)", range=[0, 1.02]),
        legend=dict(x=0.98, y=0.02, xanchor="right", yanchor="bottom", bgcolor="rgba(255,255,255,0.8)"),
    )
    return fig


def export_html(fig: go.Figure, title: str) -> str:
    """The figure as one standalone HTML file (plotly.js inlined), as the notebook saved it."""
    return fig.to_html(include_plotlyjs=True, full_html=True, config={"displaylogo": False},
                       default_width="100%", default_height="90vh").replace(
        "<head>", f"<head><title>{title}</title>", 1)


def points_csv(points: pd.DataFrame, threshold: float) -> str:
    """The points as CSV: sample_id, dataset, key, x, y, label, prob_fake, pred (at threshold)."""
    pred = _predictions(points, threshold)
    out = points[["sample_id", "dataset", "key", "x", "y", "label", "prob_fake"]].copy()
    out["label"] = np.where(out["label"].to_numpy() == 1, LABEL_NAMES[1], LABEL_NAMES[0])
    out["pred"] = _pred_names(pred)
    return out.to_csv(index=False, float_format="%.6g")
