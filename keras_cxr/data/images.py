"""Reading chest X-ray files (JPEG, PNG or DICOM) into the arrays the models expect.

`read_image` is the one decoder of the package: the loader, the training pipeline, the
callback and the explainers' file inputs all go through it, so an image looks the same
to the model wherever it comes from.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from keras_cxr._validation import check_int, invalid_value
from keras_cxr.data.image_header import (
    MAX_DECODED_BYTES,
    MAX_IMAGE_PIXELS,
    check_decoded_size,
    dicom_header,
    read_header,
)

COLOR_MODES = ("rgb", "grayscale")
#: Smallest side, in pixels, of an image file the pipeline accepts: anything smaller is an
#: icon or a thumbnail, not a radiograph, and upsampling it would only invent pixels.
MIN_IMAGE_SIDE = 32

# ANYDEPTH keeps 16-bit PNGs at full precision, ANYCOLOR keeps grayscale files single
# channel; neither keeps alpha, and EXIF orientation is still applied. libjpeg converts
# CMYK/YCCK JPEGs to BGR.
_DECODE_FLAGS = cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR


def read_image(
    path: str | os.PathLike,
    color_mode: str = "rgb",
    image_size: tuple[int, int] | None = None,
    min_side: int | None = None,
    max_pixels: int = MAX_IMAGE_PIXELS,
    max_bytes: int = MAX_DECODED_BYTES,
) -> np.ndarray:
    """Reads a JPEG, PNG or DICOM chest X-ray as a uint8 array.

    Every flavour comes out the same way: grayscale, RGB, RGBA (alpha is dropped, not
    blended), CMYK JPEG, 16-bit PNG (scaled from [0, 65535] to [0, 255]) and DICOM (through
    `keras_cxr.data.read_dicom`, which applies the rescale and window). Color images are
    turned to gray with the ITU-R BT.601 weights in "grayscale" mode; gray images are
    repeated over three channels in "rgb" mode. This is the decoder of
    `keras_cxr.data.load_chest_xray`, so it reproduces a training image exactly (cast it to
    float32 for the model). Before any pixel is decoded, the header's size is checked
    against the decoded-size budget (`keras_cxr.data.image_header.size_problem`), so a
    decompression bomb is refused without allocating its pixels.

    Args:
        path: The image file. The format is read from the content for JPEG and PNG, and
            from the `.dcm` extension for DICOM.
        color_mode: "rgb" for `(H, W, 3)` or "grayscale" for `(H, W, 1)`. Defaults to "rgb".
        image_size: `(height, width)` to resize to (area interpolation when shrinking,
            bilinear when enlarging; the aspect ratio is not kept), or None to keep the
            file's size. Defaults to None.
        min_side: Refuse files whose smaller side, before resizing, is below this many
            pixels (e.g. `MIN_IMAGE_SIDE`); None accepts any size. Defaults to None.
        max_pixels: Most pixels the header may claim. Defaults to `MAX_IMAGE_PIXELS`.
        max_bytes: Most decoded bytes (pixels × channels × bytes per sample) the header
            may claim. Defaults to `keras_cxr.data.image_header.MAX_DECODED_BYTES`.

    Returns:
        A uint8 array of shape `(H, W, 3)` or `(H, W, 1)`.

    Raises:
        ValueError: the file cannot be decoded, is smaller than `min_side`, or a bad
            `color_mode` / `image_size`; `keras_cxr.data.image_header.ImageTooLargeError`
            (a `ValueError`) when its header passes `max_pixels` or `max_bytes`.
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
    subject = f"The image {str(path)!r}"
    if path.suffix.lower() == ".dcm":
        from keras_cxr.data.dicom import read_dicom

        check_decoded_size(dicom_header(path), subject, max_pixels, max_bytes)
        image = read_dicom(path)
    else:
        data = np.fromfile(path, dtype=np.uint8)
        check_decoded_size(read_header(data.tobytes()), subject, max_pixels, max_bytes)
        try:
            image = _decode_bytes(data)
        except cv2.error:  # OpenCV's own limits: its assertion text means nothing to users
            image = None
        if image is None:
            raise ValueError(
                f"Cannot decode {str(path)!r}: it is not a readable JPEG or PNG file "
                "(corrupt, truncated or another format). Remove or re-export it."
            )
    return _finish_decoded(image, color_mode, image_size, min_side, subject)


def read_images(
    paths: Sequence[str | os.PathLike],
    image_size: int,
    color_mode: str = "rgb",
    progress: bool = False,
    description: str = "reading images",
) -> np.ndarray:
    """Decodes image files (JPEG, PNG, DICOM) into one uint8 batch at the model's size.

    Each file goes through `read_image` (files smaller than `MIN_IMAGE_SIDE` are refused),
    in parallel threads: OpenCV releases the GIL while decoding.

    Args:
        paths: The files.
        image_size: Side of the square output images.
        color_mode: "rgb" or "grayscale". Defaults to "rgb".
        progress: Show a progress bar. Defaults to False.
        description: Label of the progress bar. Defaults to "reading images".

    Returns:
        uint8 `(len(paths), image_size, image_size, 3 or 1)`.

    Raises:
        FileNotFoundError: A file does not exist (checked before any is decoded).
        ValueError: A file cannot be decoded or is smaller than `MIN_IMAGE_SIDE` pixels.

    Example:
        >>> batch = keras_cxr.data.read_images(["a.jpeg", "b.dcm"], image_size=224)
        >>> batch.shape
        (2, 224, 224, 3)
    """
    from tqdm.auto import tqdm

    image_size = check_int("image_size", image_size)
    if color_mode not in COLOR_MODES:
        raise invalid_value("color_mode", f"one of {list(COLOR_MODES)}", color_mode)
    paths = [Path(path) for path in paths]
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"No image file at {str(path)!r}.")

    def read(path: Path) -> np.ndarray:
        return read_image(path, color_mode, (image_size, image_size), MIN_IMAGE_SIDE)

    channels = 1 if color_mode == "grayscale" else 3
    batch = np.empty((len(paths), image_size, image_size, channels), dtype=np.uint8)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        results = pool.map(read, paths)
        for index, image in enumerate(
            tqdm(results, total=len(paths), desc=description, disable=not progress, leave=False)
        ):
            batch[index] = image
    return batch


def resize_images(
    images: np.ndarray | Sequence[np.ndarray],
    image_size: tuple[int, int],
    color_mode: str = "rgb",
) -> np.ndarray:
    """Brings decoded images to a model's input size and channels, the way files are read.

    The in-memory counterpart of `read_image(path, color_mode, image_size)`: each image is
    resized with the same interpolation (area when shrinking, bilinear when enlarging; the
    aspect ratio is not kept), then turned to gray with the ITU-R BT.601 weights or
    repeated over three channels. Images may differ in size (pass a list). Colour images
    are read as RGB, as NumPy users hold them (not OpenCV's BGR); a fourth (alpha) channel
    is dropped; 16-bit images are scaled to [0, 255] like 16-bit PNG files.

    Args:
        images: A batch `(n, h, w, 1 | 3 | 4)`, a grayscale batch `(n, h, w)`, or a list of
            `(h, w)` / `(h, w, channels)` images of any sizes; uint8, uint16 or float.
        image_size: `(height, width)` of the output.
        color_mode: "rgb" for 3 channels or "grayscale" for 1. Defaults to "rgb".

    Returns:
        `(n, height, width, 3 or 1)`: uint8 when every input is 8- or 16-bit, else float32
        (float pixel values are kept, not rescaled).

    Raises:
        ValueError: For an empty batch, non-numeric pixels, an image that is not 2-D or
            `(h, w, 1 | 3 | 4)`, or a bad `image_size` / `color_mode`.

    Example:
        >>> batch = keras_cxr.data.resize_images([np.zeros((40, 50), "uint8")], (32, 32))
        >>> batch.shape, batch.dtype
        ((1, 32, 32, 3), dtype('uint8'))
    """
    if color_mode not in COLOR_MODES:
        raise invalid_value("color_mode", f"one of {list(COLOR_MODES)}", color_mode)
    if isinstance(images, np.ndarray) and images.dtype != object:
        if images.ndim not in (3, 4):
            raise invalid_value(
                "images", "a batch (n, h, w[, channels]) or a list of images", images.shape
            )
        images = list(images)
    images = [np.asarray(image) for image in images]
    if not images:
        raise invalid_value("images", "at least one image", "an empty batch")
    conformed = [_conform(image, image_size, color_mode) for image in images]
    if any(image.dtype != np.uint8 for image in conformed):
        conformed = [image.astype(np.float32) for image in conformed]
    return np.stack(conformed)


def _conform(image: np.ndarray, image_size: tuple[int, int], color_mode: str) -> np.ndarray:
    """One RGB or gray image at `image_size` in `color_mode`, as `read_image` makes it."""
    if not (np.issubdtype(image.dtype, np.integer) or np.issubdtype(image.dtype, np.floating)):
        raise invalid_value("images", "numeric pixels (uint8, uint16 or float)", image.dtype)
    if image.ndim == 3 and image.shape[-1] == 4:
        image = image[..., :3]
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[-1] in (1, 3))):
        raise invalid_value(
            "images", "images of shape (h, w) or (h, w, 1 | 3 | 4)", f"shape {image.shape}"
        )
    if image.dtype == np.uint16:
        image = _to_uint8(image)
    elif image.dtype != np.uint8:
        image = image.astype(np.float32)
    image = _resize(np.ascontiguousarray(image), image_size)
    if image.ndim == 3 and image.shape[-1] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)  # `_to_color_mode` reads OpenCV order
    return _to_color_mode(image, color_mode)


def _finish_decoded(
    image: np.ndarray,
    color_mode: str,
    image_size: tuple[int, int] | None,
    min_side: int | None,
    subject: str,
) -> np.ndarray:
    """`read_image`'s last steps on decoded pixels: uint8, minimum side, size, channels.

    `subject` names the image at the start of the error message ("The image 'a.png'").
    """
    image = _to_uint8(image)
    if min_side is not None and min(image.shape[:2]) < min_side:
        height, width = image.shape[:2]
        why = (
            "smaller files are icons or thumbnails, not radiographs"
            if image_size is None
            else f"it is resized to the model's {image_size[1]}×{image_size[0]} input"
        )
        raise ValueError(
            f"{subject} is {width}×{height} pixels; at least "
            f"{min_side}×{min_side} is needed ({why})."
        )
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
        # Row blocks of about 4 MB: a whole-image uint32 copy would double a large 16-bit
        # image's memory twice over.
        out = np.empty(image.shape, np.uint8)
        step = max(1, (1 << 20) // max(1, image[0].size))
        for start in range(0, image.shape[0], step):
            block = image[start : start + step].astype(np.uint32)
            out[start : start + step] = (block * 255 + 32767) // 65535
        return out
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
