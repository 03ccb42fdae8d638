"""Cross-finding leakage: how much of one finding's explanation lands on another finding.

A multi-label model explains each finding with its own map. On an image with an effusion
at the left base and a nodule in the right upper lung, the effusion's map should light up
the effusion, not the nodule: a map that lands on the other finding says the model (or
the explanation method) does not tell the findings apart, which a pointing game on the
right finding alone does not reveal. The leakage of finding A onto finding B is the share
of A's map mass that lies on B's mask, outside A's own mask (pixels that belong to both
findings are A's as much as B's, so they never count as leakage).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from keras_cxr._validation import shape_error
from keras_cxr.metrics._inputs import as_heatmaps, as_masks, check_non_negative
from keras_cxr.metrics._stats import summarize


def cross_finding_leakage(
    heatmaps: Any, own_masks: Any, other_masks: Any, per_image: bool = False
) -> float | np.ndarray:
    """Share of each map of finding A that lies on finding B's mask, outside A's own.

    `sum(map on B \\ A) / sum(map)` per image. Only images that show both findings (both
    masks non-empty, and B not inside A) and whose map has mass are scored; the others
    get NaN and are left out of the mean. An all-zero map (a Grad-CAM that found nothing
    for A) is not scored: 0 would praise a map that says nothing. The score is
    invariant to positive rescaling of a map; 0 is best, and a uniform map scores the
    area share of `B \\ A`.

    Args:
        heatmaps: Finding A's maps `(N, H, W)`, non-negative, or an object with a
            `.heatmaps` attribute (an explanation of finding A).
        own_masks: Finding A's masks `(N, H, W)`, bool or 0/1.
        other_masks: Finding B's masks `(N, H, W)`, bool or 0/1.
        per_image: Return one value per image instead of the mean. Defaults to False.

    Returns:
        The mean leakage in [0, 1] over the scored images (NaN if none), or with
        `per_image=True` an array `(N,)` with NaN for images not scored.

    Raises:
        ValueError: Shapes differ, masks are not binary, or maps are negative or not finite.

    Example:
        >>> import numpy as np
        >>> maps = np.array([[[3.0, 1.0], [0.0, 0.0]]])
        >>> own = np.array([[[True, False], [False, False]]])
        >>> other = np.array([[[False, True], [False, False]]])
        >>> keras_cxr.metrics.cross_finding_leakage(maps, own, other)
        0.25
    """
    heatmaps = as_heatmaps(heatmaps)
    own = as_masks(own_masks, heatmaps)
    other = as_masks(other_masks, heatmaps)
    check_non_negative(heatmaps)
    elsewhere = other & ~own
    totals = heatmaps.sum(axis=(1, 2))
    leaked = np.where(elsewhere, heatmaps, 0.0).sum(axis=(1, 2))
    shares = np.divide(leaked, totals, out=np.zeros_like(totals), where=totals > 0)
    scored = own.any(axis=(1, 2)) & elsewhere.any(axis=(1, 2)) & (totals > 0)
    shares[~scored] = np.nan
    return summarize(shares, per_image)


def leakage_matrix(heatmaps: Any, masks: Any) -> np.ndarray:
    """Cross-finding leakage between every ordered pair of findings.

    Args:
        heatmaps: One map per image and finding, `(N, K, H, W)`, non-negative: entry
            `[n, a]` explains finding `a` on image `n`.
        masks: Each finding's mask, `(N, K, H, W)`, bool or 0/1.

    Returns:
        float64 `(K, K)`: entry `[a, b]` is `cross_finding_leakage` of finding `a`'s maps
        onto finding `b`'s masks, the mean over the images that show both (NaN where no
        image does, and on the diagonal).

    Raises:
        ValueError: Shapes differ or are not 4-D, or as `cross_finding_leakage` raises.

    Example:
        >>> import numpy as np
        >>> masks = np.zeros((1, 2, 2, 2), bool); masks[0, 0, 0, 0] = masks[0, 1, 1, 1] = True
        >>> maps = masks.astype(float); maps[0, 1, 0, 0] = 1.0  # B's map also on A
        >>> keras_cxr.metrics.leakage_matrix(maps, masks).tolist()
        [[nan, 0.0], [0.5, nan]]
    """
    maps = np.asarray(heatmaps, dtype=np.float64)
    if maps.ndim != 4 or 0 in maps.shape:
        raise shape_error("heatmaps", "a non-empty array of shape (N, K, H, W)", maps.shape)
    masks = np.asarray(masks)
    if masks.shape != maps.shape:
        raise shape_error("masks", f"the shape of `heatmaps`, {maps.shape}", masks.shape)
    count = maps.shape[1]
    matrix = np.full((count, count), np.nan)
    for a in range(count):
        for b in range(count):
            if a != b:
                matrix[a, b] = cross_finding_leakage(maps[:, a], masks[:, a], masks[:, b])
    return matrix


__all__ = ["cross_finding_leakage", "leakage_matrix"]
