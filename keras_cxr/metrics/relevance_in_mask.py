"""Localisation metrics of Quantus: how much of a map's relevance, or rank, the mask holds.

They take the inputs of `keras_cxr.metrics.localization` (`heatmaps` (N, H, W) or an
object with `.heatmaps`; bool or 0/1 `masks` of the same shape, never resized; `per_image`)
and, like it, give NaN to images with an empty mask and leave them out of the mean. Each
is computed for the whole batch at once. Maps are used as given (signed values allowed)
unless a metric says otherwise; all are invariant to rescaling a map by a positive number.
Their `per_image=True` values give a patient-level bootstrap interval through
`keras_cxr.metrics.per_image_interval`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from keras_cxr._validation import check_int, invalid_value
from keras_cxr.metrics._inputs import as_heatmaps, as_masks
from keras_cxr.metrics._stats import share_inside, summarize


def _flat(heatmaps: Any, masks: Any) -> tuple[np.ndarray, np.ndarray]:
    """Maps and masks flattened per image: float64 and bool (N, H·W)."""
    maps = as_heatmaps(heatmaps)
    masks = as_masks(masks, maps)
    return maps.reshape(len(maps), -1), masks.reshape(len(maps), -1)


def _top(maps: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Bool (N, P): each map's `counts[n]` highest pixels, ties taken in row-major order.

    Linear time per map (`np.partition` finds the `k`-th value; a cumulative sum picks
    the first of the tied pixels), instead of sorting every map.
    """
    chosen = np.zeros(maps.shape, bool)
    for row, (values, count) in enumerate(zip(maps, counts)):
        if count == 0:
            continue
        kth = np.partition(values, values.size - count)[values.size - count]
        above = values > kth
        ties = values == kth
        chosen[row] = above | (ties & (np.cumsum(ties) <= count - above.sum()))
    return chosen


def _rank_sums(maps: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Sum of the mask pixels' 1-based average ranks (ties share their mean rank), per map."""
    order = np.argsort(maps, axis=1)
    ordered = np.take_along_axis(maps, order, axis=1)
    positions = np.broadcast_to(np.arange(maps.shape[1]), maps.shape)
    starts = np.ones(maps.shape, bool)
    starts[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    ends = np.ones(maps.shape, bool)
    ends[:, :-1] = starts[:, 1:]
    first = np.maximum.accumulate(np.where(starts, positions, 0), axis=1)
    last = np.minimum.accumulate(np.where(ends, positions, maps.shape[1])[:, ::-1], axis=1)
    mean_rank = (first + last[:, ::-1]) / 2.0 + 1.0
    return (mean_rank * np.take_along_axis(masks, order, axis=1)).sum(axis=1)


def _undefined_where_empty(values: np.ndarray, masks: np.ndarray) -> np.ndarray:
    values[~masks.any(axis=1)] = np.nan
    return values


def relevance_mass_accuracy(heatmaps: Any, masks: Any, per_image: bool = False):
    """Share of each map's total relevance that falls inside the mask.

    `Σ_{mask} a / Σ a`, with the signed values as given (Quantus's `abs=False`), so with
    negative relevance outside the mask the share can exceed 1; a map summing to 0 gives
    NaN. For non-negative maps it equals `keras_cxr.metrics.energy_in_mask`.

    Args:
        heatmaps, masks, per_image: As described in the module docstring.

    Returns:
        The mean share over images with a non-empty mask (and a non-zero sum), or, with
        `per_image=True`, shape (N,).

    Raises:
        ValueError: For wrong or different shapes, non-binary masks or non-finite maps.

    Example:
        >>> import numpy as np
        >>> maps = np.array([[[3.0, 1.0], [0.0, 0.0]]])
        >>> masks = np.array([[[True, False], [False, False]]])
        >>> keras_cxr.metrics.relevance_mass_accuracy(maps, masks)
        0.75

    Reference:
        Arras, Osman, Samek. "CLEVR-XAI: A benchmark dataset for the ground truth
        evaluation of neural network explanations." Information Fusion 81, 2022.
    """
    maps, masks = _flat(heatmaps, masks)
    totals = maps.sum(axis=1)
    inside = np.where(masks, maps, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = np.where(totals != 0, inside / np.where(totals != 0, totals, 1.0), np.nan)
    return summarize(_undefined_where_empty(shares, masks), per_image)


def relevance_rank_accuracy(heatmaps: Any, masks: Any, per_image: bool = False):
    """Share of the mask's K pixels among the map's K highest-ranked pixels (K = mask area).

    Args:
        heatmaps, masks, per_image: As described in the module docstring. Ties in a map are
            broken in row-major order.

    Returns:
        The mean share in [0, 1] over images with a non-empty mask, or, with
        `per_image=True`, shape (N,).

    Raises:
        ValueError: For wrong or different shapes, non-binary masks or non-finite maps.

    Example:
        >>> import numpy as np
        >>> maps = np.array([[[4.0, 3.0], [2.0, 1.0]]])
        >>> masks = np.array([[[True, False], [True, False]]])  # K = 2: top pixels 0 and 1
        >>> keras_cxr.metrics.relevance_rank_accuracy(maps, masks)
        0.5

    Reference:
        Arras, Osman, Samek. "CLEVR-XAI: A benchmark dataset for the ground truth
        evaluation of neural network explanations." Information Fusion 81, 2022.
    """
    maps, masks = _flat(heatmaps, masks)
    areas = masks.sum(axis=1)
    hits = (_top(maps, areas) & masks).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = hits / areas
    return summarize(_undefined_where_empty(shares.astype(np.float64), masks), per_image)


def attribution_localisation(
    heatmaps: Any,
    masks: Any,
    weighted: bool = False,
    positive_only: bool = False,
    per_image: bool = False,
):
    """Share of the map's absolute (or positive) relevance inside the mask, optionally
    weighted by how small the mask is.

    `μ = Σ_{mask} r / Σ r` with `r = |a|` (Quantus's default `abs=True`), or `r = max(a, 0)`
    with `positive_only=True`; an all-zero map scores 0. `weighted=True` gives
    `μ · (H·W) / |mask|`, the paper's weighting, under which a uniform map scores 1.

    Args:
        heatmaps, masks, per_image: As described in the module docstring.
        weighted: Multiply by the image area over the mask area. Defaults to False.
        positive_only: Count positive relevance only. Defaults to False.

    Returns:
        The mean over images with a non-empty mask, or, with `per_image=True`, shape (N,).

    Raises:
        ValueError: For wrong or different shapes, non-binary masks or non-finite maps.

    Example:
        >>> import numpy as np
        >>> maps = np.array([[[3.0, -1.0], [0.0, 0.0]]])
        >>> masks = np.array([[[True, False], [False, False]]])
        >>> keras_cxr.metrics.attribution_localisation(maps, masks)
        0.75
        >>> keras_cxr.metrics.attribution_localisation(maps, masks, weighted=True)
        3.0

    Reference:
        Kohlbrenner, Bauer, Nakajima, Binder, Samek, Lapuschkin. "Towards Best Practice in
        Explaining Neural Network Decisions with LRP." IJCNN 2020.
        https://arxiv.org/abs/1910.09840
    """
    maps, masks = _flat(heatmaps, masks)
    relevance = np.maximum(maps, 0.0) if positive_only else np.abs(maps)
    shares = share_inside(relevance, masks)
    if weighted:
        with np.errstate(invalid="ignore", divide="ignore"):
            shares = shares * masks.shape[1] / masks.sum(axis=1)
    return summarize(shares, per_image)


def top_k_intersection(
    heatmaps: Any,
    masks: Any,
    k: int = 1000,
    concept_influence: bool = False,
    per_image: bool = False,
):
    """Share of the map's `k` highest-ranked pixels that lie inside the mask.

    With `concept_influence=True` the share is divided by the mask's area fraction, so
    that a map ranking pixels at random scores about 1. Quantus's default `k` is 1000
    pixels; pick `k` near the lesion size at your resolution.

    Args:
        heatmaps, masks, per_image: As described in the module docstring.
        k: Pixels kept, 1 <= k <= H·W. Defaults to 1000.
        concept_influence: Divide by the mask's area fraction. Defaults to False.

    Returns:
        The mean share over images with a non-empty mask, or, with `per_image=True`,
        shape (N,).

    Raises:
        ValueError: For wrong or different shapes, non-binary masks, non-finite maps, or
            a `k` that is not an integer in [1, H·W].

    Example:
        >>> import numpy as np
        >>> maps = np.array([[[4.0, 3.0], [2.0, 1.0]]])
        >>> masks = np.array([[[True, False], [True, False]]])
        >>> keras_cxr.metrics.top_k_intersection(maps, masks, k=3)  # pixels 0, 1, 2
        0.6666666666666666

    Reference:
        Theiner, Müller-Budack, Ewerth. "Interpretable Semantic Photo Geolocation." WACV
        2022. https://arxiv.org/abs/2104.14995
    """
    maps, masks = _flat(heatmaps, masks)
    k = check_int("k", k)
    if k > maps.shape[1]:
        raise invalid_value("k", f"at most the pixels of a map ({maps.shape[1]})", k)
    shares = (_top(maps, np.full(len(maps), k)) & masks).sum(axis=1) / k
    if concept_influence:
        with np.errstate(invalid="ignore", divide="ignore"):
            shares = shares * masks.shape[1] / masks.sum(axis=1)
    return summarize(_undefined_where_empty(shares, masks), per_image)


def auc(heatmaps: Any, masks: Any, per_image: bool = False):
    """ROC AUC of each map's pixel values as a detector of the mask's pixels.

    The probability that a random mask pixel outranks a random pixel outside it (ties count
    one half): 1 for a map that puts every mask pixel first, 0.5 for an uninformative one.
    Computed from average ranks (the Mann-Whitney statistic); a mask covering the whole
    image has no outside pixels and gives NaN.

    Args:
        heatmaps, masks, per_image: As described in the module docstring.

    Returns:
        The mean AUC over images where it is defined, or, with `per_image=True`,
        shape (N,).

    Raises:
        ValueError: For wrong or different shapes, non-binary masks or non-finite maps.

    Example:
        >>> import numpy as np
        >>> maps = np.array([[[4.0, 3.0], [2.0, 1.0]]])
        >>> masks = np.array([[[True, False], [True, False]]])  # pairs (0>1, 0>3, 2<1, 2>3)
        >>> keras_cxr.metrics.auc(maps, masks)
        0.75

    Reference:
        Fawcett. "An introduction to ROC analysis." Pattern Recognition Letters 27, 2006.
    """
    maps, masks = _flat(heatmaps, masks)
    positives = masks.sum(axis=1).astype(np.float64)
    negatives = masks.shape[1] - positives
    rank_sums = _rank_sums(maps, masks)
    with np.errstate(invalid="ignore", divide="ignore"):
        areas = (rank_sums - positives * (positives + 1) / 2) / (positives * negatives)
    areas[negatives == 0] = np.nan
    return summarize(_undefined_where_empty(areas, masks), per_image)


__all__ = [
    "attribution_localisation",
    "auc",
    "relevance_mass_accuracy",
    "relevance_rank_accuracy",
    "top_k_intersection",
]
