"""The model randomization sanity check (Adebayo et al., 2018).

An explanation method that passes this check must produce different heatmaps once the
model's learned weights are destroyed. `randomize_model` yields copies of a Keras model with
re-initialized layers and `model_randomization_test` compares the heatmaps before and after
with the measures of `keras_cxr.metrics.similarity`. High similarity after randomization
means the method is insensitive to the model, and fails the check. The data randomization
check is `keras_cxr.metrics.label_randomization`.

Keras is imported only when a randomized copy is first built, so the other metrics stay
numpy-only.

Reference:
    Adebayo, Gilmer, Muelly, Goodfellow, Hardt, Kim. "Sanity Checks for Saliency Maps."
    NeurIPS 2018. https://arxiv.org/abs/1810.03292
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from keras_cxr._validation import check_int, invalid_value
from keras_cxr.metrics._inputs import as_heatmaps, check_same_shape
from keras_cxr.metrics.similarity import min_max_normalize, spearman_rank_correlation, ssim

if TYPE_CHECKING:
    import keras

MODES = ("cascading", "independent")


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
        seed: Integer >= 0 seeding the noise. Defaults to 0.

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
    seed = check_int("seed", seed, minimum=0)
    candidates = _weighted_layers(model)
    positions = _select_layers(candidates, layers)
    # Generators only run on the first next(); validating above makes errors immediate.
    return _randomized_copies(model, candidates, positions, mode, seed)


def _randomized_copies(
    model: keras.Model,
    candidates: list[tuple[str, keras.layers.Layer]],
    positions: list[int],
    mode: str,
    seed: int,
) -> Iterator[tuple[str, keras.Model]]:
    import keras  # imported here so that the other metrics stay numpy-only

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


def fully_randomized_model(model: keras.Model, seed: int = 0) -> keras.Model:
    """One copy of `model` with every kernel and bias re-initialized.

    The last copy of `keras_cxr.metrics.randomize_model` in "cascading" mode, built in one
    clone instead of one per layer: the efficient and smooth MPRT compare only the original
    model with this one.

    Args:
        model: A built Keras model; it is never modified.
        seed: Integer >= 0 seeding the noise. Defaults to 0.

    Returns:
        A `keras.models.clone_model` copy with the randomized weights.

    Raises:
        ValueError: As for `keras_cxr.metrics.randomize_model`.

    Example:
        >>> import keras, numpy as np
        >>> from keras_cxr.metrics.model_randomization import fully_randomized_model
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
        >>> copy = fully_randomized_model(model)
        >>> bool(np.allclose(copy.get_weights()[0], model.get_weights()[0]))
        False
    """
    import keras  # imported here so that the other metrics stay numpy-only

    seed = check_int("seed", seed, minimum=0)
    candidates = _weighted_layers(model)
    _select_layers(candidates, None)  # raises for a model without weights
    slot_of = {id(variable): slot for slot, variable in enumerate(model.weights)}
    weights = model.get_weights()
    for position, (_, layer) in enumerate(candidates):
        rng = np.random.default_rng([seed, position])
        for variable in _randomizable_variables(layer):
            slot = slot_of[id(variable)]
            weights[slot] = _randomized_like(weights[slot], rng)
    copy = keras.models.clone_model(model)
    copy.set_weights(weights)
    return copy


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
        layers, seed: As for `keras_cxr.metrics.randomize_model`, with the same defaults
            (every layer with a kernel or bias, seed 0).

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
    normalized = min_max_normalize(original)
    rows = []
    for name, randomized_model in copies:
        heatmaps = as_heatmaps(explain_fn(randomized_model, images), "explain_fn(model, images)")
        check_same_shape(original, heatmaps)
        rows.append(
            {
                "layer": name,
                "spearman": spearman_rank_correlation(original, heatmaps),
                "ssim": ssim(normalized, min_max_normalize(heatmaps)),
                "constant_maps": int(np.sum(np.ptp(heatmaps, axis=(1, 2)) == 0)),
            }
        )
    return rows
