"""The `explain_fn` contract of the metrics that call an explainer themselves.

`explain_fn` is an object with an `explain(images, class_index)` method (any keras_cxr
explainer) or a callable with that signature. Its result is an array (N, H, W) or an object
with `.attributions` (used when set) or `.heatmaps`, and its `class_index`, when it has one,
is the class it explained. `keras_cxr.metrics.max_sensitivity` documents it for users.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from keras_cxr._validation import invalid_value, shape_error

EXPECTED_EXPLAINER = "an explainer or a callable(images, class_index)"


def explain_method(explain_fn: Any) -> Callable:
    """`explain_fn.explain`, or `explain_fn` itself; raises unless that is callable."""
    explain = getattr(explain_fn, "explain", explain_fn)
    if not callable(explain):
        raise invalid_value("explain_fn", EXPECTED_EXPLAINER, explain_fn)
    return explain


def checked_images(images: Any) -> np.ndarray:
    """`images` as a non-empty float32 (N, H, W, C) array."""
    images = np.asarray(images, np.float32)
    if images.ndim != 4 or 0 in images.shape:
        raise shape_error("images", "a non-empty array of shape (N, H, W, C)", images.shape)
    return images


def maps_and_classes(result: Any, count: int) -> tuple[np.ndarray, Any]:
    """The float64 (count, H, W) maps of an explainer's result, and its classes (or None)."""
    maps = getattr(result, "attributions", None)
    if maps is None:
        maps = getattr(result, "heatmaps", result)
    maps = np.asarray(maps, np.float64)
    if maps.ndim != 3 or maps.shape[0] != count:
        raise shape_error("explain_fn", f"maps of shape ({count}, H, W)", maps.shape)
    return maps, getattr(result, "class_index", None)
