"""Complexity metrics: how concentrated an explanation is, whatever the model or the mask.

All three take the magnitudes `|a|` of the maps (Quantus's default `abs=True`), so the
sign of an attribution does not count, and are invariant to rescaling a map by a
positive number. They take:

- `heatmaps`: an array of shape (N, H, W), or an object with a `.heatmaps` attribute. Pass
  `explanation.attributions` to score the raw attributions rather than their display form.
- `per_image`: False (the default) for the mean over images, True for an array of shape
  (N,) with one value per image (feed it to `keras_cxr.metrics.per_image_interval` for a
  patient-level bootstrap interval).

An all-zero map has no distribution of relevance: its sparseness and complexity are NaN
and left out of the mean; its effective complexity is 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from keras_cxr.metrics._inputs import as_heatmaps, check_finite_number
from keras_cxr.metrics._stats import summarize


def _magnitudes(heatmaps: Any) -> np.ndarray:
    """`|a|` flattened per image, float64 (N, H·W)."""
    maps = as_heatmaps(heatmaps)
    return np.abs(maps.reshape(len(maps), -1))


def sparseness(heatmaps: Any, per_image: bool = False) -> float | np.ndarray:
    """Gini index of each map's magnitudes: 0 for a uniform map, → 1 for a single pixel.

    With the `n` magnitudes sorted increasingly, `G = Σ_i (2i − n − 1) a_(i) / (n Σ_i a_i)`
    (i = 1..n). Higher is sparser: relevance on fewer pixels.

    Args:
        heatmaps: Maps of shape (N, H, W) (signed values allowed), or an object with
            `.heatmaps`.
        per_image: If True, one value per image instead of the mean. Defaults to False.

    Returns:
        The mean Gini index in [0, 1) over images with a non-zero map, or, with
        `per_image=True`, shape (N,) (NaN for an all-zero map).

    Raises:
        ValueError: For a shape other than (N, H, W) or non-finite values.

    Example:
        >>> import numpy as np
        >>> keras_cxr.metrics.sparseness(np.array([[[0.0, 0.0], [0.0, 2.0]]]))  # 1 of 4
        0.75
        >>> keras_cxr.metrics.sparseness(np.ones((1, 2, 2)))
        0.0

    Reference:
        Chalasani, Chen, Chowdhury, Wu, Jha. "Concise Explanations of Neural Networks using
        Adversarial Training." ICML 2020. https://arxiv.org/abs/1810.06583
    """
    values = np.sort(_magnitudes(heatmaps), axis=1)
    count = values.shape[1]
    totals = values.sum(axis=1)
    weights = 2 * np.arange(1, count + 1) - count - 1
    with np.errstate(invalid="ignore", divide="ignore"):
        gini = (values @ weights) / (count * totals)
    gini[totals == 0] = np.nan
    return summarize(gini, per_image)


def complexity(heatmaps: Any, per_image: bool = False) -> float | np.ndarray:
    """Shannon entropy (in nats) of each map's magnitudes taken as a distribution.

    `p_i = |a_i| / Σ_j |a_j|` and `H = −Σ_i p_i ln p_i` (0 ln 0 = 0): 0 when one pixel holds
    all relevance, `ln(H·W)` for a uniform map. Lower is less complex.

    Args:
        heatmaps, per_image: As for `keras_cxr.metrics.sparseness`.

    Returns:
        The mean entropy over images with a non-zero map, or, with `per_image=True`,
        shape (N,) (NaN for an all-zero map).

    Raises:
        ValueError: For a shape other than (N, H, W) or non-finite values.

    Example:
        >>> import numpy as np
        >>> round(keras_cxr.metrics.complexity(np.ones((1, 2, 2))), 6)  # ln 4
        1.386294
        >>> keras_cxr.metrics.complexity(np.array([[[0.0, 5.0], [0.0, 0.0]]]))
        0.0

    Reference:
        Bhatt, Weller, Moura. "Evaluating and Aggregating Feature-based Model Explanations."
        IJCAI 2020. https://arxiv.org/abs/2005.00631
    """
    values = _magnitudes(heatmaps)
    totals = values.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = values / totals
        terms = np.where(shares > 0, shares * np.log(np.where(shares > 0, shares, 1.0)), 0.0)
    entropy = -terms.sum(axis=1)
    entropy[totals[:, 0] == 0] = np.nan
    return summarize(entropy, per_image)


def effective_complexity(
    heatmaps: Any, eps: float = 1e-5, per_image: bool = False
) -> float | np.ndarray:
    """Number of pixels whose magnitude exceeds `eps` times the map's largest magnitude.

    Quantus's default normalises each map by its largest magnitude before the threshold,
    so `eps` is relative; the count is then invariant to rescaling. Lower is simpler.

    Args:
        heatmaps, per_image: As for `keras_cxr.metrics.sparseness`.
        eps: The relative threshold, >= 0. Defaults to 1e-5.

    Returns:
        The mean count over images (a float), or, with `per_image=True`, float64 counts of
        shape (N,) (0 for an all-zero map).

    Raises:
        ValueError: For a shape other than (N, H, W), non-finite values or a negative or
            non-finite `eps`.

    Example:
        >>> import numpy as np
        >>> keras_cxr.metrics.effective_complexity(np.array([[[1.0, 0.5], [1e-7, 0.0]]]))
        2.0

    Reference:
        Nguyen, Rodríguez Martínez. "On Quantitative Aspects of Model Interpretability."
        arXiv 2020. https://arxiv.org/abs/2007.07584
    """
    eps = check_finite_number("eps", eps)
    values = _magnitudes(heatmaps)
    largest = values.max(axis=1, keepdims=True)
    counts = ((values > eps * largest) & (largest > 0)).sum(axis=1).astype(np.float64)
    return summarize(counts, per_image)


__all__ = ["complexity", "effective_complexity", "sparseness"]
