"""Pixel flipping (Bach et al., 2015): the class score as the most relevant pixels are flipped.

Pixels are flipped (replaced by a baseline) cumulatively, `features_in_step` at a time, in
order of decreasing relevance, and the class score is recorded after every step. A faithful
map makes the score fall fast, so a lower area under the curve is better. This is the
deletion curve of `keras_cxr.metrics.deletion_curve` at the step size and baseline of
Quantus's `PixelFlipping` (one pixel per step, the image's minimum), and it shares its
plumbing: the flipped images are built chunk by chunk and scored in batches of
`batch_size`. One pixel per step costs H * W model calls per image: raise
`features_in_step` for full-size X-rays.

Reference:
    Bach, Binder, Montavon, Klauschen, Müller, Samek. "On Pixel-Wise Explanations for
    Non-Linear Classifier Decisions by Layer-Wise Relevance Propagation." PLoS ONE 10(7),
    2015. https://doi.org/10.1371/journal.pone.0130140
"""

from __future__ import annotations

from typing import Any

import numpy as np

from keras_cxr._validation import check_int
from keras_cxr.metrics._perturbation import PredictFn, perturbation_curve
from keras_cxr.metrics._stats import summarize, trapezoid


def pixel_flipping_curve(
    predict_fn: PredictFn,
    images: Any,
    heatmaps: Any,
    class_index: int,
    features_in_step: int = 1,
    baseline: str = "min",
    batch_size: int = 64,
) -> tuple[np.ndarray, np.ndarray]:
    """Class score after each step of flipping the most relevant pixels to a baseline.

    Step k (k = 1 .. ceil(H·W / features_in_step)) shows the image with its top
    `min(k · features_in_step, H·W)` pixels (by decreasing heatmap value, ties in row-major
    order, every channel) replaced by the baseline, so the first point already has one step
    flipped and the last is the baseline alone, as in Quantus's `PixelFlipping`.

    Args:
        predict_fn: The model, a callable on image batches (see `keras_cxr.metrics`).
        images: Array of shape (N, H, W, C), as `predict_fn` expects it.
        heatmaps: Array of shape (N, H, W) (signed values allowed), or an object with a
            `.heatmaps` attribute.
        class_index: Class whose score is tracked (1 / 0 for p / 1 - p of a sigmoid head).
        features_in_step: Pixels flipped per step, >= 1. Defaults to 1 (Quantus's).
        baseline: What flipped pixels become: "min" (the image's smallest value, Quantus's
            "black"), "zero", "mean" or "blur" (see `keras_cxr.metrics.deletion_curve`).
            Defaults to "min".
        batch_size: Largest batch passed to `predict_fn`. Defaults to 64.

    Returns:
        `(fractions, scores)`: the share of flipped pixels after each step, shape (S,), and
        the class score of every image after every step, shape (N, S).

    Raises:
        ValueError: If the shapes disagree, an argument is out of range, or `predict_fn`
            returns an output of the wrong shape.

    Example:
        >>> import numpy as np
        >>> images = np.array([[[[1.0], [2.0]], [[3.0], [4.0]]]])
        >>> fractions, scores = keras_cxr.metrics.pixel_flipping_curve(
        ...     lambda batch: batch.sum(axis=(1, 2, 3)), images, images[..., 0],
        ...     class_index=1)
        >>> fractions.tolist(), scores.tolist()  # 4 flips to 1 (the minimum), then 3 ...
        ([0.25, 0.5, 0.75, 1.0], [[7.0, 5.0, 4.0, 4.0]])

    Reference:
        Bach, Binder, Montavon, Klauschen, Müller, Samek. "On Pixel-Wise Explanations for
        Non-Linear Classifier Decisions by Layer-Wise Relevance Propagation." PLoS ONE
        10(7), 2015. https://doi.org/10.1371/journal.pone.0130140
    """

    def in_steps(num_pixels: int) -> np.ndarray:
        step = check_int("features_in_step", features_in_step)
        return np.minimum(np.arange(step, num_pixels + step, step), num_pixels)

    return perturbation_curve(
        predict_fn, images, heatmaps, class_index, in_steps, baseline, batch_size, insertion=False
    )


def pixel_flipping(
    predict_fn: PredictFn,
    images: Any,
    heatmaps: Any,
    class_index: int,
    features_in_step: int = 1,
    baseline: str = "min",
    batch_size: int = 64,
    per_image: bool = False,
) -> float | np.ndarray:
    """Area under the pixel-flipping curve over the share of flipped pixels (lower is better).

    Integrates `keras_cxr.metrics.pixel_flipping_curve` by the trapezoid rule over the
    share of flipped pixels, so the area is on the scale of the scores whatever the image
    size. Quantus's `return_auc_per_sample=True` integrates over the step number instead
    (`np.trapz(..., dx=1)`): where `features_in_step` divides H·W its value is ours times
    H·W / `features_in_step`.

    Args:
        predict_fn, images, heatmaps, class_index, features_in_step, baseline, batch_size:
            As for `keras_cxr.metrics.pixel_flipping_curve`, with its defaults.
        per_image: If True, one area per image instead of the mean. Defaults to False.

    Returns:
        The mean area as a float, or shape (N,) with `per_image=True` (feed it to
        `keras_cxr.metrics.per_image_interval` for a patient-level interval). A curve of a
        single point (one step flips every pixel) has area 0.

    Raises:
        ValueError: As for `keras_cxr.metrics.pixel_flipping_curve`.

    Example:
        >>> import numpy as np
        >>> images = np.array([[[[1.0], [2.0]], [[3.0], [4.0]]]])
        >>> keras_cxr.metrics.pixel_flipping(
        ...     lambda batch: batch.sum(axis=(1, 2, 3)), images, images[..., 0],
        ...     class_index=1)  # ((7 + 5) + (5 + 4) + (4 + 4)) / 2 * 0.25
        3.625

    Reference:
        Bach, Binder, Montavon, Klauschen, Müller, Samek. "On Pixel-Wise Explanations for
        Non-Linear Classifier Decisions by Layer-Wise Relevance Propagation." PLoS ONE
        10(7), 2015. https://doi.org/10.1371/journal.pone.0130140
    """
    fractions, scores = pixel_flipping_curve(
        predict_fn, images, heatmaps, class_index, features_in_step, baseline, batch_size
    )
    return summarize(trapezoid(scores, fractions), per_image)


__all__ = ["pixel_flipping", "pixel_flipping_curve"]
