"""ROAD (Rong et al., 2022): remove the most relevant pixels and debias with noisy imputation.

Removing pixels by painting them black leaves a shape the model can read: the mask itself
leaks the explanation. ROAD instead fills the removed pixels by *noisy linear imputation*:
each removed pixel is the weighted mean of its 8 neighbours (weight 1/6 for the four sharing
an edge, 1/12 for the four diagonal ones, renormalised at the border), solved jointly for all
removed pixels as one sparse linear system per image and channel, plus Gaussian noise of
standard deviation `noise`. The kernel is the one of the ROAD reference code and of Quantus's
`noisy_linear_imputation`; the code here is keras_cxr's own. For the top p % of pixels (most
relevant first, MoRF), ROAD records whether the model still assigns the explained class; a
faithful map makes the prediction change after few removals, so lower is better.

Solving needs SciPy's sparse solver: `pip install "keras-cxr[road]"` (SciPy).

Reference:
    Rong, Leemann, Borisov, Kasneci, Kasneci. "A Consistent and Efficient Evaluation
    Strategy for Attribution Methods." ICML 2022. https://arxiv.org/abs/2202.00449
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from keras_cxr._validation import invalid_value, shape_error
from keras_cxr.metrics._inputs import check_finite_number
from keras_cxr.metrics._perturbation import PredictFn, checked_inputs, predict_in_batches
from keras_cxr.metrics._stats import descending_order, summarize

#: (row offset, column offset) of each neighbour and its weight in the imputation.
_NEIGHBOURS = (
    ((-1, -1), 1 / 12),
    ((-1, 0), 1 / 6),
    ((-1, 1), 1 / 12),
    ((0, -1), 1 / 6),
    ((0, 1), 1 / 6),
    ((1, -1), 1 / 12),
    ((1, 0), 1 / 6),
    ((1, 1), 1 / 12),
)
DEFAULT_PERCENTAGES = tuple(range(1, 100, 2))


def _sparse_solver():
    try:
        from scipy.sparse import csc_matrix
        from scipy.sparse.linalg import spsolve
    except ImportError as error:  # pragma: no cover - scipy ships with the test extra
        raise ImportError(
            "ROAD's noisy linear imputation needs SciPy. Install it with "
            '`pip install "keras-cxr[road]"` (or `pip install scipy`).'
        ) from error
    return csc_matrix, spsolve


def noisy_linear_imputation(
    image: np.ndarray, removed: np.ndarray, noise: float, rng: np.random.Generator
) -> np.ndarray:
    """`image` (H, W, C) with the flat pixel indices `removed` imputed from their neighbours.

    Args:
        image: One image, shape (H, W, C).
        removed: Flat indices (row-major over H, W) of the pixels to impute, not all of them.
        noise: Standard deviation of the Gaussian noise added to every imputed value.
        rng: The generator of that noise.

    Returns:
        A float32 copy of `image` in which every removed pixel of every channel solves
        `Σ_j w_j x_i = Σ_j w_j x_j` over its in-frame neighbours j, plus noise.

    Raises:
        ImportError: Without SciPy.

    Example:
        >>> import numpy as np
        >>> from keras_cxr.metrics.road_imputation import noisy_linear_imputation
        >>> image = np.arange(9, dtype="float32").reshape(3, 3, 1)
        >>> filled = noisy_linear_imputation(image, np.array([4]), 0.0,
        ...                                  np.random.default_rng(0))
        >>> float(filled[1, 1, 0])  # the centre of a linear ramp is its neighbours' mean
        4.0
    """
    csc_matrix, spsolve = _sparse_solver()
    height, width, channels = image.shape
    flat = image.reshape(-1, channels).astype(np.float64)
    count = len(removed)
    if count == 0:
        return image.astype(np.float32)
    variable = np.full(height * width, -1, np.int64)
    variable[removed] = np.arange(count)
    rows, columns = np.divmod(removed, width)
    diagonal, known_sum = np.zeros(count), np.zeros((count, channels))
    entry_rows, entry_columns, entry_values = [], [], []
    for (row_offset, column_offset), weight in _NEIGHBOURS:
        row, column = rows + row_offset, columns + column_offset
        inside = (row >= 0) & (row < height) & (column >= 0) & (column < width)
        equation = np.flatnonzero(inside)
        neighbour = row[inside] * width + column[inside]
        diagonal[equation] += weight
        unknown = variable[neighbour] >= 0
        entry_rows.append(equation[unknown])
        entry_columns.append(variable[neighbour[unknown]])
        entry_values.append(np.full(int(unknown.sum()), -weight))
        # Each equation appears once per offset, so a plain fancy-indexed += is exact.
        known_sum[equation[~unknown]] += weight * flat[neighbour[~unknown]]
    matrix = csc_matrix(
        (
            np.concatenate([diagonal, *entry_values]),
            (
                np.concatenate([np.arange(count), *entry_rows]),
                np.concatenate([np.arange(count), *entry_columns]),
            ),
        ),
        shape=(count, count),
    )
    solution = np.asarray(spsolve(matrix, known_sum)).reshape(count, channels)
    flat[removed] = solution + noise * rng.standard_normal(solution.shape)
    return flat.reshape(image.shape).astype(np.float32)


def _check_percentages(percentages: Any) -> np.ndarray:
    values = np.asarray(DEFAULT_PERCENTAGES if percentages is None else percentages, np.float64)
    if values.ndim != 1 or values.size == 0 or np.any((values <= 0) | (values >= 100)):
        raise invalid_value(
            "percentages", "a non-empty 1-D sequence of numbers in (0, 100)", percentages
        )
    return values


def _targets(class_index: Any, count: int) -> np.ndarray:
    targets = np.asarray(class_index)
    if targets.ndim == 0:
        targets = np.full(count, targets)
    if targets.shape != (count,):
        raise shape_error("class_index", f"an integer or an array of shape ({count},)",
                          targets.shape)  # fmt: skip
    if not np.issubdtype(targets.dtype, np.integer) or np.any(targets < 0):
        raise invalid_value("class_index", "integers >= 0", class_index)
    return targets.astype(np.int64)


def _imputed_images(
    images: np.ndarray, heatmaps: np.ndarray, counts: np.ndarray, noise: float, seed: Any
) -> Iterator[np.ndarray]:
    """Per image, per count: the image with its top `count` pixels imputed, as (1, H, W, C)."""
    rng = np.random.default_rng(seed)
    for image, heatmap in zip(images, heatmaps):
        order = descending_order(heatmap)
        for count in counts:
            yield noisy_linear_imputation(image, order[:count], noise, rng)[None]


def road_curve(
    predict_fn: PredictFn,
    images: Any,
    heatmaps: Any,
    class_index: int | Sequence[int],
    percentages: Sequence[float] | None = None,
    noise: float = 0.01,
    seed: Any = 0,
    batch_size: int = 64,
) -> tuple[np.ndarray, np.ndarray]:
    """Whether each image keeps its class as its most relevant pixels are imputed away.

    For every percentage p, the top `int(H·W · p / 100)` pixels (by decreasing heatmap
    value, ties in row-major order) are removed by noisy linear imputation (see the module
    docstring) and the image is classified again: the arg-max of a (B, num_classes) output,
    or p >= 0.5 for a single-unit sigmoid head. The mean over images of each column is
    Quantus's `ROAD` result (its accuracy per percentage).

    Args:
        predict_fn: The model, a callable on image batches (see `keras_cxr.metrics`).
        images: Array of shape (N, H, W, C), as `predict_fn` expects it.
        heatmaps: Array of shape (N, H, W) (signed values allowed), or an object with a
            `.heatmaps` attribute.
        class_index: The class each image should keep: an integer for all, or shape (N,)
            (e.g. the labels, or the predictions on the clean images).
        percentages: Shares of pixels to remove, in (0, 100). Defaults to 1, 3, ..., 99
            (Quantus's).
        noise: Standard deviation of the imputation noise, >= 0, in the images' scale.
            Defaults to 0.01 (Quantus's, for images in [0, 1]).
        seed: Seed or `numpy.random.Generator` of the noise, drawn image by image.
            Defaults to 0.
        batch_size: Largest batch passed to `predict_fn`. Defaults to 64.

    Returns:
        `(percentages, kept)`: the percentages, shape (P,), and float64 (N, P), 1.0 where
        the image is still assigned its class after the removal and 0.0 where it is not.

    Raises:
        ValueError: If the shapes disagree, `percentages`, `noise` or `class_index` is out
            of range, or `predict_fn` returns an output of the wrong shape.
        ImportError: Without SciPy.

    Example:
        The class is "the top-left pixel is bright"; the map points at that pixel, so
        removing the top 25 % (that pixel, imputed from its dark neighbours) flips it:

        >>> import numpy as np
        >>> images = np.zeros((1, 4, 4, 1), "float32")
        >>> images[0, 0, 0, 0] = 1.0
        >>> predict_fn = lambda batch: (batch[:, 0, 0, 0] > 0.5).astype("float32")
        >>> percentages, kept = keras_cxr.metrics.road_curve(
        ...     predict_fn, images, images[..., 0], class_index=1, percentages=[3, 25],
        ...     noise=0.0)
        >>> kept.tolist()  # 3 % of 16 pixels removes none
        [[1.0, 0.0]]

    Reference:
        Rong, Leemann, Borisov, Kasneci, Kasneci. "A Consistent and Efficient Evaluation
        Strategy for Attribution Methods." ICML 2022. https://arxiv.org/abs/2202.00449
    """
    images, heatmaps, _, batch_size = checked_inputs(images, heatmaps, 0, batch_size)
    targets = _targets(class_index, len(images))
    percentages = _check_percentages(percentages)
    noise = check_finite_number("noise", noise)
    num_pixels = heatmaps.shape[1] * heatmaps.shape[2]
    counts = (num_pixels * percentages / 100).astype(np.int64)
    stacks = _imputed_images(images, heatmaps, counts, noise, seed)
    predicted = predict_in_batches(predict_fn, stacks, None, batch_size)
    kept = predicted.reshape(len(images), len(counts)) == targets[:, None]
    return percentages, kept.astype(np.float64)


def road(
    predict_fn: PredictFn,
    images: Any,
    heatmaps: Any,
    class_index: int | Sequence[int],
    percentages: Sequence[float] | None = None,
    noise: float = 0.01,
    seed: Any = 0,
    batch_size: int = 64,
    per_image: bool = False,
) -> float | np.ndarray:
    """Share of the ROAD removal levels at which each image keeps its class (lower is better).

    The mean over `percentages` of `keras_cxr.metrics.road_curve`'s `kept`: a
    one-number summary of the MoRF curve (its area, with the percentages as equally
    spaced steps). Averaged over images it equals the mean of Quantus's per-percentage
    accuracies.

    Args:
        predict_fn, images, heatmaps, class_index, percentages, noise, seed, batch_size:
            As for `keras_cxr.metrics.road_curve`, with its defaults.
        per_image: If True, one value per image instead of the mean. Defaults to False.

    Returns:
        The mean share in [0, 1], or shape (N,) with `per_image=True` (feed it to
        `keras_cxr.metrics.per_image_interval` for a patient-level interval).

    Raises:
        ValueError, ImportError: As for `keras_cxr.metrics.road_curve`.

    Example:
        >>> import numpy as np
        >>> images = np.zeros((1, 4, 4, 1), "float32")
        >>> images[0, 0, 0, 0] = 1.0
        >>> predict_fn = lambda batch: (batch[:, 0, 0, 0] > 0.5).astype("float32")
        >>> keras_cxr.metrics.road(predict_fn, images, images[..., 0], class_index=1,
        ...                        percentages=[3, 25, 50, 75], noise=0.0)
        0.25

    Reference:
        Rong, Leemann, Borisov, Kasneci, Kasneci. "A Consistent and Efficient Evaluation
        Strategy for Attribution Methods." ICML 2022. https://arxiv.org/abs/2202.00449
    """
    _, kept = road_curve(
        predict_fn, images, heatmaps, class_index, percentages, noise, seed, batch_size
    )
    return summarize(kept.mean(axis=1), per_image)


__all__ = ["noisy_linear_imputation", "road", "road_curve"]
