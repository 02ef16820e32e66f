"""Detector metrics from labels and `prob_fake`: plain arrays in, plain dicts out.

Labels are 0 = REAL, 1 = FAKE. A prediction is FAKE when prob_fake >= threshold; at the
default 0.5 that equals the classifier's argmax. Torch-free: the dashboard uses it too.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.metrics import f1_score, precision_recall_curve, precision_recall_fscore_support, roc_auc_score, roc_curve

METRIC_COLUMNS = (
    "n", "accuracy", "auc",
    "precision_real", "recall_real", "f1_real",
    "precision_fake", "recall_fake", "f1_fake",
)


def _check(labels, prob_fake) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(labels)
    prob_fake = np.asarray(prob_fake, dtype=np.float64)
    if labels.shape != prob_fake.shape or labels.ndim != 1:
        raise ValueError(f"labels {labels.shape} and prob_fake {prob_fake.shape} must be 1-D and the same length")
    if labels.size and not np.isin(labels, (0, 1)).all():
        raise ValueError("labels must be 0 (REAL) or 1 (FAKE)")
    return labels.astype(np.int8), prob_fake


def _check_threshold(threshold: float) -> float:
    if not (0.0 <= threshold <= 1.0):
        raise ValueError(f"threshold must lie in [0, 1], got {threshold}")
    return float(threshold)


def predict(prob_fake, threshold: float = 0.5) -> np.ndarray:
    """1 (FAKE) where prob_fake >= threshold, else 0 (REAL)."""
    return (np.asarray(prob_fake) >= _check_threshold(threshold)).astype(np.int8)


def classification_metrics(labels, prob_fake, threshold: float = 0.5) -> dict:
    """Accuracy, ROC AUC and per-class precision/recall/F1 for one group of samples.

    AUC is None when the group holds only one class; other undefined values are None too.
    """
    labels, prob_fake = _check(labels, prob_fake)
    n = int(labels.size)
    if n == 0:
        return {"n": 0, **{c: None for c in METRIC_COLUMNS[1:]}}
    pred = predict(prob_fake, threshold)
    precision, recall, f1, _ = precision_recall_fscore_support(
        labels, pred, labels=[0, 1], zero_division=np.nan
    )
    auc = float(roc_auc_score(labels, prob_fake)) if np.unique(labels).size == 2 else None

    def clean(value):
        value = float(value)
        return None if math.isnan(value) else value

    return {
        "n": n,
        "accuracy": float((pred == labels).mean()),
        "auc": auc,
        "precision_real": clean(precision[0]), "recall_real": clean(recall[0]), "f1_real": clean(f1[0]),
        "precision_fake": clean(precision[1]), "recall_fake": clean(recall[1]), "f1_fake": clean(f1[1]),
    }


def metrics_by_group(groups, labels, prob_fake, threshold: float = 0.5, overall: str = "overall") -> dict[str, dict]:
    """classification_metrics per group name (sorted), plus the `overall` row over all samples."""
    groups = np.asarray(groups)
    labels, prob_fake = _check(labels, prob_fake)
    result = {}
    for name in sorted(np.unique(groups).tolist()):
        mask = groups == name
        result[str(name)] = classification_metrics(labels[mask], prob_fake[mask], threshold)
    result[overall] = classification_metrics(labels, prob_fake, threshold)
    return result


def suggested_thresholds(labels, prob_fake) -> dict[str, float | None]:
    """Thresholds worth trying: Youden's J (max TPR - FPR) and the best F1 for FAKE."""
    labels, prob_fake = _check(labels, prob_fake)
    if np.unique(labels).size < 2:
        return {"youden": None, "best_f1": None}
    fpr, tpr, roc_thresholds = roc_curve(labels, prob_fake)
    finite = np.isfinite(roc_thresholds)
    j = np.where(finite, tpr - fpr, -np.inf)
    youden = float(np.clip(roc_thresholds[int(np.argmax(j))], 0.0, 1.0))
    precision, recall, pr_thresholds = precision_recall_curve(labels, prob_fake)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)[:-1]
    best_f1 = float(np.clip(pr_thresholds[int(np.argmax(f1))], 0.0, 1.0))
    return {"youden": youden, "best_f1": best_f1}


def roc_points(labels, prob_fake) -> tuple[np.ndarray, np.ndarray] | None:
    """(false positive rate, true positive rate), or None when only one class is present."""
    labels, prob_fake = _check(labels, prob_fake)
    if np.unique(labels).size < 2:
        return None
    fpr, tpr, _ = roc_curve(labels, prob_fake)
    return fpr, tpr


def format_table(rows: dict[str, dict], title: str = "") -> str:
    """A fixed-width text table of metrics_by_group's result, as printed after a run."""
    headers = ("dataset", "n", "acc", "auc", "P real", "R real", "F1 real", "P fake", "R fake", "F1 fake")
    keys = METRIC_COLUMNS
    width = max([len(h) for h in headers[:1]] + [len(name) for name in rows]) + 2
    lines = [title] if title else []
    lines.append(headers[0].ljust(width) + "".join(h.rjust(9) for h in headers[1:]))
    for name, m in rows.items():
        cells = []
        for k in keys:
            v = m.get(k)
            cells.append(("-" if v is None else str(v) if k == "n" else f"{v:.4f}").rjust(9))
        lines.append(name.ljust(width) + "".join(cells))
    return "\n".join(lines)
