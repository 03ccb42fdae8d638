"""Small numeric helpers shared by the metric modules (ranks, means, areas, shares)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def average_ranks(values: np.ndarray) -> np.ndarray:
    """Return 1-based ranks of a 1-D array, giving tied values the mean of their ranks.

    This is the "average" tie rule of the Spearman correlation and the Mann-Whitney U
    statistic: [10, 20, 20, 30] ranks as [1, 2.5, 2.5, 4].
    """
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts_group = np.concatenate(([True], ordered[1:] != ordered[:-1]))
    group_of = np.cumsum(starts_group) - 1
    starts = np.flatnonzero(starts_group)
    ends = np.append(starts[1:], values.size)
    # Positions start..end-1 (0-based) share the mean 1-based rank (start + end + 1) / 2.
    mean_rank = (starts + ends + 1) / 2.0
    ranks = np.empty(values.size, dtype=np.float64)
    ranks[order] = mean_rank[group_of]
    return ranks


def descending_order(heatmap: np.ndarray) -> np.ndarray:
    """Flat pixel indices by decreasing value, ties broken in row-major order.

    A stable sort of the negated values keeps equal pixels in row-major order, so every
    metric that ranks pixels by saliency does so deterministically and identically.
    """
    return np.argsort(-heatmap.ravel(), kind="stable")


def mean_of_defined(values: np.ndarray) -> float:
    """Mean over the non-NaN entries; NaN (without a warning) when every entry is NaN."""
    defined = values[~np.isnan(values)]
    return float(defined.mean()) if defined.size else float("nan")


def reduce_rows(values: np.ndarray, reduce: Callable) -> np.ndarray:
    """One value per row of (N, S) `values`, NaN (without a warning) for an all-NaN row.

    `reduce` is a NaN-skipping reduction such as `np.nanmax` or `np.nanmean`, called as
    `reduce(rows, axis=1)` on the rows with at least one defined value.
    """
    defined = ~np.isnan(values).all(axis=1)
    out = np.full(len(values), np.nan)
    if defined.any():
        out[defined] = reduce(values[defined], axis=1)
    return out


def share_inside(relevance: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Per image, the share of the non-negative `relevance` that lies inside `masks`.

    Both are (N, ...) arrays of one shape. An all-zero map has no mass to place and gets 0;
    an empty mask has nothing to localise and gets NaN.
    """
    axes = tuple(range(1, relevance.ndim))
    totals = relevance.sum(axis=axes)
    inside = np.where(masks, relevance, 0.0).sum(axis=axes)
    shares = np.divide(inside, totals, out=np.zeros_like(totals), where=totals > 0)
    shares[~masks.any(axis=axes)] = np.nan
    return shares


def summarize(values: np.ndarray, per_image: bool) -> float | np.ndarray:
    """The per-image `values` themselves, or their mean over the defined (non-NaN) ones."""
    return values if per_image else mean_of_defined(values)


def trapezoid(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Trapezoid-rule area under `y` (last axis) over the sample points `x`.

    Written out because `np.trapezoid` only exists from NumPy 2.0 and `np.trapz` is gone in
    later releases, while the project supports NumPy >= 1.24.
    """
    return np.sum((y[..., 1:] + y[..., :-1]) * np.diff(x) / 2.0, axis=-1)


def pearson_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of each row of `a` with the same row of `b`; NaN for a constant row."""
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    denominator = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, (a * b).sum(axis=1) / denominator, np.nan)
