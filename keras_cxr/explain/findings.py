"""Several classes per image: the findings of a multi-label head, as rows to explain.

A multi-label head (N sigmoid units, one per finding: the chest X-ray models of
CheXpert, MIMIC-CXR or NIH ChestX-ray14) asks "where is each finding?", not "which
class?". `expand_findings` turns such a request into rows, one per `(image, finding)`
pair, which the explainers then explain like any batch; the `keras_cxr.Explanation`
records each row's image in `image_index`.

| `class_index`                          | rows                                          |
| -------------------------------------- | --------------------------------------------- |
| `None`, an int, a NumPy array (batch,) | one per image, as for every head              |
| `[2, 5]` (a list or tuple, multi-label head) | findings 2 and 5 of every image          |
| `[[2, 5], [], [0]]` (one list per image, any head) | the listed classes of each image   |
| `"positive"` (sigmoid heads)           | every finding whose probability exceeds its threshold |
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from keras_cxr._validation import invalid_value
from keras_cxr.explain.output_head import UNKNOWN

#: The `class_index` that asks for every finding above its threshold.
POSITIVE = "positive"


def is_multi_label(activation: str | None, units: int) -> bool:
    """Whether an output of `units` units under `activation` is a multi-label head.

    Args:
        activation: As `keras_cxr.explain.output_head.find_logits` gives it.
        units: Units of the output.

    Returns:
        `True` for two or more sigmoid units.

    Raises:
        Nothing: no check of its own.

    Example:
        >>> from keras_cxr.explain.findings import is_multi_label
        >>> is_multi_label("sigmoid", 14), is_multi_label("softmax", 3)
        (True, False)
    """
    return activation == "sigmoid" and units > 1


def expand_findings(
    class_index,
    batch: int,
    units: int,
    activation: str | None,
    probabilities: Callable[[], np.ndarray],
    threshold: float | Sequence[float] = 0.5,
) -> tuple[np.ndarray | None, object]:
    """The rows to explain: which image each row comes from, and its class.

    Args:
        class_index: As in the table of the module docstring.
        batch: Number of images.
        units: Units of the explained output.
        activation: As `keras_cxr.explain.output_head.find_logits` gives it.
        probabilities: Called without arguments for `"positive"`: the model's output
            `(batch, units)`, its sigmoid probabilities.
        threshold: For `"positive"`, one threshold for all findings or one per finding.
            Defaults to 0.5.

    Returns:
        `(image_index, classes)`: `image_index` is `None` where rows are the images
        themselves (then `classes` is `class_index` unchanged, for
        `keras_cxr.explain.class_targets.check_class_index`), else int64 `(rows,)`
        with `classes` int64 `(rows,)`.

    Raises:
        ValueError: For `"positive"` on a head without sigmoid units, a bad threshold,
            nested lists of the wrong length or holding non-integers, another string,
            or `class_index=None` for an output whose activation is unknown (its
            predicted class cannot be found).

    Example:
        >>> from keras_cxr.explain.findings import expand_findings
        >>> rows, classes = expand_findings([1, 3], 2, 4, "sigmoid", None)
        >>> rows.tolist(), classes.tolist()
        ([0, 0, 1, 1], [1, 3, 1, 3])
    """
    if class_index is None and activation == UNKNOWN:
        raise invalid_value(
            "class_index",
            "the class of each image: the model's output has no activation that can be "
            'told (see `score="output"`), so its predicted class is unknown',
            None,
        )
    if isinstance(class_index, str):
        return _positive(class_index, batch, units, activation, probabilities, threshold)
    if _is_nested(class_index):
        return _per_image(class_index, batch)
    if isinstance(class_index, (list, tuple)) and is_multi_label(activation, units):
        findings = _integers(class_index, class_index)
        return np.repeat(np.arange(batch), len(findings)), np.tile(findings, batch)
    return None, class_index


def _positive(class_index: str, batch, units, activation, probabilities, threshold):
    if class_index != POSITIVE:
        raise invalid_value(
            "class_index", f'None, an int, a list of ints or "{POSITIVE}"', class_index
        )
    if activation != "sigmoid":
        raise invalid_value(
            "class_index",
            f'"{POSITIVE}" only for sigmoid outputs (the findings of a multi-label head), '
            f"not for this output (activation {activation}); pass None for its predicted "
            "class",
            class_index,
        )
    try:
        limits = np.asarray(threshold, dtype=np.float64)
    except (TypeError, ValueError):
        limits = np.full(2, np.nan)  # refused below
    if limits.shape not in ((), (units,)) or not ((limits > 0) & (limits < 1)).all():
        raise invalid_value(
            "threshold", f"a number in (0, 1), or one per finding ({units})", threshold
        )
    above = np.asarray(probabilities(), dtype=np.float64) > np.broadcast_to(limits, (units,))
    images, findings = np.nonzero(above)
    if units == 1:
        findings = np.ones_like(findings)  # a single unit's "positive" class is 1
    return images, findings


def _is_nested(class_index) -> bool:
    return isinstance(class_index, (list, tuple)) and any(
        isinstance(item, (list, tuple, np.ndarray)) for item in class_index
    )


def _per_image(class_index, batch: int):
    if len(class_index) not in (1, batch):
        raise invalid_value(
            "class_index",
            f"one list of classes for all images, or one per image ({batch})",
            class_index,
        )
    lists = list(class_index) * batch if len(class_index) == 1 else list(class_index)
    rows = [_integers(item, class_index) for item in lists]
    images = np.repeat(np.arange(batch), [len(row) for row in rows])
    return images, np.concatenate(rows) if rows else np.zeros(0, np.int64)


def _integers(items, whole) -> np.ndarray:
    if not isinstance(items, (list, tuple, np.ndarray)):
        raise invalid_value("class_index", "lists of integers, one per image", whole)
    array = np.asarray(items)
    if array.size and (array.ndim != 1 or not np.issubdtype(array.dtype, np.integer)):
        raise invalid_value("class_index", "lists of integers, one per image", whole)
    return array.astype(np.int64).reshape(-1)


__all__ = ["POSITIVE", "expand_findings", "is_multi_label"]
