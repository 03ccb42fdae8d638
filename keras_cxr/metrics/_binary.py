"""Plumbing shared by the binary classification metrics: inputs, confusion and ROC counts.

Labels are 0 (negative) and 1 (positive); a case is called positive when
`score >= threshold`.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from keras_cxr._validation import invalid_value
from keras_cxr.metrics._inputs import as_binary_labels, as_scores


def check_threshold(threshold: Any) -> float:
    """Return `threshold` as a float, raising unless it is a finite real number."""
    if (
        isinstance(threshold, bool)
        or not isinstance(threshold, numbers.Real)
        or not np.isfinite(threshold)
    ):
        raise invalid_value("threshold", "a finite number", threshold)
    return float(threshold)


def labels_and_scores(y_true: Any, y_score: Any) -> tuple[np.ndarray, np.ndarray]:
    """Checked 0/1 labels and finite scores of the same length."""
    labels = as_binary_labels(y_true)
    return labels, as_scores(y_score, len(labels))


def confusion_counts(labels: np.ndarray, predicted: np.ndarray) -> tuple[int, int, int, int]:
    """(TN, FP, FN, TP) for 0/1 label and prediction vectors."""
    tp = int(np.count_nonzero((labels == 1) & (predicted == 1)))
    fp = int(np.count_nonzero((labels == 0) & (predicted == 1)))
    fn = int(np.count_nonzero((labels == 1) & (predicted == 0)))
    tn = len(labels) - tp - fp - fn
    return tn, fp, fn, tp


def counts_at_threshold(
    labels: np.ndarray, scores: np.ndarray, threshold: Any
) -> tuple[int, int, int, int]:
    """(TN, FP, FN, TP) when a case is called positive at `score >= threshold`."""
    threshold = check_threshold(threshold)
    return confusion_counts(labels, (scores >= threshold).astype(np.int64))


def ratio(numerator: int, denominator: int) -> float:
    """`numerator / denominator`, or NaN for an undefined rate (a zero denominator)."""
    return numerator / denominator if denominator else float("nan")


def require_both_classes(labels: np.ndarray, purpose: str) -> None:
    """Raise when `labels` holds a single class, naming what needed both."""
    if labels.min() == labels.max():
        raise ValueError(
            f"{purpose} needs both classes in `y_true`; received only label {int(labels[0])} "
            f"({len(labels)} cases)."
        )


def roc_counts(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, ...]:
    """False and true positive counts at each distinct score, used as threshold, descending."""
    order = np.argsort(-scores, kind="stable")
    ordered_scores = scores[order]
    last_of_group = np.append(np.flatnonzero(np.diff(ordered_scores)), len(scores) - 1)
    true_positives = np.cumsum(labels[order])[last_of_group]
    false_positives = last_of_group + 1 - true_positives
    return false_positives, true_positives, ordered_scores[last_of_group]
