"""Binary classification metrics for diagnostic models: rates, ROC, calibration, thresholds.

Labels are 0 (negative, e.g. normal) and 1 (positive, e.g. pneumonia); scores are any
finite numbers that grow with the belief in the positive class, and a case is called
positive when `score >= threshold`. Inputs may be lists or arrays of shape (N,) or (N, 1).

A rate whose denominator is zero (the sensitivity of a set without positives, the PPV of a
model that never predicts positive) is undefined and returned as NaN. Returning 0 or 1
instead would be silently averaged into cross-validation summaries as if it were measured;
NaN makes the missing value visible and is skipped explicitly by `np.nanmean`.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from keras_cxr._validation import check_int, check_unit_interval, invalid_value, shape_error
from keras_cxr.metrics._inputs import as_binary_labels, as_scores, check_probabilities
from keras_cxr.metrics._stats import average_ranks

THRESHOLD_METHODS = ("youden", "f1", "sensitivity")


def _check_threshold(threshold: Any) -> float:
    if (
        isinstance(threshold, bool)
        or not isinstance(threshold, numbers.Real)
        or not np.isfinite(threshold)
    ):
        raise invalid_value("threshold", "a finite number", threshold)
    return float(threshold)


def _labels_and_scores(y_true: Any, y_score: Any) -> tuple[np.ndarray, np.ndarray]:
    labels = as_binary_labels(y_true)
    return labels, as_scores(y_score, len(labels))


def _counts(labels: np.ndarray, predicted: np.ndarray) -> tuple[int, int, int, int]:
    """(TN, FP, FN, TP) for 0/1 label and prediction vectors."""
    tp = int(np.count_nonzero((labels == 1) & (predicted == 1)))
    fp = int(np.count_nonzero((labels == 0) & (predicted == 1)))
    fn = int(np.count_nonzero((labels == 1) & (predicted == 0)))
    tn = len(labels) - tp - fp - fn
    return tn, fp, fn, tp


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else float("nan")


def _threshold_counts(y_true: Any, y_score: Any, threshold: Any) -> tuple[int, int, int, int]:
    labels, scores = _labels_and_scores(y_true, y_score)
    threshold = _check_threshold(threshold)
    return _counts(labels, (scores >= threshold).astype(np.int64))


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
    tn, fp, fn, tp = _counts(labels, predicted)
    return np.array([[tn, fp], [fn, tp]], dtype=np.int64)


def sensitivity(y_true: Any, y_score: Any, threshold: float = 0.5) -> float:
    """Sensitivity (recall, true positive rate): TP / (TP + FN).

    Args:
        y_true: True labels in {0, 1}, shape (N,).
        y_score: Scores for the positive class, shape (N,).
        threshold: A case is predicted positive when `score >= threshold`. Defaults to 0.5.

    Returns:
        The share of positives predicted positive, in [0, 1]; NaN if there are no positives.

    Raises:
        ValueError: If labels are not binary, scores are not finite, lengths differ, or
            `threshold` is not a finite number.

    Example:
        >>> keras_cxr.metrics.sensitivity([0, 1, 1, 1], [0.2, 0.4, 0.6, 0.9])
        0.6666666666666666
    """
    _, _, fn, tp = _threshold_counts(y_true, y_score, threshold)
    return _ratio(tp, tp + fn)


def specificity(y_true: Any, y_score: Any, threshold: float = 0.5) -> float:
    """Specificity (true negative rate): TN / (TN + FP).

    Args:
        y_true: True labels in {0, 1}, shape (N,).
        y_score: Scores for the positive class, shape (N,).
        threshold: A case is predicted positive when `score >= threshold`. Defaults to 0.5.

    Returns:
        The share of negatives predicted negative, in [0, 1]; NaN if there are no
        negatives.

    Raises:
        ValueError: If labels are not binary, scores are not finite, lengths differ, or
            `threshold` is not a finite number.

    Example:
        >>> keras_cxr.metrics.specificity([0, 0, 1, 1], [0.2, 0.7, 0.6, 0.9])
        0.5
    """
    tn, fp, _, _ = _threshold_counts(y_true, y_score, threshold)
    return _ratio(tn, tn + fp)


def ppv(y_true: Any, y_score: Any, threshold: float = 0.5) -> float:
    """Positive predictive value (precision): TP / (TP + FP).

    Args:
        y_true: True labels in {0, 1}, shape (N,).
        y_score: Scores for the positive class, shape (N,).
        threshold: A case is predicted positive when `score >= threshold`. Defaults to 0.5.

    Returns:
        The share of positive predictions that are correct, in [0, 1]; NaN if nothing is
        predicted positive.

    Raises:
        ValueError: If labels are not binary, scores are not finite, lengths differ, or
            `threshold` is not a finite number.

    Example:
        >>> keras_cxr.metrics.ppv([0, 0, 1, 1], [0.2, 0.7, 0.6, 0.9])
        0.6666666666666666
    """
    _, fp, _, tp = _threshold_counts(y_true, y_score, threshold)
    return _ratio(tp, tp + fp)


def npv(y_true: Any, y_score: Any, threshold: float = 0.5) -> float:
    """Negative predictive value: TN / (TN + FN).

    Args:
        y_true: True labels in {0, 1}, shape (N,).
        y_score: Scores for the positive class, shape (N,).
        threshold: A case is predicted positive when `score >= threshold`. Defaults to 0.5.

    Returns:
        The share of negative predictions that are correct, in [0, 1]; NaN if nothing is
        predicted negative.

    Raises:
        ValueError: If labels are not binary, scores are not finite, lengths differ, or
            `threshold` is not a finite number.

    Example:
        >>> keras_cxr.metrics.npv([0, 0, 1, 1], [0.2, 0.7, 0.4, 0.9])
        0.5
    """
    tn, _, fn, _ = _threshold_counts(y_true, y_score, threshold)
    return _ratio(tn, tn + fn)


def _require_both_classes(labels: np.ndarray, purpose: str) -> None:
    if labels.min() == labels.max():
        raise ValueError(
            f"{purpose} needs both classes in `y_true`; received only label {int(labels[0])} "
            f"({len(labels)} cases)."
        )


def _roc_counts(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, ...]:
    """False and true positive counts at each distinct score, used as threshold, descending."""
    order = np.argsort(-scores, kind="stable")
    ordered_scores = scores[order]
    last_of_group = np.append(np.flatnonzero(np.diff(ordered_scores)), len(scores) - 1)
    true_positives = np.cumsum(labels[order])[last_of_group]
    false_positives = last_of_group + 1 - true_positives
    return false_positives, true_positives, ordered_scores[last_of_group]


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
    labels, scores = _labels_and_scores(y_true, y_score)
    _require_both_classes(labels, "A ROC curve")
    false_positives, true_positives, thresholds = _roc_counts(labels, scores)
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
    labels, scores = _labels_and_scores(y_true, y_score)
    num_positive = int(labels.sum())
    num_negative = len(labels) - num_positive
    if num_positive == 0 or num_negative == 0:
        return float("nan")
    positive_rank_sum = average_ranks(scores)[labels == 1].sum()
    u_statistic = positive_rank_sum - num_positive * (num_positive + 1) / 2
    return float(u_statistic / (num_positive * num_negative))


def _binned(y_true: Any, y_prob: Any, n_bins: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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

    Probabilities of the positive class are grouped into `n_bins` equal-width bins
    `[i / n_bins, (i + 1) / n_bins)` (the last bin also holds 1.0). For a calibrated model
    the observed share of positives in each bin matches the mean predicted probability.
    Empty bins are kept, with NaN confidence and accuracy, so the arrays always line up
    with the bins.

    To get the top-label version of Guo et al. instead, pass `y_true = (prediction ==
    label)` and `y_prob = max(p, 1 - p)`.

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
    perfectly calibrated. This is the positive-class ECE; the top-label ECE of Guo et al.
    follows by passing `y_true = (prediction == label)` and `y_prob = max(p, 1 - p)`.

    Args:
        y_true: True labels in {0, 1}, shape (N,).
        y_prob: Predicted probabilities of the positive class in [0, 1], shape (N,).
        n_bins: Number of equal-width bins. Defaults to 10.

    Returns:
        The ECE, a float in [0, 1].

    Raises:
        ValueError: If labels are not binary, probabilities are outside [0, 1], lengths
            differ, or `n_bins` is not a positive integer.

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
    labels, scores = _labels_and_scores(y_true, y_score)
    _require_both_classes(labels, "Selecting a threshold")
    false_positives, true_positives, thresholds = _roc_counts(labels, scores)
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


def classification_report(
    y_true: Any, y_score: Any, threshold: float = 0.5, n_bins: int = 10
) -> dict[str, Any]:
    """All the binary metrics at one threshold, as a JSON-friendly dict.

    Rates with a zero denominator are NaN (see the module docstring), as is `roc_auc` when
    a single class is present and `ece` when the scores are not probabilities in [0, 1].

    Args:
        y_true: True labels in {0, 1}, shape (N,).
        y_score: Scores for the positive class, shape (N,); probabilities for `ece`.
        threshold: A case is predicted positive when `score >= threshold`. Defaults to 0.5;
            use `keras_cxr.metrics.select_threshold` on validation data to choose one.
        n_bins: Number of bins for the ECE. Defaults to 10.

    Returns:
        A dict with the float metrics "accuracy", "sensitivity", "specificity", "ppv",
        "npv", "roc_auc" and "ece", "confusion_matrix" as nested lists `[[TN, FP], [FN,
        TP]]`, the case counts "n" and "n_positive", and the "threshold" used.

    Raises:
        ValueError: If labels are not binary, scores are not finite, lengths differ, or
            `threshold` or `n_bins` is invalid.

    Example:
        >>> report = keras_cxr.metrics.classification_report([0, 0, 1, 1], [0.2, 0.7, 0.6, 0.9])
        >>> report["accuracy"], report["confusion_matrix"]
        (0.75, [[1, 1], [0, 2]])
    """
    labels, scores = _labels_and_scores(y_true, y_score)
    threshold = _check_threshold(threshold)
    n_bins = check_int("n_bins", n_bins)
    tn, fp, fn, tp = _counts(labels, (scores >= threshold).astype(np.int64))
    is_probability = bool(np.all((scores >= 0) & (scores <= 1)))
    return {
        "n": len(labels),
        "n_positive": tp + fn,
        "threshold": threshold,
        "accuracy": (tp + tn) / len(labels),
        "sensitivity": _ratio(tp, tp + fn),
        "specificity": _ratio(tn, tn + fp),
        "ppv": _ratio(tp, tp + fp),
        "npv": _ratio(tn, tn + fn),
        "roc_auc": roc_auc(labels, scores),
        "ece": (
            expected_calibration_error(labels, scores, n_bins) if is_probability else float("nan")
        ),
        "confusion_matrix": [[tn, fp], [fn, tp]],
    }
