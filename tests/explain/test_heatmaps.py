import cv2
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from keras_cxr.explain import fuse, normalize, upsample

maps = hnp.arrays(
    np.float32,
    st.tuples(st.integers(1, 3), st.integers(1, 8), st.integers(1, 8)),
    elements=st.floats(-1e6, 1e6, width=32),
)


@settings(max_examples=50, deadline=None)
@given(maps)
def test_normalize_range_and_no_nan(values):
    out = np.asarray(normalize(values))
    assert out.shape == values.shape and out.dtype == np.float32
    assert np.isfinite(out).all() and out.min() >= 0 and out.max() <= 1


@settings(max_examples=30, deadline=None)
@given(maps, st.floats(1e-12, 1e12))
def test_normalize_is_invariant_to_positive_scaling(values, scale):
    scaled = (values.astype(np.float64) * scale).astype(np.float32)
    spread = np.ptp(values, axis=(1, 2)) / np.maximum(np.abs(values).max(axis=(1, 2)), 1e-30)
    # Maps whose range sits near the constant-map tolerance (1e-6 of their magnitude), or
    # that leave float32's normal range when scaled, may legitimately flip to all zeros.
    assume(np.isfinite(scaled).all() and np.abs(scaled[scaled != 0]).min(initial=1) > 1e-30)
    assume(((spread == 0) | (spread > 1e-3)).all())
    a, b = np.asarray(normalize(values)), np.asarray(normalize(scaled))
    np.testing.assert_allclose(a, b, atol=1e-4)


def test_normalize_by_hand_and_tiny_activations():
    values = np.array([[[1.0, 3.0], [2.0, 5.0]]], np.float32) * 1e-13  # a random MobileNetV2
    np.testing.assert_allclose(normalize(values), [[[0, 0.5], [0.25, 1.0]]], atol=1e-6)


def test_constant_and_non_finite_maps_become_zeros():
    np.testing.assert_array_equal(normalize(np.full((1, 3, 3), 7.0)), np.zeros((1, 3, 3)))
    np.testing.assert_array_equal(normalize(np.full((1, 2, 2), np.nan)), np.zeros((1, 2, 2)))


def test_upsample_matches_opencv_bilinear():
    cams = np.random.default_rng(0).random((2, 7, 7)).astype(np.float32)
    expected = np.stack([cv2.resize(c, (224, 224), interpolation=cv2.INTER_LINEAR) for c in cams])
    np.testing.assert_allclose(upsample(cams, (224, 224)), expected, atol=1e-5)


def test_fuse_is_the_normalised_mean():
    a = np.array([[[0.0, 1.0], [0.5, 0.5]]], np.float32)
    b = np.array([[[0.0, 0.0], [1.0, 0.0]]], np.float32)
    np.testing.assert_allclose(fuse([a, b]), [[[0.0, 2 / 3], [1.0, 1 / 3]]], atol=1e-6)
    assert fuse([a]) is a


@pytest.mark.parametrize("shape", [(1, 4, 4)])
def test_all_negative_relu_map_is_zero(shape):
    np.testing.assert_array_equal(normalize(np.maximum(-np.ones(shape), 0)), np.zeros(shape))


def test_the_examples_in_the_docstrings_run():
    import doctest

    import keras_cxr
    from keras_cxr.explain import heatmaps

    result = doctest.testmod(heatmaps, extraglobs={"keras_cxr": keras_cxr})
    assert result.attempted >= 5 and result.failed == 0
