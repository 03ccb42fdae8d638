"""Average Drop and Increase in Confidence (Chattopadhay et al., Grad-CAM++).

Both compare the class score Y on the original image with the score O on its explanation
map: the image multiplied pixel-wise by its heatmap divided by the heatmap's maximum (so
the most salient pixel is kept as is and an all-zero heatmap blanks the image). Heatmaps
must be non-negative. The paper reports both as percentages; these functions return
fractions. The model is seen only through `predict_fn` (see the contract in
`keras_cxr.metrics`).

Reference:
    Chattopadhay, Sarkar, Howlader, Balasubramanian. "Grad-CAM++: Generalized
    Gradient-Based Visual Explanations for Deep Convolutional Networks." WACV 2018.
    https://arxiv.org/abs/1710.11063
"""

from __future__ import annotations

from typing import Any

import numpy as np

from keras_cxr.metrics._inputs import check_non_negative
from keras_cxr.metrics._perturbation import PredictFn, checked_inputs, predict_in_batches


def _original_and_masked_scores(
    predict_fn: PredictFn,
    images: Any,
    heatmaps: Any,
    class_index: int,
    batch_size: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Scores of each original image and of the image multiplied by its heatmap."""
    images, heatmaps, class_index, batch_size = checked_inputs(
        images, heatmaps, class_index, batch_size
    )
    check_non_negative(heatmaps)
    peaks = heatmaps.max(axis=(1, 2), keepdims=True)
    weights = np.divide(heatmaps, peaks, out=np.zeros_like(heatmaps), where=peaks > 0)
    stacks = (
        np.stack([image, image * weight[..., None].astype(np.float32)])
        for image, weight in zip(images, weights)
    )
    scores = predict_in_batches(predict_fn, stacks, class_index, batch_size)
    return scores[0::2], scores[1::2]


def average_drop(
    predict_fn: PredictFn,
    images: Any,
    heatmaps: Any,
    class_index: int,
    batch_size: int = 64,
    per_image: bool = False,
) -> float | np.ndarray:
    """Average relative drop in class confidence when only the explained regions are shown.

    For each image, with Y the score on the original image and O the score on the
    explanation map (see the module docstring), the drop is max(0, Y - O) / Y (0 when Y is
    0); the metric is its mean. Lower is better. Scores should be probabilities.

    Args:
        predict_fn: The model, a callable on image batches (see `keras_cxr.metrics`).
        images: Array of shape (N, H, W, C), as `predict_fn` expects it.
        heatmaps: Non-negative array of shape (N, H, W), or an object with a `.heatmaps`
            attribute.
        class_index: Class whose score is compared (sigmoid head: 1 is p, 0 is 1 - p).
        batch_size: Largest batch passed to `predict_fn`. Defaults to 64.
        per_image: If True, return one drop per image instead of the mean. Defaults to
            False.

    Returns:
        The mean drop as a float in [0, 1], or an array of shape (N,) with
        `per_image=True`.

    Raises:
        ValueError: If the shapes disagree, the heatmaps are negative, an argument is out of
            range, or `predict_fn` returns negative scores or an output of the wrong shape.

    Example:
        >>> import numpy as np
        >>> images = np.ones((1, 2, 2, 1), dtype="float32")
        >>> heatmaps = np.array([[[1.0, 1.0], [0.0, 0.0]]])
        >>> def predict_fn(batch):
        ...     return batch.mean(axis=(1, 2, 3))  # the score is the mean intensity
        >>> keras_cxr.metrics.average_drop(predict_fn, images, heatmaps, class_index=1)
        0.5

    Reference:
        Chattopadhay, Sarkar, Howlader, Balasubramanian. "Grad-CAM++: Generalized
        Gradient-Based Visual Explanations for Deep Convolutional Networks." WACV 2018.
        https://arxiv.org/abs/1710.11063
    """
    original, masked = _original_and_masked_scores(
        predict_fn, images, heatmaps, class_index, batch_size
    )
    if np.any(original < 0) or np.any(masked < 0):
        raise ValueError(
            "`average_drop` needs non-negative scores (probabilities); `predict_fn` returned "
            f"a minimum of {float(min(original.min(), masked.min()))}."
        )
    drops = np.divide(
        np.maximum(original - masked, 0.0),
        original,
        out=np.zeros_like(original),
        where=original > 0,
    )
    return drops if per_image else float(drops.mean())


def average_increase(
    predict_fn: PredictFn,
    images: Any,
    heatmaps: Any,
    class_index: int,
    batch_size: int = 64,
    per_image: bool = False,
) -> float | np.ndarray:
    """Share of images whose class confidence rises when only the explained regions are shown.

    "Increase in Confidence": for each image, 1 if the score O on the explanation map (see
    the module docstring) is strictly higher than the score Y on the original image, else 0;
    the metric is the mean. Higher is better.

    Args:
        predict_fn, images, heatmaps, class_index, batch_size: As for
            `keras_cxr.metrics.average_drop`, with the same default.
        per_image: If True, return 0.0/1.0 per image instead of the mean. Defaults to False.

    Returns:
        The share as a float in [0, 1], or an array of shape (N,) with `per_image=True`.

    Raises:
        ValueError: If the shapes disagree, the heatmaps are negative, an argument is out of
            range, or `predict_fn` returns an output of the wrong shape.

    Example:
        Darker images score higher, so blanking half of the first image raises its score,
        while the second heatmap keeps every pixel:

        >>> import numpy as np
        >>> images = np.stack([np.ones((2, 2, 1)), np.full((2, 2, 1), 0.5)])
        >>> heatmaps = np.array([[[1.0, 1.0], [0.0, 0.0]], [[1.0, 1.0], [1.0, 1.0]]])
        >>> keras_cxr.metrics.average_increase(
        ...     lambda batch: 1.0 - batch.mean(axis=(1, 2, 3)), images, heatmaps,
        ...     class_index=1, per_image=True)
        array([1., 0.])

    Reference:
        Chattopadhay, Sarkar, Howlader, Balasubramanian. "Grad-CAM++: Generalized
        Gradient-Based Visual Explanations for Deep Convolutional Networks." WACV 2018.
        https://arxiv.org/abs/1710.11063
    """
    original, masked = _original_and_masked_scores(
        predict_fn, images, heatmaps, class_index, batch_size
    )
    increases = (masked > original).astype(np.float64)
    return increases if per_image else float(increases.mean())
