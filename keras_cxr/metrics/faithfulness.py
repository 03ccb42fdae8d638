"""Faithfulness metrics: does removing what the heatmap highlights change the prediction?

Deletion and insertion curves (Petsiuk et al., RISE) perturb pixels in order of decreasing
saliency and record the class score after each step; Average Drop and Increase in
Confidence (Chattopadhay et al., Grad-CAM++) compare the score on the original image with
the score on the image multiplied by its heatmap.

The model is seen only through `predict_fn`, any callable mapping a float32 batch of shape
(B, H, W, C) to scores of shape (B, num_classes), or (B, 1) / (B,) for a single-unit
sigmoid head. For a sigmoid head `class_index=1` selects the score p itself and
`class_index=0` selects 1 - p. For a Keras model, pass e.g.
`lambda batch: model.predict(batch, verbose=0)`. Images must already be in the form
`predict_fn` expects, and the "zero" and "mean" baselines are taken in that space.

All perturbed images are built chunk by chunk and sent to `predict_fn` in batches of
`batch_size`, so one curve over N images costs about N * (steps + 1) / batch_size calls.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import cv2
import numpy as np

from keras_cxr._validation import check_int, invalid_value, shape_error
from keras_cxr.metrics._inputs import as_heatmaps, as_images, check_non_negative
from keras_cxr.metrics._stats import trapezoid

PredictFn = Callable[[np.ndarray], Any]

BASELINES = ("blur", "mean", "zero")
# The blurred canvas of the RISE reference implementation: an 11 x 11 Gaussian, sigma 5 px.
_BLUR_KERNEL_SIZE = 11
_BLUR_SIGMA = 5.0


def _check_class_index(class_index: Any) -> int:
    if isinstance(class_index, bool) or not isinstance(class_index, numbers.Integral):
        raise invalid_value("class_index", "a non-negative integer", class_index)
    if class_index < 0:
        raise invalid_value("class_index", "a non-negative integer", class_index)
    return int(class_index)


def _class_scores(outputs: Any, class_index: int, batch_length: int) -> np.ndarray:
    """Pick the score of `class_index` from one batch of `predict_fn` outputs."""
    scores = np.asarray(outputs, dtype=np.float64)
    if scores.ndim == 2 and scores.shape[1] == 1:
        scores = scores[:, 0]
    if scores.ndim not in (1, 2) or scores.shape[0] != batch_length:
        raise ValueError(
            "`predict_fn` must return scores of shape (B, num_classes), (B, 1) or (B,) for a "
            f"batch of B={batch_length} images. Received an output of shape {scores.shape}."
        )
    if scores.ndim == 1:
        if class_index > 1:
            raise invalid_value(
                "class_index", "0 or 1 for a single-unit sigmoid output", class_index
            )
        return scores if class_index == 1 else 1.0 - scores
    if class_index >= scores.shape[1]:
        raise invalid_value(
            "class_index", f"an integer in [0, {scores.shape[1]}) for this output", class_index
        )
    return scores[:, class_index]


def _predict_in_batches(
    predict_fn: PredictFn,
    stacks: Iterable[np.ndarray],
    class_index: int,
    batch_size: int,
) -> np.ndarray:
    """Score a stream of image stacks, calling `predict_fn` on full batches of `batch_size`."""
    scores: list[np.ndarray] = []
    pending: list[np.ndarray] = []
    num_pending = 0
    for stack in stacks:
        pending.append(stack)
        num_pending += len(stack)
        if num_pending < batch_size:
            continue
        queued = np.concatenate(pending)
        start = 0
        while len(queued) - start >= batch_size:
            batch = queued[start : start + batch_size]
            scores.append(_class_scores(predict_fn(batch), class_index, len(batch)))
            start += batch_size
        pending = [queued[start:]] if start < len(queued) else []
        num_pending = len(queued) - start
    if pending:
        batch = np.concatenate(pending)
        scores.append(_class_scores(predict_fn(batch), class_index, len(batch)))
    return np.concatenate(scores)


def _blur(image: np.ndarray) -> np.ndarray:
    # One channel at a time: OpenCV drops a trailing axis of size 1 and caps channel counts.
    size = (_BLUR_KERNEL_SIZE, _BLUR_KERNEL_SIZE)
    channels = [
        cv2.GaussianBlur(image[..., channel], size, _BLUR_SIGMA, sigmaY=_BLUR_SIGMA)
        for channel in range(image.shape[-1])
    ]
    return np.stack(channels, axis=-1).astype(np.float32)


def _baseline_image(image: np.ndarray, baseline: str) -> np.ndarray:
    if baseline == "blur":
        return _blur(image)
    if baseline == "mean":
        return np.broadcast_to(image.mean(axis=(0, 1), keepdims=True), image.shape)
    return np.zeros_like(image)


def _check_baseline(baseline: Any) -> str:
    if not isinstance(baseline, str) or baseline not in BASELINES:
        raise invalid_value("baseline", f"one of {BASELINES}", baseline)
    return baseline


def _saliency_ranks(heatmap: np.ndarray) -> np.ndarray:
    """Position of each pixel in the order of decreasing saliency (0 = most salient).

    Ties are broken in row-major order so that curves are deterministic.
    """
    order = np.argsort(-heatmap.ravel(), kind="stable")
    ranks = np.empty(order.size, dtype=np.int64)
    ranks[order] = np.arange(order.size)
    return ranks.reshape(heatmap.shape)


def _perturbed_stacks(
    images: np.ndarray,
    heatmaps: np.ndarray,
    counts: np.ndarray,
    baseline: str,
    insertion: bool,
) -> Iterator[np.ndarray]:
    """Yield, per image, the (steps + 1, H, W, C) stack of its perturbed versions."""
    for image, heatmap in zip(images, heatmaps):
        canvas = _baseline_image(image, baseline)
        switched = _saliency_ranks(heatmap)[None] < counts[:, None, None]
        source, target = (image, canvas) if insertion else (canvas, image)
        # Deletion shows the baseline where a pixel is switched; insertion shows the image.
        yield np.where(switched[..., None], source, target).astype(np.float32)


def _perturbation_curve(
    predict_fn: PredictFn,
    images: Any,
    heatmaps: Any,
    class_index: int,
    steps: int,
    baseline: str,
    batch_size: int,
    insertion: bool,
) -> tuple[np.ndarray, np.ndarray]:
    heatmaps = as_heatmaps(heatmaps)
    images = as_images(images, heatmaps)
    class_index = _check_class_index(class_index)
    steps = check_int("steps", steps)
    baseline = _check_baseline(baseline)
    batch_size = check_int("batch_size", batch_size)
    num_pixels = heatmaps.shape[1] * heatmaps.shape[2]
    counts = np.floor(np.arange(steps + 1) * num_pixels / steps + 0.5).astype(np.int64)
    stacks = _perturbed_stacks(images, heatmaps, counts, baseline, insertion)
    scores = _predict_in_batches(predict_fn, stacks, class_index, batch_size)
    return counts / num_pixels, scores.reshape(len(images), steps + 1)


def deletion_curve(
    predict_fn: PredictFn,
    images: Any,
    heatmaps: Any,
    class_index: int,
    steps: int = 20,
    baseline: str = "blur",
    batch_size: int = 64,
) -> tuple[np.ndarray, np.ndarray]:
    """Class score as the most salient pixels are progressively replaced by a baseline.

    Pixels are ranked by decreasing heatmap value (ties in row-major order). At step i of
    `steps`, the top `round(i / steps * H * W)` pixels of every channel are replaced by the
    baseline image and the class score is recorded, so step 0 scores the original image and
    the last step the baseline alone. A faithful heatmap makes the score fall quickly (a
    low area under the curve).

    Args:
        predict_fn: Callable mapping a float32 batch (B, H, W, C) to scores (B,
            num_classes), or (B, 1) / (B,) for a sigmoid head.
        images: Array of shape (N, H, W, C), as `predict_fn` expects it.
        heatmaps: Array of shape (N, H, W), or an object with a `.heatmaps` attribute.
        class_index: Class whose score is tracked. For a single-unit sigmoid head, 1 tracks
            p and 0 tracks 1 - p.
        steps: Number of perturbation steps. Defaults to 20.
        baseline: What deleted pixels become: "blur" (the image under an 11 x 11 Gaussian
            blur with sigma 5 px, the RISE canvas), "mean" (the image's per-channel mean) or
            "zero". Defaults to "blur"; RISE itself deleted to zero.
        batch_size: Largest batch passed to `predict_fn`. Defaults to 64.

    Returns:
        A tuple `(fractions, scores)`: `fractions` of shape (steps + 1,) holds the share of
        pixels deleted at each step, from 0 to 1; `scores` of shape (N, steps + 1) holds the
        class score of each image at each step.

    Raises:
        ValueError: If the shapes disagree, an argument is out of range, or `predict_fn`
            returns an output of the wrong shape.

    Example:
        >>> import numpy as np
        >>> images = np.ones((1, 2, 2, 1), dtype="float32")
        >>> heatmaps = np.array([[[1.0, 0.0], [0.0, 0.0]]])
        >>> def predict_fn(batch):
        ...     return batch[:, 0, 0, 0]  # the score is the top-left pixel
        >>> fractions, scores = keras_cxr.metrics.deletion_curve(
        ...     predict_fn, images, heatmaps, class_index=1, steps=4, baseline="zero")
        >>> scores.tolist()
        [[1.0, 0.0, 0.0, 0.0, 0.0]]

    Reference:
        Petsiuk, Das, Saenko. "RISE: Randomized Input Sampling for Explanation of Black-box
        Models." BMVC 2018. https://arxiv.org/abs/1806.07421
    """
    return _perturbation_curve(
        predict_fn, images, heatmaps, class_index, steps, baseline, batch_size, insertion=False
    )


def insertion_curve(
    predict_fn: PredictFn,
    images: Any,
    heatmaps: Any,
    class_index: int,
    steps: int = 20,
    baseline: str = "blur",
    batch_size: int = 64,
) -> tuple[np.ndarray, np.ndarray]:
    """Class score as the most salient pixels are progressively restored onto a baseline.

    The mirror image of `keras_cxr.metrics.deletion_curve`: step 0 scores the baseline
    image alone, and at step i the top `round(i / steps * H * W)` pixels (by decreasing
    heatmap value, ties in row-major order) are copied back from the original, so the last
    step scores the original image. A faithful heatmap makes the score rise quickly (a high
    area under the curve).

    Args:
        predict_fn: Callable mapping a float32 batch (B, H, W, C) to scores (B,
            num_classes), or (B, 1) / (B,) for a sigmoid head.
        images: Array of shape (N, H, W, C), as `predict_fn` expects it.
        heatmaps: Array of shape (N, H, W), or an object with a `.heatmaps` attribute.
        class_index: Class whose score is tracked. For a single-unit sigmoid head, 1 tracks
            p and 0 tracks 1 - p.
        steps: Number of perturbation steps. Defaults to 20.
        baseline: Starting canvas: "blur" (11 x 11 Gaussian blur with sigma 5 px, as in
            RISE), "mean" (per-channel mean) or "zero". Defaults to "blur".
        batch_size: Largest batch passed to `predict_fn`. Defaults to 64.

    Returns:
        A tuple `(fractions, scores)`: `fractions` of shape (steps + 1,) holds the share of
        pixels inserted at each step, from 0 to 1; `scores` of shape (N, steps + 1) holds the
        class score of each image at each step.

    Raises:
        ValueError: If the shapes disagree, an argument is out of range, or `predict_fn`
            returns an output of the wrong shape.

    Example:
        >>> import numpy as np
        >>> images = np.ones((1, 2, 2, 1), dtype="float32")
        >>> heatmaps = np.array([[[1.0, 0.0], [0.0, 0.0]]])
        >>> def predict_fn(batch):
        ...     return batch[:, 0, 0, 0]
        >>> fractions, scores = keras_cxr.metrics.insertion_curve(
        ...     predict_fn, images, heatmaps, class_index=1, steps=4, baseline="zero")
        >>> scores.tolist()
        [[0.0, 1.0, 1.0, 1.0, 1.0]]

    Reference:
        Petsiuk, Das, Saenko. "RISE: Randomized Input Sampling for Explanation of Black-box
        Models." BMVC 2018. https://arxiv.org/abs/1806.07421
    """
    return _perturbation_curve(
        predict_fn, images, heatmaps, class_index, steps, baseline, batch_size, insertion=True
    )


def curve_auc(fractions: Any, scores: Any) -> np.ndarray:
    """Area under deletion or insertion curves by the trapezoid rule.

    The x-axis is the share of perturbed pixels, which runs from 0 to 1, so the area is on
    the same scale as the scores (a constant score s has area s).

    Args:
        fractions: Non-decreasing x-values of shape (steps + 1,) from 0 to 1 (repeats, which
            occur when `steps` exceeds the pixel count, add no area), as returned by
            `keras_cxr.metrics.deletion_curve` or `keras_cxr.metrics.insertion_curve`.
        scores: Curves of shape (N, steps + 1) (or (steps + 1,) for a single curve).

    Returns:
        The areas, of shape (N,) (a 0-d array for a single curve).

    Raises:
        ValueError: If `fractions` is not a non-decreasing 1-D array from 0 to 1 whose length
            matches the last axis of `scores`.

    Example:
        >>> import numpy as np
        >>> keras_cxr.metrics.curve_auc(np.array([0.0, 0.5, 1.0]), np.array([[1.0, 0.0, 0.0]]))
        array([0.25])
    """
    fractions = np.asarray(fractions, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    if (
        fractions.ndim != 1
        or fractions.size < 2
        or fractions[0] != 0
        or fractions[-1] != 1
        or np.any(np.diff(fractions) < 0)
    ):
        raise invalid_value("fractions", "a non-decreasing 1-D array from 0 to 1", fractions)
    if scores.ndim == 0 or scores.shape[-1] != fractions.size:
        raise shape_error(
            "scores", f"an array whose last axis has {fractions.size} steps", scores.shape
        )
    return trapezoid(scores, fractions)


def deletion_auc(
    predict_fn: PredictFn,
    images: Any,
    heatmaps: Any,
    class_index: int,
    steps: int = 20,
    baseline: str = "blur",
    batch_size: int = 64,
    per_image: bool = False,
) -> float | np.ndarray:
    """Area under the deletion curve; lower means a more faithful heatmap.

    Runs `keras_cxr.metrics.deletion_curve` and integrates each curve with the trapezoid
    rule over the share of deleted pixels (x from 0 to 1).

    Args:
        predict_fn: Callable mapping a float32 batch (B, H, W, C) to scores (B,
            num_classes), or (B, 1) / (B,) for a sigmoid head.
        images: Array of shape (N, H, W, C), as `predict_fn` expects it.
        heatmaps: Array of shape (N, H, W), or an object with a `.heatmaps` attribute.
        class_index: Class whose score is tracked (sigmoid head: 1 is p, 0 is 1 - p).
        steps: Number of perturbation steps. Defaults to 20.
        baseline: "blur", "mean" or "zero"; see `keras_cxr.metrics.deletion_curve`.
            Defaults to "blur".
        batch_size: Largest batch passed to `predict_fn`. Defaults to 64.
        per_image: If True, return one area per image instead of the mean. Defaults to
            False.

    Returns:
        The mean area as a float, or an array of shape (N,) with `per_image=True`. For
        probability scores the area lies in [0, 1].

    Raises:
        ValueError: As for `keras_cxr.metrics.deletion_curve`.

    Example:
        >>> import numpy as np
        >>> images = np.ones((1, 2, 2, 1), dtype="float32")
        >>> heatmaps = np.array([[[1.0, 0.0], [0.0, 0.0]]])
        >>> keras_cxr.metrics.deletion_auc(
        ...     lambda batch: batch[:, 0, 0, 0], images, heatmaps, class_index=1, steps=4,
        ...     baseline="zero")
        0.125

    Reference:
        Petsiuk, Das, Saenko. "RISE: Randomized Input Sampling for Explanation of Black-box
        Models." BMVC 2018. https://arxiv.org/abs/1806.07421
    """
    fractions, scores = deletion_curve(
        predict_fn, images, heatmaps, class_index, steps, baseline, batch_size
    )
    areas = curve_auc(fractions, scores)
    return areas if per_image else float(areas.mean())


def insertion_auc(
    predict_fn: PredictFn,
    images: Any,
    heatmaps: Any,
    class_index: int,
    steps: int = 20,
    baseline: str = "blur",
    batch_size: int = 64,
    per_image: bool = False,
) -> float | np.ndarray:
    """Area under the insertion curve; higher means a more faithful heatmap.

    Runs `keras_cxr.metrics.insertion_curve` and integrates each curve with the trapezoid
    rule over the share of inserted pixels (x from 0 to 1).

    Args:
        predict_fn: Callable mapping a float32 batch (B, H, W, C) to scores (B,
            num_classes), or (B, 1) / (B,) for a sigmoid head.
        images: Array of shape (N, H, W, C), as `predict_fn` expects it.
        heatmaps: Array of shape (N, H, W), or an object with a `.heatmaps` attribute.
        class_index: Class whose score is tracked (sigmoid head: 1 is p, 0 is 1 - p).
        steps: Number of perturbation steps. Defaults to 20.
        baseline: "blur", "mean" or "zero"; see `keras_cxr.metrics.insertion_curve`.
            Defaults to "blur".
        batch_size: Largest batch passed to `predict_fn`. Defaults to 64.
        per_image: If True, return one area per image instead of the mean. Defaults to
            False.

    Returns:
        The mean area as a float, or an array of shape (N,) with `per_image=True`. For
        probability scores the area lies in [0, 1].

    Raises:
        ValueError: As for `keras_cxr.metrics.insertion_curve`.

    Example:
        >>> import numpy as np
        >>> images = np.ones((1, 2, 2, 1), dtype="float32")
        >>> heatmaps = np.array([[[1.0, 0.0], [0.0, 0.0]]])
        >>> keras_cxr.metrics.insertion_auc(
        ...     lambda batch: batch[:, 0, 0, 0], images, heatmaps, class_index=1, steps=4,
        ...     baseline="zero")
        0.875

    Reference:
        Petsiuk, Das, Saenko. "RISE: Randomized Input Sampling for Explanation of Black-box
        Models." BMVC 2018. https://arxiv.org/abs/1806.07421
    """
    fractions, scores = insertion_curve(
        predict_fn, images, heatmaps, class_index, steps, baseline, batch_size
    )
    areas = curve_auc(fractions, scores)
    return areas if per_image else float(areas.mean())


def _original_and_masked_scores(
    predict_fn: PredictFn,
    images: Any,
    heatmaps: Any,
    class_index: int,
    batch_size: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Scores of each original image and of the image multiplied by its heatmap."""
    heatmaps = as_heatmaps(heatmaps)
    images = as_images(images, heatmaps)
    check_non_negative(heatmaps)
    class_index = _check_class_index(class_index)
    batch_size = check_int("batch_size", batch_size)
    peaks = heatmaps.max(axis=(1, 2), keepdims=True)
    weights = np.divide(heatmaps, peaks, out=np.zeros_like(heatmaps), where=peaks > 0)
    stacks = (
        np.stack([image, image * weight[..., None].astype(np.float32)])
        for image, weight in zip(images, weights)
    )
    scores = _predict_in_batches(predict_fn, stacks, class_index, batch_size)
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
    explanation map, the drop is max(0, Y - O) / Y (0 when Y is 0); the metric is its mean.
    Lower is better. The paper reports it as a percentage; this returns a fraction.

    The explanation map is the image multiplied pixel-wise by its heatmap divided by the
    heatmap's maximum (so the most salient pixel is kept as is and an all-zero heatmap
    blanks the image). Scores should be probabilities.

    Args:
        predict_fn: Callable mapping a float32 batch (B, H, W, C) to scores (B,
            num_classes), or (B, 1) / (B,) for a sigmoid head.
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

    "Increase in Confidence": for each image, 1 if the score on the explanation map is
    strictly higher than on the original image, else 0; the metric is the mean. Higher is
    better. The paper reports it as a percentage; this returns a fraction.

    The explanation map is the image multiplied pixel-wise by its heatmap divided by the
    heatmap's maximum (so the most salient pixel is kept as is and an all-zero heatmap
    blanks the image).

    Args:
        predict_fn: Callable mapping a float32 batch (B, H, W, C) to scores (B,
            num_classes), or (B, 1) / (B,) for a sigmoid head.
        images: Array of shape (N, H, W, C), as `predict_fn` expects it.
        heatmaps: Non-negative array of shape (N, H, W), or an object with a `.heatmaps`
            attribute.
        class_index: Class whose score is compared (sigmoid head: 1 is p, 0 is 1 - p).
        batch_size: Largest batch passed to `predict_fn`. Defaults to 64.
        per_image: If True, return 0.0/1.0 per image instead of the mean. Defaults to False.

    Returns:
        The share as a float in [0, 1], or an array of shape (N,) with `per_image=True`.

    Raises:
        ValueError: If the shapes disagree, the heatmaps are negative, an argument is out of
            range, or `predict_fn` returns an output of the wrong shape.

    Example:
        >>> import numpy as np
        >>> images = np.ones((1, 2, 2, 1), dtype="float32")
        >>> heatmaps = np.array([[[1.0, 1.0], [0.0, 0.0]]])
        >>> def predict_fn(batch):
        ...     return 1.0 - batch.mean(axis=(1, 2, 3))  # darker images score higher
        >>> keras_cxr.metrics.average_increase(predict_fn, images, heatmaps, class_index=1)
        1.0

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
