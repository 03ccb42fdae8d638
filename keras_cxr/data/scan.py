"""Finding unusable image files before training starts, so no epoch dies halfway."""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from keras_cxr.data.images import _decode_bytes

MAX_IMAGE_PIXELS = 10_000 * 10_000
"""Largest image accepted by `scan_images` (100 megapixels); bigger headers are refused as
possible decompression bombs. Chest radiographs are at most about 4,300 × 4,300."""

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Start-of-frame markers carry the image size; C4 (DHT), C8 (JPG) and CC (DAC) do not.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Decoding JPEGs at 1/8 scale reads every entropy-coded byte but skips most of the IDCT.
_CHECK_FLAGS = {"jpeg": cv2.IMREAD_REDUCED_GRAYSCALE_8, "png": cv2.IMREAD_GRAYSCALE}


def scan_images(
    paths: Sequence[str | os.PathLike],
    max_pixels: int = MAX_IMAGE_PIXELS,
    workers: int | None = None,
) -> list[tuple[Path, str]]:
    """Finds the files that cannot be decoded, without keeping any image.

    Each file is read once. A file is refused when it is empty; when its header is not a
    JPEG, PNG or (for `.dcm`) DICOM header; when the header claims more than `max_pixels`
    pixels (checked before anything is decoded, so a decompression bomb never allocates
    memory); when it lacks its end marker (a truncated download); or when OpenCV, or
    `keras_cxr.data.read_dicom`, cannot decode it. JPEGs are decoded at 1/8 scale, which
    reads every byte but costs a fraction of a full decode. Files are checked in parallel
    threads (OpenCV releases the GIL).

    Args:
        paths: The files to check.
        max_pixels: Largest width × height accepted. Defaults to
            `keras_cxr.data.MAX_IMAGE_PIXELS` (10,000 × 10,000).
        workers: Number of threads; None uses one per CPU core.

    Returns:
        `(path, reason)` for every unusable file, in the order of `paths`; empty when all
        are fine.

    Raises:
        ImportError: a `.dcm` file is present and pydicom is not installed.

    Example:
        >>> problems = keras_cxr.data.scan_images(["ok.jpeg", "truncated.jpeg"])
        >>> problems
        [(PosixPath('truncated.jpeg'), 'truncated: the JPEG end marker is missing')]
    """
    paths = [Path(path) for path in paths]
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        reasons = list(pool.map(lambda path: _problem(path, max_pixels), paths))
    return [(path, reason) for path, reason in zip(paths, reasons) if reason is not None]


def _problem(path: Path, max_pixels: int) -> str | None:
    """Why `path` cannot be used, or None when it decodes."""
    try:
        if path.stat().st_size == 0:
            return "empty file (0 bytes)"
        if path.suffix.lower() == ".dcm":
            return _dicom_problem(path, max_pixels)
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as error:
        return f"cannot be read: {error.strerror or error}"
    raw = data.tobytes()
    if raw.startswith(_PNG_SIGNATURE):
        kind, size, complete = "png", _png_size(raw), _has_png_end(raw)
    elif raw.startswith(b"\xff\xd8"):
        kind, size, complete = "jpeg", _jpeg_size(raw), _has_jpeg_end(raw)
    else:
        return "not a JPEG or PNG file (unrecognized header)"
    if size is None:
        return f"corrupt {kind.upper()} header (no image size)"
    height, width = size
    if height * width > max_pixels:
        return (
            f"header claims {width} × {height} pixels, above the {max_pixels:,}-pixel limit "
            "(possible decompression bomb)"
        )
    if not complete:
        return f"truncated: the {kind.upper()} end marker is missing"
    try:
        decoded = _decode_bytes(data, _CHECK_FLAGS[kind])
    except cv2.error:
        decoded = None
    if decoded is None:
        return f"corrupt {kind.upper()} data (OpenCV cannot decode it)"
    return None


def _dicom_problem(path: Path, max_pixels: int) -> str | None:
    from keras_cxr.data.dicom import _pixel_count, read_dicom

    try:
        pixels = _pixel_count(path)
        if pixels > max_pixels:
            return f"header claims {pixels:,} pixels, above the {max_pixels:,}-pixel limit"
        read_dicom(path)
    except (ValueError, RuntimeError) as error:
        return str(error)
    return None


def _png_size(data: bytes) -> tuple[int, int] | None:
    if len(data) < 24 or data[12:16] != b"IHDR":
        return None
    width = int.from_bytes(data[16:20], "big")
    height = int.from_bytes(data[20:24], "big")
    return (height, width) if width and height else None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
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
            if position + 9 > len(data):
                return None
            height = int.from_bytes(data[position + 5 : position + 7], "big")
            width = int.from_bytes(data[position + 7 : position + 9], "big")
            return (height, width) if width and height else None
        if marker == 0xDA:  # scan data before any frame data
            return None
        position += 2 + int.from_bytes(data[position + 2 : position + 4], "big")
    return None


def _has_jpeg_end(data: bytes) -> bool:
    # 0xFFD9 cannot occur inside entropy-coded data (0xFF is stuffed as 0xFF00), so its
    # presence near the end means the last scan was written completely; some encoders pad
    # after it, hence the search window rather than an exact suffix.
    return b"\xff\xd9" in data[-4096:]


def _has_png_end(data: bytes) -> bool:
    return b"IEND" in data[-4096:]
