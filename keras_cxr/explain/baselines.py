"""Reference images for the path methods: black, blurred, uniform noise, or given.

A baseline is the image that stands for "no evidence": `IntegratedGradients` integrates
the gradient on the straight path from it to the image, and its attributions add up to the
score's change between the two. Which one is right depends on the data (Sturmfels et al.,
"Visualizing the Impact of Feature Attribution Baselines", Distill 2020): black is the
classic choice, a blurred copy keeps the overall brightness but removes detail, uniform
noise averages over no particular image.
"""

from __future__ import annotations

import numbers

import numpy as np

from keras_cxr._validation import invalid_value

#: The named baselines.
BASELINES = ("black", "blur", "uniform")

#: Standard deviation of the "blur" baseline's Gaussian, as a share of the image's larger side.
BLUR_SIGMA = 0.1

_EXPECTED = (
    f"one of {BASELINES}, a number, or an array of shape (height, width, channels) or "
    "(batch, height, width, channels) like the images"
)


def check_baseline(baseline):
    """Refuse a baseline that can never be valid, before any image is seen.

    Args:
        baseline: A name of `BASELINES`, a number, or an array.

    Returns:
        The baseline: the name, a float, or a float32 array (its shape is checked against
        the images by `baseline_images`).

    Raises:
        ValueError: For an unknown name, a non-numeric or non-finite value.

    Example:
        >>> from keras_cxr.explain.baselines import check_baseline
        >>> check_baseline("blur"), check_baseline(0)
        ('blur', 0.0)
    """
    if isinstance(baseline, str):
        if baseline not in BASELINES:
            raise invalid_value("baseline", _EXPECTED, baseline)
        return baseline
    if isinstance(baseline, numbers.Real) and not isinstance(baseline, bool):
        if not np.isfinite(baseline):
            raise invalid_value("baseline", f"finite values: {_EXPECTED}", baseline)
        return float(baseline)
    array = np.asarray(baseline)
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise invalid_value("baseline", _EXPECTED, baseline)
    if not np.isfinite(array).all():
        raise invalid_value("baseline", f"finite values: {_EXPECTED}", "non-finite values")
    return array.astype(np.float32)


def baseline_images(baseline, images: np.ndarray, seed: int | None = 0) -> np.ndarray:
    """One baseline image per image.

    - `"black"`: zeros (black in a model that takes raw pixels, as `StackedEnsemble` does).
    - `"blur"`: the image blurred by a Gaussian of standard deviation `BLUR_SIGMA` × its
      larger side (edges reflected), each channel apart.
    - `"uniform"`: noise drawn uniformly within each image's own value range, from
      `numpy.random.default_rng(seed)` over the whole batch at once.
    - a number: a constant image of that value.
    - an array: `(height, width, channels)` for every image, or one per image.

    Args:
        baseline: As above (checked by `check_baseline`).
        images: float32 `(batch, height, width, channels)`.
        seed: Seed of the `"uniform"` noise; `None` draws fresh noise. Defaults to 0.

    Returns:
        float32 `(batch, height, width, channels)`.

    Raises:
        ValueError: For a baseline array whose shape fits neither form.

    Example:
        >>> import numpy as np
        >>> from keras_cxr.explain.baselines import baseline_images
        >>> images = np.arange(8, dtype="float32").reshape(2, 2, 2, 1)
        >>> baseline_images(2.5, images)[1, :, :, 0]
        array([[2.5, 2.5],
               [2.5, 2.5]], dtype=float32)
    """
    baseline = check_baseline(baseline)
    if isinstance(baseline, str):
        if baseline == "black":
            return np.zeros_like(images)
        if baseline == "blur":
            return gaussian_blur(images, BLUR_SIGMA * max(images.shape[1:3]))
        low = images.min(axis=(1, 2, 3), keepdims=True)
        high = images.max(axis=(1, 2, 3), keepdims=True)
        noise = np.random.default_rng(seed).uniform(size=images.shape)
        return (low + noise * (high - low)).astype(np.float32)
    if isinstance(baseline, float):
        return np.full_like(images, baseline)
    if baseline.shape == images.shape[1:]:
        return np.broadcast_to(baseline, images.shape).copy()
    if baseline.shape == images.shape:
        return baseline
    raise invalid_value("baseline", _EXPECTED, f"an array of shape {baseline.shape}")


def gaussian_blur(images: np.ndarray, sigma: float) -> np.ndarray:
    """Blur each channel of each image with a Gaussian (separable, edges reflected).

    Args:
        images: `(batch, height, width, channels)`.
        sigma: Standard deviation in pixels; 0 returns the images unchanged.

    Returns:
        float32 array of the images' shape.

    Raises:
        Nothing of its own: a negative `sigma` blurs like its absolute value.

    Example:
        >>> import numpy as np
        >>> from keras_cxr.explain.baselines import gaussian_blur
        >>> flat = np.full((1, 5, 5, 1), 3.0, "float32")
        >>> bool(np.allclose(gaussian_blur(flat, 1.5), flat))
        True
    """
    sigma = abs(float(sigma))
    images = np.asarray(images, dtype=np.float64)
    if sigma == 0:
        return images.astype(np.float32)
    radius = int(np.ceil(3 * sigma))
    offsets = np.arange(-radius, radius + 1)
    kernel = np.exp(-(offsets**2) / (2 * sigma**2))
    kernel /= kernel.sum()
    for axis in (1, 2):
        pad = [(0, 0)] * images.ndim
        pad[axis] = (radius, radius)
        padded = np.pad(images, pad, mode="symmetric")
        size = images.shape[axis]
        images = sum(
            weight * np.take(padded, np.arange(start, start + size), axis=axis)
            for start, weight in enumerate(kernel)
        )
    return images.astype(np.float32)
