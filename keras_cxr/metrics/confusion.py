"""The confusion matrix and the rates read from it: sensitivity, specificity, PPV, NPV.

Every rate takes the same three arguments:

- `y_true`: true labels, 0 (negative, e.g. normal) or 1 (positive, e.g. pneumonia), as a
  list or array of shape (N,) or (N, 1).
- `y_score`: scores for the positive class, of the same shape: any finite numbers that grow
  with the belief in the positive class (probabilities or logits).
- `threshold`: a case is predicted positive when `score >= threshold`. Defaults to 0.5.

and raises `ValueError` if the labels are not binary, the scores are not finite, the
lengths differ, or `threshold` is not a finite number.

A rate whose denominator is zero (the sensitivity of a set without positives, the PPV of a
model that never predicts positive) is undefined and returned as NaN. Returning 0 or 1
instead would be silently averaged into cross-validation summaries as if it were measured;
NaN makes the missing value visible and is skipped explicitly by `np.nanmean`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from keras_cxr._validation import shape_error
from keras_cxr.metrics._binary import (
    confusion_counts,
    counts_at_threshold,
    labels_and_scores,
    ratio,
)
from keras_cxr.metrics._inputs import as_binary_labels


def confusion_matrix(y_true: Any, y_pred: Any) -> np.ndarray:
    """2 x 2 confusion matrix of binary labels against binary predictions.

    Rows are the true class and columns the predicted class, negatives first (the
    scikit-learn layout).

    Args:
        y_true: True labels in {0, 1}, shape (N,).
        y_pred: Predicted labels in {0, 1}, shape (N,).

    Returns:
        An int64 array `[[TN, FP], [FN, TP]]` of shape (2, 2).

    Raises:
        ValueError: If the inputs are not binary, not 1-D, empty, or of different lengths.

    Example:
        >>> keras_cxr.metrics.confusion_matrix([0, 0, 1, 1], [0, 1, 1, 1]).tolist()
        [[1, 1], [0, 2]]
    """
    labels = as_binary_labels(y_true)
    predicted = as_binary_labels(y_pred, "y_pred")
    if len(predicted) != len(labels):
        raise shape_error(
            "y_pred", f"a 1-D array of shape ({len(labels)},), like `y_true`", predicted.shape
        )
    tn, fp, fn, tp = confusion_counts(labels, predicted)
    return np.array([[tn, fp], [fn, tp]], dtype=np.int64)


def _counts(y_true: Any, y_score: Any, threshold: Any) -> tuple[int, int, int, int]:
    return counts_at_threshold(*labels_and_scores(y_true, y_score), threshold)


def sensitivity(y_true: Any, y_score: Any, threshold: float = 0.5) -> float:
    """Sensitivity (recall, true positive rate): TP / (TP + FN).

    Args:
        y_true, y_score, threshold: Labels, scores and decision threshold, as described
            in `keras_cxr.metrics.confusion`. `threshold` defaults to 0.5.

    Returns:
        The share of positives predicted positive, in [0, 1]; NaN if there are no positives.

    Raises:
        ValueError: For invalid inputs, as described in `keras_cxr.metrics.confusion`.

    Example:
        >>> keras_cxr.metrics.sensitivity([0, 1, 1, 1], [0.2, 0.4, 0.6, 0.9])
        0.6666666666666666
    """
    _, _, fn, tp = _counts(y_true, y_score, threshold)
    return ratio(tp, tp + fn)


def specificity(y_true: Any, y_score: Any, threshold: float = 0.5) -> float:
    """Specificity (true negative rate): TN / (TN + FP).

    Args:
        y_true, y_score, threshold: As for `keras_cxr.metrics.sensitivity`.

    Returns:
        The share of negatives predicted negative, in [0, 1]; NaN if there are no
        negatives.

    Raises:
        ValueError: As for `keras_cxr.metrics.sensitivity`.

    Example:
        >>> keras_cxr.metrics.specificity([0, 0, 1, 1], [0.2, 0.7, 0.6, 0.9])
        0.5
    """
    tn, fp, _, _ = _counts(y_true, y_score, threshold)
    return ratio(tn, tn + fp)


def ppv(y_true: Any, y_score: Any, threshold: float = 0.5) -> float:
    """Positive predictive value (precision): TP / (TP + FP).

    Args:
        y_true, y_score, threshold: As for `keras_cxr.metrics.sensitivity`.

    Returns:
        The share of positive predictions that are correct, in [0, 1]; NaN if nothing is
        predicted positive.

    Raises:
        ValueError: As for `keras_cxr.metrics.sensitivity`.

    Example:
        >>> keras_cxr.metrics.ppv([0, 0, 1, 1], [0.2, 0.7, 0.6, 0.9])
        0.6666666666666666
    """
    _, fp, _, tp = _counts(y_true, y_score, threshold)
    return ratio(tp, tp + fp)


def npv(y_true: Any, y_score: Any, threshold: float = 0.5) -> float:
    """Negative predictive value: TN / (TN + FN).

    Args:
        y_true, y_score, threshold: As for `keras_cxr.metrics.sensitivity`.

    Returns:
        The share of negative predictions that are correct, in [0, 1]; NaN if nothing is
        predicted negative.

    Raises:
        ValueError: As for `keras_cxr.metrics.sensitivity`.

    Example:
        >>> keras_cxr.metrics.npv([0, 0, 1, 1], [0.2, 0.7, 0.4, 0.9])
        0.5
    """
    tn, _, fn, _ = _counts(y_true, y_score, threshold)
    return ratio(tn, tn + fn)
