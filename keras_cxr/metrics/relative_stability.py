"""Relative input, output and representation stability (Agarwal et al., 2022).

The sensitivities of `keras_cxr.metrics.explanation_sensitivity` divide the change of an
explanation by the size of the noise. Agarwal et al. divide the *relative* change of the
explanation, `‖(e(x) − e(x′)) / e(x)‖₂` (element-wise, with `e(x)` replaced by `eps_min`
where it is 0), by how far the noise moved

- the input, relatively: `‖(x − x′) / x‖₂` (RIS),
- the model's outputs: `‖h(x) − h(x′)‖₂` (ROS),
- an internal representation, relatively: `‖(l(x) − l(x′)) / l(x)‖₂` (RRS),

each denominator at least `eps_min`, and report per image the largest ratio over
`num_samples` noisy copies `x′` (lower is more stable). A copy whose predicted class changes
counts as NaN, since the explanation is then allowed to change (Quantus's
`return_nan_when_prediction_changes=True`). The noise is Quantus's default for these
metrics: every pixel plus `U(low, high)` with `noise_range=(0.02, 0.2)`, in the input scale.

The explainer is seen through `explain_fn` as in `keras_cxr.metrics.max_sensitivity`
(`explain(images, class_index)`), the model through `predict_fn` (see `keras_cxr.metrics`),
and for RRS the representation through `representation_fn(images) -> (B, ...)`. The noisy
copies of the whole batch go through each in calls of at most `batch_size` images; several
copies of a small batch share a call of the explainer and of the model.

Reference:
    Agarwal, Jabbari, Agarwal, Upadhyay, Wu, Zitnik, Lakkaraju. "Rethinking Stability for
    Attribution-based Explanations." ICLR 2022 Workshop PAIR2Struct.
    https://arxiv.org/abs/2203.06877
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from keras_cxr._validation import check_int, invalid_value
from keras_cxr.metrics._explain_fn import (
    checked_images,
    explain_method,
    maps_and_classes,
)
from keras_cxr.metrics._perturbation import PredictFn, predicted_classes
from keras_cxr.metrics._stats import reduce_rows, summarize

RepresentationFn = Callable[[np.ndarray], Any]


def _call_in_batches(function: Callable, images: np.ndarray, batch_size: int) -> np.ndarray:
    parts = [
        np.asarray(function(images[start : start + batch_size]), np.float64)
        for start in range(0, len(images), batch_size)
    ]
    return np.concatenate(parts)


def _explain(explain: Callable, images: np.ndarray, classes: Any, batch_size: int):
    """Maps (N, H·W) of `explain(images, classes)` in chunks, and the classes it chose."""
    maps, chosen = [], None
    for start in range(0, len(images), batch_size):
        chunk = images[start : start + batch_size]
        part = (
            classes if classes is None or np.ndim(classes) == 0 else classes[start:][: len(chunk)]
        )
        array, explained = maps_and_classes(explain(chunk, part), len(chunk))
        maps.append(array.reshape(len(chunk), -1))
        if explained is not None:
            picked = np.broadcast_to(np.atleast_1d(explained), (len(chunk),))
            chosen = picked if chosen is None else np.concatenate([chosen, picked])
    return np.concatenate(maps), None if chosen is None else chosen.astype(np.int64)


def _relative_norm(before: np.ndarray, after: np.ndarray, eps_min: float) -> np.ndarray:
    """`‖(before − after) / before‖₂` per row, with 0s of `before` replaced by `eps_min`."""
    return np.linalg.norm((before - after) / (before + (before == 0) * eps_min), axis=1)


def _stability(
    explain_fn: Any,
    predict_fn: PredictFn,
    images: Any,
    class_index: Any,
    denominator: Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray],
    noise_range: tuple[float, float],
    num_samples: int,
    eps_min: float,
    nan_when_prediction_changes: bool,
    seed: Any,
    batch_size: int,
) -> np.ndarray:
    """Largest ratio per image over the noisy copies; `denominator(x, x′, h(x), h(x′))`."""
    explain = explain_method(explain_fn)
    if not callable(predict_fn):
        raise invalid_value(
            "predict_fn",
            "a callable images -> class probabilities (e.g. model.predict)",
            predict_fn,
        )
    images = checked_images(images)
    low, high = _check_range(noise_range)
    num_samples = check_int("num_samples", num_samples)
    batch_size = check_int("batch_size", batch_size)
    count = len(images)
    clean, chosen = _explain(explain, images, class_index, batch_size)
    classes = class_index if chosen is None else chosen
    outputs = _call_in_batches(predict_fn, images, batch_size)
    labels = predicted_classes(outputs, count)
    rng = np.random.default_rng(seed)
    ratios = np.empty((num_samples, count))
    # Several samples per call when the batch is small, so that each call of the explainer
    # and the model carries up to `batch_size` images; the noise is drawn in sample order.
    per_call = max(1, batch_size // count)
    for start in range(0, num_samples, per_call):
        draws = min(per_call, num_samples - start)
        noise = rng.uniform(low, high, (draws, *images.shape)).astype(np.float32)
        noisy = (images[None] + noise).reshape(-1, *images.shape[1:])
        tiled = classes if classes is None or np.ndim(classes) == 0 else np.tile(classes, draws)
        maps, _ = _explain(explain, noisy, tiled, batch_size)
        noisy_outputs = _call_in_batches(predict_fn, noisy, batch_size)
        for draw in range(draws):
            rows, sample = slice(draw * count, (draw + 1) * count), start + draw
            moved = denominator(images, noisy[rows], outputs, noisy_outputs[rows])
            ratios[sample] = _relative_norm(clean, maps[rows], eps_min) / (
                moved + (moved == 0) * eps_min
            )
            if nan_when_prediction_changes:
                changed = predicted_classes(noisy_outputs[rows], count) != labels
                ratios[sample, changed] = np.nan
    return reduce_rows(ratios.T, np.nanmax)


def _check_range(noise_range: Any) -> tuple[float, float]:
    try:
        low, high = (float(bound) for bound in noise_range)
    except (TypeError, ValueError):
        low, high = np.nan, np.nan
    if not (np.isfinite(low) and np.isfinite(high) and low < high):
        raise invalid_value("noise_range", "two finite numbers (low, high) with low < high",
                            noise_range)  # fmt: skip
    return low, high


def relative_input_stability(
    explain_fn: Any,
    predict_fn: PredictFn,
    images: Any,
    class_index: Any = None,
    noise_range: tuple[float, float] = (0.02, 0.2),
    num_samples: int = 20,
    eps_min: float = 1e-6,
    nan_when_prediction_changes: bool = True,
    seed: Any = 0,
    batch_size: int = 64,
    per_image: bool = False,
) -> float | np.ndarray:
    """Largest relative explanation change per relative input change (RIS; lower is better).

    Args:
        explain_fn: A keras_cxr explainer, or a callable `(images, class_index)` returning
            maps (N, H, W) or an object with `.attributions` / `.heatmaps`.
        predict_fn: The model, for the predicted class of each copy (see
            `keras_cxr.metrics`).
        images: float (N, H, W, C), in the explainer's input scale.
        class_index: As for the explainer's `explain`. Defaults to None (the explainer's
            choice on the clean images, kept for their noisy copies).
        noise_range: `(low, high)` of the uniform noise added to every pixel. Defaults to
            (0.02, 0.2), Quantus's, for images in [0, 1].
        num_samples: Noisy copies per image, >= 1. Defaults to 20 (Quantus's is 200).
        eps_min: Stand-in for zeros in denominators. Defaults to 1e-6.
        nan_when_prediction_changes: If True, a copy whose predicted class differs from the
            clean image's is left out (NaN). Defaults to True.
        seed: Seed or `numpy.random.Generator` of the noise, drawn copy by copy as
            `rng.uniform(low, high, images.shape)`. Defaults to 0.
        batch_size: Most images per call of `explain_fn` and `predict_fn`. Defaults to 64.
        per_image: If True, one value per image instead of the mean. Defaults to False.

    Returns:
        The mean over images of the per-image maximum, or shape (N,) with `per_image=True`
        (NaN where every copy changed the prediction).

    Raises:
        ValueError: For images not (N, H, W, C), a bad `noise_range`, `num_samples` or
            `batch_size`, a non-callable `explain_fn`, or maps of a wrong shape.

    Example:
        An explanation proportional to the input changes as much as the input, relatively:

        >>> import numpy as np
        >>> images = np.random.default_rng(0).uniform(1, 2, size=(2, 4, 4, 1))
        >>> value = keras_cxr.metrics.relative_input_stability(
        ...     lambda x, c: 3 * x[..., 0], lambda x: x.sum(axis=(1, 2, 3)) > 0, images)
        >>> round(value, 4)
        1.0

    Reference:
        Agarwal, Jabbari, Agarwal, Upadhyay, Wu, Zitnik, Lakkaraju. "Rethinking Stability
        for Attribution-based Explanations." ICLR 2022 Workshop PAIR2Struct.
        https://arxiv.org/abs/2203.06877
    """

    def relative_input_change(x, noisy, outputs, noisy_outputs):
        flat = x.reshape(len(x), -1).astype(np.float64)
        return _relative_norm(flat, noisy.reshape(len(x), -1).astype(np.float64), eps_min)

    return summarize(
        _stability(explain_fn, predict_fn, images, class_index, relative_input_change,
                   noise_range, num_samples, eps_min, nan_when_prediction_changes, seed,
                   batch_size),
        per_image,
    )  # fmt: skip


def relative_output_stability(
    explain_fn: Any,
    predict_fn: PredictFn,
    images: Any,
    class_index: Any = None,
    noise_range: tuple[float, float] = (0.02, 0.2),
    num_samples: int = 20,
    eps_min: float = 1e-6,
    nan_when_prediction_changes: bool = True,
    seed: Any = 0,
    batch_size: int = 64,
    per_image: bool = False,
) -> float | np.ndarray:
    """Largest relative explanation change per change of the outputs (ROS; lower is better).

    The denominator is `‖h(x) − h(x′)‖₂` over everything `predict_fn` returns for an image
    (Quantus uses the model's outputs as its `predict` gives them, softmax applied).

    Args:
        explain_fn, predict_fn, images, class_index, noise_range, num_samples: As for
            `keras_cxr.metrics.relative_input_stability`.
        eps_min, nan_when_prediction_changes, seed, batch_size, per_image: As for
            `keras_cxr.metrics.relative_input_stability`.

    Returns:
        As for `keras_cxr.metrics.relative_input_stability`.

    Raises:
        ValueError: As for `keras_cxr.metrics.relative_input_stability`.

    Example:
        >>> import numpy as np
        >>> images = np.random.default_rng(0).uniform(1, 2, size=(2, 4, 4, 1))
        >>> def predict_fn(x):  # a score whose change is exactly the mean change of x
        ...     return x.mean(axis=(1, 2, 3))[:, None] + 1.0
        >>> value = keras_cxr.metrics.relative_output_stability(
        ...     lambda x, c: x[..., 0], predict_fn, images, per_image=True)
        >>> bool(np.all(value > 1))  # relative map change over an absolute score change
        True

    Reference:
        Agarwal, Jabbari, Agarwal, Upadhyay, Wu, Zitnik, Lakkaraju. "Rethinking Stability
        for Attribution-based Explanations." ICLR 2022 Workshop PAIR2Struct.
        https://arxiv.org/abs/2203.06877
    """

    def output_change(x, noisy, outputs, noisy_outputs):
        return np.linalg.norm((outputs - noisy_outputs).reshape(len(x), -1), axis=1)

    return summarize(
        _stability(explain_fn, predict_fn, images, class_index, output_change, noise_range,
                   num_samples, eps_min, nan_when_prediction_changes, seed, batch_size),
        per_image,
    )  # fmt: skip


def relative_representation_stability(
    explain_fn: Any,
    predict_fn: PredictFn,
    representation_fn: RepresentationFn,
    images: Any,
    class_index: Any = None,
    noise_range: tuple[float, float] = (0.02, 0.2),
    num_samples: int = 20,
    eps_min: float = 1e-6,
    nan_when_prediction_changes: bool = True,
    seed: Any = 0,
    batch_size: int = 64,
    per_image: bool = False,
) -> float | np.ndarray:
    """Largest relative explanation change per relative change of a representation (RRS).

    The denominator is `‖(l(x) − l(x′)) / l(x)‖₂` of `representation_fn`, e.g. the
    activations of a layer: `keras.Model(model.inputs, model.get_layer(name).output)`'s
    `predict`. Lower is better.

    Args:
        explain_fn, predict_fn, images, class_index, noise_range, num_samples: As for
            `keras_cxr.metrics.relative_input_stability`.
        eps_min, nan_when_prediction_changes, seed, batch_size, per_image: As for
            `keras_cxr.metrics.relative_input_stability`.
        representation_fn: Callable mapping an image batch (B, H, W, C) to its internal
            representation, any shape (B, ...).

    Returns:
        As for `keras_cxr.metrics.relative_input_stability`.

    Raises:
        ValueError: As for `keras_cxr.metrics.relative_input_stability`, and for a
            `representation_fn` that is not callable.

    Example:
        With the input itself as the representation, RRS is RIS:

        >>> import numpy as np
        >>> images = np.random.default_rng(0).uniform(1, 2, size=(2, 4, 4, 1))
        >>> explain, predict = (lambda x, c: x[..., 0] ** 2), (lambda x: x.sum(axis=(1, 2)))
        >>> rrs = keras_cxr.metrics.relative_representation_stability(
        ...     explain, predict, lambda x: x, images)
        >>> rrs == keras_cxr.metrics.relative_input_stability(explain, predict, images)
        True

    Reference:
        Agarwal, Jabbari, Agarwal, Upadhyay, Wu, Zitnik, Lakkaraju. "Rethinking Stability
        for Attribution-based Explanations." ICLR 2022 Workshop PAIR2Struct.
        https://arxiv.org/abs/2203.06877
    """
    if not callable(representation_fn):
        raise invalid_value("representation_fn", "a callable(images)", representation_fn)

    clean: list[np.ndarray] = []  # the clean images' representation, computed once

    def representation_change(x, noisy, outputs, noisy_outputs):
        if not clean:
            clean.append(_call_in_batches(representation_fn, x, batch_size).reshape(len(x), -1))
        before = clean[0]
        after = _call_in_batches(representation_fn, noisy, batch_size).reshape(len(x), -1)
        return _relative_norm(before, after, eps_min)

    return summarize(
        _stability(explain_fn, predict_fn, images, class_index, representation_change,
                   noise_range, num_samples, eps_min, nan_when_prediction_changes, seed,
                   batch_size),
        per_image,
    )  # fmt: skip


__all__ = [
    "relative_input_stability",
    "relative_output_stability",
    "relative_representation_stability",
]
