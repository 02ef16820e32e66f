"""Callbacks, thin: each reads its inputs, calls a view function below, returns outputs.

The view functions (`pane_view`, `metrics_view`, `detail_view`, ...) take the
DashboardData and plain values, so the tests call them without a browser. `register`
wires them to the app; the projection runs as a Dash background callback with progress.
"""

from __future__ import annotations

import os
import time
import traceback

import numpy as np
import pandas as pd

import dash_bootstrap_components as dbc
from dash import Input, Output, State, ctx, html, no_update

from cache import CacheError
from dashboard import ids
from dashboard.data import DashboardData
from dashboard.figures import (PANE_COLORS, export_html, message_figure, points_csv, positions_patch, roc_figure,
                               scatter_figure, selection_patch, threshold_patch)
from dashboard.images import image_url
from dashboard.scores import metrics_rows
from pipeline.projection import METHOD_LABELS, check_params

INTERIM_EVERY_S = 0.8  # at most this often a t-SNE layout in progress goes to the browser
PROGRESS_POLL_MS = 400  # how often the page asks a running job for progress
JOB_NICENESS = 10  # the projection job's CPU priority below the server's (os.nice increment)
# Rings the clicked sample in both maps only once the detail panel shows its image (or after
# 1.5 s): redrawing two 100k-point WebGL maps blocks the page for seconds in a browser without
# a GPU, and the image, which the user asked for, would wait behind it. Repeats of the same
# selection (the panel also changes with the thresholds) are not passed on.
RING_AFTER_IMAGE_JS = """async function(children, selected) {
    selected = selected || null;
    if (selected === (window.fakescopeRinged || null)) { return window.dash_clientside.no_update; }
    if (selected) {
        const deadline = performance.now() + 1500;
        while (performance.now() < deadline) {
            const img = Array.from(document.querySelectorAll('#detail img')).find((i) => i.alt === selected);
            if (img && img.complete) { break; }
            await new Promise((resolve) => setTimeout(resolve, 15));
        }
    }
    window.fakescopeRinged = selected;
    return selected;
}"""


# -- view functions (pure apart from reading the cache) --------------------------------------
def params_from_controls(method, perplexity, n_iter, pca_dims, standardize, max_points, seed) -> dict:
    """Checked parameters of `method`; ValueError naming the parameter otherwise."""
    raw = {"perplexity": perplexity, "n_iter": n_iter, "pca_dims": pca_dims, "standardize": bool(standardize),
           "max_points": max_points, "seed": seed}
    return check_params(method, **raw)


def lookup_layout(data: DashboardData, checkpoint, datasets, method, params: dict | None, error: str | None = None,
                  failed: dict | None = None):
    """The layout store of a pane: the saved layout for these settings, or why there is none.

    `failed` maps layout keys to the message of a run that failed to compute them."""
    if not checkpoint:
        return {"key": None, "message": "Choose a checkpoint for this pane."}
    if not datasets:
        return {"key": None, "message": "Choose at least one source dataset."}
    if error:
        return {"key": None, "message": error}
    try:
        key = data.layout_key(checkpoint, datasets, method, params)
    except (CacheError, ValueError) as exc:
        return {"key": None, "message": str(exc)}
    store = {"key": key, "checkpoint": checkpoint, "datasets": sorted(datasets), "method": method}
    if data.load_layout(key) is None:
        message = (failed or {}).get(key) or (
            f"No {METHOD_LABELS[method]} layout for these settings yet: press Run projection.")
        return {**store, "key": None, "pending_key": key, "message": message}
    return store


def _running(store: dict | None, interim: dict | None) -> bool:
    """Whether `interim` is the t-SNE in progress of the layout this pane waits for."""
    return bool(interim and store and interim.get("key") and interim.get("key") == store.get("pending_key"))


def pane_points(data: DashboardData, store: dict | None, interim: dict | None = None):
    """The points of a pane's layout (or of the t-SNE in progress), or (None, message)."""
    if _running(store, interim):
        xy = data.load_interim(interim["key"])
        if xy is None:
            return None, store.get("message", "No layout yet: press Run projection.")
        try:
            return data.interim_points(interim["checkpoint"], interim["datasets"], interim["max_points"],
                                       interim["seed"], xy), None
        except CacheError as exc:
            return None, str(exc)
    if not store or not store.get("key"):
        return None, (store or {}).get("message", "No layout yet: press Run projection.")
    try:
        points = data.layout_points(store["key"], store["checkpoint"], store["datasets"])
    except CacheError as exc:
        return None, str(exc)
    if points is None:
        return None, "The saved layout has disappeared from the cache: press Run projection."
    return points, None


def _title(points, store, interim) -> str:
    method = METHOD_LABELS.get((store or {}).get("method") or (interim or {}).get("method"), "")
    progress = f" — {interim.get('message', '')}" if _running(store, interim) else ""
    return f"{method} of {len(points):,} points{progress}"


def pane_figure(data: DashboardData, store, interim, color_by, labels_shown, threshold, selected):
    """(figure, title text) of one pane."""
    points, message = pane_points(data, store, interim)
    if points is None:
        return message_figure(message), ""
    if points.empty:
        return message_figure("None of the projected samples have predictions for this checkpoint."), ""
    title = _title(points, store, interim)
    fig = scatter_figure(points, threshold=float(threshold), color_by=color_by, labels_shown=labels_shown or [],
                         selected=selected, revision=(store or {}).get("key") or (interim or {}).get("key"),
                         hover=not _running(store, interim))
    return fig, title


def interim_view(data: DashboardData, interim, store, color_by, labels_shown, threshold, drawn):
    """(figure or Patch, title, drawn key) for a t-SNE layout in progress.

    The first layout of a run draws the whole figure; later ones, while the pane still shows
    that run (`drawn` is its key), only move the points (`positions_patch`)."""
    if not _running(store, interim) or interim.get("done") or data.paths.projection(interim["key"]).exists():
        return no_update, no_update, no_update  # not this pane's run, or its final layout is saved
    points, _ = pane_points(data, store, interim)
    if points is None or points.empty:
        return no_update, no_update, no_update
    if drawn == interim["key"]:
        patch = positions_patch(points, threshold=float(threshold), labels_shown=labels_shown or [])
        return patch, _title(points, store, interim), no_update
    figure, title = pane_figure(data, store, interim, color_by, labels_shown, threshold, None)
    return figure, title, interim["key"]


def finished_view(data: DashboardData, token, store, checkpoint, datasets, method, raw, color_by, labels_shown,
                  threshold, selected):
    """(layout store, figure, title, drawn) once the job says this pane's projection is done."""
    if not store or not token or store.get("pending_key") != token.get("key"):
        return no_update, no_update, no_update, no_update
    new_store = lookup_layouts(data, (checkpoint,), datasets, method, raw, None)[0]
    if not new_store.get("key"):
        return no_update, no_update, no_update, no_update
    figure, title = pane_figure(data, new_store, None, color_by, labels_shown, threshold, selected)
    return new_store, figure, title, None


def metrics_view(data: DashboardData, checkpoint, datasets, threshold):
    """(table rows, alert text or None, youden, best_f1) of one pane at `threshold`."""
    if not checkpoint:
        return [], None, None, None
    if not datasets:
        return [], "Choose at least one source dataset.", None, None
    try:
        scores = data.scores(checkpoint, datasets)
    except CacheError as exc:
        return [], str(exc), None, None
    return (metrics_rows(scores.metrics(float(threshold))), None,
            scores.suggested.get("youden"), scores.suggested.get("best_f1"))


def roc_view(data: DashboardData, checkpoints: dict, datasets, thresholds: dict):
    curves = []
    for side, checkpoint in checkpoints.items():
        if not checkpoint or not datasets:
            continue
        try:
            scores = data.scores(checkpoint, datasets)
        except CacheError:
            continue
        if scores.roc is None:
            continue
        threshold = float(thresholds.get(side) or 0.5)
        curves.append({"name": checkpoint, "fpr": scores.roc[0], "tpr": scores.roc[1],
                       "auc": scores.auc.get("overall"), "color": PANE_COLORS[side],
                       "point": scores.operating_point(threshold), "threshold": threshold})
    if not curves:
        return message_figure("No predictions with both labels to draw ROC curves from.")
    return roc_figure(curves)


def detail_view(data: DashboardData, sample_id, panes: dict):
    """The detail panel for `sample_id`: image, dataset, key, label and each pane's prediction.

    panes: side -> (checkpoint, threshold)."""
    if not sample_id:
        return "Click a point in either map to see its image here."
    samples = data.reader.samples(columns=["sample_id", "dataset", "key", "label", "width", "height"])
    row = samples[samples["sample_id"] == sample_id]
    if row.empty:
        return dbc.Alert(f"Sample {sample_id} is not in this cache.", color="warning")
    row = row.iloc[0]
    label = "FAKE" if int(row["label"]) == 1 else "REAL"
    verdicts = []
    for side, (checkpoint, threshold) in panes.items():
        if not checkpoint:
            continue
        try:
            frame = data.predictions(checkpoint, [row["dataset"]])
        except CacheError:
            verdicts.append(html.Tr([html.Td(checkpoint), html.Td("no prediction", colSpan=2)]))
            continue
        hit = frame[frame["sample_id"] == sample_id]
        if hit.empty:
            verdicts.append(html.Tr([html.Td(checkpoint), html.Td("no prediction", colSpan=2)]))
            continue
        prob = float(hit["prob_fake"].iloc[0])
        pred = "FAKE" if prob >= float(threshold) else "REAL"
        mark = "✓" if pred == label else "✗"
        verdicts.append(html.Tr([
            html.Td(html.Span(checkpoint, style={"color": PANE_COLORS[side], "fontWeight": 600})),
            html.Td(f"{prob:.3f}", className="text-end"),
            html.Td(f"{pred} {mark}", className="text-success" if pred == label else "text-danger fw-semibold"),
        ]))
    return html.Div([
        html.Img(id="detail-image", src=image_url(sample_id), alt=sample_id,
                 # small images are scaled up (crisp pixels) so they can be seen; large ones fit the panel
                 style={"maxWidth": "100%", "maxHeight": "300px", "minWidth": "160px", "display": "block",
                        "margin": "0 auto 8px", "imageRendering": "pixelated", "border": "1px solid #ddd"}),
        html.Div([html.Span("key ", className="text-muted"), html.Code(str(row["key"]))]),
        html.Div([html.Span("dataset ", className="text-muted"), html.Span(str(row["dataset"])),
                  html.Span(f"  ·  {int(row['width'])}×{int(row['height'])} px", className="text-muted")]),
        html.Div([html.Span("label ", className="text-muted"),
                  html.Span(label, className="fw-semibold",
                            style={"color": "rgb(244,97,151)" if label == "FAKE" else "rgb(65,157,120)"})]),
        dbc.Table([html.Thead(html.Tr([html.Th("checkpoint"), html.Th("prob_fake", className="text-end"),
                                       html.Th("prediction")])), html.Tbody(verdicts)],
                  size="sm", className="mt-2 mb-0", borderless=True),
        html.A("open full size", href=image_url(sample_id), target="_blank", className="small"),
    ])


def lookup_layouts(data: DashboardData, checkpoints, datasets, method, raw, failed) -> list[dict]:
    """lookup_layout for each checkpoint with the parameters read from the controls."""
    try:
        params, error = params_from_controls(method, *raw), None
    except ValueError as exc:
        params, error = None, f"Parameter: {exc}."
    return [lookup_layout(data, c, datasets, method, params, error, failed) for c in checkpoints]


# -- wiring -----------------------------------------------------------------------------------
PARAM_STATES = [ids.METHOD, ids.PERPLEXITY, ids.N_ITER, ids.PCA_DIMS, ids.STANDARDIZE, ids.MAX_POINTS, ids.SEED]


def register(app, data: DashboardData, manager) -> None:
    P = ids.pane

    @app.callback(Output(ids.PARAMS_ROW_TSNE, "style"), Input(ids.METHOD, "value"))
    def show_tsne_params(method):
        return {"display": "flex"} if method == "tsne" else {"display": "none"}

    # The layout stores have one writer: it looks the settings up on disk, so after a run
    # (RUN_RESULT changes) it finds what the job saved, and shows a failure's message.
    @app.callback(
        [Output(P(s, ids.LAYOUT_STORE), "data") for s in ids.SIDES],
        [Input(P(s, ids.CHECKPOINT), "value") for s in ids.SIDES],
        Input(ids.DATASETS, "value"),
        [Input(i, "value") for i in PARAM_STATES],
        Input(ids.RUN_RESULT, "data"),
    )
    def find_saved_layouts(left, right, datasets, method, *raw_and_result):
        *raw, result = raw_and_result
        return lookup_layouts(data, (left, right), datasets, method, raw, (result or {}).get("failed"))

    @app.callback(
        Output(ids.RUN_RESULT, "data"),
        Output(ids.STATUS, "children"),
        Input(ids.RUN, "n_clicks"),
        [State(P(s, ids.CHECKPOINT), "value") for s in ids.SIDES],
        State(ids.DATASETS, "value"),
        [State(i, "value") for i in PARAM_STATES],
        background=True,
        manager=manager,
        running=[(Output(ids.RUN, "disabled"), True, False), (Output(ids.CANCEL, "disabled"), False, True),
                 (Output(ids.PROGRESS_ROW, "style"), {"display": "block"}, {"display": "none"})],
        cancel=[Input(ids.CANCEL, "n_clicks")],
        progress=[Output(ids.PROGRESS, "value"), Output(ids.PROGRESS, "label"),
                  Output(P("left", ids.INTERIM_STORE), "data"), Output(P("right", ids.INTERIM_STORE), "data")],
        progress_default=[0, "", None, None],
        interval=PROGRESS_POLL_MS,
        prevent_initial_call=True,
    )
    def run_projection(set_progress, n_clicks, left, right, datasets, method, *raw):
        # This runs in the job's own process: yield the CPU to the web server (threshold,
        # clicks, drawing the layouts in progress) and to a browser on the same machine.
        os.nice(JOB_NICENESS)
        return run_projection_job(data, set_progress, {"left": left, "right": right}, datasets, method, raw)

    for side in ids.SIDES:
        _register_pane(app, data, side)

    @app.callback(
        Output(ids.SELECTED, "data"),
        [Input(P(s, ids.GRAPH), "clickData") for s in ids.SIDES],
        prevent_initial_call=True,
    )
    def select_sample(*clicks):
        click = ctx.triggered[0]["value"] if ctx.triggered else None
        return selected_from_click(click)

    app.clientside_callback(RING_AFTER_IMAGE_JS, Output(ids.SELECTED_SHOWN, "data"), Input(ids.DETAIL, "children"),
                            State(ids.SELECTED, "data"), prevent_initial_call=True)

    @app.callback(
        Output(ids.DETAIL, "children"),
        Input(ids.SELECTED, "data"),
        [Input(P(s, ids.CHECKPOINT), "value") for s in ids.SIDES],
        [Input(P(s, ids.THRESHOLD), "value") for s in ids.SIDES],
    )
    def show_detail(sample_id, left, right, t_left, t_right):
        return detail_view(data, sample_id, {"left": (left, t_left), "right": (right, t_right)})

    @app.callback(
        Output(ids.ROC, "figure"),
        [Input(P(s, ids.CHECKPOINT), "value") for s in ids.SIDES],
        Input(ids.DATASETS, "value"),
        [Input(P(s, ids.THRESHOLD), "value") for s in ids.SIDES],
    )
    def show_roc(left, right, datasets, t_left, t_right):
        return roc_view(data, {"left": left, "right": right}, datasets, {"left": t_left, "right": t_right})


def selected_from_click(click) -> str | None:
    """The sample_id of a clicked point (the customdata of the MAIN trace), else no update."""
    try:
        point = click["points"][0]
        if point.get("curveNumber", 0) != 0:
            return no_update
        sample_id = point["customdata"]
    except (TypeError, KeyError, IndexError):
        return no_update
    return sample_id if isinstance(sample_id, str) and sample_id else no_update


def run_projection_job(data: DashboardData, set_progress, checkpoints: dict, datasets, method, raw) -> list:
    """The background job: project each pane's checkpoint, reporting progress and interim layouts.

    Saves each layout in the cache and returns [run result, status line]; the run result
    ({"finished", "failed": {key: message}}) makes the layout stores look again."""
    started = time.perf_counter()
    try:
        params = params_from_controls(method, *raw)
    except ValueError as exc:
        return [no_update, f"Not run: {exc}."]
    sides = [s for s in ids.SIDES if checkpoints.get(s)]
    if not sides or not datasets:
        return [no_update, "Not run: choose a checkpoint and at least one source dataset."]
    interim = {s: None for s in ids.SIDES}
    failed, notes = {}, []
    for i, side in enumerate(sides):
        checkpoint = checkpoints[side]
        last_sent, steps = [0.0], [0]
        key = None

        def report(fraction, message, layout, side=side, i=i, checkpoint=checkpoint):
            now = time.perf_counter()
            overall = int(100 * (i + fraction) / len(sides))
            if layout is not None and fraction < 1.0 and now - last_sent[0] >= INTERIM_EVERY_S:
                # the layout goes to a file; the page gets a small token and reads it from there
                last_sent[0] = now
                steps[0] += 1
                data.save_interim(key, layout[["x", "y"]].to_numpy(np.float32))
                interim[side] = {"key": key, "checkpoint": checkpoint, "datasets": sorted(datasets),
                                 "method": method, "message": message, "max_points": params["max_points"],
                                 "seed": params["seed"], "step": steps[0]}
                set_progress([overall, f"{checkpoint}: {message}", interim["left"], interim["right"]])
            elif layout is None or fraction >= 1.0:  # the final layout is saved, not sent
                set_progress([overall, f"{checkpoint}: {message}", interim["left"], interim["right"]])

        try:
            key = data.layout_key(checkpoint, datasets, method, params)
            if data.load_layout(key) is None:
                set_progress([int(100 * i / len(sides)), f"{checkpoint}: reading embeddings",
                              interim["left"], interim["right"]])
                data.compute_layout(checkpoint, datasets, method, params, progress=report)
                notes.append(f"{checkpoint} done")
                steps[0] += 1
                interim[side] = {"key": key, "checkpoint": checkpoint, "done": True, "step": steps[0]}
                set_progress([int(100 * (i + 1) / len(sides)), f"{checkpoint}: done", interim["left"],
                              interim["right"]])
            else:
                notes.append(f"{checkpoint} was saved")
        except (CacheError, ValueError) as exc:
            failed[key or checkpoint] = f"Projection failed: {exc}"
            notes.append(f"{checkpoint} failed")
        except Exception as exc:  # a bug: say so on the page, keep the traceback in the server log
            traceback.print_exc()
            failed[key or checkpoint] = f"Projection failed ({type(exc).__name__}: {exc})."
            notes.append(f"{checkpoint} failed")
    for token in interim.values():
        if token:
            data.drop_interim(token["key"])
    status = f"{METHOD_LABELS[method]}: {', '.join(notes)} in {time.perf_counter() - started:.1f} s."
    return [{"finished": time.time(), "failed": failed}, status]


def _register_pane(app, data: DashboardData, side: str) -> None:
    P = lambda part: ids.pane(side, part)  # noqa: E731

    @app.callback(
        Output(P(ids.GRAPH), "figure"),
        Output(P(ids.PANE_TITLE), "children"),
        Output(P(ids.INTERIM_DRAWN), "data"),
        Input(P(ids.LAYOUT_STORE), "data"),
        Input(ids.COLOR_BY, "value"),
        Input(ids.LABELS, "value"),
        State(P(ids.THRESHOLD), "value"),
        State(ids.SELECTED, "data"),
    )
    def draw(store, color_by, labels_shown, threshold, selected):
        figure, title = pane_figure(data, store, None, color_by, labels_shown, threshold, selected)
        return figure, title, None  # the pane no longer shows a layout in progress

    # While t-SNE optimises, the job's progress says a new layout is ready (in a file), and
    # then that the pane's projection is done: the pane shows its final layout at once, while
    # the other pane's still runs. (Dash holds back `draw` and find_saved_layouts until the
    # job, which writes RUN_RESULT, ends, so this callback sets the store and draws itself.)
    @app.callback(
        Output(P(ids.LAYOUT_STORE), "data", allow_duplicate=True),
        Output(P(ids.GRAPH), "figure", allow_duplicate=True),
        Output(P(ids.PANE_TITLE), "children", allow_duplicate=True),
        Output(P(ids.INTERIM_DRAWN), "data", allow_duplicate=True),
        Input(P(ids.INTERIM_STORE), "data"),
        State(P(ids.LAYOUT_STORE), "data"),
        State(P(ids.CHECKPOINT), "value"),
        State(ids.DATASETS, "value"),
        [State(i, "value") for i in PARAM_STATES],
        State(ids.COLOR_BY, "value"),
        State(ids.LABELS, "value"),
        State(P(ids.THRESHOLD), "value"),
        State(ids.SELECTED, "data"),
        State(P(ids.INTERIM_DRAWN), "data"),
        prevent_initial_call=True,
    )
    def draw_progress(token, store, checkpoint, datasets, method, *rest):
        *raw, color_by, labels_shown, threshold, selected, drawn = rest
        if (token or {}).get("done"):
            return finished_view(data, token, store, checkpoint, datasets, method, raw, color_by, labels_shown,
                                 threshold, selected)
        return (no_update, *interim_view(data, token, store, color_by, labels_shown, threshold, drawn))

    @app.callback(
        Output(P(ids.GRAPH), "figure", allow_duplicate=True),
        Input(P(ids.THRESHOLD), "value"),
        State(P(ids.LAYOUT_STORE), "data"),
        State(ids.COLOR_BY, "value"),
        State(ids.LABELS, "value"),
        prevent_initial_call=True,
    )
    def move_threshold(threshold, store, color_by, labels_shown):
        points, _ = pane_points(data, store)
        if points is None or points.empty:
            return no_update
        return threshold_patch(points, threshold=float(threshold), color_by=color_by, labels_shown=labels_shown or [])

    @app.callback(
        Output(P(ids.GRAPH), "figure", allow_duplicate=True),
        Input(ids.SELECTED_SHOWN, "data"),
        State(P(ids.LAYOUT_STORE), "data"),
        prevent_initial_call=True,
    )
    def highlight(selected, store):
        points, _ = pane_points(data, store)
        return selection_patch(points, selected)

    @app.callback(
        Output(P(ids.METRICS_TABLE), "data"),
        Output(P(ids.PANE_ALERT), "children"),
        Output(P(ids.PANE_ALERT), "is_open"),
        Output(P(ids.SUGGEST_YOUDEN), "children"),
        Output(P(ids.SUGGEST_YOUDEN), "disabled"),
        Output(P(ids.SUGGEST_F1), "children"),
        Output(P(ids.SUGGEST_F1), "disabled"),
        Input(P(ids.CHECKPOINT), "value"),
        Input(ids.DATASETS, "value"),
        Input(P(ids.THRESHOLD), "value"),
    )
    def show_metrics(checkpoint, datasets, threshold):
        rows, alert, youden, best_f1 = metrics_view(data, checkpoint, datasets, threshold)
        fmt = lambda name, t: f"{name} {t:.2f}" if t is not None else f"{name} –"  # noqa: E731
        return (rows, alert, bool(alert), fmt("Youden", youden), youden is None, fmt("best F1", best_f1),
                best_f1 is None)

    @app.callback(
        Output(P(ids.THRESHOLD), "value"),
        Input(P(ids.SUGGEST_YOUDEN), "n_clicks"),
        Input(P(ids.SUGGEST_F1), "n_clicks"),
        State(P(ids.CHECKPOINT), "value"),
        State(ids.DATASETS, "value"),
        prevent_initial_call=True,
    )
    def apply_suggestion(_youden, _f1, checkpoint, datasets):
        _, _, youden, best_f1 = metrics_view(data, checkpoint, datasets, 0.5)
        value = youden if ctx.triggered_id == P(ids.SUGGEST_YOUDEN) else best_f1
        return no_update if value is None else round(float(value), 4)

    @app.callback(
        Output(P(ids.DOWNLOAD), "data"),
        Input(P(ids.EXPORT_HTML), "n_clicks"),
        Input(P(ids.EXPORT_CSV), "n_clicks"),
        State(P(ids.LAYOUT_STORE), "data"),
        State(ids.COLOR_BY, "value"),
        State(ids.LABELS, "value"),
        State(P(ids.THRESHOLD), "value"),
        prevent_initial_call=True,
    )
    def export(_html, _csv, store, color_by, labels_shown, threshold):
        as_html = ctx.triggered_id == P(ids.EXPORT_HTML)
        return export_view(data, store, as_html, color_by, labels_shown, threshold)


def export_view(data: DashboardData, store, as_html: bool, color_by, labels_shown, threshold):
    """dcc.Download data of the pane's figure (standalone HTML) or points (CSV), or no update."""
    points, _ = pane_points(data, store)
    if points is None or points.empty:
        return no_update
    method = store.get("method", "layout")
    stem = f"{method}_{store['checkpoint']}_{'-'.join(store['datasets'])}"[:120]
    if as_html:
        title = f"{METHOD_LABELS.get(method, method)} of {store['checkpoint']} — {', '.join(store['datasets'])}"
        fig = scatter_figure(points, threshold=float(threshold), color_by=color_by, labels_shown=labels_shown or [],
                             title=title)
        return {"content": export_html(fig, title), "filename": f"{stem}.html", "type": "text/html"}
    return {"content": points_csv(points, float(threshold)), "filename": f"{stem}.csv", "type": "text/csv"}
