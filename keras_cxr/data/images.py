"""Reading one chest X-ray file (JPEG, PNG or DICOM) into the array the models expect."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from keras_cxr._validation import invalid_value

COLOR_MODES = ("rgb", "grayscale")

# ANYDEPTH keeps 16-bit PNGs at full precision, ANYCOLOR keeps grayscale files single
# channel; neither keeps alpha, and EXIF orientation is still applied. libjpeg converts
# CMYK/YCCK JPEGs to BGR.
_DECODE_FLAGS = cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR


def read_image(
    path: str | os.PathLike,
    color_mode: str = "rgb",
    image_size: tuple[int, int] | None = None,
) -> np.ndarray:
    """Reads a JPEG, PNG or DICOM chest X-ray as a uint8 array.

    Every flavour comes out the same way: grayscale, RGB, RGBA (alpha is dropped, not
    blended), CMYK JPEG, 16-bit PNG (scaled from [0, 65535] to [0, 255]) and DICOM (through
    `keras_cxr.data.read_dicom`, which applies the rescale and window). Color images are
    turned to gray with the ITU-R BT.601 weights in "grayscale" mode; gray images are
    repeated over three channels in "rgb" mode. This is the decoder of
    `keras_cxr.data.load_chest_xray`, so it reproduces a training image exactly (cast it to
    float32 for the model).

    Args:
        path: The image file. The format is read from the content for JPEG and PNG, and
            from the `.dcm` extension for DICOM.
        color_mode: "rgb" for `(H, W, 3)` or "grayscale" for `(H, W, 1)`. Defaults to "rgb".
        image_size: `(height, width)` to resize to (area interpolation when shrinking,
            bilinear when enlarging; the aspect ratio is not kept), or None to keep the
            file's size. Defaults to None.

    Returns:
        A uint8 array of shape `(H, W, 3)` or `(H, W, 1)`.

    Raises:
        ValueError: the file cannot be decoded, or a bad `color_mode` / `image_size`.
        FileNotFoundError: the file does not exist.

    Example:
        >>> image = keras_cxr.data.read_image("chest_xray/test/NORMAL/IM-0001-0001.jpeg",
        ...                                   image_size=(224, 224))
        >>> image.shape, image.dtype
        ((224, 224, 3), dtype('uint8'))
    """
    if color_mode not in COLOR_MODES:
        raise invalid_value("color_mode", f"one of {list(COLOR_MODES)}", color_mode)
    path = Path(path)
    if path.suffix.lower() == ".dcm":
        from keras_cxr.data.dicom import read_dicom

        image = read_dicom(path)
    else:
        image = _decode_bytes(np.fromfile(path, dtype=np.uint8))
        if image is None:
            raise ValueError(
                f"Cannot decode {str(path)!r}: it is not a readable JPEG or PNG file "
                "(corrupt, truncated or another format). Remove or re-export it."
            )
    image = _to_uint8(image)
    if image_size is not None:
        image = _resize(image, image_size)
    return _to_color_mode(image, color_mode)


def _decode_bytes(data: np.ndarray, flags: int = _DECODE_FLAGS) -> np.ndarray | None:
    """Decodes JPEG or PNG bytes with OpenCV; returns None when they do not decode."""
    if data.size == 0:
        return None
    return cv2.imdecode(data, flags)


def _to_uint8(image: np.ndarray) -> np.ndarray:
    """Maps a uint8 or uint16 image onto uint8, rounding 16-bit values to the nearest step."""
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:
        return ((image.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    raise ValueError(f"Unsupported pixel type {image.dtype}; expected 8- or 16-bit images.")


def _resize(image: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    if (
        not isinstance(image_size, (tuple, list))
        or len(image_size) != 2
        or not all(isinstance(side, (int, np.integer)) and side > 0 for side in image_size)
    ):
        raise invalid_value("image_size", "a (height, width) tuple of positive ints", image_size)
    height, width = int(image_size[0]), int(image_size[1])
    if image.shape[:2] == (height, width):
        return image
    shrinking = height * width < image.shape[0] * image.shape[1]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(image, (width, height), interpolation=interpolation)


def _to_color_mode(image: np.ndarray, color_mode: str) -> np.ndarray:
    """Turns a 2-D gray or 3-D BGR OpenCV image into RGB `(H, W, 3)` or gray `(H, W, 1)`."""
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if color_mode == "grayscale":
        if image.ndim == 3:
            image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        return image[..., np.newaxis]
    if image.ndim == 2:
        return np.repeat(image[..., np.newaxis], 3, axis=-1)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
