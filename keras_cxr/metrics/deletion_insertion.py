"""Deletion and insertion curves and their areas (Petsiuk et al., RISE).

Pixels are perturbed in order of decreasing saliency and the class score is recorded after
each step: deletion replaces the most salient pixels by a baseline canvas, insertion copies
them back onto it. A faithful heatmap makes the deletion score fall fast (a low area) and
the insertion score rise fast (a high area). The model is seen only through `predict_fn`
(see the contract in `keras_cxr.metrics`); one curve over N images costs about
N * (steps + 1) / batch_size calls to it.

Reference:
    Petsiuk, Das, Saenko. "RISE: Randomized Input Sampling for Explanation of Black-box
    Models." BMVC 2018. https://arxiv.org/abs/1806.07421
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from keras_cxr._validation import check_int, invalid_value, shape_error
from keras_cxr.metrics._perturbation import PredictFn, perturbation_curve
from keras_cxr.metrics._stats import trapezoid


def _evenly_spaced(steps: Any) -> Callable[[int], np.ndarray]:
    """The schedule of `steps` equal steps from no pixel to all, `steps` checked when used."""

    def counts(num_pixels: int) -> np.ndarray:
        checked = check_int("steps", steps)
        return np.floor(np.arange(checked + 1) * num_pixels / checked + 0.5).astype(np.int64)

    return counts


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
        predict_fn: The model, a callable on image batches (see `keras_cxr.metrics`).
        images: Array of shape (N, H, W, C), as `predict_fn` expects it.
        heatmaps: Array of shape (N, H, W), or an object with a `.heatmaps` attribute.
        class_index: Class whose score is tracked. For a single-unit sigmoid head, 1 tracks
            p and 0 tracks 1 - p.
        steps: Number of perturbation steps. Defaults to 20.
        baseline: What deleted pixels become: "blur" (the image under an 11 x 11 Gaussian
            blur with sigma 5 px, the RISE canvas), "mean" (the image's per-channel mean), "min"
            (the image's smallest value, Quantus's "black") or "zero". Defaults to "blur";
            RISE itself deleted to zero.
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
    schedule = _evenly_spaced(steps)
    return perturbation_curve(
        predict_fn, images, heatmaps, class_index, schedule, baseline, batch_size, insertion=False
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
        predict_fn, images, heatmaps, class_index, steps, batch_size: As for
            `keras_cxr.metrics.deletion_curve`, with the same defaults.
        baseline: The starting canvas, "blur", "mean", "min" or "zero" (see
            `deletion_curve`). Defaults to "blur".

    Returns:
        A tuple `(fractions, scores)`: `fractions` of shape (steps + 1,) holds the share of
        pixels inserted at each step, from 0 to 1; `scores` of shape (N, steps + 1) holds the
        class score of each image at each step.

    Raises:
        ValueError: As for `keras_cxr.metrics.deletion_curve`.

    Example:
        With the "mean" baseline, insertion starts from the image's mean intensity (here 1)
        and the score, the top-left pixel, jumps once that pixel is restored:

        >>> import numpy as np
        >>> images = np.array([[[[4.0], [0.0]], [[0.0], [0.0]]]])
        >>> fractions, scores = keras_cxr.metrics.insertion_curve(
        ...     lambda batch: batch[:, 0, 0, 0], images, images[..., 0], class_index=1,
        ...     steps=2, baseline="mean")
        >>> fractions.tolist(), scores.tolist()
        ([0.0, 0.5, 1.0], [[1.0, 4.0, 4.0]])

    Reference:
        Petsiuk, Das, Saenko. "RISE: Randomized Input Sampling for Explanation of Black-box
        Models." BMVC 2018. https://arxiv.org/abs/1806.07421
    """
    schedule = _evenly_spaced(steps)
    return perturbation_curve(
        predict_fn, images, heatmaps, class_index, schedule, baseline, batch_size, insertion=True
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


def _area(curve: tuple[np.ndarray, np.ndarray], per_image: bool) -> float | np.ndarray:
    areas = curve_auc(*curve)
    return areas if per_image else float(areas.mean())


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

    Runs `keras_cxr.metrics.deletion_curve` and integrates each curve with
    `keras_cxr.metrics.curve_auc` over the share of deleted pixels (x from 0 to 1).

    Args:
        predict_fn, images, heatmaps, class_index, steps, baseline, batch_size: Passed to
            `keras_cxr.metrics.deletion_curve`, with its defaults.
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
    curve = deletion_curve(predict_fn, images, heatmaps, class_index, steps, baseline, batch_size)
    return _area(curve, per_image)


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

    The counterpart of `keras_cxr.metrics.deletion_auc`, over
    `keras_cxr.metrics.insertion_curve` and the share of inserted pixels.

    Args:
        predict_fn, images, heatmaps, class_index, steps, baseline, batch_size: Passed to
            `keras_cxr.metrics.insertion_curve`, with its defaults.
        per_image: If True, return one area per image instead of the mean. Defaults to
            False.

    Returns:
        As for `keras_cxr.metrics.deletion_auc`: a float, or shape (N,) with `per_image`.

    Raises:
        ValueError: As for `keras_cxr.metrics.deletion_curve`.

    Example:
        The score is the top-left pixel; the second heatmap ranks it second, not first:

        >>> import numpy as np
        >>> heatmaps = np.array([[[1.0, 0.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 1.0]]])
        >>> keras_cxr.metrics.insertion_auc(
        ...     lambda batch: batch[:, 0, 0, 0], np.ones((2, 2, 2, 1)), heatmaps,
        ...     class_index=1, steps=4, baseline="zero", per_image=True)
        array([0.875, 0.625])

    Reference:
        Petsiuk, Das, Saenko. "RISE: Randomized Input Sampling for Explanation of Black-box
        Models." BMVC 2018. https://arxiv.org/abs/1806.07421
    """
    curve = insertion_curve(predict_fn, images, heatmaps, class_index, steps, baseline, batch_size)
    return _area(curve, per_image)
