"""Average precision: the area under the precision-recall curve, as a step sum."""

from __future__ import annotations

from typing import Any

import numpy as np

from keras_cxr.metrics._binary import labels_and_scores, roc_counts


def average_precision(y_true: Any, y_score: Any) -> float:
    """Average precision (AP) of scores for a binary label.

    `AP = sum_n (R_n - R_{n-1}) P_n`, with precision `P_n` and recall `R_n` at the n-th
    distinct score used as threshold (scores at or above it called positive), from the
    highest down. This is the step sum without interpolation, the definition of
    scikit-learn's `average_precision_score`; unlike a trapezoidal area under the
    precision-recall curve it is not optimistic. A random scorer's AP is about the
    prevalence, so it is the ranking metric that shows a rare finding's difficulty.

    Args:
        y_true: True labels in {0, 1}, shape (N,).
        y_score: Scores for the positive class, shape (N,).

    Returns:
        The AP in [0, 1]; NaN if `y_true` has no positive.

    Raises:
        ValueError: If labels are not binary, scores are not finite, or lengths differ.

    Example:
        >>> keras_cxr.metrics.average_precision([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
        0.8333333333333333

    Reference:
        Manning, Raghavan, Schütze. "Introduction to Information Retrieval." Cambridge
        University Press, 2008, section 8.4.
    """
    labels, scores = labels_and_scores(y_true, y_score)
    if not labels.any():
        return float("nan")
    false_positives, true_positives, _ = roc_counts(labels, scores)
    precision = true_positives / (true_positives + false_positives)
    recall = true_positives / true_positives[-1]
    return float(np.sum(np.diff(recall, prepend=0.0) * precision))


__all__ = ["average_precision"]
