"""`per_image_interval`: a patient-level bootstrap interval of any per-image explanation metric."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from keras_cxr._validation import shape_error
from keras_cxr.metrics._stats import mean_of_defined
from keras_cxr.metrics.bootstrap import DEFAULT_RESAMPLES, Interval, bootstrap_intervals


def per_image_interval(
    values: Any,
    groups: Sequence[Any] | None = None,
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = 0.95,
    seed: int = 0,
) -> Interval:
    """The mean of per-image metric values, with a bootstrap interval resampling patients.

    Every explanation metric of `keras_cxr.metrics` returns one value per image with
    `per_image=True` (NaN where it is undefined, e.g. an empty mask); this is the same
    mean those metrics report (over the defined values), with its percentile interval
    over resamples of whole patients, as `keras_cxr.metrics.bootstrap_intervals` gives
    the classifier metrics. Resamples in which every value is NaN are counted in
    `Interval.dropped`.

    Args:
        values: Per-image values, shape (N,), e.g. `sparseness(maps, per_image=True)`.
        groups: Patient of each image, shape (N,); None treats every image as a patient.
        n_resamples: Bootstrap resamples, >= 1. Defaults to 1000.
        confidence: Coverage in (0, 1). Defaults to 0.95.
        seed: Seed of the resampling. Defaults to 0.

    Returns:
        A `keras_cxr.metrics.Interval`.

    Raises:
        ValueError: For values that are not a non-empty 1-D array, `groups` of another
            length, or a bad `n_resamples` or `confidence`.

    Example:
        >>> import numpy as np
        >>> maps = np.random.default_rng(0).uniform(size=(6, 8, 8))
        >>> values = keras_cxr.metrics.sparseness(maps, per_image=True)
        >>> interval = keras_cxr.metrics.per_image_interval(
        ...     values, groups=["a", "a", "b", "b", "c", "c"], n_resamples=200)
        >>> interval.point == keras_cxr.metrics.sparseness(maps)
        True
        >>> bool(interval.low <= interval.point <= interval.high)
        True

    Reference:
        Efron, Tibshirani. "An Introduction to the Bootstrap." Chapman & Hall, 1993.
    """
    values = np.asarray(values, np.float64)
    if values.ndim != 1 or values.size == 0:
        raise shape_error("values", "a non-empty 1-D array of per-image values", values.shape)

    def mean(_, scores):
        return mean_of_defined(scores)

    mean.__name__ = "mean"
    intervals = bootstrap_intervals(
        mean, np.zeros(len(values)), values, groups, n_resamples, confidence, seed
    )
    return intervals["mean"]


__all__ = ["per_image_interval"]
