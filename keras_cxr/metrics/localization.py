"""Localization metrics: how well heatmaps agree with ground-truth region masks.

All three metrics take the same inputs:

- `heatmaps`: an array of shape (N, H, W), or an object with a `.heatmaps` attribute (such
  as an explanation result).
- `masks`: bool or 0/1 region masks of exactly the same shape. Masks are never resized for
  you: resize them to the heatmap resolution with nearest-neighbour interpolation first,
  so that a mismatch cannot go unnoticed.
- `per_image`: False (the default) for the mean over images, True for an array of shape
  (N,) with one value per image.

Images whose mask is empty (e.g. a normal chest X-ray with no lesion annotated) have nothing
to localize: their per-image value is NaN and they are left out of the mean. When no image
has a non-empty mask, the mean is NaN.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from keras_cxr._validation import check_unit_interval, invalid_value
from keras_cxr.metrics._inputs import as_heatmaps, as_masks, check_non_negative
from keras_cxr.metrics._stats import descending_order, share_inside, summarize


def _pointing_hit(heatmap: np.ndarray, mask: np.ndarray, tolerance: float) -> float:
    row, col = np.unravel_index(np.argmax(heatmap), heatmap.shape)
    if tolerance == 0:
        return float(mask[row, col])
    mask_rows, mask_cols = np.nonzero(mask)
    squared_distance = (mask_rows - row) ** 2 + (mask_cols - col) ** 2
    return float(squared_distance.min() <= tolerance**2)


def pointing_game(
    heatmaps: Any,
    masks: Any,
    per_image: bool = False,
    tolerance: float = 0,
) -> float | np.ndarray:
    """Share of images whose heatmap maximum falls inside (or near) the mask.

    For each image the single most salient pixel is located (ties go to the first pixel in
    row-major order, so a constant heatmap points at the top-left corner) and counted as a
    hit when it lies within `tolerance` pixels (Euclidean distance) of a mask pixel. Images
    with an empty mask are excluded. The score is invariant to any positive rescaling of a
    heatmap.

    Args:
        heatmaps, masks: Heatmaps and region masks of the same shape (N, H, W), as
            described in `keras_cxr.metrics.localization`.
        per_image: If True, return one value per image instead of the mean. Defaults to
            False.
        tolerance: Slack in pixels around the mask. Defaults to 0 (the maximum must lie on a
            mask pixel). Zhang et al. used 15 px on ~224 px images; a fixed pixel slack does
            not carry over between resolutions, hence the strict default.

    Returns:
        The hit rate as a float in [0, 1] (NaN if every mask is empty), or, with
        `per_image=True`, an array of shape (N,) with 1.0 (hit), 0.0 (miss) or NaN (empty
        mask).

    Raises:
        ValueError: If the shapes are wrong or differ, the masks are not binary, the
            heatmaps are not finite, or `tolerance` is negative.

    Example:
        >>> import numpy as np
        >>> heatmaps = np.zeros((2, 4, 4)); heatmaps[0, 1, 1] = 1.0; heatmaps[1, 3, 3] = 1.0
        >>> masks = np.zeros((2, 4, 4), dtype=bool); masks[:, :2, :2] = True
        >>> keras_cxr.metrics.pointing_game(heatmaps, masks)
        0.5

    Reference:
        Zhang, Lin, Brandt, Shen, Sclaroff. "Top-down Neural Attention by Excitation
        Backprop." ECCV 2016. https://arxiv.org/abs/1608.00507
    """
    heatmaps = as_heatmaps(heatmaps)
    masks = as_masks(masks, heatmaps)
    if isinstance(tolerance, bool) or not isinstance(tolerance, numbers.Real) or not tolerance >= 0:
        raise invalid_value("tolerance", "a number of pixels >= 0", tolerance)
    hits = np.array(
        [
            _pointing_hit(heatmap, mask, float(tolerance)) if mask.any() else np.nan
            for heatmap, mask in zip(heatmaps, masks)
        ]
    )
    return summarize(hits, per_image)


def energy_in_mask(heatmaps: Any, masks: Any, per_image: bool = False) -> float | np.ndarray:
    """Share of each heatmap's total mass that lies inside the mask.

    This is the "energy-based pointing game" proportion: sum of the heatmap inside the mask
    divided by its sum over the whole image. A uniform heatmap scores the mask's area
    fraction; a heatmap equal to the mask scores 1. An all-zero heatmap has no mass to
    place and scores 0 rather than NaN. Images with an empty mask are excluded. The score
    is invariant to positive rescaling of a heatmap.

    Args:
        heatmaps, masks, per_image: As for `keras_cxr.metrics.pointing_game`; the heatmaps
            must be non-negative.

    Returns:
        The share inside the mask, a float in [0, 1]: the mean over images with a non-empty
        mask, or per image (shape (N,), NaN where the mask is empty) with `per_image=True`.

    Raises:
        ValueError: If the shapes are wrong or differ, the masks are not binary, or the
            heatmaps have negative or non-finite values.

    Example:
        >>> import numpy as np
        >>> heatmaps = np.array([[[3.0, 1.0], [0.0, 0.0]]])
        >>> masks = np.array([[[True, False], [False, False]]])
        >>> keras_cxr.metrics.energy_in_mask(heatmaps, masks)
        0.75

    Reference:
        Wang, Wang, Du, Yang, Zhang, Ding, Mardziel, Hu. "Score-CAM: Score-Weighted Visual
        Explanations for Convolutional Neural Networks." CVPR Workshops 2020.
        https://arxiv.org/abs/1910.01279
    """
    heatmaps = as_heatmaps(heatmaps)
    masks = as_masks(masks, heatmaps)
    check_non_negative(heatmaps)
    return summarize(share_inside(heatmaps, masks), per_image)


def top_k_iou(
    heatmaps: Any, masks: Any, k: float = 0.1, per_image: bool = False
) -> float | np.ndarray:
    """Intersection over union between each heatmap's top-k pixels and the mask.

    The `k` fraction of most salient pixels (`round(k * H * W)` pixels, at least one; ties
    broken in row-major order) forms a binary region that is compared with the mask by
    IoU. With `k` equal to the mask's area fraction, a heatmap equal to the mask scores 1.
    Images with an empty mask are excluded. The score is invariant to positive rescaling of
    a heatmap (any transform that keeps the pixel order).

    Args:
        heatmaps, masks: As for `keras_cxr.metrics.pointing_game`.
        k: Fraction of pixels kept as the heatmap's region, in (0, 1]. Defaults to 0.1.
        per_image: If True, return one IoU per image instead of the mean. Defaults to False.

    Returns:
        The IoU, a float in [0, 1]: the mean over images with a non-empty mask, or, with
        `per_image=True`, one value per image (shape (N,), NaN for an empty mask).

    Raises:
        ValueError: If the shapes are wrong or differ, the masks are not binary, the
            heatmaps are not finite, or `k` is not in (0, 1].

    Example:
        >>> import numpy as np
        >>> heatmaps = np.array([[[4.0, 3.0], [2.0, 1.0]]])
        >>> masks = np.array([[[True, False], [True, False]]])
        >>> keras_cxr.metrics.top_k_iou(heatmaps, masks, k=0.5)  # {0, 1} vs {0, 2}
        0.3333333333333333
    """
    heatmaps = as_heatmaps(heatmaps)
    masks = as_masks(masks, heatmaps)
    k = check_unit_interval("k", k)
    num_pixels = heatmaps.shape[1] * heatmaps.shape[2]
    num_top = max(1, int(np.floor(k * num_pixels + 0.5)))
    ious = np.full(heatmaps.shape[0], np.nan)
    for index, (heatmap, mask) in enumerate(zip(heatmaps, masks)):
        flat_mask = mask.ravel()
        if not flat_mask.any():
            continue
        intersection = np.count_nonzero(flat_mask[descending_order(heatmap)[:num_top]])
        ious[index] = intersection / (num_top + np.count_nonzero(flat_mask) - intersection)
    return summarize(ious, per_image)
