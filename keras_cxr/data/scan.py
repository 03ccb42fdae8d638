"""Finding unusable image files before training starts, so no epoch dies halfway."""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from keras_cxr.data.image_header import (
    MAX_DECODED_BYTES,
    MAX_IMAGE_PIXELS,
    PNG_SIGNATURE,
    dicom_header,
    read_header,
    size_problem,
)
from keras_cxr.data.images import _decode_bytes

__all__ = ["MAX_IMAGE_PIXELS", "scan_images"]

# Decoding JPEGs at 1/8 scale reads every entropy-coded byte but skips most of the IDCT.
_CHECK_FLAGS = {"jpeg": cv2.IMREAD_REDUCED_GRAYSCALE_8, "png": cv2.IMREAD_GRAYSCALE}


def scan_images(
    paths: Sequence[str | os.PathLike],
    max_pixels: int = MAX_IMAGE_PIXELS,
    workers: int | None = None,
    max_bytes: int = MAX_DECODED_BYTES,
) -> list[tuple[Path, str]]:
    """Finds the files that cannot be decoded, without keeping any image.

    Each file is read once. A file is refused when it is empty; when its header is not a
    JPEG, PNG or (for `.dcm`) DICOM header; when the header claims more than `max_pixels`
    pixels, or more than `max_bytes` decoded bytes (pixels × channels × bytes per sample,
    `keras_cxr.data.image_header.size_problem`; checked before anything is decoded, so a
    decompression bomb never allocates memory); when it lacks its end marker (a truncated
    download); or when OpenCV, or
    `keras_cxr.data.read_dicom`, cannot decode it. JPEGs are decoded at 1/8 scale, which
    reads every byte but costs a fraction of a full decode. Files are checked in parallel
    threads (OpenCV releases the GIL).

    Args:
        paths: The files to check.
        max_pixels: Largest width × height accepted. Defaults to
            `keras_cxr.data.MAX_IMAGE_PIXELS` (10,000 × 10,000).
        workers: Number of threads; None uses one per CPU core.
        max_bytes: Largest decoded size accepted. Defaults to
            `keras_cxr.data.image_header.MAX_DECODED_BYTES` (300 MB).

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
        reasons = list(pool.map(lambda path: _problem(path, max_pixels, max_bytes), paths))
    return [(path, reason) for path, reason in zip(paths, reasons) if reason is not None]


def _problem(path: Path, max_pixels: int, max_bytes: int) -> str | None:
    """Why `path` cannot be used, or None when it decodes."""
    try:
        if path.stat().st_size == 0:
            return "empty file (0 bytes)"
        if path.suffix.lower() == ".dcm":
            return _dicom_problem(path, max_pixels, max_bytes)
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as error:
        return f"cannot be read: {error.strerror or error}"
    raw = data.tobytes()
    if raw.startswith(PNG_SIGNATURE):
        kind, complete = "png", _has_png_end(raw)
    elif raw.startswith(b"\xff\xd8"):
        kind, complete = "jpeg", _has_jpeg_end(raw)
    else:
        return "not a JPEG or PNG file (unrecognized header)"
    header = read_header(raw)
    if header is None:
        return f"corrupt {kind.upper()} header (no image size)"
    too_large = size_problem(header, max_pixels, max_bytes)
    if too_large is not None:
        return too_large
    if not complete:
        return f"truncated: the {kind.upper()} end marker is missing"
    try:
        decoded = _decode_bytes(data, _CHECK_FLAGS[kind])
    except cv2.error:
        decoded = None
    if decoded is None:
        return f"corrupt {kind.upper()} data (OpenCV cannot decode it)"
    return None


def _dicom_problem(path: Path, max_pixels: int, max_bytes: int) -> str | None:
    from keras_cxr.data.dicom import read_dicom

    try:
        too_large = size_problem(dicom_header(path), max_pixels, max_bytes)
        if too_large is not None:
            return too_large
        read_dicom(path)
    except (ValueError, RuntimeError) as error:
        return str(error)
    return None


def _has_jpeg_end(data: bytes) -> bool:
    # 0xFFD9 cannot occur inside entropy-coded data (0xFF is stuffed as 0xFF00), so its
    # presence near the end means the last scan was written completely; some encoders pad
    # after it, hence the search window rather than an exact suffix.
    return b"\xff\xd9" in data[-4096:]


def _has_png_end(data: bytes) -> bool:
    return b"IEND" in data[-4096:]
