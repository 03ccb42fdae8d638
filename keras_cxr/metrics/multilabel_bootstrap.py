"""`multilabel_intervals`: patient-level bootstrap intervals of the multi-label metrics."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from keras_cxr.metrics.bootstrap import DEFAULT_RESAMPLES, Interval, bootstrap_intervals
from keras_cxr.metrics.multilabel import MULTILABEL_METRICS, multilabel_inputs, multilabel_report


def multilabel_intervals(
    y_true: Any,
    y_score: Any,
    findings: Sequence[str] | None = None,
    thresholds: float | Sequence[float] = 0.5,
    groups: Any = None,
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Interval]:
    """Bootstrap intervals of `keras_cxr.metrics.multilabel_report`, resampling patients.

    Every metric of the report (`macro_<metric>`, `micro_<metric>` and
    `"<finding>/<metric>"` for each of `MULTILABEL_METRICS`) gets its percentile interval
    over `n_resamples` resamples of whole patients (`keras_cxr.metrics.bootstrap_intervals`).
    Unknown labels stay unknown in every resample. A resample where a finding has only one
    class leaves that finding's undefined metrics out (counted in `Interval.dropped`).

    Args:
        y_true: Labels `(N, K)` in {0, 1}, NaN or -1 for unknown.
        y_score: Scores `(N, K)`.
        findings: Name of each column; None names them "0", "1", .... Defaults to None.
        thresholds: One decision threshold, or one per finding. Defaults to 0.5.
        groups: Patient of each image, shape (N,); None treats every image as a patient.
        n_resamples: Bootstrap resamples, >= 1. Defaults to 1000.
        confidence: Coverage of the intervals, in (0, 1). Defaults to 0.95.
        seed: Seed of the resampling. Defaults to 0.

    Returns:
        Metric name → `keras_cxr.metrics.Interval`: the macro, then the micro averages,
        then `"<finding>/<metric>"` for each finding.

    Raises:
        ValueError: For invalid labels, scores, names or thresholds (as
            `keras_cxr.metrics.multilabel_report` raises), or bad bootstrap settings.

    Example:
        >>> intervals = keras_cxr.metrics.multilabel_intervals(
        ...     [[1, 0], [0, 1], [1, 0], [0, 1]], [[0.9, 0.2], [0.3, 0.7], [0.6, 0.4], [0.4, 0.6]],
        ...     findings=("A", "B"), groups=["p", "p", "q", "r"], n_resamples=100)
        >>> intervals["macro_roc_auc"].point, intervals["A/roc_auc"].point
        (1.0, 1.0)
    """
    labels, scores = multilabel_inputs(y_true, y_score)

    def statistic(rows: np.ndarray, _: np.ndarray) -> dict[str, float]:
        report = multilabel_report(labels[rows], scores[rows], findings, thresholds)
        values = {f"{kind}_{metric}": report[f"{kind}_{metric}"]
                  for kind in ("macro", "micro") for metric in MULTILABEL_METRICS}  # fmt: skip
        for name, row in report["per_finding"].items():
            values.update({f"{name}/{metric}": row[metric] for metric in MULTILABEL_METRICS})
        return values

    # The bootstrap resamples rows; the statistic looks the labels up by row index, since
    # a (N, K) label array is not the 1-D label vector that bootstrap_intervals checks.
    rows = np.arange(len(labels))
    return bootstrap_intervals(statistic, rows, rows, groups, n_resamples, confidence, seed)


__all__ = ["multilabel_intervals"]
