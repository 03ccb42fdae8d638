"""Input coercion and checks shared by the metric modules.

Every public metric funnels its arguments through these helpers so that a bad shape or value
fails early with the same Keras-style wording everywhere.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from keras_cxr._validation import invalid_value, shape_error


def as_heatmaps(heatmaps: Any, argument: str = "heatmaps") -> np.ndarray:
    """Return heatmaps as a finite float64 array of shape (N, H, W).

    Accepts an array-like or any object with a `.heatmaps` attribute (such as the explainer's
    result object), so metrics do not depend on the explainer package.
    """
    if hasattr(heatmaps, "heatmaps"):
        heatmaps = heatmaps.heatmaps
    array = np.asarray(heatmaps, dtype=np.float64)
    if array.ndim != 3 or 0 in array.shape:
        raise shape_error(argument, "a non-empty array of shape (N, H, W)", array.shape)
    if not np.all(np.isfinite(array)):
        raise invalid_value(argument, "finite values (no NaN or inf)", "an array with NaN/inf")
    return array


def as_masks(masks: Any, heatmaps: np.ndarray) -> np.ndarray:
    """Return masks as a bool array with exactly the heatmaps' (N, H, W) shape.

    Masks are not resized: a silent resize would hide an annotation drawn on another image
    size, so a mismatch raises and the message says how to resize explicitly.
    """
    array = np.asarray(masks)
    if array.shape != heatmaps.shape:
        raise ValueError(
            "Invalid value received for argument `masks`. Expected the same shape as "
            f"`heatmaps`, {heatmaps.shape}; resize masks with nearest-neighbour "
            "interpolation (cv2.INTER_NEAREST) to the heatmap resolution first. "
            f"Received: masks.shape={array.shape}"
        )
    if array.dtype != np.bool_ and not np.all(np.isin(array, (0, 1))):
        raise invalid_value("masks", "a boolean or 0/1 array", "an array with other values")
    return array.astype(bool)


def as_images(images: Any, heatmaps: np.ndarray) -> np.ndarray:
    """Return images as a finite float32 (N, H, W, C) array matching the heatmaps' N, H, W."""
    array = np.asarray(images, dtype=np.float32)
    if array.ndim != 4 or 0 in array.shape:
        raise shape_error("images", "a non-empty array of shape (N, H, W, C)", array.shape)
    if array.shape[:3] != heatmaps.shape:
        raise ValueError(
            "Invalid value received for argument `images`. Expected (N, H, W) to match "
            f"`heatmaps`, {heatmaps.shape}. Received: images.shape={array.shape}"
        )
    if not np.all(np.isfinite(array)):
        raise invalid_value("images", "finite values (no NaN or inf)", "an array with NaN/inf")
    return array


def check_non_negative(heatmaps: np.ndarray, argument: str = "heatmaps") -> None:
    """Raise when a heatmap has negative values (metrics that treat it as a mass need this)."""
    if np.any(heatmaps < 0):
        raise invalid_value(
            argument,
            "non-negative values (apply ReLU or min-max normalisation first)",
            f"an array with minimum {float(heatmaps.min())}",
        )


def check_finite_number(argument: str, value: Any, *, positive: bool = False) -> float:
    """Return `value` as a float, raising unless it is a finite number >= 0 (> 0 with `positive`).

    Booleans are refused, as by `keras_cxr._validation.check_int`.
    """
    real = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not (real and (0 < value < np.inf if positive else 0 <= value < np.inf)):
        raise invalid_value(argument, f"a finite number {'>' if positive else '>='} 0", value)
    return float(value)


def check_same_shape(a: np.ndarray, b: np.ndarray) -> None:
    """Raise unless the maps `b` have exactly the shape of the maps `a`."""
    if a.shape != b.shape:
        raise ValueError(
            "Invalid value received for argument `b`. Expected the same shape as `a`, "
            f"{a.shape}. Received: b.shape={b.shape}"
        )


def as_binary_labels(labels: Any, argument: str = "y_true") -> np.ndarray:
    """Return labels as a non-empty int64 vector of 0s and 1s; (N, 1) columns are flattened."""
    array = np.asarray(labels)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1 or array.size == 0:
        raise shape_error(argument, "a non-empty 1-D array of shape (N,)", array.shape)
    if array.dtype != np.bool_ and not np.all(np.isin(array, (0, 1))):
        values = np.unique(array)[:5].tolist()
        raise invalid_value(argument, "binary labels in {0, 1}", f"values {values}")
    return array.astype(np.int64)


def as_scores(scores: Any, length: int, argument: str = "y_score") -> np.ndarray:
    """Return scores as a finite float64 vector of `length`; (N, 1) columns are flattened."""
    array = np.asarray(scores, dtype=np.float64)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1 or array.shape[0] != length:
        raise shape_error(argument, f"a 1-D array of shape ({length},), like `y_true`", array.shape)
    if not np.all(np.isfinite(array)):
        raise invalid_value(argument, "finite values (no NaN or inf)", "an array with NaN/inf")
    return array


def check_probabilities(probabilities: np.ndarray, argument: str = "y_prob") -> None:
    """Raise unless every value lies in [0, 1]."""
    if np.any((probabilities < 0) | (probabilities > 1)):
        raise invalid_value(
            argument,
            "probabilities in [0, 1]",
            f"values in [{float(probabilities.min())}, {float(probabilities.max())}]",
        )
