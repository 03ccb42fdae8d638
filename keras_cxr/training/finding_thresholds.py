"""A decision threshold per finding, chosen on validation and stored with the model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from keras_cxr._validation import invalid_value
from keras_cxr.metrics.multilabel import multilabel_inputs
from keras_cxr.metrics.threshold_selection import select_threshold

#: The threshold of a finding whose validation labels hold a single class.
FALLBACK_THRESHOLD = 0.5


def select_finding_thresholds(
    y_true: Any,
    y_score: Any,
    findings: Sequence[str],
    method: str = "youden",
) -> dict[str, float]:
    """Chooses each finding's decision threshold on validation labels and scores.

    Each finding gets `keras_cxr.metrics.select_threshold` on its own known labels
    (unknown ones, NaN or -1, left out), so a rare finding is not held to a common
    finding's threshold. A finding whose known validation labels hold one class has no
    operating point to choose and gets `FALLBACK_THRESHOLD`. Choose on validation, apply
    unchanged to test.

    Args:
        y_true: Validation labels `(N, K)` in {0, 1}, NaN or -1 for unknown.
        y_score: Validation probabilities `(N, K)`.
        findings: The `K` finding names.
        method: Any method of `keras_cxr.metrics.select_threshold` ("youden", "f1",
            "sensitivity:0.9", ...). Defaults to "youden".

    Returns:
        Finding → threshold, in the order of `findings`.

    Raises:
        ValueError: Invalid labels or scores, `findings` of the wrong length, or an
            unknown method.

    Example:
        >>> keras_cxr.training.select_finding_thresholds(
        ...     [[1, 0], [0, 0], [1, 1], [0, float("nan")]],
        ...     [[0.8, 0.1], [0.3, 0.2], [0.6, 0.7], [0.4, 0.9]], ("A", "B"))
        {'A': 0.6, 'B': 0.7}
    """
    labels, scores = multilabel_inputs(y_true, y_score)
    findings = tuple(findings)
    if len(findings) != labels.shape[1] or len(set(findings)) != len(findings):
        raise invalid_value("findings", f"{labels.shape[1]} distinct names", findings)
    thresholds = {}
    for k, name in enumerate(findings):
        known = ~np.isnan(labels[:, k])
        column = labels[known, k].astype(np.int64)
        if column.size == 0 or column.min() == column.max():
            thresholds[name] = FALLBACK_THRESHOLD
        else:
            thresholds[name] = float(select_threshold(column, scores[known, k], method))
    return thresholds


def finding_metadata(thresholds: dict[str, float], method: str = "youden") -> dict[str, Any]:
    """The model-file metadata of a multi-label model: its findings and their thresholds.

    Args:
        thresholds: Finding → threshold, as `select_finding_thresholds` returns.
        method: How the thresholds were chosen. Defaults to "youden".

    Returns:
        `{"task": "multilabel", "findings": [...], "thresholds": {...},
        "threshold_method": method, "threshold_split": "val"}`, for
        `keras_cxr.models.save_model(model, path, metadata)`.

    Example:
        >>> keras_cxr.training.finding_metadata({"Nodule": 0.3})["findings"]
        ['Nodule']
    """
    return {
        "task": "multilabel",
        "findings": list(thresholds),
        "thresholds": {name: float(value) for name, value in thresholds.items()},
        "threshold_method": str(method),
        "threshold_split": "val",
    }


__all__ = ["FALLBACK_THRESHOLD", "finding_metadata", "select_finding_thresholds"]
