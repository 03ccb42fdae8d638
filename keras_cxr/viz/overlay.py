"""Heatmap overlays drawn with OpenCV colormaps on the original image."""

from __future__ import annotations

import cv2
import numpy as np

from keras_cxr._validation import check_unit_interval, invalid_value, shape_error

COLORMAPS = {
    "jet": cv2.COLORMAP_JET,
    "turbo": cv2.COLORMAP_TURBO,
    "inferno": cv2.COLORMAP_INFERNO,
    "viridis": cv2.COLORMAP_VIRIDIS,
    "hot": cv2.COLORMAP_HOT,
}


def to_uint8_rgb(images: np.ndarray) -> np.ndarray:
    """Convert a batch of images to displayable uint8 RGB.

    Float images in [0, 1] are scaled by 255; other float images are clipped to [0, 255];
    single-channel images are repeated to three channels.

    Args:
        images: `(batch, height, width)` or `(batch, height, width, 1|3)`.

    Returns:
        uint8 `(batch, height, width, 3)`.

    Raises:
        ValueError: If the shape is not a batch of 1- or 3-channel images.

    Example:
        >>> rgb = keras_cxr.viz.to_uint8_rgb(np.ones((2, 64, 64, 1), "float32"))
        >>> rgb.shape, rgb.dtype, int(rgb.max())
        ((2, 64, 64, 3), dtype('uint8'), 255)
    """
    array = np.asarray(images)
    if array.ndim == 3:
        array = array[..., None]
    if array.ndim != 4 or array.shape[-1] not in (1, 3):
        raise shape_error("images", "(batch, height, width[, 1 or 3])", array.shape)
    if array.dtype != np.uint8:
        array = array.astype(np.float32)
        if array.size and array.max() <= 1.0 and array.min() >= 0.0:
            array = array * 255.0
        array = np.clip(np.rint(array), 0, 255).astype(np.uint8)
    if array.shape[-1] == 1:
        array = np.repeat(array, 3, axis=-1)
    return array


def colorize(heatmaps: np.ndarray, colormap: str = "jet") -> np.ndarray:
    """Map heatmaps in [0, 1] to RGB colours (jet: red = high importance).

    Args:
        heatmaps: `(batch, height, width)` in [0, 1].
        colormap: One of `keras_cxr.viz.overlay.COLORMAPS`. Defaults to `"jet"`.

    Returns:
        uint8 `(batch, height, width, 3)` RGB.

    Raises:
        ValueError: For an unknown colormap.

    Example:
        >>> colours = keras_cxr.viz.colorize(explanation.heatmaps, colormap="turbo")
        >>> colours.shape  # (batch, height, width, 3)
        (8, 224, 224, 3)
    """
    if colormap not in COLORMAPS:
        raise invalid_value("colormap", f"one of {sorted(COLORMAPS)}", colormap)
    levels = np.clip(np.rint(np.asarray(heatmaps, np.float32) * 255), 0, 255).astype(np.uint8)
    return np.stack(
        [cv2.cvtColor(cv2.applyColorMap(m, COLORMAPS[colormap]), cv2.COLOR_BGR2RGB) for m in levels]
    )


def overlay(
    images: np.ndarray, heatmaps: np.ndarray, alpha: float = 0.4, colormap: str = "jet"
) -> np.ndarray:
    """Blend coloured heatmaps onto the original (un-normalised) images.

    Args:
        images: `(batch, height, width[, channels])` raw images (uint8, or float in
            [0, 255] or [0, 1]).
        heatmaps: `(batch, height, width)` in [0, 1]; resized to the image size if needed.
        alpha: Weight of the heatmap in the blend, in [0, 1]. Defaults to 0.4.
        colormap: OpenCV colormap name. Defaults to `"jet"` (red = high importance).

    Returns:
        uint8 `(batch, height, width, 3)` RGB.

    Raises:
        ValueError: For mismatched batch sizes, a bad `alpha` or an unknown colormap.

    Example:
        >>> rgb = keras_cxr.viz.overlay(images, explanation.heatmaps, alpha=0.4)
    """
    alpha = check_unit_interval("alpha", alpha, include_zero=True)
    base = to_uint8_rgb(images)
    maps = np.asarray(heatmaps, np.float32)
    if maps.ndim != 3 or maps.shape[0] != base.shape[0]:
        raise shape_error(
            "heatmaps", f"({base.shape[0]}, height, width) to match the images", maps.shape
        )
    height, width = base.shape[1:3]
    if maps.shape[1:] != (height, width):
        maps = np.stack(
            [cv2.resize(m, (width, height), interpolation=cv2.INTER_LINEAR) for m in maps]
        )
    colours = colorize(maps, colormap).astype(np.float32)
    blended = (1.0 - alpha) * base.astype(np.float32) + alpha * colours
    return np.clip(np.rint(blended), 0, 255).astype(np.uint8)
