"""Multi-label metrics: per-finding AUC, AP, sensitivity and specificity, macro and micro.

Labels are `(N, K)`: 1 where image `n` shows finding `k`, 0 where it does not, and NaN (or
-1) where the label is unknown, such as a CheXpert uncertain label under the `"ignore"`
policy. Unknown labels are left out of every metric: finding `k`'s metrics use only the
images whose label `k` is known, and the micro averages pool the known `(label, score)`
pairs of all findings.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from keras_cxr._validation import invalid_value, shape_error
from keras_cxr.metrics._binary import confusion_counts, ratio
from keras_cxr.metrics.precision_recall import average_precision
from keras_cxr.metrics.roc import roc_auc

#: The per-finding metrics, each also averaged over findings (macro) and pooled (micro).
MULTILABEL_METRICS = ("roc_auc", "average_precision", "sensitivity", "specificity")


def multilabel_report(
    y_true: Any,
    y_score: Any,
    findings: Sequence[str] | None = None,
    thresholds: float | Sequence[float] = 0.5,
) -> dict[str, Any]:
    """Per-finding, macro and micro metrics of a multi-label classifier.

    For each finding: the label counts, ROC AUC, average precision, and the sensitivity
    and specificity at its threshold (a score at or above it is called positive). The
    macro average is the mean over findings where the metric is defined (a finding whose
    known labels hold one class has no AUC and is left out of the macro AUC); the micro
    average computes the metric once over every known `(label, score)` pair, so common
    findings weigh more.

    Args:
        y_true: Labels `(N, K)` in {0, 1}, NaN or -1 for unknown.
        y_score: Scores or probabilities `(N, K)`, finite.
        findings: Name of each column; None names them "0", "1", .... Defaults to None.
        thresholds: One decision threshold for all findings, or one per finding.
            Defaults to 0.5.

    Returns:
        A dict: `"per_finding"` (name → `{"positive", "negative", "ignored", "threshold",
        "roc_auc", "average_precision", "sensitivity", "specificity"}`), and
        `"macro_<metric>"` and `"micro_<metric>"` for each of `MULTILABEL_METRICS`.
        Undefined values are NaN.

    Raises:
        ValueError: Shapes differ or are not 2-D, a label is not 0, 1, NaN or -1, a score
            is not finite, or `findings` / `thresholds` have the wrong length.

    Example:
        >>> report = keras_cxr.metrics.multilabel_report(
        ...     [[1, 0], [0, 1], [1, float("nan")], [0, 0]],
        ...     [[0.9, 0.2], [0.3, 0.7], [0.6, 0.9], [0.4, 0.6]], findings=("A", "B"))
        >>> report["per_finding"]["B"]["ignored"], report["macro_roc_auc"]
        (1, 1.0)
    """
    labels, scores = multilabel_inputs(y_true, y_score)
    names = _finding_names(findings, labels.shape[1])
    cutoffs = np.broadcast_to(np.asarray(thresholds, dtype=np.float64), (labels.shape[1],))
    if np.ndim(thresholds) > 1 or not np.all(np.isfinite(cutoffs)):
        raise invalid_value("thresholds", "a finite float, or one per finding", thresholds)
    known = ~np.isnan(labels)
    per_finding = {}
    for k, name in enumerate(names):
        column, score = labels[known[:, k], k].astype(np.int64), scores[known[:, k], k]
        per_finding[name] = {
            "positive": int(column.sum()),
            "negative": int(len(column) - column.sum()),
            "ignored": int(np.sum(~known[:, k])),
            "threshold": float(cutoffs[k]),
            **_binary_metrics(column, score, score >= cutoffs[k]),
        }
    report: dict[str, Any] = {"per_finding": per_finding}
    for metric in MULTILABEL_METRICS:
        values = np.array([row[metric] for row in per_finding.values()])
        report[f"macro_{metric}"] = (
            float(np.nanmean(values)) if np.isfinite(values).any() else np.nan
        )
    pooled = _binary_metrics(
        labels[known].astype(np.int64), scores[known], (scores >= cutoffs)[known]
    )
    report.update({f"micro_{metric}": value for metric, value in pooled.items()})
    return report


def multilabel_inputs(y_true: Any, y_score: Any) -> tuple[np.ndarray, np.ndarray]:
    """Checked `(labels, scores)`: float64 `(N, K)` labels in {0, 1, NaN}, finite scores.

    Args:
        y_true: Labels `(N, K)` in {0, 1}, NaN or -1 for unknown.
        y_score: Scores `(N, K)`.

    Returns:
        `(labels, scores)`, with every -1 label turned into NaN.

    Raises:
        ValueError: As `keras_cxr.metrics.multilabel_report` describes.

    Example:
        >>> labels, _ = keras_cxr.metrics.multilabel.multilabel_inputs([[1, -1]], [[0.5, 0.5]])
        >>> labels.tolist()
        [[1.0, nan]]
    """
    labels = np.array(y_true, dtype=np.float64)
    scores = np.asarray(y_score, dtype=np.float64)
    if labels.ndim != 2 or 0 in labels.shape:
        raise shape_error("y_true", "a non-empty array of shape (N, K)", labels.shape)
    if scores.shape != labels.shape:
        raise shape_error("y_score", f"the shape of `y_true`, {labels.shape}", scores.shape)
    labels[labels == -1] = np.nan
    if not np.all(np.isnan(labels) | np.isin(labels, (0, 1))):
        values = np.unique(labels[~np.isnan(labels)])[:5].tolist()
        raise invalid_value("y_true", "labels in {0, 1}, or NaN / -1 for unknown", values)
    if not np.all(np.isfinite(scores)):
        raise invalid_value("y_score", "finite values (no NaN or inf)", "an array with NaN/inf")
    return labels, scores


def _binary_metrics(labels: np.ndarray, scores: np.ndarray, called: np.ndarray) -> dict:
    if labels.size == 0:
        return dict.fromkeys(MULTILABEL_METRICS, float("nan"))
    tn, fp, fn, tp = confusion_counts(labels, called.astype(np.int64))
    return {
        "roc_auc": roc_auc(labels, scores),
        "average_precision": average_precision(labels, scores),
        "sensitivity": ratio(tp, tp + fn),
        "specificity": ratio(tn, tn + fp),
    }


def _finding_names(findings: Sequence[str] | None, count: int) -> tuple[str, ...]:
    if findings is None:
        return tuple(str(k) for k in range(count))
    names = tuple(findings)
    if len(names) != count or len(set(names)) != count:
        raise invalid_value("findings", f"{count} distinct names, one per column", findings)
    return names


__all__ = ["MULTILABEL_METRICS", "multilabel_inputs", "multilabel_report"]
