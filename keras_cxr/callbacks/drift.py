"""Heatmap drift: how much the explanations of the same images changed between two epochs."""

from __future__ import annotations

import numpy as np

from keras_cxr._validation import shape_error


def heatmap_correlations(current: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """Pearson correlation between two heatmaps of each image, defined for constant maps.

    A constant heatmap has no spatial pattern: against another constant map it counts as
    unchanged (correlation 1), against a varying map as unrelated (correlation 0), so the
    result is never NaN because of it.

    Args:
        current: `(N, H, W)` heatmaps.
        previous: `(N, H, W)` heatmaps of the same images.

    Returns:
        float64 `(N,)` in [-1, 1], never NaN.

    Raises:
        ValueError: If the two arrays do not have one shape `(N, ...)`.

    Example:
        >>> ramp = np.arange(16.0).reshape(1, 4, 4)
        >>> keras_cxr.callbacks.drift.heatmap_correlations(ramp, -ramp).tolist()
        [-1.0]
        >>> keras_cxr.callbacks.drift.heatmap_correlations(ramp * 0, ramp).tolist()
        [0.0]
    """
    a = np.asarray(current, np.float64)
    b = np.asarray(previous, np.float64)
    if a.ndim < 2 or a.shape != b.shape:
        raise shape_error("previous", f"the shape of `current` {a.shape}", b.shape)
    count = a.shape[0]
    a = a.reshape(count, -1)
    b = b.reshape(count, -1)
    a_constant = np.ptp(a, axis=1) == 0
    b_constant = np.ptp(b, axis=1) == 0
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    scale = np.sqrt(np.sum(a * a, axis=1) * np.sum(b * b, axis=1))
    degenerate = a_constant | b_constant | (scale == 0)
    safe = np.where(degenerate, 1.0, scale)
    correlation = np.clip(np.sum(a * b, axis=1) / safe, -1.0, 1.0)
    return np.where(degenerate, np.where(a_constant & b_constant, 1.0, 0.0), correlation)


def heatmap_drift(current: np.ndarray, previous: np.ndarray) -> float:
    """1 − the mean over images of `heatmap_correlations(current, previous)`.

    0 means the heatmaps are unchanged (up to a positive rescaling), 1 unrelated, and up
    to 2 inverted; this is the `gradcam_drift` value of
    `keras_cxr.callbacks.GradCAMCallback`.

    Args:
        current: `(N, H, W)` heatmaps.
        previous: `(N, H, W)` heatmaps of the same images.

    Returns:
        The drift, a float in [0, 2].

    Raises:
        ValueError: If the two arrays do not have one shape.

    Example:
        >>> ramp = np.arange(16.0).reshape(1, 4, 4)
        >>> keras_cxr.callbacks.drift.heatmap_drift(2 * ramp + 1, ramp)
        0.0
        >>> keras_cxr.callbacks.drift.heatmap_drift(-ramp, ramp)
        2.0
    """
    return float(1.0 - np.mean(heatmap_correlations(current, previous)))
