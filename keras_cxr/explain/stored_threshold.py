"""The one class rule for a model file, and the warning when a bare explainer cannot keep it.

A model file stores a decision threshold (and a temperature) chosen on validation data.
`keras_cxr.explain.BatchExplainer`, `keras_cxr.explain_folder`, the CLI and the server all
explain the class decided at that threshold, whether they are given the path or the model
that `keras_cxr.load_model` returned. A bare explainer (`GradCAM(model)`, `Saliency(model)`)
is model-agnostic: with `class_index=None` it explains the class the raw output predicts
(a sigmoid above 0.5, the arg-max). For a binary model whose file stores another threshold
the two disagree for images whose probability lies between the two, so the bare explainer
warns once, at construction, and says how to get the file's rule. A temperature never
changes the decided class (it scales the logit, keeping its sign and the arg-max).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any

from keras_cxr.models.loading import file_metadata

__all__ = ["StoredThresholdWarning", "deciding_elsewhere", "warn_if_threshold_ignored"]

#: The threshold a bare explainer decides at, on a binary model's probability.
RAW_THRESHOLD = 0.5


class StoredThresholdWarning(UserWarning):
    """A bare explainer ignores the decision threshold stored in its model's file.

    Example:
        >>> import warnings
        >>> warnings.simplefilter("error", keras_cxr.explain.StoredThresholdWarning)
    """


def warn_if_threshold_ignored(model: Any, units: int | None, method: str) -> None:
    """Warns when `model` came from a file whose stored threshold a bare explainer ignores.

    Args:
        model: The explained model.
        units: Units of its output (None when unknown: nothing to compare).
        method: The explainer's name, for the message.

    Returns:
        None.

    Raises:
        Nothing: at most a `StoredThresholdWarning`.

    Example:
        >>> cam = keras_cxr.GradCAM(keras_cxr.load_model("model.keras"))  # may warn
    """
    metadata = file_metadata(model)
    threshold = metadata.get("threshold")
    if units != 1 or threshold is None or float(threshold) == RAW_THRESHOLD:
        return
    warnings.warn(
        f"{method} explains the class the model's raw output predicts (probability >= 0.5, "
        f"uncalibrated), but {str(metadata.get('path', 'its file'))!r} stores the decision "
        f"threshold {float(threshold):.4g}: for images whose probability lies between the "
        "two, this map is of the other class than the one keras_cxr.explain.BatchExplainer, "
        "explain_folder, the CLI and the server explain. Use "
        "keras_cxr.explain.BatchExplainer(model) to explain at the stored threshold, or pass "
        "class_index to explain(); silence this with "
        "warnings.filterwarnings('ignore', category=keras_cxr.explain.StoredThresholdWarning).",
        StoredThresholdWarning,
        stacklevel=3,
    )


@contextlib.contextmanager
def deciding_elsewhere() -> Iterator[None]:
    """Builds bare explainers for a caller that passes the decided class itself.

    `keras_cxr.explain.BatchExplainer` and the training reports decide each image's class
    at the stored threshold and hand it to `explain(images, class_index)`: the warning of
    `warn_if_threshold_ignored` does not apply to them.

    Yields:
        None; `StoredThresholdWarning` is ignored inside the block.

    Example:
        >>> with keras_cxr.explain.stored_threshold.deciding_elsewhere():
        ...     cam = keras_cxr.GradCAM(model)
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StoredThresholdWarning)
        yield
