"""Calibration of predicted probabilities: the reliability curve and its ECE.

Probabilities of the positive class are grouped into `n_bins` equal-width bins
`[i / n_bins, (i + 1) / n_bins)` (the last bin also holds 1.0). For a calibrated model the
observed share of positives in each bin matches the mean predicted probability. Both
functions measure the positive class; the top-label versions of Guo et al. follow by
passing `y_true = (prediction == label)` and `y_prob = max(p, 1 - p)`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from keras_cxr._validation import check_int
from keras_cxr.metrics._inputs import as_binary_labels, as_scores, check_probabilities


def _binned(y_true: Any, y_prob: Any, n_bins: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per bin: the number of cases, the sum of their probabilities and of their labels."""
    labels = as_binary_labels(y_true)
    probabilities = as_scores(y_prob, len(labels), "y_prob")
    check_probabilities(probabilities)
    n_bins = check_int("n_bins", n_bins)
    edges = np.arange(n_bins + 1) / n_bins
    bins = np.clip(np.searchsorted(edges, probabilities, side="right") - 1, 0, n_bins - 1)
    counts = np.bincount(bins, minlength=n_bins)
    probability_sums = np.bincount(bins, weights=probabilities, minlength=n_bins)
    positive_sums = np.bincount(bins, weights=labels.astype(np.float64), minlength=n_bins)
    return counts, probability_sums, positive_sums


def reliability_curve(
    y_true: Any, y_prob: Any, n_bins: int = 10
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reliability diagram data: mean predicted probability vs observed frequency per bin.

    Uses the equal-width bins of `keras_cxr.metrics.calibration`. Empty bins are kept, with
    NaN confidence and accuracy, so the arrays always line up with the bins.

    Args:
        y_true: True labels in {0, 1}, shape (N,).
        y_prob: Predicted probabilities of the positive class in [0, 1], shape (N,).
        n_bins: Number of equal-width bins. Defaults to 10.

    Returns:
        A tuple `(bin_confidence, bin_accuracy, bin_counts)` of arrays of shape (n_bins,):
        the mean predicted probability, the share of positives (both NaN for empty bins),
        and the int64 number of cases in each bin.

    Raises:
        ValueError: If labels are not binary, probabilities are outside [0, 1], lengths
            differ, or `n_bins` is not a positive integer.

    Example:
        >>> confidence, accuracy, counts = keras_cxr.metrics.reliability_curve(
        ...     [0, 1, 1, 1], [0.2, 0.4, 0.8, 0.9], n_bins=2)
        >>> confidence.round(3).tolist(), accuracy.tolist(), counts.tolist()
        ([0.3, 0.85], [0.5, 1.0], [2, 2])

    Reference:
        Niculescu-Mizil, Caruana. "Predicting Good Probabilities with Supervised Learning."
        ICML 2005. https://doi.org/10.1145/1102351.1102430
    """
    counts, probability_sums, positive_sums = _binned(y_true, y_prob, n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        confidence = np.where(counts > 0, probability_sums / counts, np.nan)
        accuracy = np.where(counts > 0, positive_sums / counts, np.nan)
    return confidence, accuracy, counts.astype(np.int64)


def expected_calibration_error(y_true: Any, y_prob: Any, n_bins: int = 10) -> float:
    """Expected calibration error (ECE) over equal-width probability bins.

    The gap between mean predicted probability and observed share of positives in each
    bin of `keras_cxr.metrics.reliability_curve`, averaged with weights proportional to
    the number of cases in the bin (empty bins weigh nothing). It is 0 when every bin is
    perfectly calibrated.

    Args:
        y_true, y_prob, n_bins: As for `keras_cxr.metrics.reliability_curve`, with the
            same default.

    Returns:
        The ECE, a float in [0, 1].

    Raises:
        ValueError: As for `keras_cxr.metrics.reliability_curve`.

    Example:
        >>> round(keras_cxr.metrics.expected_calibration_error(
        ...     [0, 1, 1, 1], [0.2, 0.4, 0.8, 0.9], n_bins=2), 6)
        0.175

    Reference:
        Naeini, Cooper, Hauskrecht. "Obtaining Well Calibrated Probabilities Using Bayesian
        Binning." AAAI 2015. Guo, Pleiss, Sun, Weinberger. "On Calibration of Modern
        Neural Networks." ICML 2017. https://arxiv.org/abs/1706.04599
    """
    counts, probability_sums, positive_sums = _binned(y_true, y_prob, n_bins)
    # Per bin, count * |accuracy - confidence| is |positives - probability mass|.
    return float(np.abs(positive_sums - probability_sums).sum() / counts.sum())
