"""Robustness metrics: how much an explanation changes under small input noise.

`local_lipschitz_estimate` relates the change to the size of the noise (Gaussian, see its
docstring). `max_sensitivity` and `avg_sensitivity` draw `num_samples` copies of each image with
uniform noise in `[−radius, radius]` on every pixel (Quantus's `batch_uniform_noise` with
its default `lower_bound=0.2`), explain them for the class explained on the clean image,
and report, per image, the largest or the mean of

    ‖a(x + δ) − a(x)‖₂ / ‖a(x)‖₂

over the samples (Quantus's defaults: the difference, Frobenius norms, no normalisation,
no absolute value). The noisy copies of the whole batch are explained together, up to
`batch_size` images per call of the explainer, so the explainer's compiled backend
function does the work in large batches.

The explainer is seen only through `explain_fn`: an object with an `explain(images,
class_index)` method (any keras_cxr explainer), or a callable with that signature. Its
result is an array (N, H, W) or an object with `.attributions` (used when set) or
`.heatmaps`; its `class_index`, when it has one, fixes the explained class of the noisy
copies. `radius` is in the explainer's input scale: 0.2 suits images in [0, 1], not 0–255.
With `per_image=True`, each metric's values give a patient-level bootstrap interval through
`keras_cxr.metrics.per_image_interval`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from keras_cxr._validation import check_int
from keras_cxr.metrics._explain_fn import checked_images, explain_method, maps_and_classes
from keras_cxr.metrics._inputs import check_finite_number
from keras_cxr.metrics._stats import reduce_rows, summarize


def sensitivities(
    explain_fn: Any,
    images: Any,
    class_index: Any = None,
    radius: float = 0.2,
    num_samples: int = 20,
    seed: int = 0,
    batch_size: int = 64,
) -> np.ndarray:
    """`‖a(x + δ) − a(x)‖ / ‖a(x)‖` of every image and noise sample, float64 (N, S).

    Args:
        explain_fn, images, class_index, radius, num_samples, seed, batch_size: As for
            `keras_cxr.metrics.max_sensitivity`.

    Returns:
        One row per image, one column per noise sample (NaN where `a(x)` is all zero).
        Sample `s` of image `n` adds `noise[s, n]`, `noise = np.random.default_rng(seed)
        .uniform(-radius, radius, (num_samples, *images.shape))` drawn chunk by chunk.

    Raises:
        ValueError: As `keras_cxr.metrics.max_sensitivity`.

    Example:
        >>> import numpy as np
        >>> from keras_cxr.metrics.explanation_sensitivity import sensitivities
        >>> images = np.ones((2, 4, 4, 1), "float32")
        >>> values = sensitivities(lambda x, c: x[..., 0], images, num_samples=3)
        >>> values.shape, bool(np.all(values > 0))
        ((2, 3), True)
    """
    radius = check_finite_number("radius", radius, positive=True)

    def uniform(rng, shape):
        return rng.uniform(-radius, radius, shape)

    changes, _, norms = explanation_changes(
        explain_fn, images, class_index, uniform, num_samples, seed, batch_size
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norms[:, None] > 0, changes / norms[:, None], np.nan)


def explanation_changes(
    explain_fn: Any,
    images: Any,
    class_index: Any,
    draw: Callable[[np.random.Generator, tuple], np.ndarray],
    num_samples: int,
    seed: int,
    batch_size: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """How far each noisy copy's explanation and image move from the clean ones.

    Args:
        explain_fn, images, class_index, num_samples, seed, batch_size: As for
            `keras_cxr.metrics.max_sensitivity`.
        draw: `draw(rng, shape)`, the noise of `shape[0]` samples of the whole batch.

    Returns:
        `(‖a(x + δ) − a(x)‖₂, ‖δ‖₂)`, each float64 (N, S), and `‖a(x)‖₂`, (N,).

    Raises:
        ValueError: As `keras_cxr.metrics.max_sensitivity`.

    Example:
        >>> import numpy as np
        >>> from keras_cxr.metrics.explanation_sensitivity import explanation_changes
        >>> twice = lambda x, c: 2 * x[..., 0]
        >>> ones = lambda rng, shape: np.ones(shape)
        >>> maps, inputs, clean = explanation_changes(twice, np.zeros((1, 2, 2, 1)), None,
        ...                                           ones, 2, 0, 8)
        >>> maps.tolist(), inputs.tolist(), clean.tolist()
        ([[4.0, 4.0]], [[2.0, 2.0]], [0.0])
    """
    explain = explain_method(explain_fn)
    images = checked_images(images)
    num_samples = check_int("num_samples", num_samples)
    batch_size = check_int("batch_size", batch_size)
    count = len(images)
    clean, classes = maps_and_classes(explain(images, class_index), count)
    classes = class_index if classes is None else np.asarray(classes)
    rng = np.random.default_rng(seed)
    per_call = max(1, batch_size // count)
    changes, moves = np.empty((count, num_samples)), np.empty((count, num_samples))
    for start in range(0, num_samples, per_call):
        draws = min(per_call, num_samples - start)
        noise = draw(rng, (draws, *images.shape)).astype(np.float32)
        noisy = (images[None] + noise).reshape(-1, *images.shape[1:])
        repeated = classes if classes is None or np.ndim(classes) == 0 else np.tile(classes, draws)
        maps, _ = maps_and_classes(explain(noisy, repeated), draws * count)
        change = maps.reshape(draws, count, -1) - clean.reshape(1, count, -1)
        changes[:, start : start + draws] = np.linalg.norm(change, axis=2).T
        moved = noisy.reshape(draws, count, -1) - images.reshape(1, count, -1)
        moves[:, start : start + draws] = np.linalg.norm(moved.astype(np.float64), axis=2).T
    return changes, moves, np.linalg.norm(clean.reshape(count, -1), axis=1)


def max_sensitivity(
    explain_fn: Any | Callable,
    images: Any,
    class_index: Any = None,
    radius: float = 0.2,
    num_samples: int = 20,
    seed: int = 0,
    batch_size: int = 64,
    per_image: bool = False,
) -> float | np.ndarray:
    """The largest relative change of each explanation under uniform noise (lower is better).

    Args:
        explain_fn: A keras_cxr explainer, or a callable `(images, class_index)` returning
            maps (N, H, W) or an object with `.attributions` / `.heatmaps`.
        images: float `(N, H, W, C)`, in the explainer's input scale.
        class_index: As for the explainer's `explain`. Defaults to None (the explainer's
            choice on the clean images, kept for their noisy copies).
        radius: Half-width of the uniform noise, > 0. Defaults to 0.2 (Quantus's).
        num_samples: Noisy copies per image, >= 1. Defaults to 20 (Quantus's is 200).
        seed: Seed of the noise. Defaults to 0.
        batch_size: Most noisy images per call of the explainer. Defaults to 64.
        per_image: If True, one value per image instead of the mean. Defaults to False.

    Returns:
        The mean over images of the per-image maximum (NaN samples skipped), or, with
        `per_image=True`, shape (N,).

    Raises:
        ValueError: For images not (N, H, W, C), a bad `radius`, `num_samples` or
            `batch_size`, an `explain_fn` that is not callable, or maps of a wrong shape.

    Example:
        >>> import numpy as np
        >>> images = np.full((1, 8, 8, 1), 2.0, "float32")
        >>> value = keras_cxr.metrics.max_sensitivity(lambda x, c: x[..., 0], images)
        >>> 0.05 < value <= 0.1  # |δ| <= 0.2 on pixels of 2.0: at most 0.1
        True

    Reference:
        Yeh, Hsieh, Suggala, Inouye, Ravikumar. "On the (In)fidelity and Sensitivity of
        Explanations." NeurIPS 2019. https://arxiv.org/abs/1901.09392
    """
    values = sensitivities(explain_fn, images, class_index, radius, num_samples, seed, batch_size)
    return summarize(reduce_rows(values, np.nanmax), per_image)


def avg_sensitivity(
    explain_fn: Any | Callable,
    images: Any,
    class_index: Any = None,
    radius: float = 0.2,
    num_samples: int = 20,
    seed: int = 0,
    batch_size: int = 64,
    per_image: bool = False,
) -> float | np.ndarray:
    """The mean relative change of each explanation under uniform noise (lower is better).

    Args:
        explain_fn, images, class_index, radius, num_samples, seed, batch_size, per_image:
            As for `keras_cxr.metrics.max_sensitivity`.

    Returns:
        The mean over images of the per-image mean over samples, or, with
        `per_image=True`, shape (N,).

    Raises:
        ValueError: As `keras_cxr.metrics.max_sensitivity`.

    Example:
        >>> import numpy as np
        >>> images = np.full((1, 8, 8, 1), 2.0, "float32")
        >>> value = keras_cxr.metrics.avg_sensitivity(lambda x, c: x[..., 0], images)
        >>> round(value, 2)  # E|δ|² = 0.2² / 3 per pixel: sqrt(0.04 / 3) / 2
        0.06

    Reference:
        Yeh, Hsieh, Suggala, Inouye, Ravikumar. "On the (In)fidelity and Sensitivity of
        Explanations." NeurIPS 2019. https://arxiv.org/abs/1901.09392
    """
    values = sensitivities(explain_fn, images, class_index, radius, num_samples, seed, batch_size)
    return summarize(reduce_rows(values, np.nanmean), per_image)


def local_lipschitz_estimate(
    explain_fn: Any | Callable,
    images: Any,
    class_index: Any = None,
    std: float = 0.1,
    num_samples: int = 20,
    seed: int = 0,
    batch_size: int = 64,
    per_image: bool = False,
) -> float | np.ndarray:
    """The largest ratio of explanation change to input change under Gaussian noise.

    Per image, the maximum over `num_samples` copies `x + δ`, `δ ~ N(0, std²)` on every
    pixel (Quantus's `gaussian_noise`, `perturb_std=0.1`), of
    `‖a(x + δ) − a(x)‖₂ / (‖δ‖₂ + 1e-10)`: an estimate of the explanation's local Lipschitz
    constant, in explanation units per input unit (lower is more stable). Unlike the
    sensitivities it is not relative to `‖a(x)‖`, so it depends on the maps' scale.

    Args:
        explain_fn, images, class_index, num_samples, seed, batch_size, per_image: As for
            `keras_cxr.metrics.max_sensitivity`.
        std: Standard deviation of the noise, > 0, in the explainer's input scale.
            Defaults to 0.1 (Quantus's).

    Returns:
        The mean over images of the per-image maximum, or, with `per_image=True`,
        shape (N,).

    Raises:
        ValueError: As `keras_cxr.metrics.max_sensitivity`, and for a bad `std`.

    Example:
        >>> import numpy as np
        >>> images = np.ones((2, 4, 4, 1), "float32")
        >>> triple = lambda x, c: 3 * x[..., 0]  # Lipschitz constant 3
        >>> round(keras_cxr.metrics.local_lipschitz_estimate(triple, images), 4)
        3.0

    Reference:
        Alvarez-Melis, Jaakkola. "On the Robustness of Interpretability Methods." ICML
        Workshop on Human Interpretability in Machine Learning, 2018.
        https://arxiv.org/abs/1806.08049
    """
    std = check_finite_number("std", std, positive=True)

    def gaussian(rng, shape):
        return rng.normal(0.0, std, shape)

    changes, moves, _ = explanation_changes(
        explain_fn, images, class_index, gaussian, num_samples, seed, batch_size
    )
    return summarize(reduce_rows(changes / (moves + 1e-10), np.nanmax), per_image)


__all__ = [
    "avg_sensitivity",
    "explanation_changes",
    "local_lipschitz_estimate",
    "max_sensitivity",
    "sensitivities",
]
