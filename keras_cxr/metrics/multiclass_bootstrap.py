"""`multiclass_intervals`: patient-level bootstrap intervals of the k-class metrics."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from keras_cxr.metrics.bootstrap import DEFAULT_RESAMPLES, Interval, bootstrap_intervals
from keras_cxr.metrics.multiclass import multiclass_report, pairwise_report

#: The overall metrics of `keras_cxr.metrics.multiclass_report` that get an interval.
OVERALL_METRICS = ("accuracy", "macro_f1", "macro_sensitivity", "macro_roc_auc")
#: The per-class metrics that get an interval, named `"<class>/<metric>"`.
PER_CLASS_METRICS = ("sensitivity", "specificity", "roc_auc")
#: The metrics of each `pairs` entry, named `"<pair>/<metric>"`.
PAIR_METRICS = ("accuracy", "roc_auc")


def multiclass_intervals(
    y_true: Any,
    probabilities: Any,
    class_names: Sequence[str] | None = None,
    groups: Any = None,
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = 0.95,
    seed: int = 0,
    pairs: Mapping[str, tuple[int, int]] | None = None,
) -> dict[str, Interval]:
    """Bootstrap intervals of the arg-max metrics of a k-class classifier, by patient.

    The overall metrics (`OVERALL_METRICS`), each class's sensitivity, specificity and
    one-vs-rest ROC AUC, and for every entry of `pairs` the accuracy and AUC of telling
    its two classes apart (`keras_cxr.metrics.pairwise_report`), each with its percentile
    interval over `n_resamples` resamples of whole patients
    (`keras_cxr.metrics.bootstrap_intervals`). A resample that lacks a class leaves that
    class's undefined metrics out of their intervals (counted in `Interval.dropped`).

    Args:
        y_true: True class indices in [0, k), shape (N,).
        probabilities: Class probabilities, shape (N, k), k >= 2.
        class_names: Name of each class; None names them "0", "1", .... Defaults to None.
        groups: Patient of each case, shape (N,); None treats every case as a patient.
        n_resamples: Bootstrap resamples, >= 1. Defaults to 1000.
        confidence: Coverage of the intervals, in (0, 1). Defaults to 0.95.
        seed: Seed of the resampling. Defaults to 0.
        pairs: Name → `(a, b)` class indices to tell apart, e.g.
            `{"bacterial_vs_viral": (1, 2)}`. Defaults to None (none).

    Returns:
        Metric name → `keras_cxr.metrics.Interval`: the `OVERALL_METRICS`, then
        `"<class>/<metric>"` for each class, then `"<pair>/<metric>"`.

    Raises:
        ValueError: For invalid labels, probabilities, class names or pairs (as
            `keras_cxr.metrics.multiclass_report` and `pairwise_report` raise), or bad
            bootstrap settings.

    Example:
        >>> intervals = keras_cxr.metrics.multiclass_intervals(
        ...     [0, 1, 2, 2, 1, 0], np.eye(3)[[0, 1, 2, 1, 1, 0]], ("N", "B", "V"),
        ...     n_resamples=200)
        >>> intervals["accuracy"].point, sorted(intervals)[:2]
        (0.8333333333333334, ['B/roc_auc', 'B/sensitivity'])
    """
    pairs = dict(pairs or {})

    def statistic(labels: np.ndarray, scores: np.ndarray) -> dict[str, float]:
        report = multiclass_report(labels, scores, class_names)
        values = {name: report[name] for name in OVERALL_METRICS}
        for name, row in report["per_class"].items():
            values.update({f"{name}/{metric}": row[metric] for metric in PER_CLASS_METRICS})
        for name, classes in pairs.items():
            row = pairwise_report(labels, scores, classes)
            values.update({f"{name}/{metric}": row[metric] for metric in PAIR_METRICS})
        return values

    return bootstrap_intervals(
        statistic, y_true, np.asarray(probabilities, np.float64), groups, n_resamples,
        confidence, seed,
    )  # fmt: skip


__all__ = ["OVERALL_METRICS", "PAIR_METRICS", "PER_CLASS_METRICS", "multiclass_intervals"]
