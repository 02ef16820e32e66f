"""Threshold-dependent metrics fast enough to follow a slider over 100k samples.

`PaneScores` is built once per (checkpoint, datasets): it keeps the labels, `prob_fake`,
per-dataset codes and the threshold-free numbers (ROC AUC, suggested thresholds, ROC
curve). `metrics(threshold)` then needs one pass of `np.bincount` for every dataset's
confusion matrix. Its numbers are those of `pipeline.metrics.metrics_by_group`
(scikit-learn), which the tests check.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.metrics import METRIC_COLUMNS, roc_points, suggested_thresholds

OVERALL = "overall"
TABLE_COLUMNS = (
    ("dataset", "dataset"), ("n", "n"), ("accuracy", "accuracy"), ("auc", "AUC"),
    ("precision_real", "P real"), ("recall_real", "R real"), ("f1_real", "F1 real"),
    ("precision_fake", "P fake"), ("recall_fake", "R fake"), ("f1_fake", "F1 fake"),
)


def _ratio(num, den) -> np.ndarray:
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def _auc(labels: np.ndarray, prob_fake: np.ndarray) -> float | None:
    from sklearn.metrics import roc_auc_score

    if labels.size == 0 or np.unique(labels).size < 2:
        return None
    return float(roc_auc_score(labels, prob_fake))


@dataclass
class PaneScores:
    names: list[str]            # dataset names, sorted
    codes: np.ndarray           # (n,) int: index into names
    labels: np.ndarray          # (n,) int8: 0 REAL, 1 FAKE
    prob_fake: np.ndarray       # (n,) float64
    auc: dict                   # dataset or OVERALL -> ROC AUC or None
    suggested: dict             # {"youden": t, "best_f1": t} over all samples
    roc: tuple | None           # (fpr, tpr) over all samples, or None with one class

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> "PaneScores":
        """From a predictions frame with columns dataset, label, prob_fake."""
        datasets = frame["dataset"].astype("category")
        names = [str(c) for c in datasets.cat.categories]
        order = np.argsort(names)
        names = [names[i] for i in order]
        remap = np.empty(len(order), dtype=np.int64)
        remap[order] = np.arange(len(order))
        codes = remap[datasets.cat.codes.to_numpy()] if len(frame) else np.zeros(0, np.int64)
        labels = frame["label"].to_numpy().astype(np.int8)
        prob_fake = frame["prob_fake"].to_numpy().astype(np.float64)
        auc = {name: _auc(labels[codes == i], prob_fake[codes == i]) for i, name in enumerate(names)}
        auc[OVERALL] = _auc(labels, prob_fake)
        suggested = suggested_thresholds(labels, prob_fake) if len(labels) else {"youden": None, "best_f1": None}
        roc = roc_points(labels, prob_fake) if len(labels) else None
        return cls(names, codes, labels, prob_fake, auc, suggested, roc)

    def confusion(self, threshold: float) -> np.ndarray:
        """(groups + 1, 2, 2) counts [group, label, pred]; the last group is all samples."""
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must lie in [0, 1], got {threshold}")
        pred = (self.prob_fake >= threshold).astype(np.int64)
        k = len(self.names)
        flat = np.bincount(self.codes * 4 + self.labels.astype(np.int64) * 2 + pred, minlength=4 * k)
        per_group = flat.reshape(k, 2, 2)
        return np.concatenate([per_group, per_group.sum(axis=0, keepdims=True)])

    def metrics(self, threshold: float = 0.5) -> dict[str, dict]:
        """Per dataset (sorted) and OVERALL: the dict of pipeline.metrics.classification_metrics."""
        cm = self.confusion(threshold)
        tn, fp, fn, tp = cm[:, 0, 0], cm[:, 0, 1], cm[:, 1, 0], cm[:, 1, 1]
        n = cm.sum(axis=(1, 2))
        values = {
            "accuracy": _ratio(tn + tp, n),
            "precision_real": _ratio(tn, tn + fn), "recall_real": _ratio(tn, tn + fp),
            "f1_real": _ratio(2 * tn, 2 * tn + fn + fp),
            "precision_fake": _ratio(tp, tp + fp), "recall_fake": _ratio(tp, tp + fn),
            "f1_fake": _ratio(2 * tp, 2 * tp + fp + fn),
        }
        result = {}
        for i, name in enumerate([*self.names, OVERALL]):
            row = {"n": int(n[i])}
            for column in METRIC_COLUMNS[1:]:
                if column == "auc":
                    row["auc"] = self.auc.get(name)
                else:
                    v = float(values[column][i])
                    row[column] = None if np.isnan(v) else v
            result[name] = row
        return result

    def operating_point(self, threshold: float) -> tuple[float, float] | None:
        """(false positive rate, true positive rate) at `threshold` over all samples."""
        cm = self.confusion(threshold)[-1]
        negatives, positives = cm[0].sum(), cm[1].sum()
        if negatives == 0 or positives == 0:
            return None
        return float(cm[0, 1] / negatives), float(cm[1, 1] / positives)


def metrics_rows(metrics: dict[str, dict]) -> list[dict]:
    """Rows for the metrics table: numbers as text with 3 decimals, '–' where undefined."""
    rows = []
    for name, m in metrics.items():
        row = {"dataset": name}
        for key, _ in TABLE_COLUMNS[1:]:
            value = m.get(key)
            row[key] = "–" if value is None else str(value) if key == "n" else f"{value:.3f}"
        rows.append(row)
    return rows
