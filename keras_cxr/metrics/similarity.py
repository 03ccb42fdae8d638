"""Similarity between pairs of heatmaps: Spearman rank correlation and SSIM.

These are the measures the sanity checks of Adebayo et al. report when comparing the
heatmaps of a model with those of its randomized copies (see
`keras_cxr.metrics.model_randomization_test`). Both take two sets of maps of the same
shape (N, H, W), or objects with a `.heatmaps` attribute, and return the mean over images
or, with `per_image=True`, one value per image.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from keras_cxr._validation import invalid_value
from keras_cxr.metrics._inputs import as_heatmaps, check_same_shape
from keras_cxr.metrics._stats import average_ranks, summarize

# Wang et al. (2004): an 11 x 11 Gaussian window with sigma 1.5, K1 = 0.01, K2 = 0.03.
_SSIM_WINDOW = 11
_SSIM_SIGMA = 1.5
_SSIM_K1 = 0.01
_SSIM_K2 = 0.03


def _map_pairs(a: Any, b: Any) -> tuple[np.ndarray, np.ndarray]:
    a = as_heatmaps(a, "a")
    b = as_heatmaps(b, "b")
    check_same_shape(a, b)
    return a, b


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    x = x - x.mean()
    y = y - y.mean()
    denominator = np.sqrt(np.dot(x, x) * np.dot(y, y))
    if denominator == 0:
        return float("nan")
    return float(np.clip(np.dot(x, y) / denominator, -1.0, 1.0))


def spearman_rank_correlation(a: Any, b: Any, per_image: bool = False) -> float | np.ndarray:
    """Spearman rank correlation between pairs of heatmaps, pixel by pixel.

    Each heatmap is flattened and its pixels ranked (tied values share the mean of their
    ranks); the correlation is the Pearson correlation of the two rank vectors. It is 1 for
    maps with the same pixel order, -1 for reversed orders, and unchanged by any strictly
    increasing transform of either map (such as positive rescaling). It is undefined (NaN)
    for an image where either map is constant, which often happens once a randomized model
    produces an all-zero Grad-CAM; the mean skips such images and is NaN only when every
    image is undefined.

    Args:
        a: Heatmaps of shape (N, H, W), or an object with a `.heatmaps` attribute.
        b: Heatmaps of the same shape as `a`, or an object with a `.heatmaps` attribute.
        per_image: If True, return one correlation per image instead of the mean. Defaults
            to False.

    Returns:
        The mean correlation as a float in [-1, 1], or an array of shape (N,) with
        `per_image=True`.

    Raises:
        ValueError: If either input is not a finite (N, H, W) array or the shapes differ.

    Example:
        >>> import numpy as np
        >>> a = np.array([[[1.0, 2.0], [3.0, 4.0]]])
        >>> keras_cxr.metrics.spearman_rank_correlation(a, 10 * a)
        1.0
        >>> keras_cxr.metrics.spearman_rank_correlation(a, -a)
        -1.0

    Reference:
        Spearman. "The Proof and Measurement of Association between Two Things." The
        American Journal of Psychology, 1904.
    """
    a, b = _map_pairs(a, b)
    values = np.array(
        [
            _pearson(average_ranks(map_a.ravel()), average_ranks(map_b.ravel()))
            for map_a, map_b in zip(a, b)
        ]
    )
    return summarize(values, per_image)


def _gaussian_mean(image: np.ndarray) -> np.ndarray:
    """Gaussian-weighted local mean over the positions where the window fits in the image."""
    size = (_SSIM_WINDOW, _SSIM_WINDOW)
    filtered = cv2.GaussianBlur(image, size, _SSIM_SIGMA, sigmaY=_SSIM_SIGMA)
    border = _SSIM_WINDOW // 2
    return filtered[border:-border, border:-border]


def _ssim_single(x: np.ndarray, y: np.ndarray) -> float:
    c1 = _SSIM_K1**2  # (K1 * data_range) ** 2 with data_range = 1
    c2 = _SSIM_K2**2
    mean_x, mean_y = _gaussian_mean(x), _gaussian_mean(y)
    variance_x = _gaussian_mean(x * x) - mean_x**2
    variance_y = _gaussian_mean(y * y) - mean_y**2
    covariance = _gaussian_mean(x * y) - mean_x * mean_y
    numerator = (2 * mean_x * mean_y + c1) * (2 * covariance + c2)
    denominator = (mean_x**2 + mean_y**2 + c1) * (variance_x + variance_y + c2)
    return float(np.mean(numerator / denominator))


def ssim(a: Any, b: Any, per_image: bool = False) -> float | np.ndarray:
    """Structural similarity (SSIM) between pairs of single-channel maps in [0, 1].

    The standard SSIM of Wang et al. (2004): local means, variances and covariance under an
    11 x 11 Gaussian window with sigma 1.5, constants K1 = 0.01 and K2 = 0.03, and a data
    range of 1. The SSIM map is averaged over the positions where the whole window fits
    inside the image (no padding), as in the authors' reference code. Identical maps score
    1. Normalize heatmaps to [0, 1] first (e.g. divide by their maximum).

    Args:
        a: Maps of shape (N, H, W) with values in [0, 1] and H, W >= 11, or an object with
            a `.heatmaps` attribute.
        b: Maps of the same shape as `a`, or an object with a `.heatmaps` attribute.
        per_image: If True, return one SSIM per image instead of the mean. Defaults to
            False.

    Returns:
        The mean SSIM as a float in [-1, 1], or an array of shape (N,) with
        `per_image=True`.

    Raises:
        ValueError: If either input is not a finite (N, H, W) array, the shapes differ, a
            value lies outside [0, 1], or the maps are smaller than the 11 x 11 window.

    Example:
        >>> import numpy as np
        >>> a = np.random.default_rng(0).random((2, 16, 16))
        >>> keras_cxr.metrics.ssim(a, a)
        1.0

    Reference:
        Wang, Bovik, Sheikh, Simoncelli. "Image Quality Assessment: From Error Visibility
        to Structural Similarity." IEEE Transactions on Image Processing, 2004.
        https://doi.org/10.1109/TIP.2003.819861
    """
    a, b = _map_pairs(a, b)
    for argument, maps in (("a", a), ("b", b)):
        if maps.min() < 0 or maps.max() > 1:
            raise invalid_value(
                argument,
                "values in [0, 1] (SSIM uses data_range=1; normalize the maps first)",
                f"values in [{float(maps.min())}, {float(maps.max())}]",
            )
    if min(a.shape[1:]) < _SSIM_WINDOW:
        raise ValueError(
            "Invalid value received for argument `a`. Expected maps of at least "
            f"{_SSIM_WINDOW} x {_SSIM_WINDOW} pixels (the SSIM window); upsample the heatmaps "
            f"to the image size first. Received: a.shape={a.shape}"
        )
    values = np.array([_ssim_single(map_a, map_b) for map_a, map_b in zip(a, b)])
    return summarize(values, per_image)


SIMILARITIES = ("spearman", "ssim")


def min_max_normalize(heatmaps: np.ndarray) -> np.ndarray:
    """Each map scaled to [0, 1] by its own minimum and maximum; a constant map becomes 0."""
    low = heatmaps.min(axis=(1, 2), keepdims=True)
    spread = heatmaps.max(axis=(1, 2), keepdims=True) - low
    return np.divide(heatmaps - low, spread, out=np.zeros_like(heatmaps), where=spread > 0)


def map_similarity(a: np.ndarray, b: np.ndarray, measure: str) -> np.ndarray:
    """Per-image similarity of two map stacks: "spearman", or "ssim" after min-max scaling.

    Raises:
        ValueError: For a `measure` other than one of `SIMILARITIES`, or as the measure.
    """
    if measure == "spearman":
        return spearman_rank_correlation(a, b, per_image=True)
    if measure == "ssim":
        return ssim(min_max_normalize(a), min_max_normalize(b), per_image=True)
    raise invalid_value("similarity", f"one of {SIMILARITIES}", measure)
