"""Superpixels for LIME: SLIC or quickshift segments from scikit-image, grayscale-aware.

`scikit-image` is an optional dependency (`pip install 'keras_cxr[lime]'`), imported only
when an image is first segmented.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from keras_cxr._validation import invalid_value, shape_error

#: The named segmentations of `superpixels`.
SEGMENTATIONS = ("slic", "quickshift")


def superpixels(
    image: np.ndarray,
    method: str = "slic",
    *,
    n_segments: int = 50,
    compactness: float | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Split one image into superpixels, numbered 0, 1, ..., k - 1.

    The image is rescaled to [0, 1] first, so that the settings do not depend on the
    model's input scale. A gray image (one channel, or channels that are all equal, as a
    chest X-ray fed to an ImageNet backbone) is segmented on its single channel
    (`channel_axis=None`); a colour image in the CIELAB space. `"slic"` uses k-means in
    space and intensity (`n_segments` is the number aimed at); `"quickshift"` uses lime's
    own settings (`kernel_size=4, max_dist=200, ratio=0.2`) and takes the gray image as
    three equal channels, which it requires.

    Args:
        image: One image, `(height, width, channels)`.
        method: `"slic"` (default) or `"quickshift"`.
        n_segments: Superpixels aimed at by SLIC. Defaults to 50.
        compactness: SLIC's balance of space against intensity. Defaults to 0.1 for gray
            images in [0, 1] and 10 for colour images in CIELAB.
        seed: Seed of quickshift's tie-breaking noise. Defaults to 0.

    Returns:
        int32 `(height, width)` labels, consecutive from 0.

    Raises:
        ValueError: For an image that is not `(height, width, channels)`, or an unknown
            `method`.
        ImportError: When scikit-image is not installed.

    Example:
        >>> import numpy as np
        >>> image = np.zeros((32, 32, 1), "float32"); image[:, 16:] = 1.0
        >>> labels = keras_cxr.explain.superpixels.superpixels(image, n_segments=4)
        >>> straddling = set(labels[:, :16].ravel()) & set(labels[:, 16:].ravel())
        >>> labels.shape, straddling
        ((32, 32), set())

    Reference:
        Achanta et al., "SLIC Superpixels Compared to State-of-the-Art Superpixel Methods",
        IEEE TPAMI 2012; Vedaldi and Soatto, "Quick Shift and Kernel Methods for Mode
        Seeking", ECCV 2008.
    """
    image = np.asarray(image, np.float64)
    if image.ndim != 3:
        raise shape_error("image", "one image of shape (height, width, channels)", image.shape)
    if method not in SEGMENTATIONS:
        raise invalid_value("method", f"one of {SEGMENTATIONS} or a callable", method)
    segmentation = import_skimage_segmentation()
    low, high = image.min(), image.max()
    scaled = (image - low) / (high - low) if high > low else np.zeros_like(image)
    gray = scaled.shape[-1] == 1 or bool(np.all(scaled == scaled[..., :1]))
    if method == "quickshift":
        rgb = np.repeat(scaled[..., :1], 3, axis=-1) if gray else scaled
        labels = segmentation.quickshift(
            rgb, kernel_size=4, max_dist=200, ratio=0.2, rng=seed, convert2lab=not gray
        )
    elif gray:
        labels = segmentation.slic(
            scaled[..., 0],
            n_segments=n_segments,
            compactness=0.1 if compactness is None else compactness,
            channel_axis=None,
            start_label=0,
        )
    else:
        labels = segmentation.slic(
            scaled,
            n_segments=n_segments,
            compactness=10.0 if compactness is None else compactness,
            channel_axis=-1,
            start_label=0,
        )
    return consecutive(labels)


def segment_batch(
    images: np.ndarray, segmentation: str | Callable[[np.ndarray], np.ndarray], **options
) -> list[np.ndarray]:
    """The superpixels of each image of a batch: `superpixels`, or a callable of one image.

    Args:
        images: `(batch, height, width, channels)`.
        segmentation: A name of `SEGMENTATIONS`, or a callable mapping one
            `(height, width, channels)` image to integer `(height, width)` labels.
        **options: Passed to `superpixels` for a named segmentation.

    Returns:
        One int32 `(height, width)` label array per image, consecutive from 0.

    Raises:
        ValueError: When a callable returns labels of another shape.

    Example:
        >>> import numpy as np
        >>> from keras_cxr.explain.superpixels import segment_batch
        >>> halves = lambda image: np.arange(image.shape[1])[None].repeat(4, 0) // 2
        >>> segment_batch(np.zeros((1, 4, 4, 1)), halves)[0][0].tolist()
        [0, 0, 1, 1]
    """
    if not callable(segmentation):
        return [superpixels(image, segmentation, **options) for image in images]
    batch = []
    for image in images:
        labels = np.asarray(segmentation(image))
        if labels.shape != image.shape[:2]:
            raise shape_error(
                "segmentation", f"labels of shape {image.shape[:2]} per image", labels.shape
            )
        batch.append(consecutive(labels))
    return batch


def consecutive(labels: np.ndarray) -> np.ndarray:
    """Integer labels renumbered 0, 1, ..., k - 1 in order of their values.

    Args:
        labels: An integer `(height, width)` array.

    Returns:
        int32 labels of the same shape.

    Example:
        >>> import numpy as np
        >>> from keras_cxr.explain.superpixels import consecutive
        >>> consecutive(np.array([[5, 9], [9, 2]])).tolist()
        [[1, 2], [2, 0]]
    """
    _, inverse = np.unique(np.asarray(labels), return_inverse=True)
    return inverse.reshape(np.shape(labels)).astype(np.int32)


def import_skimage_segmentation():
    """Import `skimage.segmentation`, saying how to install scikit-image when it is missing.

    Returns:
        The `skimage.segmentation` module.

    Raises:
        ImportError: When scikit-image is not installed; the message gives the pip command.

    Example:
        >>> segmentation = keras_cxr.explain.superpixels.import_skimage_segmentation()
    """
    try:
        from skimage import segmentation
    except ImportError as error:
        raise ImportError(
            "keras_cxr.explain.LIME needs scikit-image for its superpixels. Install it with "
            "`pip install 'keras_cxr[lime]'` (or `pip install scikit-image`), or pass "
            "`segmentation=` a callable of your own."
        ) from error
    return segmentation
