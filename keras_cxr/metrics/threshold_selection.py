"""Choosing the decision threshold of a binary classifier on validation data.

Labels and scores follow the conventions of `keras_cxr.metrics.confusion`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from keras_cxr._validation import check_unit_interval, invalid_value
from keras_cxr.metrics._binary import labels_and_scores, require_both_classes, roc_counts
from keras_cxr.metrics.operating_point import (
    DEFAULT_TARGET,
    TARGETED,
    OperatingPoint,
    parse_operating_point,
)

THRESHOLD_METHODS = ("youden", "f1", "sensitivity", "specificity")

# A rate of 9 / 10 must count as reaching a target of 0.9 despite float rounding.
_ROUNDING = 1e-12


def select_threshold(
    y_true: Any,
    y_score: Any,
    method: str | OperatingPoint = "youden",
    target: float = DEFAULT_TARGET,
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
    - "specificity": the lowest threshold whose specificity is at least `target`, which
      gives the best sensitivity under that constraint. When even the strictest candidate
      misses the target, the threshold is just above the highest score (nothing is
      called positive on validation).

    `method` may also be an operating-point spec with its target, `"sensitivity:0.95"` or
    `"specificity:0.9"`, or a `keras_cxr.metrics.OperatingPoint`
    (`keras_cxr.metrics.operating_point`); its target then replaces `target`. The chosen
    threshold reaches the target on these validation cases; on new cases it holds only
    approximately. Ties go to the highest threshold.

    Args:
        y_true: Validation labels in {0, 1}, shape (N,), with both classes present.
        y_score: Validation scores for the positive class, shape (N,).
        method: "youden", "f1", "sensitivity", "specificity", a spec with a target
            (`"sensitivity:0.95"`) or an `OperatingPoint`. Defaults to "youden".
        target: Minimum sensitivity or specificity for a bare `"sensitivity"` /
            `"specificity"`, in (0, 1]. Defaults to 0.95.

    Returns:
        The threshold: one of the validation scores, or just above the highest one for an
        unreachable specificity target.

    Raises:
        ValueError: If labels are not binary or hold a single class, scores are not finite,
            lengths differ, `method` is unknown or a malformed spec, or `target` is not in
            (0, 1].

    Example:
        >>> keras_cxr.metrics.select_threshold([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
        0.8
        >>> keras_cxr.metrics.select_threshold([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8],
        ...                                    "sensitivity:1.0")
        0.35

    Reference:
        Youden. "Index for Rating Diagnostic Tests." Cancer 3(1), 1950.
        https://doi.org/10.1002/1097-0142(1950)3:1<32::AID-CNCR2820030106>3.0.CO;2-3
    """
    target = check_unit_interval("target", target)
    if method in TARGETED:
        method = OperatingPoint(method, target)
    point = _operating_point(method)
    labels, scores = labels_and_scores(y_true, y_score)
    require_both_classes(labels, "Selecting a threshold")
    false_positives, true_positives, thresholds = roc_counts(labels, scores)
    num_positive = int(labels.sum())
    num_negative = len(labels) - num_positive
    if point.kind == "youden":
        objective = true_positives / num_positive - false_positives / num_negative
        return float(thresholds[np.argmax(objective)])
    if point.kind == "f1":
        false_negatives = num_positive - true_positives
        objective = 2 * true_positives / (2 * true_positives + false_positives + false_negatives)
        return float(thresholds[np.argmax(objective)])
    if point.kind == "sensitivity":
        # The most lenient threshold reaches sensitivity 1, so a candidate always exists.
        reached = true_positives / num_positive >= point.target - _ROUNDING
        return float(thresholds[np.argmax(reached)])
    # Specificity only falls as the threshold drops: take the last one still on target.
    reached = np.flatnonzero(1 - false_positives / num_negative >= point.target - _ROUNDING)
    if reached.size == 0:
        return float(np.nextafter(thresholds[0], np.inf))
    return float(thresholds[reached[-1]])


def _operating_point(method: Any) -> OperatingPoint:
    """`method` as an `OperatingPoint`, with the error naming `method` and its choices."""
    try:
        return parse_operating_point(method)
    except ValueError as error:
        raise invalid_value(
            "method",
            f"one of {THRESHOLD_METHODS}, or 'sensitivity:T' / 'specificity:T' with a target "
            "T in (0, 1]",
            method,
        ) from error
