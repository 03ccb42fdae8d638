"""Which scalar is explained for each image: the class score, as a logit or a probability."""

from __future__ import annotations

import numpy as np
from keras import ops

SCORE_MODES = ("logit", "probability")


def num_classes_of(units: int) -> int:
    """Number of classes of an output with `units` units (one sigmoid unit = 2 classes)."""
    return 2 if units == 1 else units


def check_class_index(class_index, batch: int, units: int) -> np.ndarray:
    """Validate `class_index` and return it as an int32 array of shape `(batch,)`.

    `-1` marks "the predicted class", which is resolved inside the compiled function.

    Args:
        class_index: `None` (predicted class), an int, or a sequence of one int per image.
        batch: Number of images.
        units: Units of the explained output.

    Returns:
        int32 array `(batch,)`.

    Raises:
        ValueError: If the length does not match the batch, or an index is out of range
            (for a single sigmoid unit the classes are 0 = negative, 1 = positive).
    """
    if class_index is None:
        return np.full((batch,), -1, dtype=np.int32)
    array = np.asarray(class_index)
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise ValueError(
            "Invalid value received for argument `class_index`. Expected integers. "
            f"Received: class_index={class_index!r}"
        )
    if array.ndim == 0:
        array = np.full((batch,), int(array))
    if array.ndim != 1 or array.shape[0] != batch:
        raise ValueError(
            "Invalid value received for argument `class_index`. Expected None, an int or one "
            f"int per image ({batch}). Received: class_index={class_index!r}"
        )
    classes = num_classes_of(units)
    if array.min() < 0 or array.max() >= classes:
        hint = (
            " (a single sigmoid unit has classes 0 = negative and 1 = positive)"
            if units == 1
            else ""
        )
        raise ValueError(
            f"Invalid value received for argument `class_index`. Expected indices in "
            f"[0, {classes - 1}]{hint}. Received: class_index={class_index!r}"
        )
    return array.astype(np.int32)


def resolve_classes(logits, class_index):
    """Replace `-1` entries of `class_index` by the predicted class (symbolic-safe)."""
    if logits.shape[-1] == 1:
        predicted = ops.cast(logits[:, 0] > 0, "int32")
    else:
        predicted = ops.cast(ops.argmax(logits, axis=-1), "int32")
    return ops.where(class_index < 0, predicted, class_index)


def select_scores(logits, classes, mode: str, activation: str | None):
    """The explained scalar per image.

    Single sigmoid unit: class 1 → the logit (or probability), class 0 → its negation (or
    1 − probability). Several units: the chosen unit's logit (or softmax probability).

    Args:
        logits: `(batch, units)` pre-activation outputs.
        classes: int32 `(batch,)` resolved class indices.
        mode: `"logit"` or `"probability"`.
        activation: `"sigmoid"`, `"softmax"` or `None` (the output is used as is).

    Returns:
        float32 `(batch,)`.
    """
    logits = ops.cast(logits, "float32")
    if logits.shape[-1] == 1:
        value = logits[:, 0]
        if mode == "probability" and activation == "sigmoid":
            probability = ops.sigmoid(value)
            return ops.where(classes == 1, probability, 1.0 - probability)
        return ops.where(classes == 1, value, -value)
    if mode == "probability" and activation == "softmax":
        logits = ops.softmax(logits, axis=-1)
    one_hot = ops.one_hot(classes, logits.shape[-1], dtype="float32")
    return ops.sum(logits * one_hot, axis=-1)


def apply_activation(logits, activation: str | None):
    """The model's output from its logits."""
    logits = ops.cast(logits, "float32")
    if activation == "sigmoid":
        return ops.sigmoid(logits)
    if activation == "softmax":
        return ops.softmax(logits, axis=-1)
    return logits
