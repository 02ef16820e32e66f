"""The page: shared controls on top, two checkpoint panes side by side, and a column with
the selected sample's image and the ROC curves. Built per page load from the cache, so
new checkpoints appear on reload."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import dash_table, dcc, html

from dashboard import ids
from dashboard.figures import COLOR_MODES, message_figure
from dashboard.scores import TABLE_COLUMNS
from pipeline.projection import METHOD_LABELS, PARAMETERS

GRAPH_HEIGHT = "470px"
GRAPH_CONFIG = {"displaylogo": False, "scrollZoom": True,
                "modeBarButtonsToRemove": ["select2d", "lasso2d", "autoScale2d"],
                "toImageButtonOptions": {"format": "png", "scale": 2}}


def _labelled(label: str, control, hint: str | None = None, width=None):
    children = [dbc.Label(label, className="small fw-semibold mb-1"), control]
    if hint:
        children.append(dbc.FormText(hint, className="small"))
    return dbc.Col(children, width=width, className="mb-2")


def _number(id_: str, name: str, step=1, width_px=90):
    default, low, high, _ = PARAMETERS[name]
    return dbc.Input(id=id_, type="number", min=low, max=high, step=step, value=default, size="sm",
                     debounce=True, style={"width": f"{width_px}px"})


def dataset_options(counts) -> list[dict]:
    """Dropdown options with sample counts, e.g. 'alpha (60: 30 real / 30 fake)'."""
    return [
        {"label": f"{r.dataset} ({r.samples:,}: {r.real:,} real / {r.fake:,} fake"
                  + (f", {r.skipped} skipped" if r.skipped else "") + ")",
         "value": r.dataset}
        for r in counts.itertuples()
    ]


def controls(dataset_opts: list[dict], datasets: list[str]) -> dbc.Card:
    tsne_params = html.Div(id=ids.PARAMS_ROW_TSNE, className="d-flex gap-2", children=[
        _labelled("perplexity", _number(ids.PERPLEXITY, "perplexity", step=1, width_px=80)),
        _labelled("iterations", _number(ids.N_ITER, "n_iter", step=50, width_px=90)),
        _labelled("PCA dims", _number(ids.PCA_DIMS, "pca_dims", step=1, width_px=80)),
    ])
    return dbc.Card(dbc.CardBody([
        dbc.Row([
            _labelled("Source datasets", dcc.Dropdown(
                id=ids.DATASETS, options=dataset_opts, value=datasets, multi=True, clearable=False,
                placeholder="Choose source datasets"), width=3),
            _labelled("Labels shown", dbc.Checklist(
                id=ids.LABELS, options=[{"label": "REAL", "value": 0}, {"label": "FAKE", "value": 1}],
                value=[0, 1], inline=True, switch=True), width="auto"),
            _labelled("Method", dbc.RadioItems(
                id=ids.METHOD, options=[{"label": v, "value": k} for k, v in METHOD_LABELS.items()],
                value="tsne", inline=True), width="auto"),
            dbc.Col(tsne_params, width="auto"),
            _labelled("max points", _number(ids.MAX_POINTS, "max_points", step=100, width_px=100),
                      width="auto"),
            _labelled("seed", _number(ids.SEED, "seed", width_px=70), width="auto"),
            _labelled("standardise", dbc.Switch(id=ids.STANDARDIZE, value=False, label="z-score"), width="auto"),
        ], className="g-3 align-items-start"),
        dbc.Row([
            dbc.Col(dbc.ButtonGroup([
                dbc.Button("Run projection", id=ids.RUN, color="primary", size="sm", n_clicks=0),
                dbc.Button("Cancel", id=ids.CANCEL, color="secondary", outline=True, size="sm", disabled=True),
            ]), width="auto"),
            dbc.Col(html.Div(id=ids.PROGRESS_ROW, style={"display": "none"}, children=dbc.Progress(
                id=ids.PROGRESS, value=0, label="", striped=True, animated=True, style={"height": "22px"})),
                width=3, className="pt-1"),
            dbc.Col(html.Div(id=ids.STATUS, className="small text-muted pt-1",
                             children="Choose settings and press Run projection."), className="text-truncate"),
            dbc.Col([
                html.Span("Colour by ", className="small fw-semibold me-2"),
                dbc.RadioItems(id=ids.COLOR_BY, options=[{"label": v, "value": k} for k, v in COLOR_MODES.items()],
                               value="label", inline=True, className="d-inline-block small"),
            ], width="auto"),
        ], className="g-2 align-items-center mt-1"),
    ]), className="mb-3 shadow-sm")


def pane(side: str, checkpoints: list[str], checkpoint: str | None) -> dbc.Card:
    p = lambda part: ids.pane(side, part)  # noqa: E731
    options = [{"label": c, "value": c} for c in checkpoints]
    side_name = "Left" if side == "left" else "Right"
    header = dbc.Row([
        dbc.Col(html.Span(f"{side_name} checkpoint", className="fw-semibold small text-muted"), width="auto"),
        dbc.Col(dcc.Dropdown(id=p(ids.CHECKPOINT), options=options, value=checkpoint, clearable=True,
                             placeholder="(none)"), width=5),
        dbc.Col(html.Div(id=p(ids.PANE_TITLE), className="small text-muted text-truncate")),
    ], className="g-2 align-items-center")
    empty = message_figure("No layout yet: press Run projection." if checkpoint else "Choose a checkpoint.")
    threshold = dbc.Row([
        dbc.Col(html.Span("Threshold", className="small fw-semibold"), width="auto"),
        dbc.Col(dcc.Slider(id=p(ids.THRESHOLD), min=0, max=1, step=0.01, value=0.5,
                           marks={0: "0", 0.25: "0.25", 0.5: "0.5", 0.75: "0.75", 1: "1"},
                           tooltip={"placement": "bottom", "always_visible": False}, updatemode="drag",
                           allow_direct_input=True)),
        dbc.Col(dbc.ButtonGroup([
            dbc.Button("Youden –", id=p(ids.SUGGEST_YOUDEN), size="sm", color="light", disabled=True,
                       title="Apply the threshold that maximises TPR − FPR"),
            dbc.Button("best F1 –", id=p(ids.SUGGEST_F1), size="sm", color="light", disabled=True,
                       title="Apply the threshold with the best F1 for FAKE"),
        ]), width="auto"),
    ], className="g-2 align-items-center")
    table = dash_table.DataTable(
        id=p(ids.METRICS_TABLE), columns=[{"name": name, "id": key} for key, name in TABLE_COLUMNS], data=[],
        style_as_list_view=True, style_table={"overflowX": "auto"},
        style_cell={"fontSize": "12px", "padding": "2px 6px", "textAlign": "right", "fontFamily": "inherit"},
        style_cell_conditional=[{"if": {"column_id": "dataset"}, "textAlign": "left", "fontWeight": "600"}],
        style_header={"fontWeight": "600", "backgroundColor": "#f6f7f9"},
        style_data_conditional=[{"if": {"filter_query": '{dataset} = "overall"'}, "backgroundColor": "#eef3fb",
                                 "fontWeight": "600"}],
    )
    return dbc.Card([
        dbc.CardHeader(header, className="py-2"),
        dbc.CardBody([
            dbc.Alert(id=p(ids.PANE_ALERT), is_open=False, color="warning", className="py-2 small mb-2"),
            dcc.Loading(dcc.Graph(id=p(ids.GRAPH), figure=empty, config=GRAPH_CONFIG,
                                  style={"height": GRAPH_HEIGHT}), delay_show=400, type="circle"),
            threshold,
            table,
            html.Div([
                dbc.Button("Download figure (HTML)", id=p(ids.EXPORT_HTML), size="sm", color="link", className="px-0 me-3"),
                dbc.Button("Download points (CSV)", id=p(ids.EXPORT_CSV), size="sm", color="link", className="px-0"),
                dcc.Download(id=p(ids.DOWNLOAD)),
            ], className="mt-1"),
            dcc.Store(id=p(ids.LAYOUT_STORE)),
            dcc.Store(id=p(ids.INTERIM_STORE)),
            dcc.Store(id=p(ids.INTERIM_DRAWN)),
        ], className="p-2"),
    ], className="h-100 shadow-sm")


def side_column() -> html.Div:
    detail = dbc.Card([
        dbc.CardHeader("Selected sample", className="py-2 fw-semibold small"),
        dbc.CardBody(html.Div(id=ids.DETAIL, className="small text-muted",
                              children="Click a point in either map to see its image here."), className="p-2"),
    ], className="mb-3 shadow-sm")
    roc = dbc.Card([
        dbc.CardHeader("ROC curves (both panes, chosen datasets)", className="py-2 fw-semibold small"),
        dbc.CardBody(dcc.Graph(id=ids.ROC, figure=message_figure("Choose a checkpoint."),
                               config={"displaylogo": False}, style={"height": "300px"}), className="p-1"),
    ], className="shadow-sm")
    return html.Div([detail, roc], style={"position": "sticky", "top": "8px"})


def navbar(cache_dir: str) -> dbc.Navbar:
    return dbc.Navbar(dbc.Container([
        html.Div([
            html.Span("fakescope", className="navbar-brand fw-bold mb-0"),
            html.Span("where two deepfake-detector checkpoints are right or wrong", className="text-light small"),
        ]),
        html.Span(f"cache: {cache_dir}", className="text-light small opacity-75"),
    ], fluid=True), color="dark", dark=True, className="mb-3 py-1")


def page(cache_dir: str, checkpoints: list[str], defaults: tuple, dataset_opts: list[dict]) -> html.Div:
    datasets = [o["value"] for o in dataset_opts]
    body = [controls(dataset_opts, datasets)]
    if not checkpoints:
        body.insert(0, dbc.Alert(
            ["No checkpoints in this cache yet. Compute some with ",
             html.Code("python -m pipeline.precompute --data-root ... --checkpoint NAME=PATH --cache-dir "
                       f"{cache_dir}"), ", or build the demo with ", html.Code("python app.py"),
             " on an empty cache folder."], color="info"))
    body.append(dbc.Row([
        dbc.Col(dbc.Row([
            dbc.Col(pane("left", checkpoints, defaults[0]), width=6),
            dbc.Col(pane("right", checkpoints, defaults[1]), width=6),
        ], className="g-3"), width=9),
        dbc.Col(side_column(), width=3),
    ], className="g-3"))
    return html.Div([
        navbar(cache_dir),
        dbc.Container(body, fluid=True, className="pb-4"),
        dcc.Store(id=ids.SELECTED),
        dcc.Store(id=ids.SELECTED_SHOWN),
        dcc.Store(id=ids.RUN_RESULT),
    ])


def error_page(message: str) -> html.Div:
    """Shown instead of the dashboard when the cache cannot be read (one sentence, no traceback)."""
    return html.Div([
        navbar("unreadable"),
        dbc.Container(dbc.Alert([html.H5("This cache cannot be shown", className="alert-heading"), html.P(message)],
                                color="danger"), className="mt-4"),
    ])
