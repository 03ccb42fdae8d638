"""Sparseness, complexity and effective complexity against hand computations."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from keras_cxr.metrics import complexity, effective_complexity, sparseness


def gini_by_hand(values):
    """Mean absolute difference over twice the mean: Σ_i Σ_j |a_i − a_j| / (2 n² ā)."""
    values = np.abs(np.ravel(values))
    n = values.size
    return np.abs(values[:, None] - values[None, :]).sum() / (2 * n * n * values.mean())


def test_sparseness_on_hand_computed_maps():
    # [0, 0, 0, 2]: sorted weights (2i − n − 1) = (−3, −1, 1, 3), so 3·2 / (4·2) = 0.75.
    maps = np.array([[[0.0, 0.0], [0.0, 2.0]], [[1.0, 1.0], [1.0, 1.0]], [[1.0, -2.0], [3.0, 4.0]]])
    # Third map, |a| sorted (1, 2, 3, 4): (−3 − 2 + 3 + 12) / (4 · 10) = 0.25.
    np.testing.assert_allclose(sparseness(maps, per_image=True), [0.75, 0.0, 0.25])
    assert sparseness(maps) == pytest.approx((0.75 + 0.0 + 0.25) / 3)


def test_sparseness_equals_the_mean_difference_form_of_gini():
    maps = np.random.default_rng(0).normal(size=(5, 6, 7))
    expected = [gini_by_hand(m) for m in maps]
    np.testing.assert_allclose(sparseness(maps, per_image=True), expected, rtol=1e-12)


def test_complexity_on_hand_computed_maps():
    maps = np.array([[[1.0, 1.0], [1.0, 1.0]], [[0.0, 5.0], [0.0, 0.0]], [[1.0, -1.0], [2.0, 0.0]]])
    third = -(2 * 0.25 * math.log(0.25) + 0.5 * math.log(0.5))
    np.testing.assert_allclose(complexity(maps, per_image=True), [math.log(4), 0.0, third])


def test_effective_complexity_counts_above_the_relative_threshold():
    maps = np.array([[[1.0, 0.5], [1e-7, 0.0]], [[-4.0, 5e-5], [3e-5, 0.0]]])
    np.testing.assert_array_equal(effective_complexity(maps, per_image=True), [2.0, 2.0])
    np.testing.assert_array_equal(effective_complexity(maps, eps=0.2, per_image=True), [2.0, 1.0])


def test_an_all_zero_map_is_undefined_for_gini_and_entropy_and_simple_for_the_count():
    maps = np.zeros((2, 3, 3))
    maps[1, 0, 0] = 1.0
    assert np.isnan(sparseness(maps, per_image=True)[0])
    assert np.isnan(complexity(maps, per_image=True)[0])
    assert effective_complexity(maps, per_image=True).tolist() == [0.0, 1.0]
    assert sparseness(maps) == pytest.approx(8 / 9)  # the zero map is left out of the mean


@settings(max_examples=40, deadline=None)
@given(
    maps=arrays(np.float64, (2, 3, 4), elements=st.floats(-10, 10)),
    scale=st.floats(0.01, 100),
)
def test_rescaling_and_sign_change_nothing(maps, scale):
    for metric in (sparseness, complexity, effective_complexity):
        np.testing.assert_allclose(
            metric(-scale * maps, per_image=True),
            metric(maps, per_image=True),
            rtol=1e-9,
            atol=1e-12,
        )


@settings(max_examples=40, deadline=None)
@given(maps=arrays(np.float64, (1, 3, 3), elements=st.floats(0.001, 10)))
def test_bounds(maps):
    assert -1e-12 <= sparseness(maps) < 1.0
    assert 0.0 <= complexity(maps) <= math.log(9) + 1e-12


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: sparseness(np.zeros((3, 3))), r"argument `heatmaps`. Expected a non-empty"),
        (lambda: complexity(np.full((1, 2, 2), np.nan)), r"argument `heatmaps`. Expected finite"),
        (lambda: effective_complexity(np.ones((1, 2, 2)), eps=-1), r"argument `eps`"),
    ],
)
def test_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()
