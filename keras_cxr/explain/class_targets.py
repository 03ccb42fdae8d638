"""Which scalar is explained for each image: the class score, as a logit or a probability.

The explainers validate `class_index` eagerly with `check_class_index` (so a bad index fails
before any work), then resolve "the predicted class" and pick the explained score inside
their compiled functions with `resolve_classes` and `select_scores`, written with
`keras.ops` so that they also run on symbolic tensors.
"""

from __future__ import annotations

import numpy as np
from keras import ops

SCORE_MODES = ("logit", "probability", "output")


def num_classes_of(units: int) -> int:
    """Number of classes of an output with `units` units (one sigmoid unit = 2 classes).

    Args:
        units: Units of the explained output (its last axis).

    Returns:
        2 for a single unit (negative and positive class), else `units`.

    Raises:
        Nothing of its own: any positive `units` is accepted.

    Example:
        >>> from keras_cxr.explain.class_targets import num_classes_of
        >>> num_classes_of(1), num_classes_of(3)
        (2, 3)
    """
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
        ValueError: If an index is not an integer, the length does not match the batch, or
            an index is out of range (for a single sigmoid unit the classes are
            0 = negative, 1 = positive).

    Example:
        >>> from keras_cxr.explain.class_targets import check_class_index
        >>> check_class_index(None, 3, units=1)
        array([-1, -1, -1], dtype=int32)
        >>> check_class_index(2, 2, units=3)
        array([2, 2], dtype=int32)
        >>> check_class_index([0, 1], 2, units=1)
        array([0, 1], dtype=int32)
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
            f"int per image ({batch}); for several classes per image, one list per image "
            f"(e.g. [[0, 3], [1]]). Received: class_index={class_index!r}"
        )
    classes = num_classes_of(units)
    if array.size and (array.min() < 0 or array.max() >= classes):
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
    """Replace the `-1` entries of `class_index` by each image's predicted class.

    The predicted class is the arg-max unit, or, for a single sigmoid unit, 1 where the
    logit is above 0 (probability above 0.5) and 0 otherwise. Written with `keras.ops`, so
    it also runs inside compiled functions.

    Args:
        logits: `(batch, units)` pre-activation outputs.
        class_index: int32 `(batch,)` from `check_class_index`, `-1` for "predicted".

    Returns:
        int32 `(batch,)` class indices.

    Raises:
        Nothing of its own: the indices were checked by `check_class_index`.

    Example:
        >>> import numpy as np
        >>> from keras_cxr.explain.class_targets import resolve_classes
        >>> logits = np.array([[0.2, 1.5, -1.0], [3.0, 0.0, 0.1]], "float32")
        >>> np.asarray(resolve_classes(logits, np.array([-1, 2], "int32")))
        array([1, 2], dtype=int32)
    """
    if logits.shape[-1] == 1:
        predicted = ops.cast(logits[:, 0] > 0, "int32")
    else:
        predicted = ops.cast(ops.argmax(logits, axis=-1), "int32")
    return ops.where(class_index < 0, predicted, class_index)


def select_scores(logits, classes, mode: str, activation: str | None):
    """The explained scalar per image.

    Single sigmoid unit: class 1 → the logit (or probability), class 0 → its negation (or
    1 − probability). Several units: the chosen unit's logit, or its probability (the
    softmax's, or for a multi-label head the unit's own sigmoid). Without a known
    activation (`None`, or `"unknown"` with `mode="output"`) the output is used as it is.

    Args:
        logits: `(batch, units)` pre-activation outputs.
        classes: int32 `(batch,)` resolved class indices.
        mode: `"logit"`, `"probability"` or `"output"` (the model's output as it is: the
            probability where the activation is known).
        activation: `"sigmoid"`, `"softmax"`, `None` or `"unknown"`.

    Returns:
        float32 `(batch,)`.

    Raises:
        Nothing of its own: `classes` were checked by `check_class_index`.

    Example:
        >>> import numpy as np
        >>> from keras_cxr.explain.class_targets import select_scores
        >>> logit = np.array([[2.0]], "float32")
        >>> float(select_scores(logit, np.array([0], "int32"), "logit", "sigmoid")[0])
        -2.0
        >>> p = select_scores(logit, np.array([1], "int32"), "probability", "sigmoid")
        >>> round(float(p[0]), 4)
        0.8808
    """
    logits = ops.cast(logits, "float32")
    squashed = mode in ("probability", "output") and activation in ("sigmoid", "softmax")
    if logits.shape[-1] == 1:
        value = logits[:, 0]
        if squashed and activation == "sigmoid":
            probability = ops.sigmoid(value)
            return ops.where(classes == 1, probability, 1.0 - probability)
        return ops.where(classes == 1, value, -value)
    if squashed:
        logits = apply_activation(logits, activation)
    one_hot = ops.one_hot(classes, logits.shape[-1], dtype="float32")
    return ops.sum(logits * one_hot, axis=-1)


def apply_activation(logits, activation: str | None):
    """The model's output from its logits: the activation the split took off, put back.

    Args:
        logits: `(batch, units)` pre-activation outputs.
        activation: `"sigmoid"`, `"softmax"` (over the last axis) or `None` (unchanged).

    Returns:
        float32 `(batch, units)`.

    Raises:
        Nothing of its own: any other `activation` leaves the logits unchanged, like `None`.

    Example:
        >>> import numpy as np
        >>> from keras_cxr.explain.class_targets import apply_activation
        >>> np.asarray(apply_activation(np.array([[0.0, 0.0]], "float32"), "softmax"))
        array([[0.5, 0.5]], dtype=float32)
    """
    logits = ops.cast(logits, "float32")
    if activation == "sigmoid":
        return ops.sigmoid(logits)
    if activation == "softmax":
        return ops.softmax(logits, axis=-1)
    return logits
