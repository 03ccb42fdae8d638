"""What an image file claims in its header, and the decoded-size budget checked against it.

A PNG of 140 kB can claim 12,000 × 12,000 pixels; a 16-bit RGB PNG under 1 MB can decode
to 600 MB. Every reader of the package (training's `keras_cxr.data.read_image`, archives
through `keras_cxr.explain_folder` and the Ray path, `keras_cxr.data.scan_images` and the
server's uploads) reads the header first and refuses a file whose decoded pixels would pass
the budget, before a byte of pixels is allocated, with one reason worded the same way
everywhere.
"""

from __future__ import annotations

import os
from typing import BinaryIO, NamedTuple

__all__ = [
    "MAX_DECODED_BYTES",
    "MAX_IMAGE_PIXELS",
    "ImageHeader",
    "ImageTooLargeError",
    "check_decoded_size",
    "dicom_header",
    "read_header",
    "size_problem",
]

MAX_IMAGE_PIXELS = 10_000 * 10_000
"""Largest image accepted (100 megapixels); bigger headers are refused as possible
decompression bombs. Chest radiographs are at most about 4,300 × 4,300."""

MAX_DECODED_BYTES = 3 * MAX_IMAGE_PIXELS
"""Largest decoded size accepted, pixels × channels × bytes per sample (300 MB): any 8-bit
RGB image within `MAX_IMAGE_PIXELS` passes, a 16-bit RGB image of 10,000² (600 MB) does
not."""

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Start-of-frame markers carry the image size; C4 (DHT), C8 (JPG) and CC (DAC) do not.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Channels OpenCV decodes per PNG colour type (IMREAD_ANYCOLOR, no alpha): gray, RGB,
# palette, gray + alpha, RGBA. Alpha is read before it is dropped, so it counts.
_PNG_CHANNELS = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}


class ImageHeader(NamedTuple):
    """The size of an image as its header claims it, before any pixel is decoded.

    Attributes:
        format: `"png"`, `"jpeg"` or `"dicom"`.
        height, width: Pixels (a DICOM's frames are folded into `height`).
        channels: Samples per pixel the decoder produces.
        bytes_per_sample: 1 for 8-bit data, 2 for 16-bit.

    Example:
        >>> header = keras_cxr.data.image_header.ImageHeader("png", 100, 200, 3, 2)
        >>> header.pixels, header.decoded_bytes
        (20000, 120000)
    """

    format: str
    height: int
    width: int
    channels: int
    bytes_per_sample: int

    @property
    def pixels(self) -> int:
        """Width × height."""
        return self.height * self.width

    @property
    def decoded_bytes(self) -> int:
        """Pixels × channels × bytes per sample: the size of the decoded array."""
        return self.pixels * self.channels * self.bytes_per_sample


class ImageTooLargeError(ValueError):
    """An image whose header claims more pixels or decoded bytes than the budget allows.

    Example:
        >>> keras_cxr.data.read_image("bomb.png")
        Traceback (most recent call last):
        keras_cxr.data.image_header.ImageTooLargeError: The image 'bomb.png': header ...
    """


def read_header(data: bytes) -> ImageHeader | None:
    """The size a PNG or JPEG claims, read from its first bytes.

    Args:
        data: The file's bytes (the first few kilobytes are enough for most files: JPEG
            markers before the frame header are walked).

    Returns:
        An `ImageHeader`, or None when the bytes are not PNG or JPEG or the header holds
        no size (a corrupt or truncated header).

    Raises:
        Nothing: it only reads bytes.

    Example:
        >>> png = cv2.imencode(".png", np.zeros((40, 50, 3), np.uint16))[1].tobytes()
        >>> keras_cxr.data.image_header.read_header(png)
        ImageHeader(format='png', height=40, width=50, channels=3, bytes_per_sample=2)
    """
    data = bytes(data)
    if data.startswith(PNG_SIGNATURE):
        return _png_header(data)
    if data.startswith(b"\xff\xd8"):
        return _jpeg_header(data)
    return None


def dicom_header(source: str | os.PathLike | BinaryIO) -> ImageHeader:
    """The size a DICOM file claims, read with pydicom without its pixel data.

    Args:
        source: A path or a binary file object.

    Returns:
        An `ImageHeader` with frames folded into the height and `bytes_per_sample` from
        `BitsAllocated`.

    Raises:
        ImportError: pydicom is not installed.
        ValueError: The file is not DICOM.

    Example:
        >>> keras_cxr.data.image_header.dicom_header("scan.dcm").format
        'dicom'
    """
    from keras_cxr.data.dicom import _header_fields

    rows, columns, frames, samples, bits = _header_fields(source)
    return ImageHeader("dicom", rows * frames, columns, samples, max(1, -(-bits // 8)))


def size_problem(
    header: ImageHeader, max_pixels: int = MAX_IMAGE_PIXELS, max_bytes: int = MAX_DECODED_BYTES
) -> str | None:
    """Why an image is too large to decode, in the words of the skipped list, or None.

    Args:
        header: What the file claims (`read_header`, `dicom_header`).
        max_pixels: Most pixels accepted. Defaults to `MAX_IMAGE_PIXELS`.
        max_bytes: Most decoded bytes accepted (pixels × channels × bytes per sample).
            Defaults to `MAX_DECODED_BYTES`.

    Returns:
        `"header claims W × H pixels, above the N-pixel limit (possible decompression
        bomb)"` or the same for the decoded bytes; None when it fits.

    Raises:
        Nothing: it compares numbers.

    Example:
        >>> keras_cxr.data.image_header.size_problem(
        ...     keras_cxr.data.image_header.ImageHeader("png", 10_000, 10_000, 3, 2)
        ... )
        'header claims 10000 × 10000 pixels of 3 channels at 16 bits: 600,000,000 bytes decoded, above the 300,000,000-byte budget (possible decompression bomb)'
    """  # noqa: E501
    size = f"header claims {header.width} × {header.height} pixels"
    if header.pixels > max_pixels:
        return f"{size}, above the {max_pixels:,}-pixel limit (possible decompression bomb)"
    if header.decoded_bytes > max_bytes:
        return (
            f"{size} of {header.channels} channels at {8 * header.bytes_per_sample} bits: "
            f"{header.decoded_bytes:,} bytes decoded, above the {max_bytes:,}-byte budget "
            "(possible decompression bomb)"
        )
    return None


def check_decoded_size(
    header: ImageHeader | None,
    subject: str,
    max_pixels: int = MAX_IMAGE_PIXELS,
    max_bytes: int = MAX_DECODED_BYTES,
) -> None:
    """Raises `ImageTooLargeError` when `header` passes the budget (see `size_problem`).

    Args:
        header: What the file claims; None (no size in the header) passes: the decoder
            then says what is wrong.
        subject: Names the image at the start of the message ("The image 'a.png'").
        max_pixels: Most pixels accepted. Defaults to `MAX_IMAGE_PIXELS`.
        max_bytes: Most decoded bytes accepted. Defaults to `MAX_DECODED_BYTES`.

    Returns:
        None.

    Raises:
        ImageTooLargeError: `"<subject>: header claims ..."`.

    Example:
        >>> keras_cxr.data.image_header.check_decoded_size(
        ...     keras_cxr.data.image_header.ImageHeader("png", 40, 50, 1, 1), "The image"
        ... )
    """
    problem = None if header is None else size_problem(header, max_pixels, max_bytes)
    if problem is not None:
        raise ImageTooLargeError(f"{subject}: {problem}.")


def _png_header(data: bytes) -> ImageHeader | None:
    if len(data) < 26 or data[12:16] != b"IHDR":
        return None
    width = int.from_bytes(data[16:20], "big")
    height = int.from_bytes(data[20:24], "big")
    if not (width and height):
        return None
    depth, color_type = data[24], data[25]
    channels = _PNG_CHANNELS.get(color_type, 4)
    return ImageHeader("png", height, width, channels, 2 if depth > 8 else 1)


def _jpeg_header(data: bytes) -> ImageHeader | None:
    """Walks the JPEG marker segments up to the first start-of-frame."""
    position = 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker in _JPEG_SOF:
            if position + 10 > len(data):
                return None
            precision = data[position + 4]
            height = int.from_bytes(data[position + 5 : position + 7], "big")
            width = int.from_bytes(data[position + 7 : position + 9], "big")
            components = data[position + 9] or 1
            if not (width and height):
                return None
            return ImageHeader("jpeg", height, width, components, 2 if precision > 8 else 1)
        if marker == 0xDA:  # scan data before any frame data
            return None
        position += 2 + int.from_bytes(data[position + 2 : position + 4], "big")
    return None
