"""Intensity-, contrast-, gamma- and blur-shifted copies of images, to grade a model under shift.

A radiograph from another site or machine differs first in exposure, windowing, gamma
and sharpness. A model that is only graded on images drawn like its training images
never meets those differences; grading it on shifted copies of its validation images
does, at no cost in data. Every shift here is a fixed function of the pixels (the
`"mixed"` copy draws one setting per image from a seed), so the same images and seed
always give the same copies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import numpy as np

from keras_cxr._validation import invalid_value

#: The shifts `shift_images` knows, with the strength `SHIFTS` uses by default:
#: brightness (added to every pixel), contrast (factor around the image mean), gamma
#: (exponent of the [0, 1]-scaled pixels) and blur (Gaussian sigma in pixels).
SHIFT_KINDS = ("brightness", "contrast", "gamma", "blur")

#: Named shifted copies: `name -> (kind, strength)`; `shifted_copies` makes one of each,
#: plus `"mixed"` (one random shift of every kind per image).
SHIFTS: dict[str, tuple[str, float]] = {
    "darker": ("brightness", -30.0),
    "brighter": ("brightness", 30.0),
    "low_contrast": ("contrast", 0.7),
    "high_contrast": ("contrast", 1.3),
    "gamma_0.7": ("gamma", 0.7),
    "gamma_1.4": ("gamma", 1.4),
    "blur": ("blur", 1.0),
}

#: Ranges of the per-image draws of the `"mixed"` copy, one per kind.
MIXED_RANGES: dict[str, tuple[float, float]] = {
    "brightness": (-30.0, 30.0),
    "contrast": (0.7, 1.3),
    "gamma": (0.7, 1.4),
    "blur": (0.0, 1.0),
}


def shift_images(images: np.ndarray, kind: str, strength: float) -> np.ndarray:
    """Applies one intensity shift to a batch of images in [0, 255].

    - `"brightness"`: `x + strength`;
    - `"contrast"`: `mean + strength * (x - mean)`, the mean taken per image;
    - `"gamma"`: `255 * (x / 255) ** strength` (below 1 brightens the mid-tones);
    - `"blur"`: a Gaussian blur of standard deviation `strength` pixels (0: none).

    The result is clipped to [0, 255] and has the input's dtype (uint8 is rounded).

    Args:
        images: `(N, H, W, C)` or `(H, W, C)` pixels in [0, 255].
        kind: One of `SHIFT_KINDS`.
        strength: The shift's parameter, as above; gamma and contrast need > 0, blur >= 0.

    Returns:
        The shifted images, same shape and dtype.

    Raises:
        ValueError: For an unknown `kind` or an out-of-range `strength`.

    Example:
        >>> images = np.full((1, 4, 4, 3), 100, np.uint8)
        >>> keras_cxr.data.shift_images(images, "brightness", 30.0).max()
        130
    """
    if kind not in SHIFT_KINDS:
        raise invalid_value("kind", f"one of {list(SHIFT_KINDS)}", kind)
    strength = float(strength)
    if kind in ("contrast", "gamma") and not strength > 0:
        raise invalid_value("strength", f"a positive float for {kind}", strength)
    if kind == "blur" and not strength >= 0:
        raise invalid_value("strength", "a non-negative float for blur", strength)
    images = np.asarray(images)
    x = images.astype(np.float32)
    if kind == "brightness":
        x = x + strength
    elif kind == "contrast":
        axes = tuple(range(x.ndim - 3, x.ndim))
        mean = x.mean(axis=axes, keepdims=True)
        x = mean + strength * (x - mean)
    elif kind == "gamma":
        x = 255.0 * (np.clip(x, 0, 255) / 255.0) ** strength
    elif strength > 0:
        x = _blur(x, strength)
    x = np.clip(x, 0.0, 255.0)
    if np.issubdtype(images.dtype, np.integer):
        x = np.rint(x)
    return x.astype(images.dtype)


def shifted_copies(
    images: np.ndarray,
    shifts: Mapping[str, tuple[str, float]] | None = None,
    mixed: bool = True,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Shifted copies of a set of images, one per named shift.

    The `"mixed"` copy applies, to each image, one shift of every kind with a strength
    drawn uniformly from `MIXED_RANGES` by a generator seeded with `seed`, in the order
    gamma, contrast, brightness, blur.

    Args:
        images: `(N, H, W, C)` pixels in [0, 255].
        shifts: `name -> (kind, strength)`; None for `SHIFTS`. Defaults to None.
        mixed: Add the `"mixed"` copy. Defaults to True.
        seed: Seed of the `"mixed"` draws. Defaults to 0.

    Returns:
        `name -> images`, each of the input's shape and dtype, in the order of `shifts`
        then `"mixed"`.

    Raises:
        ValueError: For images that are not `(N, H, W, C)`, or an invalid shift.

    Example:
        >>> copies = keras_cxr.data.shifted_copies(np.zeros((2, 8, 8, 3), np.uint8))
        >>> sorted(copies)[:3]
        ['blur', 'brighter', 'darker']
    """
    images = np.asarray(images)
    if images.ndim != 4:
        raise invalid_value("images", "a batch of shape (N, H, W, C)", images.shape)
    copies = {
        name: shift_images(images, kind, strength)
        for name, (kind, strength) in (SHIFTS if shifts is None else shifts).items()
    }
    if mixed:
        copies["mixed"] = _mixed(images, seed)
    return copies


def shift_statistics(images: np.ndarray) -> dict[str, float]:
    """Mean, contrast (mean per-image standard deviation) and sharpness of images.

    Sharpness is the mean absolute difference of horizontally adjacent pixels, which a
    blur lowers. Used to say how far a shifted copy is from its source.

    Args:
        images: `(N, H, W, C)` pixels.

    Returns:
        `{"mean": ..., "contrast": ..., "sharpness": ...}` as floats.

    Example:
        >>> keras_cxr.data.shift_statistics(np.zeros((1, 4, 4, 1)))["mean"]
        0.0
    """
    x = np.asarray(images, dtype=np.float64)
    return {
        "mean": float(x.mean()),
        "contrast": float(x.reshape(len(x), -1).std(axis=1).mean()),
        "sharpness": float(np.abs(np.diff(x, axis=2)).mean()),
    }


def _mixed(images: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng([seed, 23])
    order = ("gamma", "contrast", "brightness", "blur")
    draws = {kind: rng.uniform(*MIXED_RANGES[kind], size=len(images)) for kind in order}
    out = np.empty_like(images)
    for i in range(len(images)):
        image = images[i : i + 1]
        for kind in order:
            image = shift_images(image, kind, draws[kind][i])
        out[i] = image[0]
    return out


def _blur(x: np.ndarray, sigma: float) -> np.ndarray:
    flat = x.reshape(-1, *x.shape[-3:])
    blurred = np.stack([_blur_one(image, sigma) for image in flat])
    return blurred.reshape(x.shape)


def _blur_one(image: np.ndarray, sigma: float) -> np.ndarray:
    out = cv2.GaussianBlur(image, (0, 0), sigmaX=sigma, borderType=cv2.BORDER_REFLECT)
    return out.reshape(image.shape)  # OpenCV drops a single channel axis


def describe_shifts(shifts: Mapping[str, tuple[str, float]] | None = None) -> list[dict[str, Any]]:
    """The named shifts as JSON-friendly rows, for reports.

    Args:
        shifts: `name -> (kind, strength)`; None for `SHIFTS`.

    Returns:
        `[{"name": ..., "kind": ..., "strength": ...}, ...]`.

    Example:
        >>> keras_cxr.data.describe_shifts()[0]
        {'name': 'darker', 'kind': 'brightness', 'strength': -30.0}
    """
    items: Sequence = (SHIFTS if shifts is None else shifts).items()
    return [{"name": n, "kind": k, "strength": float(s)} for n, (k, s) in items]
