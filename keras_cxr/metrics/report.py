"""`classification_report`: every binary classification metric at one threshold, with intervals.

`classification_intervals` gives their patient-level bootstrap intervals.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from keras_cxr._validation import check_int
from keras_cxr.metrics._binary import (
    check_threshold,
    counts_at_threshold,
    labels_and_scores,
    ratio,
)
from keras_cxr.metrics.bootstrap import DEFAULT_RESAMPLES, Interval, bootstrap_intervals
from keras_cxr.metrics.brier import brier_score
from keras_cxr.metrics.calibration import expected_calibration_error
from keras_cxr.metrics.roc import roc_auc

#: The scalar metrics of `classification_report` that `classification_intervals` bootstraps.
INTERVAL_METRICS = (
    "accuracy",
    "sensitivity",
    "specificity",
    "ppv",
    "npv",
    "roc_auc",
    "brier",
    "ece",
)


def classification_report(
    y_true: Any, y_score: Any, threshold: float = 0.5, n_bins: int = 10
) -> dict[str, Any]:
    """All the binary metrics at one threshold, as a JSON-friendly dict.

    Rates with a zero denominator are NaN (see `keras_cxr.metrics.confusion`), as is
    `roc_auc` when a single class is present and `ece` and `brier` when the scores are not
    probabilities in [0, 1].

    Args:
        y_true: True labels in {0, 1}, shape (N,).
        y_score: Scores for the positive class, shape (N,); probabilities for `ece`.
        threshold: A case is predicted positive when `score >= threshold`. Defaults to 0.5;
            use `keras_cxr.metrics.select_threshold` on validation data to choose one.
        n_bins: Number of bins for the ECE. Defaults to 10.

    Returns:
        A dict with the float metrics "accuracy", "sensitivity", "specificity", "ppv",
        "npv", "roc_auc", "ece" and "brier", "confusion_matrix" as nested lists `[[TN, FP], [FN,
        TP]]`, the case counts "n" and "n_positive", and the "threshold" used.

    Raises:
        ValueError: If labels are not binary, scores are not finite, lengths differ, or
            `threshold` or `n_bins` is invalid.

    Example:
        >>> report = keras_cxr.metrics.classification_report([0, 0, 1, 1], [0.2, 0.7, 0.6, 0.9])
        >>> report["accuracy"], report["confusion_matrix"]
        (0.75, [[1, 1], [0, 2]])
    """
    labels, scores = labels_and_scores(y_true, y_score)
    threshold = check_threshold(threshold)
    tn, fp, fn, tp = counts_at_threshold(labels, scores, threshold)
    n_bins = check_int("n_bins", n_bins)
    is_probability = bool(np.all((scores >= 0) & (scores <= 1)))
    return {
        "n": len(labels),
        "n_positive": tp + fn,
        "threshold": threshold,
        "accuracy": (tp + tn) / len(labels),
        "sensitivity": ratio(tp, tp + fn),
        "specificity": ratio(tn, tn + fp),
        "ppv": ratio(tp, tp + fp),
        "npv": ratio(tn, tn + fn),
        "roc_auc": roc_auc(labels, scores),
        "ece": (
            expected_calibration_error(labels, scores, n_bins) if is_probability else float("nan")
        ),
        "brier": brier_score(labels, scores) if is_probability else float("nan"),
        "confusion_matrix": [[tn, fp], [fn, tp]],
    }


def classification_intervals(
    y_true: Any,
    y_prob: Any,
    threshold: float = 0.5,
    groups: Any = None,
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = 0.95,
    seed: int = 0,
    n_bins: int = 10,
) -> dict[str, Interval]:
    """Bootstrap intervals of the scalar metrics of `classification_report`, by patient.

    Every metric of `INTERVAL_METRICS` (accuracy, sensitivity, specificity, PPV, NPV, ROC
    AUC, Brier score, ECE) at the fixed `threshold`, with its percentile interval over
    `n_resamples` resamples of whole groups (`keras_cxr.metrics.bootstrap_intervals`).
    Resamples where a metric is undefined (one class only) are left out of its interval
    and counted in `Interval.dropped`.

    Args:
        y_true: True labels in {0, 1}, shape (N,).
        y_prob: Probabilities of the positive class, shape (N,).
        threshold: Decision threshold, fixed across resamples. Defaults to 0.5.
        groups: Patient of each case, shape (N,); None treats every case as a patient.
        n_resamples: Bootstrap resamples. Defaults to 1000.
        confidence: Coverage of the intervals. Defaults to 0.95.
        seed: Seed of the resampling. Defaults to 0.
        n_bins: Bins of the ECE. Defaults to 10.

    Returns:
        Metric name → `keras_cxr.metrics.Interval`, in the order of `INTERVAL_METRICS`.

    Raises:
        ValueError: As for `classification_report` and `bootstrap_intervals`.

    Example:
        >>> intervals = keras_cxr.metrics.classification_intervals(
        ...     [0, 0, 1, 1, 1, 0], [.2, .6, .7, .9, .4, .1], 0.5, n_resamples=100)
        >>> intervals["accuracy"].point
        0.6666666666666666
    """
    labels, scores = labels_and_scores(y_true, y_prob)
    threshold = check_threshold(threshold)

    def metrics(labels: np.ndarray, scores: np.ndarray) -> dict[str, float]:
        report = classification_report(labels, scores, threshold, n_bins)
        return {name: report[name] for name in INTERVAL_METRICS}

    return bootstrap_intervals(metrics, labels, scores, groups, n_resamples, confidence, seed)
