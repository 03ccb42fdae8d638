"""Sanity checks for saliency maps (Adebayo et al., 2018).

An explanation method that passes these checks must produce different heatmaps once the
model's learned weights (model randomization) or the training labels (data randomization)
are destroyed. `randomize_model` yields copies of a Keras model with re-initialized layers,
`model_randomization_test` compares heatmaps before and after, and
`spearman_rank_correlation` and `ssim` are the similarity measures the paper reports.
High similarity after randomization means the method is insensitive to the model, and fails
the check.

Reference:
    Adebayo, Gilmer, Muelly, Goodfellow, Hardt, Kim. "Sanity Checks for Saliency Maps."
    NeurIPS 2018. https://arxiv.org/abs/1810.03292
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from keras_cxr._validation import invalid_value
from keras_cxr.metrics._inputs import as_heatmaps
from keras_cxr.metrics._stats import average_ranks, mean_of_defined

if TYPE_CHECKING:
    import keras

MODES = ("cascading", "independent")
# Wang et al. (2004): an 11 x 11 Gaussian window with sigma 1.5, K1 = 0.01, K2 = 0.03.
_SSIM_WINDOW = 11
_SSIM_SIGMA = 1.5
_SSIM_K1 = 0.01
_SSIM_K2 = 0.03


def _check_same_shape(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise ValueError(
            "Invalid value received for argument `b`. Expected the same shape as `a`, "
            f"{a.shape}. Received: b.shape={b.shape}"
        )


def _summarize(values: np.ndarray, per_image: bool) -> float | np.ndarray:
    return values if per_image else mean_of_defined(values)


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    x = x - x.mean()
    y = y - y.mean()
    denominator = np.sqrt(np.dot(x, x) * np.dot(y, y))
    if denominator == 0:
        return float("nan")
    return float(np.clip(np.dot(x, y) / denominator, -1.0, 1.0))


def spearman_rank_correlation(a: Any, b: Any, per_image: bool = False) -> float | np.ndarray:
    """Spearman rank correlation between pairs of heatmaps, pixel by pixel.

    Each heatmap is flattened and its pixels ranked (tied values share the mean of their
    ranks); the correlation is the Pearson correlation of the two rank vectors. It is 1 for
    maps with the same pixel order, -1 for reversed orders, and unchanged by any strictly
    increasing transform of either map (such as positive rescaling). It is undefined (NaN)
    for an image where either map is constant, which often happens once a randomized model
    produces an all-zero Grad-CAM; the mean skips such images and is NaN only when every
    image is undefined.

    Args:
        a: Heatmaps of shape (N, H, W), or an object with a `.heatmaps` attribute.
        b: Heatmaps of the same shape as `a`, or an object with a `.heatmaps` attribute.
        per_image: If True, return one correlation per image instead of the mean. Defaults
            to False.

    Returns:
        The mean correlation as a float in [-1, 1], or an array of shape (N,) with
        `per_image=True`.

    Raises:
        ValueError: If either input is not a finite (N, H, W) array or the shapes differ.

    Example:
        >>> import numpy as np
        >>> a = np.array([[[1.0, 2.0], [3.0, 4.0]]])
        >>> keras_cxr.metrics.spearman_rank_correlation(a, 10 * a)
        1.0
        >>> keras_cxr.metrics.spearman_rank_correlation(a, -a)
        -1.0

    Reference:
        Spearman. "The Proof and Measurement of Association between Two Things." The
        American Journal of Psychology, 1904.
    """
    a = as_heatmaps(a, "a")
    b = as_heatmaps(b, "b")
    _check_same_shape(a, b)
    values = np.array(
        [
            _pearson(average_ranks(map_a.ravel()), average_ranks(map_b.ravel()))
            for map_a, map_b in zip(a, b)
        ]
    )
    return _summarize(values, per_image)


def _gaussian_mean(image: np.ndarray) -> np.ndarray:
    """Gaussian-weighted local mean over the positions where the window fits in the image."""
    size = (_SSIM_WINDOW, _SSIM_WINDOW)
    filtered = cv2.GaussianBlur(image, size, _SSIM_SIGMA, sigmaY=_SSIM_SIGMA)
    border = _SSIM_WINDOW // 2
    return filtered[border:-border, border:-border]


def _ssim_single(x: np.ndarray, y: np.ndarray) -> float:
    c1 = _SSIM_K1**2  # (K1 * data_range) ** 2 with data_range = 1
    c2 = _SSIM_K2**2
    mean_x, mean_y = _gaussian_mean(x), _gaussian_mean(y)
    variance_x = _gaussian_mean(x * x) - mean_x**2
    variance_y = _gaussian_mean(y * y) - mean_y**2
    covariance = _gaussian_mean(x * y) - mean_x * mean_y
    numerator = (2 * mean_x * mean_y + c1) * (2 * covariance + c2)
    denominator = (mean_x**2 + mean_y**2 + c1) * (variance_x + variance_y + c2)
    return float(np.mean(numerator / denominator))


def ssim(a: Any, b: Any, per_image: bool = False) -> float | np.ndarray:
    """Structural similarity (SSIM) between pairs of single-channel maps in [0, 1].

    The standard SSIM of Wang et al. (2004): local means, variances and covariance under an
    11 x 11 Gaussian window with sigma 1.5, constants K1 = 0.01 and K2 = 0.03, and a data
    range of 1. The SSIM map is averaged over the positions where the whole window fits
    inside the image (no padding), as in the authors' reference code. Identical maps score
    1. Normalize heatmaps to [0, 1] first (e.g. divide by their maximum).

    Args:
        a: Maps of shape (N, H, W) with values in [0, 1] and H, W >= 11, or an object with
            a `.heatmaps` attribute.
        b: Maps of the same shape as `a`, or an object with a `.heatmaps` attribute.
        per_image: If True, return one SSIM per image instead of the mean. Defaults to
            False.

    Returns:
        The mean SSIM as a float in [-1, 1], or an array of shape (N,) with
        `per_image=True`.

    Raises:
        ValueError: If either input is not a finite (N, H, W) array, the shapes differ, a
            value lies outside [0, 1], or the maps are smaller than the 11 x 11 window.

    Example:
        >>> import numpy as np
        >>> a = np.random.default_rng(0).random((2, 16, 16))
        >>> keras_cxr.metrics.ssim(a, a)
        1.0

    Reference:
        Wang, Bovik, Sheikh, Simoncelli. "Image Quality Assessment: From Error Visibility
        to Structural Similarity." IEEE Transactions on Image Processing, 2004.
        https://doi.org/10.1109/TIP.2003.819861
    """
    a = as_heatmaps(a, "a")
    b = as_heatmaps(b, "b")
    _check_same_shape(a, b)
    for argument, maps in (("a", a), ("b", b)):
        if maps.min() < 0 or maps.max() > 1:
            raise invalid_value(
                argument,
                "values in [0, 1] (SSIM uses data_range=1; normalize the maps first)",
                f"values in [{float(maps.min())}, {float(maps.max())}]",
            )
    if min(a.shape[1:]) < _SSIM_WINDOW:
        raise ValueError(
            "Invalid value received for argument `a`. Expected maps of at least "
            f"{_SSIM_WINDOW} x {_SSIM_WINDOW} pixels (the SSIM window); upsample the heatmaps "
            f"to the image size first. Received: a.shape={a.shape}"
        )
    values = np.array([_ssim_single(map_a, map_b) for map_a, map_b in zip(a, b)])
    return _summarize(values, per_image)


def _randomizable_variables(layer: keras.layers.Layer) -> list[Any]:
    """The layer's kernels and biases: the weights the randomization test re-initializes."""
    return [v for v in layer.weights if v.name == "bias" or v.name.endswith("kernel")]


def _weighted_layers(
    model: keras.layers.Layer, prefix: str = ""
) -> list[tuple[str, keras.layers.Layer]]:
    """Layers with a kernel or bias, bottom-up, named "outer/inner" inside nested models."""
    found = []
    for layer in model.layers:
        name = f"{prefix}{layer.name}"
        sublayers = getattr(layer, "layers", None)
        if isinstance(sublayers, list) and sublayers:
            found.extend(_weighted_layers(layer, prefix=f"{name}/"))
        elif _randomizable_variables(layer):
            found.append((name, layer))
    return found


def _select_layers(
    candidates: list[tuple[str, keras.layers.Layer]], layers: Sequence[str] | str | None
) -> list[int]:
    """Positions (bottom-up) of the requested layers among the candidates."""
    if not candidates:
        raise ValueError(
            "The model has no layer with a kernel or bias to randomize. Build the model "
            "(call it on an input or pass an `Input`) before randomizing it."
        )
    if layers is None:
        return list(range(len(candidates)))
    requested = [layers] if isinstance(layers, str) else list(layers)
    available = [name for name, _ in candidates]
    positions = set()
    for name in requested:
        exact = [i for i, (qualified, _) in enumerate(candidates) if qualified == name]
        short = [i for i, (_, layer) in enumerate(candidates) if layer.name == name]
        matches = exact or short
        if len(matches) != 1:
            raise invalid_value(
                "layers", f"names of layers with a kernel or bias, among {available}", name
            )
        positions.add(matches[0])
    if not positions:
        raise invalid_value("layers", "a non-empty list of layer names or None", layers)
    return sorted(positions)


def _randomized_like(weight: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    # Zero mean, the original's standard deviation: a constant (e.g. zero) bias stays at its
    # spread of 0, so it becomes all zeros rather than noise of an arbitrary scale.
    return (rng.standard_normal(weight.shape) * weight.std()).astype(weight.dtype)


def randomize_model(
    model: keras.Model,
    mode: str = "cascading",
    layers: Sequence[str] | str | None = None,
    seed: int = 0,
) -> Iterator[tuple[str, keras.Model]]:
    """Yield copies of a model with layers re-initialized, for the model randomization test.

    Layers are visited from the head (output) down to the input. In "cascading" mode each
    copy re-initializes the current layer and every layer above it, so the model loses its
    learned weights progressively; in "independent" mode each copy re-initializes only the
    current layer. Re-initializing replaces each kernel and bias (every weight whose name is
    "bias" or ends in "kernel", such as "depthwise_kernel") with zero-mean normal noise of
    the same standard deviation; other weights (batch-norm statistics and scales) are kept.
    Layers inside nested models are visited one by one and named "outer/inner".

    Every copy is a fresh `keras.models.clone_model` of the model with its weights copied,
    so copies can be kept side by side, and `model` itself is never modified. A layer's
    noise depends only on `seed` and the layer, so cascading and independent runs (or runs
    over different `layers`) re-initialize a given layer identically.

    Args:
        model: A built Keras model (Functional or Sequential; subclassed models must be
            clonable).
        mode: "cascading" or "independent". Defaults to "cascading".
        layers: Names of the layers to randomize (a name inside a nested model may be given
            as "outer/inner", or as the bare name if unambiguous). Defaults to None: every
            layer with a kernel or bias.
        seed: Non-negative integer seeding the noise. Defaults to 0.

    Returns:
        An iterator of `(layer_name, randomized_model)` pairs, top layer first.

    Raises:
        ValueError: If `mode` or `seed` is invalid, a layer name is unknown or ambiguous, or
            the model has no layer with a kernel or bias (e.g. it is not built).

    Example:
        >>> import keras
        >>> model = keras.Sequential(
        ...     [keras.Input((4,)), keras.layers.Dense(3, name="hidden"),
        ...      keras.layers.Dense(1, name="head")])
        >>> [name for name, _ in keras_cxr.metrics.randomize_model(model)]
        ['head', 'hidden']

    Reference:
        Adebayo, Gilmer, Muelly, Goodfellow, Hardt, Kim. "Sanity Checks for Saliency Maps."
        NeurIPS 2018. https://arxiv.org/abs/1810.03292
    """
    if mode not in MODES:
        raise invalid_value("mode", f"one of {MODES}", mode)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise invalid_value("seed", "a non-negative integer", seed)
    candidates = _weighted_layers(model)
    positions = _select_layers(candidates, layers)
    # Generators only run on the first next(); validating above makes errors immediate.
    return _randomized_copies(model, candidates, positions, mode, int(seed))


def _randomized_copies(
    model: keras.Model,
    candidates: list[tuple[str, keras.layers.Layer]],
    positions: list[int],
    mode: str,
    seed: int,
) -> Iterator[tuple[str, keras.Model]]:
    # Only this function needs Keras; importing it here keeps the other metrics numpy-only.
    import keras

    slot_of = {id(variable): slot for slot, variable in enumerate(model.weights)}
    original = model.get_weights()
    cascaded = list(original)
    for position in reversed(positions):
        name, layer = candidates[position]
        rng = np.random.default_rng([seed, position])
        weights = cascaded if mode == "cascading" else list(original)
        for variable in _randomizable_variables(layer):
            slot = slot_of[id(variable)]
            weights[slot] = _randomized_like(original[slot], rng)
        copy = keras.models.clone_model(model)
        copy.set_weights(weights)
        yield name, copy


def _min_max_normalize(heatmaps: np.ndarray) -> np.ndarray:
    low = heatmaps.min(axis=(1, 2), keepdims=True)
    spread = heatmaps.max(axis=(1, 2), keepdims=True) - low
    return np.divide(heatmaps - low, spread, out=np.zeros_like(heatmaps), where=spread > 0)


def model_randomization_test(
    explain_fn: Callable[[keras.Model, np.ndarray], Any],
    model: keras.Model,
    images: Any,
    mode: str = "cascading",
    layers: Sequence[str] | str | None = None,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Compare heatmaps of a model with those of its randomized copies, layer by layer.

    Explains `images` once with `model` and once with every copy yielded by
    `keras_cxr.metrics.randomize_model`, and reports how similar the heatmaps stay. A
    method whose heatmaps barely change (similarities near 1) while the weights are
    destroyed is not explaining the model and fails the sanity check. Before SSIM each
    heatmap is min-max normalized to [0, 1] (a constant map becomes all zeros); the
    Spearman correlation needs no normalization.

    Args:
        explain_fn: Callable `explain_fn(model, images)` returning heatmaps of shape
            (N, H, W) with H, W >= 11, or an object with a `.heatmaps` attribute.
        model: The trained Keras model; it is never modified.
        images: Inputs passed unchanged to `explain_fn`.
        mode: "cascading" or "independent"; see `keras_cxr.metrics.randomize_model`.
            Defaults to "cascading".
        layers: Names of the layers to randomize. Defaults to None: every layer with a
            kernel or bias.
        seed: Non-negative integer seeding the noise. Defaults to 0.

    Returns:
        A list with one dict per randomized layer, top layer first:
        `{"layer": str, "spearman": float, "ssim": float, "constant_maps": int}`: the mean
        similarity over images between the original and the randomized heatmaps (see
        `keras_cxr.metrics.spearman_rank_correlation` and `keras_cxr.metrics.ssim`), and
        how many randomized heatmaps are constant. A constant (typically all-zero) map
        means the method finds no evidence for the class anywhere: it shares nothing with
        the original, but Spearman is undefined for it (left out of the mean, NaN if every
        map is constant) and SSIM rates it as fairly similar to any mostly-dark heatmap,
        so read both similarities together with this count. With a global-average-pooling
        head, one draw of random weights fixes the sign of every image's score alike, so
        Grad-CAM's maps are often all empty or all present: repeat the test with a few
        seeds.

    Raises:
        ValueError: As for `keras_cxr.metrics.randomize_model`, or if `explain_fn` returns
            heatmaps of the wrong or changing shape.

    Example:
        >>> import keras, numpy as np
        >>> model = keras.Sequential(
        ...     [keras.Input((144,)), keras.layers.Dense(4, name="hidden"),
        ...      keras.layers.Dense(1, name="head")])
        >>> def explain_fn(model, images):  # |input x gradient| of the linear model
        ...     kernel_1, _, kernel_2, _ = model.get_weights()
        ...     return np.abs(images * (kernel_1 @ kernel_2)[:, 0]).reshape(-1, 12, 12)
        >>> images = np.random.default_rng(0).random((2, 144))
        >>> rows = keras_cxr.metrics.model_randomization_test(explain_fn, model, images)
        >>> [row["layer"] for row in rows]
        ['head', 'hidden']

    Reference:
        Adebayo, Gilmer, Muelly, Goodfellow, Hardt, Kim. "Sanity Checks for Saliency Maps."
        NeurIPS 2018. https://arxiv.org/abs/1810.03292
    """
    copies = randomize_model(model, mode=mode, layers=layers, seed=seed)
    original = as_heatmaps(explain_fn(model, images), "explain_fn(model, images)")
    normalized = _min_max_normalize(original)
    rows = []
    for name, randomized_model in copies:
        heatmaps = as_heatmaps(explain_fn(randomized_model, images), "explain_fn(model, images)")
        _check_same_shape(original, heatmaps)
        rows.append(
            {
                "layer": name,
                "spearman": spearman_rank_correlation(original, heatmaps),
                "ssim": ssim(normalized, _min_max_normalize(heatmaps)),
                "constant_maps": int(np.sum(np.ptp(heatmaps, axis=(1, 2)) == 0)),
            }
        )
    return rows


def label_randomization(labels: Any, seed: int = 0) -> np.ndarray:
    """Return a random permutation of the labels, for the data randomization test.

    The data randomization test trains a second model on permuted labels (same images,
    same class balance, no learnable relation) and checks that its heatmaps differ from
    those of the model trained on the true labels. Rows are permuted along the first axis,
    so one-hot labels work too; the input is not modified.

    Args:
        labels: Array of labels of shape (N, ...).
        seed: Non-negative integer seeding the permutation. Defaults to 0.

    Returns:
        A permuted copy of `labels`, same shape and dtype.

    Raises:
        ValueError: If `labels` is a scalar or `seed` is not a non-negative integer.

    Example:
        >>> import numpy as np
        >>> shuffled = keras_cxr.metrics.label_randomization(np.array([0, 0, 1, 1]), seed=0)
        >>> sorted(shuffled.tolist())
        [0, 0, 1, 1]

    Reference:
        Adebayo, Gilmer, Muelly, Goodfellow, Hardt, Kim. "Sanity Checks for Saliency Maps."
        NeurIPS 2018. https://arxiv.org/abs/1810.03292
    """
    array = np.asarray(labels)
    if array.ndim == 0:
        raise invalid_value("labels", "an array of shape (N, ...)", labels)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise invalid_value("seed", "a non-negative integer", seed)
    return np.random.default_rng(int(seed)).permutation(array)
