"""Turning raw maps into heatmaps: upsampling, normalisation, fusion, attribution display."""

from __future__ import annotations

from keras import ops

#: A map whose value range is below this share of its magnitude counts as constant.
RELATIVE_EPSILON = 1e-6

#: How signed pixel attributions are shown: their magnitude, or their positive part.
DISPLAYS = ("abs", "positive")


def upsample(cams, size: tuple[int, int]):
    """Bilinearly resize `(batch, h, w)` maps to `(batch, *size)`.

    Args:
        cams: Maps at feature-map resolution.
        size: `(height, width)` of the input images.

    Returns:
        float32 `(batch, height, width)`.

    Raises:
        Nothing of its own: the shapes are not checked (the explainers pass 3-D maps).

    Example:
        >>> import numpy as np
        >>> keras_cxr.explain.upsample(np.ones((2, 7, 7)), (224, 224)).shape
        TensorShape([2, 224, 224])
    """
    cams = ops.cast(cams, "float32")[..., None]
    return ops.image.resize(cams, size, interpolation="bilinear")[..., 0]


def normalize(maps):
    """Min-max scale each map to [0, 1]; a constant (or all-zero) map becomes all zeros.

    The tolerance is relative to the map's own magnitude, so the tiny activations of
    randomly initialised deep networks (around 1e-13) are scaled correctly rather than
    zeroed, while maps that are constant up to rounding never divide by ~0.

    Args:
        maps: `(batch, height, width)`.

    Returns:
        float32 maps in [0, 1], never NaN (non-finite inputs give zeros).

    Raises:
        Nothing of its own: the shapes are not checked (the explainers pass 3-D maps).

    Example:
        >>> import numpy as np
        >>> np.asarray(keras_cxr.explain.normalize(np.array([[[1.0, 3.0], [2.0, 5.0]]])))
        array([[[0.  , 0.5 ],
                [0.25, 1.  ]]], dtype=float32)
    """
    maps = ops.cast(maps, "float32")
    maps = ops.where(ops.isfinite(maps), maps, 0.0)
    low = ops.min(maps, axis=(1, 2), keepdims=True)
    high = ops.max(maps, axis=(1, 2), keepdims=True)
    spread = high - low
    magnitude = ops.maximum(ops.abs(high), ops.abs(low))
    varying = spread > RELATIVE_EPSILON * magnitude
    safe_spread = ops.where(varying, spread, 1.0)
    return ops.where(varying, (maps - low) / safe_spread, 0.0)


def fuse(layer_maps: list):
    """Fuse per-branch heatmaps into one: the normalised mean of the normalised maps.

    Every branch (backbone) gets an equal vote regardless of its feature-map resolution
    or activation scale, which differ by orders of magnitude between architectures; a
    branch with no positive evidence (an all-zero map) pulls the fused map down evenly.

    Args:
        layer_maps: List of `(batch, height, width)` maps in [0, 1].

    Returns:
        `(batch, height, width)` in [0, 1].

    Raises:
        Nothing of its own: maps of different shapes fail in the backend's stack.

    Example:
        >>> import numpy as np
        >>> a, b = np.zeros((1, 2, 2), "float32"), np.eye(2, dtype="float32")[None]
        >>> np.asarray(keras_cxr.explain.fuse([a, b]))[0]
        array([[1., 0.],
               [0., 1.]], dtype=float32)
    """
    if len(layer_maps) == 1:
        return layer_maps[0]
    return normalize(ops.mean(ops.stack(layer_maps, axis=0), axis=0))


def attribution_heatmaps(attributions, display: str):
    """Heatmaps in [0, 1] from raw, signed pixel attributions.

    `"abs"` shows where the score is sensitive, whichever way; `"positive"` shows the
    evidence *for* the explained class only (as the ReLU of the CAM family does). Either is
    then min-max scaled per image with `normalize`.

    Args:
        attributions: `(batch, height, width)` raw attributions, any scale and sign.
        display: `"abs"` (the absolute value) or `"positive"` (the positive part).

    Returns:
        float32 `(batch, height, width)` in [0, 1], never NaN.

    Raises:
        ValueError: For a `display` that is not one of `DISPLAYS`.

    Example:
        >>> import numpy as np
        >>> attributions = np.array([[[-2.0, 0.0], [1.0, 2.0]]], "float32")
        >>> np.asarray(keras_cxr.explain.attribution_heatmaps(attributions, "positive"))
        array([[[0. , 0. ],
                [0.5, 1. ]]], dtype=float32)
        >>> np.asarray(keras_cxr.explain.attribution_heatmaps(attributions, "abs"))
        array([[[1. , 0. ],
                [0.5, 1. ]]], dtype=float32)
    """
    if display not in DISPLAYS:
        raise ValueError(
            f"Invalid value received for argument `display`. Expected one of {DISPLAYS}. "
            f"Received: display={display!r}"
        )
    attributions = ops.cast(attributions, "float32")
    magnitude = ops.abs(attributions) if display == "abs" else ops.relu(attributions)
    return normalize(magnitude)
