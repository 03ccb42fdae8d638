"""The decoded-size budget: read from the header, refused before decoding, one reason."""

from __future__ import annotations

import re

import cv2
import numpy as np
import pytest

from keras_cxr.data import (
    MAX_DECODED_BYTES,
    ImageTooLargeError,
    decode_image_bytes,
    read_image,
    scan_images,
)
from keras_cxr.data.image_header import ImageHeader, read_header, size_problem

from ._files import png_bomb, write_image, zero_png

_BYTES_REASON = (
    "header claims 10000 × 10000 pixels of 3 channels at 16 bits: 600,000,000 bytes "
    "decoded, above the 300,000,000-byte budget (possible decompression bomb)"
)


@pytest.fixture(scope="module")
def large_png(tmp_path_factory):
    """A complete 12,000 × 12,000 black PNG: 140 kB on disk, 144 megapixels."""
    return zero_png(tmp_path_factory.mktemp("large") / "large.png", 12_000, 12_000)


@pytest.fixture(scope="module")
def deep_png(tmp_path_factory):
    """A header claiming 10,000² 16-bit RGB pixels: within the pixel limit, 600 MB decoded."""
    return png_bomb(tmp_path_factory.mktemp("deep") / "deep.png", 10_000, 10_000, 16, 2)


@pytest.mark.parametrize(
    ("shape", "dtype", "suffix", "channels", "sample_bytes"),
    [
        ((40, 48), np.uint8, ".png", 1, 1),
        ((40, 48, 3), np.uint8, ".png", 3, 1),
        ((40, 48, 3), np.uint16, ".png", 3, 2),
        ((40, 48), np.uint16, ".png", 1, 2),
        ((40, 48), np.uint8, ".jpeg", 1, 1),
        ((40, 48, 3), np.uint8, ".jpeg", 3, 1),
    ],
)
def test_the_header_matches_what_opencv_decodes(tmp_path, shape, dtype, suffix, channels,
                                                sample_bytes):  # fmt: skip
    path = write_image(tmp_path / f"a{suffix}", np.full(shape, 7, dtype))
    header = read_header(path.read_bytes())
    decoded = cv2.imread(str(path), cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR)
    assert (header.height, header.width) == decoded.shape[:2] == (40, 48)
    assert header.channels == (decoded.shape[2] if decoded.ndim == 3 else 1) == channels
    assert header.bytes_per_sample == decoded.itemsize == sample_bytes
    assert header.decoded_bytes == decoded.nbytes


def test_the_budget_counts_channels_and_bit_depth():
    assert MAX_DECODED_BYTES == 300_000_000
    assert size_problem(ImageHeader("png", 10_000, 10_000, 3, 1)) is None  # 300 MB: at the cap
    assert size_problem(ImageHeader("png", 10_000, 10_000, 1, 2)) is None
    assert size_problem(ImageHeader("png", 10_000, 10_000, 3, 2)) == _BYTES_REASON
    assert size_problem(ImageHeader("png", 10_001, 10_000, 1, 1)).endswith(
        "above the 100,000,000-pixel limit (possible decompression bomb)"
    )
    assert size_problem(ImageHeader("jpeg", 20, 10, 1, 1), max_pixels=100, max_bytes=10**6)


def test_a_large_png_small_on_disk_is_refused_before_decoding(large_png, monkeypatch):
    assert large_png.stat().st_size < 200_000
    decodes = []
    monkeypatch.setattr(cv2, "imdecode", lambda *args: decodes.append(args))
    limit = "header claims 12000 × 12000 pixels, above the 100,000,000-pixel limit"
    with pytest.raises(ImageTooLargeError, match=f"large.png'?: {limit}"):
        read_image(large_png)
    with pytest.raises(ImageTooLargeError, match=limit):
        decode_image_bytes(large_png.read_bytes())
    assert scan_images([large_png])[0][1].startswith(limit)
    assert decodes == []  # nothing was decoded


def test_a_16_bit_rgb_header_is_refused_by_its_decoded_bytes(deep_png):
    with pytest.raises(ImageTooLargeError, match=f"deep.png'?: {re.escape(_BYTES_REASON)}"):
        read_image(deep_png)
    assert scan_images([deep_png]) == [(deep_png, _BYTES_REASON)]
    with pytest.raises(ValueError, match="600,000,000 bytes decoded"):
        decode_image_bytes(deep_png.read_bytes())
    # A bigger budget lets the header through to the decoder, which finds the rows missing.
    with pytest.raises(ValueError, match="Cannot decode"):
        read_image(deep_png, max_bytes=10**9)


def test_opencvs_own_errors_are_worded_for_users(tmp_path, monkeypatch):
    path = write_image(tmp_path / "a.png", np.zeros((40, 48), np.uint8))

    def fail(*args):
        raise cv2.error("OpenCV(4.10) (-215:Assertion failed) pixels <= CV_IO_MAX_IMAGE_PIXELS")

    monkeypatch.setattr(cv2, "imdecode", fail)
    with pytest.raises(ValueError, match=r"Cannot decode .*a.png'.*not a readable JPEG or PNG"):
        read_image(path)


def test_16_bit_images_still_scale_exactly(tmp_path):
    values = np.arange(0, 65536, 7, dtype=np.uint16)[: 64 * 40].reshape(40, 64)
    path = write_image(tmp_path / "a.png", values)
    expected = np.floor(values.astype(np.float64) * 255 / 65535 + 0.5).astype(np.uint8)
    assert np.array_equal(read_image(path, "grayscale")[..., 0], expected)
