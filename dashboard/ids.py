"""Component ids, in one place: layout and callbacks both import these names.

Per-pane ids are built by `pane(side, part)` for side in SIDES ("left", "right").
"""

SIDES = ("left", "right")

# Shared controls
DATASETS = "datasets"
LABELS = "labels-shown"
METHOD = "method"
PERPLEXITY = "perplexity"
N_ITER = "n-iter"
PCA_DIMS = "pca-dims"
STANDARDIZE = "standardize"
MAX_POINTS = "max-points"
SEED = "seed"
COLOR_BY = "color-by"
RUN = "run"
CANCEL = "cancel"
PROGRESS = "progress"
PROGRESS_ROW = "progress-row"
STATUS = "status"
PARAMS_ROW_TSNE = "params-tsne"

# Detail panel, ROC, selection
SELECTED = "selected-sample"
SELECTED_SHOWN = "selected-shown"  # the selected sample once its image is in the detail panel: rings follow
RUN_RESULT = "run-result"        # {"finished": time, "failed": {layout key: message}} of the last run
DETAIL = "detail"
ROC = "roc"

# Per-pane parts
CHECKPOINT = "checkpoint"
GRAPH = "graph"
LAYOUT_STORE = "layout-store"      # {"key", "checkpoint", "datasets", "message"} of the layout shown
INTERIM_STORE = "interim-store"    # {"key", "step", ...} while t-SNE optimises (the layout is in a file)
INTERIM_DRAWN = "interim-drawn"    # the key of the run whose layout in progress the pane shows
THRESHOLD = "threshold"
SUGGEST_YOUDEN = "suggest-youden"
SUGGEST_F1 = "suggest-f1"
METRICS_TABLE = "metrics-table"
PANE_ALERT = "pane-alert"
EXPORT_HTML = "export-html"
EXPORT_CSV = "export-csv"
DOWNLOAD = "download"
PANE_TITLE = "pane-title"


def pane(side: str, part: str) -> str:
    """The id of `part` in the pane on `side` ("left" or "right")."""
    if side not in SIDES:
        raise ValueError(f"side must be one of {SIDES}, got {side!r}")
    return f"{side}-{part}"
