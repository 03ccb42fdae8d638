"""Choosing the decision threshold of a binary classifier on validation data.

Labels and scores follow the conventions of `keras_cxr.metrics.confusion`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from keras_cxr._validation import check_unit_interval, invalid_value
from keras_cxr.metrics._binary import labels_and_scores, require_both_classes, roc_counts

THRESHOLD_METHODS = ("youden", "f1", "sensitivity")


def select_threshold(
    y_true: Any, y_score: Any, method: str = "youden", target: float = 0.95
) -> float:
    """Choose a decision threshold on a validation set.

    Always choose the threshold on held-out validation data and then apply it, unchanged,
    to the test set. A threshold tuned on the test set leaks the test labels into the model
    and makes the reported sensitivity and specificity optimistic.

    Candidate thresholds are the distinct scores (a case is positive when `score >=
    threshold`). Methods:

    - "youden": maximize Youden's J = sensitivity + specificity - 1.
    - "f1": maximize the F1 score (harmonic mean of PPV and sensitivity).
    - "sensitivity": the highest threshold whose sensitivity is at least `target`, which
      gives the best specificity under that constraint (a screening operating point).

    Ties go to the highest threshold.

    Args:
        y_true: Validation labels in {0, 1}, shape (N,), with both classes present.
        y_score: Validation scores for the positive class, shape (N,).
        method: "youden", "f1" or "sensitivity". Defaults to "youden".
        target: Minimum sensitivity for `method="sensitivity"`, in (0, 1]. Defaults to
            0.95.

    Returns:
        The threshold, one of the validation scores.

    Raises:
        ValueError: If labels are not binary or hold a single class, scores are not finite,
            lengths differ, `method` is unknown, or `target` is not in (0, 1].

    Example:
        >>> keras_cxr.metrics.select_threshold([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
        0.8

    Reference:
        Youden. "Index for Rating Diagnostic Tests." Cancer 3(1), 1950.
        https://doi.org/10.1002/1097-0142(1950)3:1<32::AID-CNCR2820030106>3.0.CO;2-3
    """
    if method not in THRESHOLD_METHODS:
        raise invalid_value("method", f"one of {THRESHOLD_METHODS}", method)
    target = check_unit_interval("target", target)
    labels, scores = labels_and_scores(y_true, y_score)
    require_both_classes(labels, "Selecting a threshold")
    false_positives, true_positives, thresholds = roc_counts(labels, scores)
    num_positive = int(labels.sum())
    num_negative = len(labels) - num_positive
    if method == "youden":
        objective = true_positives / num_positive - false_positives / num_negative
        return float(thresholds[np.argmax(objective)])
    if method == "f1":
        false_negatives = num_positive - true_positives
        objective = 2 * true_positives / (2 * true_positives + false_positives + false_negatives)
        return float(thresholds[np.argmax(objective)])
    # The most lenient threshold reaches sensitivity 1, so a candidate always exists.
    return float(thresholds[np.argmax(true_positives / num_positive >= target)])
