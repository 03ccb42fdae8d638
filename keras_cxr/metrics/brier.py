"""The Brier score: the mean squared error of predicted probabilities."""

from __future__ import annotations

from typing import Any

import numpy as np

from keras_cxr._validation import invalid_value, shape_error
from keras_cxr.metrics._inputs import as_binary_labels, as_scores, check_probabilities


def brier_score(y_true: Any, y_prob: Any) -> float:
    """Brier score: the mean squared gap between predicted probabilities and outcomes.

    Binary: `mean((p - y)^2)` over the positive-class probabilities `p`, from 0 (perfect)
    to 1; always predicting 0.5 scores 0.25. For k classes, `y_prob` is `(N, k)` and the
    score is `mean over cases of sum over classes (p_c - [y == c])^2`, Brier's original
    form, from 0 to 2. Unlike the AUC it rewards calibration as well as ranking.

    Args:
        y_true: Labels, shape (N,): 0/1, or class indices for an `(N, k)` `y_prob`.
        y_prob: Probabilities in [0, 1]: of the positive class, shape (N,), or of each
            class, shape (N, k) with k >= 2.

    Returns:
        The Brier score, a float.

    Raises:
        ValueError: If labels are not binary (or not class indices in range), the
            probabilities are outside [0, 1], or the lengths differ.

    Example:
        >>> keras_cxr.metrics.brier_score([0, 1, 1], [0.1, 0.8, 0.4])
        0.13666666666666666

    Reference:
        Brier. "Verification of Forecasts Expressed in Terms of Probability." Monthly
        Weather Review 78(1), 1950.
    """
    probabilities = np.asarray(y_prob, dtype=np.float64)
    if probabilities.ndim == 2 and probabilities.shape[1] >= 2:
        labels = np.asarray(y_true).reshape(-1)
        if len(labels) != len(probabilities):
            raise shape_error("y_prob", f"one row per label ({len(labels)})", probabilities.shape)
        classes = probabilities.shape[1]
        if not np.issubdtype(labels.dtype, np.integer) or not np.all(
            (labels >= 0) & (labels < classes)
        ):
            raise invalid_value("y_true", f"class indices in 0..{classes - 1}", labels[:5])
        check_probabilities(probabilities)
        one_hot = np.eye(classes)[labels]
        return float(np.mean(np.sum((probabilities - one_hot) ** 2, axis=1)))
    labels = as_binary_labels(y_true)
    probabilities = as_scores(y_prob, len(labels), "y_prob")
    check_probabilities(probabilities)
    return float(np.mean((probabilities - labels) ** 2))
