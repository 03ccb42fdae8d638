"""`keras_cxr.data.shifted`: shifted copies of images, deterministic and really shifted."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from keras_cxr.data import SHIFTS, shift_images, shift_statistics, shifted_copies
from keras_cxr.data.synthetic import make_phantoms


@pytest.fixture(scope="module")
def images():
    return make_phantoms(6, image_size=32, seed=0).images.astype(np.uint8)


def test_brightness_and_contrast_move_the_measured_mean_and_contrast(images):
    base = shift_statistics(images)
    darker = shift_statistics(shift_images(images, "brightness", -30.0))
    assert darker["mean"] < base["mean"] - 15
    low = shift_statistics(shift_images(images, "contrast", 0.7))
    assert low["contrast"] == pytest.approx(0.7 * base["contrast"], rel=0.03)
    assert low["mean"] == pytest.approx(base["mean"], abs=1.0)
    high = shift_statistics(shift_images(images, "contrast", 1.3))
    assert high["contrast"] > base["contrast"]


def test_gamma_and_blur_match_independent_references(images):
    x = images.astype(np.float64)
    expected = np.rint(np.clip(255 * (x / 255) ** 1.4, 0, 255))
    np.testing.assert_array_equal(shift_images(images, "gamma", 1.4), expected)
    blurred = shift_images(images.astype(np.float32), "blur", 1.0)
    reference = ndimage.gaussian_filter(
        images.astype(np.float32), sigma=(0, 1.0, 1.0, 0), mode="reflect", truncate=4.0
    )
    np.testing.assert_allclose(blurred[:, 4:-4, 4:-4], reference[:, 4:-4, 4:-4], atol=0.6)
    assert shift_statistics(blurred)["sharpness"] < shift_statistics(images)["sharpness"]


def test_copies_are_deterministic_keep_dtype_and_range(images):
    first = shifted_copies(images, seed=5)
    second = shifted_copies(images, seed=5)
    assert list(first) == [*SHIFTS, "mixed"]
    for name, copy in first.items():
        np.testing.assert_array_equal(copy, second[name])
        assert copy.dtype == np.uint8 and copy.shape == images.shape
        assert not np.array_equal(copy, images), name
    other = shifted_copies(images, seed=6)["mixed"]
    assert not np.array_equal(other, first["mixed"])
    np.testing.assert_array_equal(images, make_phantoms(6, image_size=32, seed=0).images)


def test_invalid_shifts_are_refused(images):
    with pytest.raises(ValueError, match="`kind`"):
        shift_images(images, "noise", 1.0)
    with pytest.raises(ValueError, match="`strength`"):
        shift_images(images, "gamma", 0.0)
    with pytest.raises(ValueError, match="`images`"):
        shifted_copies(images[0])
