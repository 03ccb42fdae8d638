"""Fitting the temperature of temperature scaling: the `T` that minimises the validation NLL.

Temperature scaling (Guo et al., 2017) divides a classifier's logits by one number `T > 0`
(`keras_cxr.models.apply_temperature`). `T` is fitted on held-out validation data by
minimising the negative log-likelihood (the cross-entropy) of the labels. The NLL is convex
in `1 / T` (the logits scaled by `1 / T` enter a convex loss linearly), so a golden-section
search over `log(1 / T)` within bounds finds its minimum without SciPy.

Labels and logits:

- binary (one sigmoid unit): labels in {0, 1} and logits `(N,)` or `(N, 1)`;
- k classes (a softmax): labels in {0, ..., k - 1} and logits `(N, k)`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from keras_cxr._validation import invalid_value, shape_error
from keras_cxr.metrics._inputs import as_binary_labels
from keras_cxr.models.temperature import DEFAULT_TEMPERATURE, check_temperature

#: Default search range of `fit_temperature`.
TEMPERATURE_BOUNDS = (0.01, 100.0)

_GOLDEN = (math.sqrt(5) - 1) / 2


def negative_log_likelihood(
    y_true: Any, logits: Any, temperature: float = DEFAULT_TEMPERATURE
) -> float:
    """Mean negative log-likelihood of the labels under the logits divided by `temperature`.

    Args:
        y_true: Labels, shape (N,): 0/1 for a sigmoid, class indices for a softmax.
        logits: Pre-activation outputs, `(N,)` / `(N, 1)` (sigmoid) or `(N, k)` (softmax).
        temperature: `T > 0`. Defaults to 1.

    Returns:
        The mean NLL in nats, a float >= 0.

    Raises:
        ValueError: If labels and logits do not match (length, binary labels, class
            indices in range), the logits are not finite, or `temperature` is not > 0.

    Example:
        >>> round(keras_cxr.metrics.negative_log_likelihood([1, 0], [0.0, 0.0]), 4)
        0.6931
    """
    labels, scores = _labels_and_logits(y_true, logits)
    return _nll(labels, scores, 1.0 / check_temperature(temperature))


def fit_temperature(
    y_true: Any,
    logits: Any,
    bounds: tuple[float, float] = TEMPERATURE_BOUNDS,
    tolerance: float = 1e-7,
) -> float:
    """The temperature that minimises the NLL of the labels, for temperature scaling.

    Fit it on the validation split, never on the test images: it is a parameter of the
    model. A golden-section search over `log(1 / T)` in `bounds` (the NLL is convex in
    `1 / T`) stops when the bracket is narrower than `tolerance` in log units. Labels the
    logits separate perfectly push `T` to the lower bound (sharper is always better there).

    Args:
        y_true: Labels, shape (N,): 0/1 for a sigmoid, class indices for a softmax.
        logits: Pre-activation outputs, `(N,)` / `(N, 1)` (sigmoid) or `(N, k)` (softmax):
            the model's logits, not its probabilities (see
            `keras_cxr.models.predict_logits`).
        bounds: `(lowest, highest)` temperature searched. Defaults to `(0.01, 100)`.
        tolerance: Width of the final bracket of `log T`. Defaults to 1e-7.

    Returns:
        The fitted temperature `T > 0`; pass it to `keras_cxr.models.apply_temperature`.

    Raises:
        ValueError: As for `negative_log_likelihood`, or for bounds that are not
            `0 < lowest < highest`.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> z = rng.normal(0, 2, 4000)
        >>> y = rng.random(4000) < 1 / (1 + np.exp(-z))
        >>> round(keras_cxr.metrics.fit_temperature(y, 3 * z), 1)
        3.0

    Reference:
        Guo, Pleiss, Sun, Weinberger. "On Calibration of Modern Neural Networks." ICML 2017.
        https://arxiv.org/abs/1706.04599
    """
    labels, scores = _labels_and_logits(y_true, logits)
    low, high = _check_bounds(bounds)
    # Searched in log(1 / T): from log(1 / high) to log(1 / low).
    a, b = -math.log(high), -math.log(low)
    c, d = b - _GOLDEN * (b - a), a + _GOLDEN * (b - a)
    fc, fd = _nll(labels, scores, math.exp(c)), _nll(labels, scores, math.exp(d))
    while b - a > tolerance:
        if fc <= fd:
            b, d, fd = d, c, fc
            c = b - _GOLDEN * (b - a)
            fc = _nll(labels, scores, math.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + _GOLDEN * (b - a)
            fd = _nll(labels, scores, math.exp(d))
    return float(math.exp(-(a + b) / 2))


def _nll(labels: np.ndarray, logits: np.ndarray, inverse_temperature: float) -> float:
    scaled = logits * inverse_temperature
    if scaled.ndim == 1:
        # -log sigmoid(z) for y = 1 and -log(1 - sigmoid(z)) for y = 0, without overflow.
        return float(np.mean(np.logaddexp(0.0, scaled) - labels * scaled))
    top = scaled.max(axis=1)
    log_normaliser = top + np.log(np.exp(scaled - top[:, None]).sum(axis=1))
    return float(np.mean(log_normaliser - scaled[np.arange(len(labels)), labels]))


def _labels_and_logits(y_true: Any, logits: Any) -> tuple[np.ndarray, np.ndarray]:
    """Checked labels and float64 logits: 1-D for a sigmoid, `(N, k)` for a softmax."""
    scores = np.asarray(logits, dtype=np.float64)
    if scores.ndim == 2 and scores.shape[1] == 1:
        scores = scores[:, 0]
    if scores.ndim not in (1, 2) or scores.shape[0] == 0:
        raise shape_error(
            "logits", "a non-empty array of shape (N,), (N, 1) or (N, k)", scores.shape
        )
    if not np.all(np.isfinite(scores)):
        raise invalid_value("logits", "finite values (no NaN or inf)", "an array with NaN/inf")
    if scores.ndim == 1:
        labels = as_binary_labels(y_true)
    else:
        labels = np.asarray(y_true).reshape(-1)
        classes = scores.shape[1]
        integral = np.issubdtype(labels.dtype, np.integer) or labels.dtype == np.bool_
        if not integral or labels.size == 0 or labels.min() < 0 or labels.max() >= classes:
            raise invalid_value(
                "y_true", f"class indices in 0..{classes - 1}", f"values {np.unique(labels)[:5]}"
            )
        labels = labels.astype(np.int64)
    if len(labels) != len(scores):
        raise shape_error("logits", f"one row per label ({len(labels)})", scores.shape)
    return labels, scores


def _check_bounds(bounds: Any) -> tuple[float, float]:
    try:
        low, high = (float(value) for value in bounds)
    except (TypeError, ValueError):
        raise invalid_value("bounds", "a pair (lowest, highest) of temperatures", bounds) from None
    if not (0 < low < high < math.inf):
        raise invalid_value("bounds", "a pair with 0 < lowest < highest", bounds)
    return low, high
