"""Efficient and smooth MPRT (Hedström et al., 2024): the model randomization test, revisited.

The model parameter randomization test (MPRT, `keras_cxr.metrics.model_randomization_test`)
compares explanations of a model with those of copies whose layers are randomized one by
one. Hedström et al. name two weaknesses and a fix for each; both variants here compare the
original model with one copy whose every kernel and bias is randomized (the last cascading
copy, `keras_cxr.metrics.model_randomization.fully_randomized_model`):

- `smooth_mprt` (sMPRT) denoises both explanations first, averaging them over noisy copies
  of each image (the last copy noise-free), so that gradient noise does not pass for a
  change; it reports their similarity, lower is better.
- `efficient_mprt` (eMPRT) needs no similarity measure: it reports the relative rise of the
  explanation's complexity (the entropy of its histogram) once the model is random; a
  method that explains the model yields noisier maps of a random one, so higher is better.

The explainer is seen through `explain_fn(model, images)`, as for
`keras_cxr.metrics.model_randomization_test`; every call gets at most `batch_size` images.

Reference:
    Hedström, Weber, Lapuschkin, Höhne. "A Fresh Look at Sanity Checks for Saliency Maps."
    World Conference on Explainable AI, 2024. https://arxiv.org/abs/2405.02383
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from keras_cxr._validation import check_int, invalid_value, shape_error
from keras_cxr.metrics._inputs import check_finite_number
from keras_cxr.metrics._stats import summarize
from keras_cxr.metrics.model_randomization import fully_randomized_model
from keras_cxr.metrics.similarity import SIMILARITIES, map_similarity

if TYPE_CHECKING:
    import keras

ExplainFn = Callable[[Any, np.ndarray], Any]


def _explain_in_batches(
    explain_fn: ExplainFn, model: Any, images: np.ndarray, batch_size: int
) -> np.ndarray:
    """`explain_fn(model, chunk)` over chunks of `batch_size` images, as float64 (N, H, W)."""
    maps = []
    for start in range(0, len(images), batch_size):
        chunk = images[start : start + batch_size]
        result = explain_fn(model, chunk)
        result = getattr(result, "heatmaps", result)
        array = np.asarray(result, np.float64)
        if array.ndim != 3 or array.shape[0] != len(chunk):
            raise shape_error("explain_fn", f"maps of shape ({len(chunk)}, H, W)", array.shape)
        maps.append(array)
    return np.concatenate(maps)


def _checked_images(images: Any) -> np.ndarray:
    images = np.asarray(images, np.float32)
    if images.ndim < 2 or 0 in images.shape:
        raise shape_error("images", "a non-empty batch of images (N, ...)", images.shape)
    return images


def histogram_entropy(maps: np.ndarray, n_bins: int = 100) -> np.ndarray:
    """Shannon entropy (nats) of each map's histogram of `n_bins` equal bins over its range.

    Quantus's `discrete_entropy`: `np.histogram(a, bins=n_bins)` then `-Σ p ln p` over the
    non-empty bins. A constant map has entropy 0.

    Example:
        >>> import numpy as np
        >>> from keras_cxr.metrics.parameter_randomization import histogram_entropy
        >>> histogram_entropy(np.array([[[0.0, 1.0], [0.0, 1.0]]]), n_bins=2)  # ln 2
        array([0.69314718])
    """
    values = []
    for single in maps:
        counts, _ = np.histogram(single, bins=n_bins)
        p = counts[counts > 0] / counts.sum()
        values.append(float(-(p * np.log(p)).sum()))
    return np.asarray(values)


def efficient_mprt(
    explain_fn: ExplainFn,
    model: keras.Model,
    images: Any,
    n_bins: int = 100,
    seed: int = 0,
    batch_size: int = 64,
    per_image: bool = False,
) -> float | np.ndarray:
    """Relative rise in explanation complexity once the model is fully randomized (eMPRT).

    Per image, `(H(a_random) − H(a)) / H(a)` with H the entropy of the map's histogram
    (`histogram_entropy`, `n_bins` bins, Quantus's default with no bin rule) and `a_random`
    the explanation of the fully randomized copy. Higher is better: the explanation of a
    random model should be noisier. Maps are used as given (Quantus's defaults
    `abs=False`, `normalise=False`).

    Args:
        explain_fn: Callable `explain_fn(model, images)` returning maps (N, H, W) or an
            object with `.heatmaps`.
        model: The trained Keras model; it is never modified.
        images: Inputs passed to `explain_fn`, in chunks of `batch_size`.
        n_bins: Histogram bins, >= 2. Defaults to 100.
        seed: Seed of the randomized weights (see `keras_cxr.metrics.randomize_model`).
            Defaults to 0.
        batch_size: Most images per call of `explain_fn`. Defaults to 64.
        per_image: If True, one value per image instead of the mean. Defaults to False.

    Returns:
        The mean relative rise over images where it is defined, or shape (N,) with
        `per_image=True` (NaN where the original map is constant, entropy 0).

    Raises:
        ValueError: For a bad `n_bins`, `seed` or `batch_size`, a model without weights,
            or maps of a wrong shape.

    Example:
        >>> import keras, numpy as np
        >>> model = keras.Sequential([keras.Input((16,)), keras.layers.Dense(1)])
        >>> def explain_fn(model, images):  # input x gradient of the linear model
        ...     return (images * model.get_weights()[0][:, 0]).reshape(-1, 4, 4)
        >>> images = np.random.default_rng(0).uniform(size=(2, 16))
        >>> keras_cxr.metrics.efficient_mprt(explain_fn, model, images, n_bins=4,
        ...                                  per_image=True).shape
        (2,)

    Reference:
        Hedström, Weber, Lapuschkin, Höhne. "A Fresh Look at Sanity Checks for Saliency
        Maps." World Conference on Explainable AI, 2024. https://arxiv.org/abs/2405.02383
    """
    n_bins = check_int("n_bins", n_bins, minimum=2)
    batch_size = check_int("batch_size", batch_size)
    images = _checked_images(images)
    randomized = fully_randomized_model(model, seed)
    before = histogram_entropy(_explain_in_batches(explain_fn, model, images, batch_size), n_bins)
    after = histogram_entropy(
        _explain_in_batches(explain_fn, randomized, images, batch_size), n_bins
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        rise = np.where(before > 0, (after - before) / before, np.nan)
    return summarize(rise, per_image)


def smoothed_explanations(
    explain_fn: ExplainFn,
    model: Any,
    images: np.ndarray,
    nr_samples: int,
    noise_magnitude: float,
    rng: np.random.Generator,
    batch_size: int,
) -> np.ndarray:
    """The mean of `explain_fn` over `nr_samples` noisy copies of each image (float64 (N, H, W)).

    Copy s < nr_samples − 1 adds Gaussian noise of standard deviation `noise_magnitude ·
    (max − min)` of its image; the last copy is the image itself, as in Quantus's sMPRT.
    The noise is drawn sample by sample, `rng.standard_normal(images.shape)`, and the copies
    of all images are explained together, `batch_size` at a time.
    """
    axes = tuple(range(1, images.ndim))
    spread = images.max(axis=axes, keepdims=True) - images.min(axis=axes, keepdims=True)
    noisy = [
        images + (rng.standard_normal(images.shape) * noise_magnitude * spread).astype(np.float32)
        for _ in range(nr_samples - 1)
    ]
    stacked = np.concatenate([*noisy, images])
    maps = _explain_in_batches(explain_fn, model, stacked, batch_size)
    return maps.reshape(nr_samples, len(images), *maps.shape[1:]).mean(axis=0)


def smooth_mprt(
    explain_fn: ExplainFn,
    model: keras.Model,
    images: Any,
    nr_samples: int = 50,
    noise_magnitude: float = 0.1,
    similarity: str = "spearman",
    absolute: bool = True,
    seed: int = 0,
    batch_size: int = 64,
    per_image: bool = False,
) -> float | np.ndarray:
    """Similarity of denoised explanations of the model and of its randomized copy (sMPRT).

    Both the model's and the fully randomized copy's explanations are averaged over
    `nr_samples` noisy copies of each image (`smoothed_explanations`), taken as magnitudes
    with `absolute=True` (Quantus's default `abs=True`), and compared image by image. Lower
    is better: a method that explains the model loses its structure when the model does.
    The denoising costs `2 · nr_samples` explanations per image.

    Args:
        explain_fn, model, images, batch_size, per_image: As for
            `keras_cxr.metrics.efficient_mprt`.
        nr_samples: Copies averaged per image, >= 1 (1: no noise, plain MPRT of the fully
            randomized model). Defaults to 50 (Quantus's).
        noise_magnitude: Noise standard deviation as a share of each image's value range,
            >= 0. Defaults to 0.1 (Quantus's).
        similarity: "spearman" (Quantus's default) or "ssim" (after min-max scaling).
            Defaults to "spearman".
        absolute: If True, compare the magnitudes of the denoised maps. Defaults to True.
        seed: Seed of the randomized weights and of the noise. Defaults to 0.

    Returns:
        The mean similarity over images, or shape (N,) with `per_image=True`.

    Raises:
        ValueError: For a bad `nr_samples`, `noise_magnitude`, `similarity`, `seed` or
            `batch_size`, a model without weights, or maps of a wrong shape.

    Example:
        >>> import keras, numpy as np
        >>> model = keras.Sequential([keras.Input((16,)), keras.layers.Dense(1)])
        >>> def explain_fn(model, images):  # the gradient: the same map for every image
        ...     return np.broadcast_to(model.get_weights()[0][:, 0].reshape(1, 4, 4),
        ...                            (len(images), 4, 4))
        >>> images = np.random.default_rng(0).uniform(size=(2, 16))
        >>> value = keras_cxr.metrics.smooth_mprt(explain_fn, model, images, nr_samples=3)
        >>> -1.0 <= value < 1.0
        True

    Reference:
        Hedström, Weber, Lapuschkin, Höhne. "A Fresh Look at Sanity Checks for Saliency
        Maps." World Conference on Explainable AI, 2024. https://arxiv.org/abs/2405.02383
    """
    nr_samples = check_int("nr_samples", nr_samples)
    noise_magnitude = check_finite_number("noise_magnitude", noise_magnitude)
    if similarity not in SIMILARITIES:
        raise invalid_value("similarity", f"one of {SIMILARITIES}", similarity)
    batch_size = check_int("batch_size", batch_size)
    images = _checked_images(images)
    randomized = fully_randomized_model(model, seed)
    smoothed = [
        smoothed_explanations(explain_fn, each, images, nr_samples, noise_magnitude,
                              np.random.default_rng(seed), batch_size)
        for each in (model, randomized)
    ]  # fmt: skip
    if absolute:
        smoothed = [np.abs(maps) for maps in smoothed]
    return summarize(map_similarity(*smoothed, similarity), per_image)


__all__ = ["efficient_mprt", "histogram_entropy", "smooth_mprt", "smoothed_explanations"]
