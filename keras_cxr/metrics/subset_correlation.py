"""Faithfulness correlation (Bhatt et al., 2020): do relevance sums predict score drops?

For every image, `nr_runs` random subsets of `subset_size` pixels are replaced by a
baseline; the metric is the Pearson correlation, over the runs, between the relevance summed
over each subset and the drop of the class score it causes. Near 1, the map's relevance is
what the model loses; near 0 or below, the map does not track the model. All `N · nr_runs`
perturbed images are scored in batches of `batch_size` through `predict_fn` (see
`keras_cxr.metrics`).

Reference:
    Bhatt, Weller, Moura. "Evaluating and Aggregating Feature-based Model Explanations."
    IJCAI 2020. https://arxiv.org/abs/2005.00631
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from keras_cxr._validation import check_int, invalid_value
from keras_cxr.metrics._perturbation import (
    PredictFn,
    baseline_image,
    check_baseline,
    checked_inputs,
    predict_in_batches,
)
from keras_cxr.metrics._stats import pearson_rows, summarize


def random_subsets(
    num_pixels: int, subset_size: int, num_images: int, nr_runs: int, seed: Any
) -> np.ndarray:
    """Random pixel subsets without replacement, int64 (nr_runs, num_images, subset_size).

    Drawn run by run, image by image, each with `rng.choice(num_pixels, subset_size,
    replace=False)` of `rng = np.random.default_rng(seed)`: the order in which Quantus's
    `FaithfulnessCorrelation` draws its subsets, so that a test can replay the same draws.
    """
    rng = np.random.default_rng(seed)
    draws = [
        rng.choice(num_pixels, subset_size, replace=False)
        for _ in range(nr_runs)
        for _ in range(num_images)
    ]
    return np.asarray(draws, np.int64).reshape(nr_runs, num_images, subset_size)


def _subset_stacks(
    images: np.ndarray, subsets: np.ndarray, baseline: str, chunk: int
) -> Iterator[np.ndarray]:
    """Per image: the image itself, then its `nr_runs` perturbed copies, `chunk` at a time."""
    for index, image in enumerate(images):
        canvas = baseline_image(image, baseline).reshape(-1, image.shape[-1])
        flat = image.reshape(-1, image.shape[-1])
        yield image[None]
        for start in range(0, len(subsets), chunk):
            runs = subsets[start : start + chunk, index]
            copies = np.repeat(flat[None], len(runs), axis=0)
            rows = np.arange(len(runs))[:, None]
            copies[rows, runs] = canvas[runs]
            yield copies.reshape(len(runs), *image.shape)


def faithfulness_correlation(
    predict_fn: PredictFn,
    images: Any,
    heatmaps: Any,
    class_index: int,
    nr_runs: int = 100,
    subset_size: int = 224,
    baseline: str = "min",
    seed: Any = 0,
    batch_size: int = 64,
    per_image: bool = False,
) -> float | np.ndarray:
    """Pearson correlation between relevance sums of random pixel subsets and score drops.

    For run r of image n, a random subset S of `subset_size` pixels (all channels) is
    replaced by the baseline; with f the class score, the run gives the pair
    `(Σ_{i∈S} a_i, f(x) − f(x_S))`, and the image's value is the Pearson correlation of
    the pairs over its runs (higher is better). The maps are used as given (signed):
    Quantus's default `normalise=True` divides by the largest |a|, which a correlation
    ignores.

    Args:
        predict_fn: The model, a callable on image batches (see `keras_cxr.metrics`).
        images: Array of shape (N, H, W, C), as `predict_fn` expects it.
        heatmaps: Array of shape (N, H, W), or an object with a `.heatmaps` attribute.
        class_index: Class whose score is tracked (1 / 0 for p / 1 - p of a sigmoid head).
        nr_runs: Random subsets per image, >= 2. Defaults to 100 (Quantus's).
        subset_size: Pixels per subset, in [1, H·W]. Defaults to 224 (Quantus's).
        baseline: What the subset becomes: "min" (Quantus's "black"), "zero", "mean" or
            "blur". Defaults to "min".
        seed: Seed or `numpy.random.Generator` of the subsets (see `random_subsets`).
            Defaults to 0.
        batch_size: Largest batch passed to `predict_fn`. Defaults to 64.
        per_image: If True, one value per image instead of the mean. Defaults to False.

    Returns:
        The mean correlation over images where it is defined, or shape (N,) with
        `per_image=True` (NaN where the sums or the drops do not vary).

    Raises:
        ValueError: If the shapes disagree, an argument is out of range, or `predict_fn`
            returns an output of the wrong shape.

    Example:
        A linear model whose map is its own weights is perfectly faithful:

        >>> import numpy as np
        >>> weights = np.random.default_rng(0).normal(size=(1, 8, 8))
        >>> images = np.ones((1, 8, 8, 1), "float32")
        >>> linear = lambda batch: (batch[..., 0] * weights).sum(axis=(1, 2))
        >>> value = keras_cxr.metrics.faithfulness_correlation(
        ...     linear, images, weights, class_index=1, nr_runs=20, subset_size=8,
        ...     baseline="zero")
        >>> round(value, 6)
        1.0

    Reference:
        Bhatt, Weller, Moura. "Evaluating and Aggregating Feature-based Model
        Explanations." IJCAI 2020. https://arxiv.org/abs/2005.00631
    """
    images, heatmaps, class_index, batch_size = checked_inputs(
        images, heatmaps, class_index, batch_size
    )
    nr_runs = check_int("nr_runs", nr_runs, minimum=2)
    num_pixels = heatmaps.shape[1] * heatmaps.shape[2]
    subset_size = check_int("subset_size", subset_size)
    if subset_size > num_pixels:
        raise invalid_value("subset_size", f"at most H * W = {num_pixels}", subset_size)
    baseline = check_baseline(baseline)
    subsets = random_subsets(num_pixels, subset_size, len(images), nr_runs, seed)
    stacks = _subset_stacks(images, subsets, baseline, chunk=batch_size)
    scores = predict_in_batches(predict_fn, stacks, class_index, batch_size)
    scores = scores.reshape(len(images), nr_runs + 1)
    drops = scores[:, :1] - scores[:, 1:]
    flat = heatmaps.reshape(len(images), -1)
    sums = np.take_along_axis(flat[None], subsets, axis=2).sum(axis=2).T
    return summarize(pearson_rows(sums, drops), per_image)


__all__ = ["faithfulness_correlation", "random_subsets"]
