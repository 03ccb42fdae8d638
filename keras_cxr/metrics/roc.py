"""The receiver operating characteristic: the ROC curve and the area under it.

Labels and scores follow the conventions of `keras_cxr.metrics.confusion`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from keras_cxr.metrics._binary import labels_and_scores, require_both_classes, roc_counts
from keras_cxr.metrics._stats import average_ranks


def roc_curve(y_true: Any, y_score: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Receiver operating characteristic curve.

    One point per distinct score used as the threshold (`score >= threshold` is positive),
    from the strictest to the most lenient, preceded by the point (0, 0) for a threshold of
    +inf. Every point is kept.

    Args:
        y_true: True labels in {0, 1}, shape (N,), with both classes present.
        y_score: Scores for the positive class, shape (N,).

    Returns:
        A tuple `(fpr, tpr, thresholds)` of arrays of shape (K + 1,) for K distinct scores:
        false positive rates and true positive rates (both non-decreasing, from 0 to 1) and
        the decreasing thresholds, the first being +inf.

    Raises:
        ValueError: If labels are not binary, scores are not finite, lengths differ, or
            `y_true` holds a single class.

    Example:
        >>> fpr, tpr, thresholds = keras_cxr.metrics.roc_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
        >>> fpr.tolist(), tpr.tolist()
        ([0.0, 0.0, 0.5, 0.5, 1.0], [0.0, 0.5, 0.5, 1.0, 1.0])
    """
    labels, scores = labels_and_scores(y_true, y_score)
    require_both_classes(labels, "A ROC curve")
    false_positives, true_positives, thresholds = roc_counts(labels, scores)
    num_positive = int(labels.sum())
    num_negative = len(labels) - num_positive
    fpr = np.concatenate(([0.0], false_positives / num_negative))
    tpr = np.concatenate(([0.0], true_positives / num_positive))
    return fpr, tpr, np.concatenate(([np.inf], thresholds))


def roc_auc(y_true: Any, y_score: Any) -> float:
    """Area under the ROC curve, via the Mann-Whitney U statistic.

    The probability that a random positive scores higher than a random negative, with ties
    counting one half; this equals the trapezoidal area under `keras_cxr.metrics.roc_curve`
    and depends only on the order of the scores (any strictly increasing transform, such as
    logits instead of probabilities, gives the same value).

    Args:
        y_true: True labels in {0, 1}, shape (N,).
        y_score: Scores for the positive class, shape (N,).

    Returns:
        The AUC in [0, 1]; NaN if `y_true` holds a single class.

    Raises:
        ValueError: If labels are not binary, scores are not finite, or lengths differ.

    Example:
        >>> keras_cxr.metrics.roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
        0.75

    Reference:
        Hanley, McNeil. "The Meaning and Use of the Area under a Receiver Operating
        Characteristic (ROC) Curve." Radiology 143(1), 1982.
        https://doi.org/10.1148/radiology.143.1.7063747
    """
    labels, scores = labels_and_scores(y_true, y_score)
    num_positive = int(labels.sum())
    num_negative = len(labels) - num_positive
    if num_positive == 0 or num_negative == 0:
        return float("nan")
    positive_rank_sum = average_ranks(scores)[labels == 1].sum()
    u_statistic = positive_rank_sum - num_positive * (num_positive + 1) / 2
    return float(u_statistic / (num_positive * num_negative))
