"""The one class rule for a model file, and the warning when a bare explainer cannot keep it.

A model file stores a decision threshold (and a temperature) chosen on validation data.
`keras_cxr.explain.BatchExplainer`, `keras_cxr.explain_folder`, the CLI and the server all
explain the class decided at that threshold, whether they are given the path or the model
that `keras_cxr.load_model` returned. A bare explainer (`GradCAM(model)`, `Saliency(model)`)
is model-agnostic: with `class_index=None` it explains the class the raw output predicts
(a sigmoid above 0.5, the arg-max). For a binary model whose file stores another threshold
the two disagree for images whose probability lies between the two, so the bare explainer
warns once, at its first `explain` call that leaves `class_index=None` (a caller that
passes the class decides it elsewhere), and says how to get the file's rule. A temperature never
changes the decided class (it scales the logit, keeping its sign and the arg-max).
"""

from __future__ import annotations

import warnings
from typing import Any, TypeVar

from keras_cxr.models.loading import file_metadata

__all__ = ["CHECKED", "StoredThresholdWarning", "decided_elsewhere", "warn_if_threshold_ignored"]

#: The threshold a bare explainer decides at, on a binary model's probability.
RAW_THRESHOLD = 0.5
#: The attribute that marks an explainer as checked (warned once, or deciding elsewhere).
CHECKED = "_stored_threshold_checked"

_E = TypeVar("_E")


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
        >>> cam = keras_cxr.GradCAM(keras_cxr.load_model("model.keras"))
        >>> explanation = cam.explain(images)  # may warn: the class is decided at 0.5
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
        stacklevel=4,  # the user's explain() call, through ExplainRows._checked_rows
    )


def decided_elsewhere(explainer: _E) -> _E:
    """Marks an explainer whose caller decides each image's class: it never warns.

    `keras_cxr.explain.BatchExplainer` explains the raw decision and then explains again,
    at the stored threshold, the images where the two differ: the warning of
    `warn_if_threshold_ignored` does not apply to it. A caller that passes `class_index`
    needs no mark (only `class_index=None` warns). A noise wrapper (SmoothGrad, VarGrad)
    is marked with the explainer it holds.

    Args:
        explainer: The explainer.

    Returns:
        The same explainer, marked.

    Example:
        >>> cam = keras_cxr.explain.stored_threshold.decided_elsewhere(GradCAM(model))
    """
    inner = explainer
    while inner is not None:
        setattr(inner, CHECKED, True)
        inner = getattr(inner, "explainer", None)
    return explainer
