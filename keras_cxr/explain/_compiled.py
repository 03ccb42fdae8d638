"""One compiled function per explainer function and image size, kept in a cache.

Shared by the CAM family (`base.py`) and the pixel attribution methods
(`base_attribution.py`), so both compile and reuse their batch functions the same way.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np

from keras_cxr import backend

__all__ = ["compiled_for"]


def compiled_for(
    cache: dict[tuple, object],
    function: Callable,
    images: np.ndarray,
    model: keras.Model,
    others: tuple = (),
) -> Callable:
    """`function(images, int32 per-image vector, *others)`, compiled once per image size.

    The batch axis stays free, so batch sizes never re-trace; the image size is fixed,
    so that heatmap sizes are static (fully convolutional models get one function per
    size they see). The compiled function is stored in `cache` under
    `(function.__name__, image shape without the batch axis)`, followed by the shapes of
    `others` where there are any.

    Args:
        cache: The explainer's dict of compiled functions, updated in place.
        function: The function to compile, taking a float32 image batch and an int32
            vector with one entry per image.
        images: A batch of the size to compile for, shape (N, H, W, C).
        model: The model whose variables `function` reads (see
            `keras_cxr.backend.compile_function`).
        others: The model's inputs other than the image, for a batch of the same rows
            (`keras_cxr.explain.other_inputs`): their shapes and dtypes are added to the
            signature, the batch axis free. Defaults to none.

    Returns:
        The compiled function, from `cache` when it was compiled before.

    Example:
        >>> cache = {}
        >>> fn = compiled_for(cache, explainer._run_batch, images, model)
        >>> list(cache) == [("_run_batch", images.shape[1:])]
        True
    """
    extra = [
        ((None, *other.shape[1:]), keras.backend.standardize_dtype(other.dtype)) for other in others
    ]
    key = (function.__name__, tuple(images.shape[1:]), *extra)
    compiled = cache.get(key)
    if compiled is None:
        signature = [((None, *images.shape[1:]), "float32"), ((None,), "int32"), *extra]
        compiled = backend.compile_function(function, signature, model)
        cache[key] = compiled
    return compiled
