"""Temperature scaling of a classifier's outputs: logits divided by one fitted number `T`.

A network trained with cross-entropy is often over-confident: its probabilities are
pushed towards 0 and 1 further than its accuracy warrants. Temperature scaling divides
the logits by `T > 0` before the sigmoid (one unit) or the softmax (k units): `T > 1`
softens the probabilities, `T < 1` sharpens them, `T = 1` leaves them unchanged. The
order of the scores never changes, so the ROC curve and its AUC stay the same, but a
threshold chosen on probabilities moves with `T`.

`keras_cxr.metrics.fit_temperature` fits `T` on validation data; `keras_cxr.training.train`
stores it in the model file as `"temperature"` (`keras_cxr.models.read_metadata`), and a
file without it reads as `T = 1` (`stored_temperature`).
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np

from keras_cxr._validation import invalid_value, shape_error

#: Metadata key of the fitted temperature in a model file.
TEMPERATURE_KEY = "temperature"
#: The temperature of a model file that stores none: the outputs as they are.
DEFAULT_TEMPERATURE = 1.0

# Probabilities are clipped this far from 0 and 1 before their logits are taken: float32
# outputs saturate (a sigmoid of a logit above ~17 is exactly 1.0).
_EPSILON = 1e-12


def check_temperature(temperature: Any) -> float:
    """`temperature` as a float, raising unless it is a finite number > 0.

    Args:
        temperature: The value to check.

    Returns:
        The temperature as a float.

    Raises:
        ValueError: If it is not a finite positive number.

    Example:
        >>> keras_cxr.models.check_temperature(1.5)
        1.5
    """
    if (
        isinstance(temperature, bool)
        or not isinstance(temperature, numbers.Real)
        or not np.isfinite(temperature)
        or temperature <= 0
    ):
        raise invalid_value("temperature", "a finite number > 0", temperature)
    return float(temperature)


def apply_temperature(logits: Any, temperature: float = DEFAULT_TEMPERATURE) -> np.ndarray:
    """Probabilities from logits divided by `temperature`.

    A 1-D array or an `(N, 1)` column is one sigmoid unit (binary); an `(N, k)` array with
    `k >= 2` is a softmax over its last axis.

    Args:
        logits: Pre-activation outputs, `(N,)`, `(N, 1)` or `(N, k)`.
        temperature: `T > 0`. Defaults to 1 (the plain sigmoid or softmax).

    Returns:
        float64 probabilities of the same shape as `logits`.

    Raises:
        ValueError: If `temperature` is not a finite number > 0 or the logits are not
            finite or not 1-D / 2-D.

    Example:
        >>> keras_cxr.models.apply_temperature([0.0, 2.0], 2.0).round(4)
        array([0.5   , 0.7311])
        >>> keras_cxr.models.apply_temperature([[0.0, 2.0]], 2.0).round(4)
        array([[0.2689, 0.7311]])
    """
    temperature = check_temperature(temperature)
    scaled = _as_logits(logits) / temperature
    if scaled.ndim == 1 or scaled.shape[1] == 1:
        # The two-sided form never overflows: exp of a non-positive number.
        exponent = np.exp(-np.abs(scaled))
        return np.where(scaled >= 0, 1 / (1 + exponent), exponent / (1 + exponent))
    shifted = np.exp(scaled - scaled.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def logits_from_probabilities(predictions: Any) -> np.ndarray:
    """Logits that give back `predictions` under the sigmoid (one unit) or the softmax.

    For models whose pre-activation output is not at hand (`keras_cxr.models.predict_logits`
    reads it directly where it can). A sigmoid's logit is `log(p) - log(1 - p)`; a softmax's
    logits are `log(p)`, defined up to a constant per row, which the softmax ignores.
    Probabilities are clipped to [1e-12, 1 - 1e-12] first, so saturated outputs give large
    finite logits.

    Args:
        predictions: Model outputs in [0, 1], `(N,)`, `(N, 1)` or `(N, k)`.

    Returns:
        float64 logits of the same shape.

    Raises:
        ValueError: If the outputs are not finite or not 1-D / 2-D.

    Example:
        >>> keras_cxr.models.logits_from_probabilities([0.5, 0.880797]).round(4)
        array([0., 2.])
    """
    probabilities = np.clip(_as_logits(predictions, "predictions"), _EPSILON, 1 - _EPSILON)
    if probabilities.ndim == 1 or probabilities.shape[1] == 1:
        return np.log(probabilities) - np.log1p(-probabilities)
    return np.log(probabilities)


def calibrated_probabilities(predictions: Any, temperature: float) -> np.ndarray:
    """Model outputs (probabilities) rescaled by a temperature, through their logits.

    Args:
        predictions: Sigmoid or softmax outputs, as `logits_from_probabilities` takes them.
        temperature: `T > 0`; 1 returns the outputs (up to the clipping).

    Returns:
        float64 probabilities of the same shape.

    Raises:
        ValueError: As `apply_temperature` and `logits_from_probabilities`.

    Example:
        >>> keras_cxr.models.calibrated_probabilities([0.880797], 2.0).round(4)
        array([0.7311])
    """
    return apply_temperature(logits_from_probabilities(predictions), temperature)


def stored_temperature(metadata: Mapping[str, Any]) -> float:
    """The temperature stored in a model file's metadata; 1 for files that store none.

    Args:
        metadata: `keras_cxr.models.read_metadata(path)`.

    Returns:
        The temperature, a float > 0.

    Raises:
        ValueError: If the stored value is not a finite number > 0.

    Example:
        >>> keras_cxr.models.stored_temperature({"threshold": 0.4})
        1.0
        >>> keras_cxr.models.stored_temperature({"temperature": 1.7})
        1.7
    """
    value = metadata.get(TEMPERATURE_KEY)
    return DEFAULT_TEMPERATURE if value is None else check_temperature(value)


def _as_logits(values: Any, argument: str = "logits") -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim not in (1, 2) or 0 in array.shape[1:]:
        raise shape_error(argument, "an array of shape (N,), (N, 1) or (N, k)", array.shape)
    if not np.all(np.isfinite(array)):
        raise invalid_value(argument, "finite values (no NaN or inf)", "an array with NaN/inf")
    return array
