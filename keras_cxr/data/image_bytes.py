"""Decoding an image held in memory (JPEG, PNG or DICOM bytes), its format read from the bytes.

The in-memory counterpart of `keras_cxr.data.read_image`, for images that never touch a
disk (an HTTP upload): the same decoder and the same conversions, so an uploaded file
looks to the model exactly as the file read from disk. The format is sniffed from the
first bytes, never taken from a name, and the size claimed by the header is checked
before anything is decoded, as `keras_cxr.data.scan_images` checks files.
"""

from __future__ import annotations

import io

import cv2
import numpy as np

from keras_cxr._validation import invalid_value
from keras_cxr.data.image_header import (
    MAX_DECODED_BYTES,
    MAX_IMAGE_PIXELS,
    PNG_SIGNATURE,
    ImageHeader,
    check_decoded_size,
    dicom_header,
    read_header,
)
from keras_cxr.data.images import COLOR_MODES, _decode_bytes, _finish_decoded
from keras_cxr.data.scan import _has_jpeg_end, _has_png_end

#: The formats `sniff_format` recognises.
FORMATS = ("jpeg", "png", "dicom")
# DICOM Part 10 files: a 128-byte preamble, then "DICM".
_DICOM_MAGIC_AT = 128


def sniff_format(data: bytes) -> str | None:
    """The image format of some bytes, read from their signature.

    Args:
        data: The start of the file (the whole file will do).

    Returns:
        `"png"` (the 8-byte PNG signature), `"jpeg"` (the SOI marker `FF D8 FF`),
        `"dicom"` (`DICM` after the 128-byte preamble), or None for anything else.

    Raises:
        Nothing: it only reads what it is given.

    Example:
        >>> keras_cxr.data.sniff_format(b"\\x89PNG\\r\\n\\x1a\\n" + bytes(16))
        'png'
    """
    data = bytes(data[: _DICOM_MAGIC_AT + 4])
    if data.startswith(PNG_SIGNATURE):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data[_DICOM_MAGIC_AT : _DICOM_MAGIC_AT + 4] == b"DICM":
        return "dicom"
    return None


def header_pixels(data: bytes) -> int | None:
    """The number of pixels an image's header claims, read before any pixel is decoded.

    Width × height for PNG and JPEG (the first start-of-frame segment), rows × columns ×
    frames for DICOM. Compare it with a limit to refuse decompression bombs: a file of a
    few kilobytes that would decode to gigabytes.

    Args:
        data: The whole file.

    Returns:
        The claimed pixel count, or None when the format is unknown or the header holds
        no size (a corrupt or truncated header).

    Raises:
        ImportError: For DICOM bytes when pydicom is not installed.

    Example:
        >>> png = cv2.imencode(".png", np.zeros((40, 50), np.uint8))[1].tobytes()
        >>> keras_cxr.data.header_pixels(png)
        2000
    """
    header = image_header(data)
    return None if header is None else header.pixels


def image_header(data: bytes) -> ImageHeader | None:
    """The size, channels and bit depth an image's header claims (PNG, JPEG or DICOM).

    Args:
        data: The whole file.

    Returns:
        A `keras_cxr.data.image_header.ImageHeader`, or None for an unknown format or a
        header without a size.

    Raises:
        ImportError: For DICOM bytes when pydicom is not installed.

    Example:
        >>> png = cv2.imencode(".png", np.zeros((40, 50), np.uint8))[1].tobytes()
        >>> keras_cxr.data.image_bytes.image_header(png).channels
        1
    """
    if sniff_format(data) != "dicom":
        return read_header(data)
    try:
        header = dicom_header(io.BytesIO(data))
    except ValueError:
        return None
    return header if header.pixels else None


def decode_image_bytes(
    data: bytes,
    color_mode: str = "rgb",
    image_size: tuple[int, int] | None = None,
    min_side: int | None = None,
    max_pixels: int = MAX_IMAGE_PIXELS,
    max_bytes: int = MAX_DECODED_BYTES,
) -> np.ndarray:
    """Decodes JPEG, PNG or DICOM bytes as `keras_cxr.data.read_image` decodes files.

    The format comes from the bytes (`sniff_format`). The header's size is checked
    against `max_pixels` and its decoded size (pixels × channels × bytes per sample)
    against `max_bytes` before decoding; PNG and JPEG data must end with their end
    marker (a truncated upload is refused rather than decoded half grey). Then the
    pixels go through exactly the steps of `read_image`: 16-bit scaled to 8-bit, the
    minimum side, resizing, the color mode. DICOM goes through
    `keras_cxr.data.read_dicom` (rescale, window, MONOCHROME1 inversion).

    Args:
        data: The whole file, as bytes.
        color_mode: "rgb" for `(H, W, 3)` or "grayscale" for `(H, W, 1)`. Defaults to "rgb".
        image_size: `(height, width)` to resize to, or None (default) to keep the size.
        min_side: Refuse images whose smaller side is below this many pixels; None
            (default) accepts any size.
        max_pixels: Largest width × height the header may claim. Defaults to
            `keras_cxr.data.MAX_IMAGE_PIXELS` (10,000 × 10,000).
        max_bytes: Largest decoded size the header may claim. Defaults to
            `keras_cxr.data.image_header.MAX_DECODED_BYTES` (300 MB).

    Returns:
        A uint8 array of shape `(H, W, 3)` or `(H, W, 1)`.

    Raises:
        ValueError: For empty bytes, an unknown format, a header above `max_pixels` or
            `max_bytes` (`keras_cxr.data.image_header.ImageTooLargeError`) or without a
            size, truncated or undecodable data, an image below `min_side`, or
            a bad `color_mode` / `image_size`. The message says which, in one sentence.
        ImportError: For DICOM bytes when pydicom is not installed.
        RuntimeError: For DICOM pixel data compressed with a syntax no installed
            package decodes (the message names what to install).

    Example:
        >>> png = cv2.imencode(".png", np.full((40, 50), 128, np.uint8))[1].tobytes()
        >>> keras_cxr.data.decode_image_bytes(png, image_size=(32, 32)).shape
        (32, 32, 3)
    """
    if color_mode not in COLOR_MODES:
        raise invalid_value("color_mode", f"one of {list(COLOR_MODES)}", color_mode)
    if len(data) == 0:
        raise ValueError("The image is empty (0 bytes).")
    kind = sniff_format(data)
    if kind is None:
        raise ValueError(
            "The data is not a JPEG, PNG or DICOM image (unrecognized signature in its "
            "first bytes)."
        )
    header = image_header(data)
    if header is None and kind != "dicom":  # read_dicom says what a DICOM lacks
        raise ValueError(f"The {kind.upper()} header is corrupt (it holds no image size).")
    check_decoded_size(header, f"The {kind.upper()} image", max_pixels, max_bytes)
    if kind == "dicom":
        from keras_cxr.data.dicom import read_dicom

        image = read_dicom(io.BytesIO(data))
    else:
        image = _decode_raster(data, kind)
    return _finish_decoded(image, color_mode, image_size, min_side, "The image")


def _decode_raster(data: bytes, kind: str) -> np.ndarray:
    """PNG or JPEG pixels, refusing data cut short before the end marker."""
    complete = _has_png_end(data) if kind == "png" else _has_jpeg_end(data)
    if not complete:
        raise ValueError(f"The {kind.upper()} data is truncated (its end marker is missing).")
    try:
        image = _decode_bytes(np.frombuffer(data, dtype=np.uint8))
    except cv2.error:
        image = None
    if image is None:
        raise ValueError(f"The {kind.upper()} data is corrupt (OpenCV cannot decode it).")
    return image
