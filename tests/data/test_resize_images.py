"""`keras_cxr.data.resize_images`: in-memory images made exactly as files are read."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from keras_cxr.data import read_image, resize_images


@pytest.fixture
def rgb():
    return np.random.default_rng(0).integers(0, 256, (40, 52, 3), dtype=np.uint8)


@pytest.mark.parametrize("color_mode", ["rgb", "grayscale"])
@pytest.mark.parametrize("size", [(32, 32), (64, 48)])
def test_matches_reading_the_same_pixels_from_a_png(rgb, tmp_path, color_mode, size):
    path = tmp_path / "image.png"
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    expected = read_image(path, color_mode, size)
    np.testing.assert_array_equal(resize_images([rgb], size, color_mode)[0], expected)


def test_gray_batches_lists_of_mixed_sizes_and_alpha(rgb, tmp_path):
    gray = rgb[..., 0]
    path = tmp_path / "gray.png"
    cv2.imwrite(str(path), gray)
    expected = read_image(path, "rgb", (32, 32))
    batch = resize_images(np.stack([gray, gray]), (32, 32))
    assert batch.shape == (2, 32, 32, 3) and batch.dtype == np.uint8
    np.testing.assert_array_equal(batch[1], expected)
    mixed = resize_images([gray, cv2.resize(gray, (80, 70)), gray[..., None]], (32, 32))
    assert mixed.shape == (3, 32, 32, 3)
    np.testing.assert_array_equal(mixed[2], expected)
    with_alpha = np.concatenate([rgb, np.zeros_like(rgb[..., :1])], axis=-1)
    np.testing.assert_array_equal(
        resize_images([with_alpha], (32, 32)), resize_images([rgb], (32, 32))
    )


def test_float_and_16_bit_images(rgb):
    floats = resize_images([rgb.astype(np.float32) / 255.0], (40, 52))
    assert floats.dtype == np.float32
    np.testing.assert_allclose(floats[0], rgb / 255.0, atol=1e-6)  # same size: untouched
    deep = resize_images([rgb[..., 0].astype(np.uint16) * 257], (40, 52), "grayscale")
    np.testing.assert_array_equal(deep[0, ..., 0], rgb[..., 0])


def test_bad_images_are_refused():
    with pytest.raises(ValueError, match="Expected at least one image"):
        resize_images([], (32, 32))
    with pytest.raises(ValueError, match=r"Expected images of shape \(h, w\) or \(h, w, 1 \| 3"):
        resize_images([np.zeros((8, 8, 2), np.uint8)], (32, 32))
    with pytest.raises(ValueError, match=r"Expected a batch \(n, h, w\[, channels\]\)"):
        resize_images(np.zeros((8, 8), np.uint8), (32, 32))
    with pytest.raises(ValueError, match=r"`color_mode`. Expected one of \['rgb', 'grayscale'\]"):
        resize_images([np.zeros((8, 8), np.uint8)], (32, 32), "bgr")
