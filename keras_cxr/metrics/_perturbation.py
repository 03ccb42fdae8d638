"""Plumbing shared by the faithfulness metrics: baselines, class scores, batched prediction.

The `predict_fn` these helpers call follows the contract in the `keras_cxr.metrics`
package docstring.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import cv2
import numpy as np

from keras_cxr._validation import check_int, invalid_value
from keras_cxr.metrics._inputs import as_heatmaps, as_images
from keras_cxr.metrics._stats import descending_order

PredictFn = Callable[[np.ndarray], Any]

BASELINES = ("blur", "mean", "min", "zero")
# The blurred canvas of the RISE reference implementation: an 11 x 11 Gaussian, sigma 5 px.
_BLUR_KERNEL_SIZE = 11
_BLUR_SIGMA = 5.0


def checked_inputs(
    images: Any, heatmaps: Any, class_index: Any, batch_size: Any
) -> tuple[np.ndarray, np.ndarray, int, int]:
    """The arguments every faithfulness metric takes, coerced and checked.

    Returns `(images, heatmaps, class_index, batch_size)`: float32 (N, H, W, C) images
    matching float64 (N, H, W) heatmaps, an integer >= 0 and an integer >= 1.
    """
    heatmaps = as_heatmaps(heatmaps)
    images = as_images(images, heatmaps)
    class_index = check_int("class_index", class_index, minimum=0)
    return images, heatmaps, class_index, check_int("batch_size", batch_size)


def class_scores(outputs: Any, class_index: int, batch_length: int) -> np.ndarray:
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


def predicted_classes(outputs: Any, batch_length: int) -> np.ndarray:
    """The class each image of one batch of `predict_fn` outputs is assigned (int64, (B,)).

    The arg-max of a (B, num_classes) output; for a single-unit sigmoid head, 1 where the
    score is at least 0.5.
    """
    positives = class_scores(outputs, 1, batch_length)  # also checks the shape
    scores = np.asarray(outputs, dtype=np.float64)
    if scores.ndim == 2 and scores.shape[1] > 1:
        return np.argmax(scores, axis=1)
    return (positives >= 0.5).astype(np.int64)


def predict_in_batches(
    predict_fn: PredictFn,
    stacks: Iterable[np.ndarray],
    class_index: int | None,
    batch_size: int,
) -> np.ndarray:
    """Score a stream of image stacks, calling `predict_fn` on full batches of `batch_size`.

    Returns the score of `class_index` for every image, or with `class_index=None` the class
    each image is assigned (see `predicted_classes`).
    """

    def pick(outputs: Any, length: int) -> np.ndarray:
        if class_index is None:
            return predicted_classes(outputs, length)
        return class_scores(outputs, class_index, length)

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
            scores.append(pick(predict_fn(batch), len(batch)))
            start += batch_size
        pending = [queued[start:]] if start < len(queued) else []
        num_pending = len(queued) - start
    if pending:
        batch = np.concatenate(pending)
        scores.append(pick(predict_fn(batch), len(batch)))
    return np.concatenate(scores)


def check_baseline(baseline: Any) -> str:
    """Return `baseline` unchanged, raising unless it is one of `BASELINES`."""
    if not isinstance(baseline, str) or baseline not in BASELINES:
        raise invalid_value("baseline", f"one of {BASELINES}", baseline)
    return baseline


def baseline_image(image: np.ndarray, baseline: str) -> np.ndarray:
    """The canvas that deleted pixels become (and that insertion starts from)."""
    if baseline == "blur":
        return _blur(image)
    if baseline == "mean":
        return np.broadcast_to(image.mean(axis=(0, 1), keepdims=True), image.shape)
    if baseline == "min":
        return np.full_like(image, image.min())
    return np.zeros_like(image)


def saliency_ranks(heatmap: np.ndarray) -> np.ndarray:
    """Position of each pixel in the order of decreasing saliency (0 = most salient)."""
    order = descending_order(heatmap)
    ranks = np.empty(order.size, dtype=np.int64)
    ranks[order] = np.arange(order.size)
    return ranks.reshape(heatmap.shape)


def ranked_stacks(
    images: np.ndarray,
    heatmaps: np.ndarray,
    counts: np.ndarray,
    baseline: str,
    insertion: bool,
    chunk: int,
) -> Iterator[np.ndarray]:
    """Yield each image's perturbed versions, at most `chunk` at a time, image by image.

    Version i of an image has its top `counts[i]` pixels by decreasing heatmap value (all
    channels) switched: replaced by the baseline canvas (deletion), or, with `insertion`,
    copied from the image onto the canvas. Chunks keep memory at `chunk` images however
    many counts there are (pixel flipping has one per pixel).
    """
    for image, heatmap in zip(images, heatmaps):
        canvas = baseline_image(image, baseline)
        ranks = saliency_ranks(heatmap)[None]
        source, target = (image, canvas) if insertion else (canvas, image)
        for start in range(0, len(counts), chunk):
            switched = ranks < counts[start : start + chunk, None, None]
            yield np.where(switched[..., None], source, target).astype(np.float32)


def perturbation_curve(
    predict_fn: PredictFn,
    images: Any,
    heatmaps: Any,
    class_index: Any,
    schedule: Callable[[int], np.ndarray],
    baseline: Any,
    batch_size: Any,
    insertion: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Class scores as ever more of the most salient pixels are switched (see `ranked_stacks`).

    `schedule(H·W)` checks its own step argument and returns the pixel counts, one per point
    of the curve. Returns `(counts / (H·W), scores (N, len(counts)))`, the arguments checked
    in the order inputs, schedule, baseline.
    """
    images, heatmaps, class_index, batch_size = checked_inputs(
        images, heatmaps, class_index, batch_size
    )
    num_pixels = heatmaps.shape[1] * heatmaps.shape[2]
    counts = schedule(num_pixels)
    baseline = check_baseline(baseline)
    stacks = ranked_stacks(images, heatmaps, counts, baseline, insertion, chunk=batch_size)
    scores = predict_in_batches(predict_fn, stacks, class_index, batch_size)
    return counts / num_pixels, scores.reshape(len(images), len(counts))


def _blur(image: np.ndarray) -> np.ndarray:
    # One channel at a time: OpenCV drops a trailing axis of size 1 and caps channel counts.
    size = (_BLUR_KERNEL_SIZE, _BLUR_KERNEL_SIZE)
    channels = [
        cv2.GaussianBlur(image[..., channel], size, _BLUR_SIGMA, sigmaY=_BLUR_SIGMA)
        for channel in range(image.shape[-1])
    ]
    return np.stack(channels, axis=-1).astype(np.float32)
