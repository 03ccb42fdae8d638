"""Metrics of a k-class classifier: k × k confusion matrix, one-vs-rest rates and AUC, macro-F1.

The decision is the arg-max of the class probabilities. Each class is also read as a
binary problem, that class against the rest ("one-vs-rest"): its sensitivity (recall),
specificity, PPV (precision), F1 and ROC AUC of its probability. A rate whose denominator
is zero is NaN, as in `keras_cxr.metrics.confusion`, and macro averages skip NaN.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from keras_cxr._validation import invalid_value, shape_error
from keras_cxr.metrics._binary import ratio
from keras_cxr.metrics.calibration import expected_calibration_error
from keras_cxr.metrics.roc import roc_auc


def multiclass_confusion_matrix(y_true: Any, y_pred: Any, num_classes: int) -> np.ndarray:
    """The k × k confusion matrix: rows are the true class, columns the predicted one.

    Args:
        y_true: True class indices in [0, num_classes), shape (N,).
        y_pred: Predicted class indices in [0, num_classes), shape (N,).
        num_classes: Number of classes k, >= 2.

    Returns:
        An int64 array of shape (k, k); entry `[i, j]` counts class-i cases predicted j.

    Raises:
        ValueError: If the inputs are not 1-D integer indices in range, or differ in length.

    Example:
        >>> keras_cxr.metrics.multiclass_confusion_matrix([0, 1, 2, 2], [0, 2, 2, 1], 3).tolist()
        [[1, 0, 0], [0, 0, 1], [0, 1, 1]]
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)):
        raise invalid_value("num_classes", "an int >= 2", num_classes)
    if num_classes < 2:
        raise invalid_value("num_classes", "an int >= 2", num_classes)
    labels = _class_indices(y_true, "y_true", num_classes)
    predicted = _class_indices(y_pred, "y_pred", num_classes)
    if len(predicted) != len(labels):
        raise shape_error("y_pred", f"a 1-D array of shape ({len(labels)},)", predicted.shape)
    counts = np.bincount(labels * num_classes + predicted, minlength=num_classes**2)
    return counts.reshape(num_classes, num_classes).astype(np.int64)


def multiclass_report(
    y_true: Any, probabilities: Any, class_names: Sequence[str] | None = None
) -> dict[str, Any]:
    """Every k-class metric at the arg-max decision, as a JSON-friendly dict.

    Args:
        y_true: True class indices in [0, k), shape (N,).
        probabilities: Class probabilities (or any scores), shape (N, k), k >= 2.
        class_names: Name of each class; None names them "0", "1", .... Defaults to None.

    Returns:
        A dict with "n"; "accuracy"; "macro_f1", "macro_sensitivity" (balanced accuracy)
        and "macro_roc_auc" (unweighted means over the classes, NaN skipped);
        "confusion_matrix" as nested lists (rows true, columns predicted); "class_names";
        "decision": "argmax"; and "per_class": class name → {"n", "sensitivity",
        "specificity", "ppv", "f1", "roc_auc"}, each class against the rest.

    Raises:
        ValueError: If the probabilities are not finite (N, k) scores, the labels are not
            indices in [0, k), lengths differ, or `class_names` has not k names.

    Example:
        >>> report = keras_cxr.metrics.multiclass_report(
        ...     [0, 1, 2, 2], [[0.8, 0.1, 0.1], [0.2, 0.3, 0.5], [0.1, 0.2, 0.7], [0.2, 0.5, 0.3]],
        ...     ("NORMAL", "BACTERIAL", "VIRAL"))
        >>> report["accuracy"], report["per_class"]["VIRAL"]["sensitivity"]
        (0.5, 0.5)
    """
    scores = _probabilities(probabilities)
    k = scores.shape[1]
    names = [str(i) for i in range(k)] if class_names is None else [str(n) for n in class_names]
    if len(names) != k:
        raise invalid_value("class_names", f"{k} names, one per column", class_names)
    labels = _class_indices(y_true, "y_true", k)
    if len(labels) != len(scores):
        raise shape_error("probabilities", f"an array of shape ({len(labels)}, {k})", scores.shape)
    matrix = multiclass_confusion_matrix(labels, scores.argmax(axis=1), k)
    per_class = {}
    for c, name in enumerate(names):
        tp = int(matrix[c, c])
        fn = int(matrix[c].sum()) - tp
        fp = int(matrix[:, c].sum()) - tp
        tn = int(matrix.sum()) - tp - fn - fp
        per_class[name] = {
            "n": tp + fn,
            "sensitivity": ratio(tp, tp + fn),
            "specificity": ratio(tn, tn + fp),
            "ppv": ratio(tp, tp + fp),
            "f1": ratio(2 * tp, 2 * tp + fp + fn),
            "roc_auc": roc_auc((labels == c).astype(np.int64), scores[:, c]),
        }
    return {
        "n": len(labels),
        "accuracy": float(np.trace(matrix) / len(labels)),
        "macro_f1": _mean([row["f1"] for row in per_class.values()]),
        "macro_sensitivity": _mean([row["sensitivity"] for row in per_class.values()]),
        "macro_roc_auc": _mean([row["roc_auc"] for row in per_class.values()]),
        "confusion_matrix": matrix.tolist(),
        "class_names": names,
        "decision": "argmax",
        "per_class": per_class,
    }


def pairwise_report(y_true: Any, probabilities: Any, classes: tuple[int, int]) -> dict[str, Any]:
    """Telling two classes apart, among the cases that truly belong to one of them.

    Kermany et al. report bacterial against viral pneumonia this way: only pneumonia
    images count, and the question is which of the two causes. The k-class model answers
    with the larger of the two probabilities, and its score for the second class is
    `p_b / (p_a + p_b)`, whose ROC AUC is reported.

    Args:
        y_true: True class indices, shape (N,).
        probabilities: Class probabilities, shape (N, k).
        classes: `(a, b)`, the two class indices; `b` counts as the positive one.

    Returns:
        A dict with "n" (cases of class a or b), "n_positive" (of class b), "accuracy"
        and "roc_auc" (NaN when a class is missing), and "classes".

    Raises:
        ValueError: For invalid inputs, as in `multiclass_report`, or `classes` that are
            not two different indices in [0, k).

    Example:
        >>> report = keras_cxr.metrics.pairwise_report(
        ...     [0, 1, 2, 2], [[0.8, 0.1, 0.1], [0.2, 0.3, 0.5], [0.1, 0.2, 0.7], [0.2, 0.5, 0.3]],
        ...     (1, 2))
        >>> report["n"], report["accuracy"]
        (3, 0.3333333333333333)

    Reference:
        Kermany et al. "Identifying Medical Diagnoses and Treatable Diseases by Image-Based
        Deep Learning." Cell 172(5), 2018. https://doi.org/10.1016/j.cell.2018.02.010
    """
    scores = _probabilities(probabilities)
    k = scores.shape[1]
    labels = _class_indices(y_true, "y_true", k)
    if len(labels) != len(scores):
        raise shape_error("probabilities", f"an array of shape ({len(labels)}, {k})", scores.shape)
    if (
        len(classes) != 2
        or classes[0] == classes[1]
        or not all(isinstance(c, (int, np.integer)) and 0 <= c < k for c in classes)
    ):
        raise invalid_value("classes", f"two different class indices in [0, {k})", classes)
    a, b = (int(c) for c in classes)
    chosen = (labels == a) | (labels == b)
    positive = (labels[chosen] == b).astype(np.int64)
    pair = scores[chosen][:, [a, b]]
    total = pair.sum(axis=1)
    # Two zero probabilities say nothing: score them 1/2.
    share = np.divide(pair[:, 1], total, out=np.full(len(total), 0.5), where=total > 0)
    n = int(chosen.sum())
    return {
        "n": n,
        "n_positive": int(positive.sum()),
        "classes": [a, b],
        "accuracy": float(((pair[:, 1] > pair[:, 0]) == positive).mean()) if n else float("nan"),
        "roc_auc": roc_auc(positive, share) if n else float("nan"),
    }


def top_label_calibration_error(y_true: Any, probabilities: Any, n_bins: int = 10) -> float:
    """The top-label (confidence) ECE of a k-class classifier.

    Each case counts with the probability of its predicted class (the arg-max, its
    "confidence") and whether that prediction is right; the ECE of
    `keras_cxr.metrics.expected_calibration_error` over these pairs is the gap between
    confidence and accuracy, bin by bin (Guo et al.). It changes under temperature
    scaling, the arg-max does not.

    Args:
        y_true: True class indices in [0, k), shape (N,).
        probabilities: Class probabilities in [0, 1], shape (N, k), k >= 2.
        n_bins: Number of equal-width confidence bins. Defaults to 10.

    Returns:
        The ECE, a float in [0, 1].

    Raises:
        ValueError: As for `multiclass_report`, or for probabilities outside [0, 1].

    Example:
        >>> p = [[0.8, 0.1, 0.1], [0.2, 0.3, 0.5], [0.1, 0.2, 0.7], [0.2, 0.5, 0.3]]
        >>> round(keras_cxr.metrics.top_label_calibration_error([0, 1, 2, 2], p), 4)
        0.375

    Reference:
        Guo, Pleiss, Sun, Weinberger. "On Calibration of Modern Neural Networks." ICML 2017.
        https://arxiv.org/abs/1706.04599
    """
    scores = _probabilities(probabilities)
    labels = _class_indices(y_true, "y_true", scores.shape[1])
    if len(labels) != len(scores):
        raise shape_error(
            "probabilities", f"an array of shape ({len(labels)}, {scores.shape[1]})", scores.shape
        )
    predicted = scores.argmax(axis=1)
    correct = (predicted == labels).astype(np.int64)
    return expected_calibration_error(correct, scores[np.arange(len(scores)), predicted], n_bins)


def _mean(values: list[float]) -> float:
    finite = [value for value in values if not np.isnan(value)]
    return float(np.mean(finite)) if finite else float("nan")


def _probabilities(probabilities: Any) -> np.ndarray:
    scores = np.asarray(probabilities, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[1] < 2 or len(scores) == 0:
        raise shape_error(
            "probabilities", "a non-empty array of shape (N, k), k >= 2", scores.shape
        )
    if not np.all(np.isfinite(scores)):
        raise invalid_value("probabilities", "finite numbers", "an array with NaN or inf")
    return scores


def _class_indices(values: Any, argument: str, num_classes: int) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1 or len(array) == 0:
        raise shape_error(argument, "a non-empty 1-D array of class indices", array.shape)
    if array.dtype.kind == "f" and np.all(np.isfinite(array)) and np.all(array == np.round(array)):
        array = array.astype(np.int64)
    if array.dtype.kind not in "iu" or array.min() < 0 or array.max() >= num_classes:
        raise invalid_value(
            argument, f"class indices in [0, {num_classes - 1}]", np.unique(array).tolist()
        )
    return array.astype(np.int64)
