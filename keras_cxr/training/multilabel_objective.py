"""The loss of a multi-label model: masked, per-finding weighted binary cross-entropy.

A multi-label model has one sigmoid unit per finding. Its labels are `(batch, K)`: 1, 0,
or unknown (NaN, or -1), such as a CheXpert uncertain label under the `"ignore"` policy.
An unknown label must neither push the finding's score up nor down, so it is masked out
of the loss; and a rare finding would be drowned by the common ones, so each finding's
positives and negatives carry their own weight (`finding_class_weights`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from keras_cxr._validation import invalid_value, shape_error


def finding_class_weights(labels: Any) -> tuple[np.ndarray, np.ndarray]:
    """Balanced weights of each finding's negatives and positives, from training labels.

    For finding `k` with `n` known labels, `p` of them positive: positives weigh
    `n / (2 p)` and negatives `n / (2 (n - p))`, so both classes of every finding add up
    to the same total, as `keras_cxr.data.balanced_class_weight` does for one label. A
    finding without a positive (or a negative) gets weight 1 for both.

    Args:
        labels: Training labels `(N, K)` in {0, 1}, NaN or -1 for unknown.

    Returns:
        `(negative_weights, positive_weights)`, float32 arrays of shape `(K,)`.

    Raises:
        ValueError: `labels` is not a non-empty `(N, K)` array of 0, 1, NaN or -1.

    Example:
        >>> negative, positive = keras_cxr.training.finding_class_weights(
        ...     [[1, 0], [0, 0], [0, 1], [0, float("nan")]])
        >>> negative.tolist(), positive.tolist()
        ([0.6666666865348816, 0.75], [2.0, 1.5])
    """
    array = np.array(labels, dtype=np.float64)
    if array.ndim != 2 or 0 in array.shape:
        raise shape_error("labels", "a non-empty array of shape (N, K)", array.shape)
    array[array == -1] = np.nan
    if not np.all(np.isnan(array) | np.isin(array, (0, 1))):
        raise invalid_value("labels", "labels in {0, 1}, or NaN / -1 for unknown", "other values")
    known = (~np.isnan(array)).sum(axis=0)
    positive = np.nansum(array, axis=0)
    negative = known - positive
    both = (positive > 0) & (negative > 0)
    positive_weights = np.where(both, known / (2 * np.maximum(positive, 1)), 1.0)
    negative_weights = np.where(both, known / (2 * np.maximum(negative, 1)), 1.0)
    return negative_weights.astype(np.float32), positive_weights.astype(np.float32)


@keras.saving.register_keras_serializable(package="keras_cxr")
class MaskedBinaryCrossentropy(keras.losses.Loss):
    """Binary cross-entropy over the known labels of a multi-label batch, weighted per finding.

    Each entry's loss is `-w (y log p + (1 - y) log(1 - p))`, with `w` the finding's
    positive or negative weight; entries whose label is NaN or -1 contribute nothing.
    The batch loss is the sum over the known entries divided by their number (the mean
    over known labels), so a batch where most labels are unknown is not down-weighted.
    A batch without any known label has loss 0. Probabilities are clipped to
    `[epsilon, 1 - epsilon]`, as Keras does.

    Args:
        positive_weights: Weight of each finding's positives, length K; None for 1.
            Defaults to None.
        negative_weights: Weight of each finding's negatives, length K; None for 1.
            Defaults to None.
        name: Loss name. Defaults to "masked_binary_crossentropy".
        **kwargs: Passed to `keras.losses.Loss` (`reduction` is fixed: the mean over
            known labels).

    Returns:
        A Keras loss, for `model.compile(loss=...)`.

    Raises:
        ValueError: The weights differ in length or are not positive and finite.

    Example:
        >>> negative, positive = keras_cxr.training.finding_class_weights(train_labels)
        >>> model.compile("adam", keras_cxr.training.MaskedBinaryCrossentropy(
        ...     positive.tolist(), negative.tolist()))
    """

    def __init__(
        self,
        positive_weights: Sequence[float] | None = None,
        negative_weights: Sequence[float] | None = None,
        name: str = "masked_binary_crossentropy",
        **kwargs: Any,
    ) -> None:
        kwargs.pop("reduction", None)
        super().__init__(name=name, reduction="sum", **kwargs)
        self.positive_weights = _weights("positive_weights", positive_weights)
        self.negative_weights = _weights("negative_weights", negative_weights)
        lengths = {len(w) for w in (self.positive_weights, self.negative_weights) if w}
        if len(lengths) > 1:
            raise invalid_value(
                "negative_weights", "one weight per finding, as many as positive_weights",
                negative_weights,
            )  # fmt: skip

    def call(self, y_true, y_pred):
        y_pred = ops.convert_to_tensor(y_pred)
        y_true = ops.cast(ops.convert_to_tensor(y_true), y_pred.dtype)
        known = ops.logical_not(ops.logical_or(ops.isnan(y_true), ops.equal(y_true, -1.0)))
        labels = ops.where(known, y_true, ops.zeros_like(y_true))
        epsilon = keras.config.epsilon()
        probabilities = ops.clip(y_pred, epsilon, 1.0 - epsilon)
        entry = -(labels * ops.log(probabilities) + (1 - labels) * ops.log(1 - probabilities))
        weight = ops.cast(known, y_pred.dtype)
        if self.positive_weights:
            positive = ops.convert_to_tensor(self.positive_weights, y_pred.dtype)
            weight = weight * (labels * positive + (1 - labels))
        if self.negative_weights:
            negative = ops.convert_to_tensor(self.negative_weights, y_pred.dtype)
            weight = weight * (labels + (1 - labels) * negative)
        count = ops.maximum(ops.sum(ops.cast(known, y_pred.dtype)), 1.0)
        # One value per case whose sum (the "sum" reduction) is the mean over known labels.
        return ops.sum(weight * entry, axis=-1) / count

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.pop("reduction", None)
        return {
            **config,
            "positive_weights": self.positive_weights,
            "negative_weights": self.negative_weights,
        }


def _weights(argument: str, weights: Sequence[float] | None) -> list[float] | None:
    if weights is None:
        return None
    values = np.asarray(weights, dtype=np.float64)
    if values.ndim != 1 or values.size == 0 or not np.all(np.isfinite(values) & (values > 0)):
        raise invalid_value(argument, "a non-empty list of positive finite weights", weights)
    return values.tolist()


__all__ = ["MaskedBinaryCrossentropy", "finding_class_weights"]
