"""Tests for keras_cxr.metrics.similarity: Spearman against scipy, SSIM window by window."""

import re

import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from keras_cxr.metrics import spearman_rank_correlation, ssim

pytestmark = pytest.mark.backends  # also run under JAX and PyTorch

C1, C2 = 0.01**2, 0.03**2


# ---------------------------------------------------------------- spearman


def test_spearman_by_hand():
    a = np.array([[[1.0, 2.0], [3.0, 4.0]]])
    b = np.array([[[1.0, 3.0], [2.0, 4.0]]])
    # Rank differences (0, 1, 1, 0): rho = 1 - 6 * 2 / (4 * (16 - 1)) = 0.8.
    assert spearman_rank_correlation(a, b) == pytest.approx(0.8)


def test_spearman_averages_tied_ranks():
    a = np.array([[[1.0, 2.0], [2.0, 3.0]]])  # ranks 1, 2.5, 2.5, 4
    b = np.array([[[1.0, 2.0], [3.0, 4.0]]])  # ranks 1, 2, 3, 4
    # Centred ranks (-1.5, 0, 0, 1.5) and (-1.5, -.5, .5, 1.5): 4.5 / sqrt(4.5 * 5).
    assert spearman_rank_correlation(a, b) == pytest.approx(np.sqrt(0.9))


def test_spearman_identical_and_reversed():
    a = np.random.default_rng(0).random((3, 5, 5))
    assert spearman_rank_correlation(a, a) == pytest.approx(1.0)
    np.testing.assert_allclose(spearman_rank_correlation(a, -a, per_image=True), [-1, -1, -1])


def test_spearman_constant_map_is_nan_and_skipped_in_the_mean():
    a = np.random.default_rng(1).random((2, 3, 3))
    b = a.copy()
    b[1] = 0.0  # e.g. an all-zero Grad-CAM after randomization
    np.testing.assert_array_equal(spearman_rank_correlation(a, b, per_image=True), [1.0, np.nan])
    assert spearman_rank_correlation(a, b) == pytest.approx(1.0)
    assert np.isnan(spearman_rank_correlation(a[1:], b[1:]))


@settings(max_examples=50, deadline=None)
@given(
    hnp.array_shapes(min_dims=3, max_dims=3, min_side=2, max_side=5).flatmap(
        lambda shape: st.tuples(
            hnp.arrays(np.float64, shape, elements=st.integers(0, 5).map(float)),
            hnp.arrays(np.float64, shape, elements=st.integers(0, 5).map(float)),
        )
    ),
    st.floats(1e-3, 1e3),
)
def test_spearman_matches_scipy_and_ignores_positive_scaling(maps, scale):
    a, b = maps
    ours = spearman_rank_correlation(a, b, per_image=True)
    for value, map_a, map_b in zip(ours, a, b):
        if np.ptp(map_a) == 0 or np.ptp(map_b) == 0:
            assert np.isnan(value)
        else:
            expected = scipy.stats.spearmanr(map_a.ravel(), map_b.ravel()).statistic
            assert value == pytest.approx(expected, abs=1e-12)
    np.testing.assert_allclose(
        spearman_rank_correlation(a * scale, b, per_image=True), ours, atol=1e-12
    )


def test_spearman_rejects_mismatched_shapes():
    expected = re.escape("Expected the same shape as `a`, (1, 3, 3). Received: b.shape=(1, 3, 4)")
    with pytest.raises(ValueError, match=expected):
        spearman_rank_correlation(np.ones((1, 3, 3)), np.ones((1, 3, 4)))


# ---------------------------------------------------------------- ssim


def reference_ssim(x, y):
    """SSIM written out window by window (Wang et al. 2004, Gaussian 11 x 11, sigma 1.5)."""
    offsets = np.arange(11) - 5
    weights = np.exp(-(offsets[:, None] ** 2 + offsets[None, :] ** 2) / (2 * 1.5**2))
    weights /= weights.sum()
    values = []
    for row in range(x.shape[0] - 10):
        for col in range(x.shape[1] - 10):
            wx, wy = x[row : row + 11, col : col + 11], y[row : row + 11, col : col + 11]
            mx, my = (weights * wx).sum(), (weights * wy).sum()
            vx = (weights * (wx - mx) ** 2).sum()
            vy = (weights * (wy - my) ** 2).sum()
            cov = (weights * (wx - mx) * (wy - my)).sum()
            values.append(
                (2 * mx * my + C1) * (2 * cov + C2) / ((mx**2 + my**2 + C1) * (vx + vy + C2))
            )
    return np.mean(values)


def test_ssim_matches_window_by_window_reference():
    rng = np.random.default_rng(2)
    a = rng.random((2, 13, 14))
    b = np.clip(a + 0.2 * rng.standard_normal(a.shape), 0, 1)
    expected = [reference_ssim(x, y) for x, y in zip(a, b)]
    np.testing.assert_allclose(ssim(a, b, per_image=True), expected, atol=1e-10)
    assert ssim(a, b) == pytest.approx(np.mean(expected), abs=1e-10)


@pytest.mark.parametrize(("level_a", "level_b"), [(0.2, 0.2), (0.2, 0.6), (0.0, 1.0)])
def test_ssim_of_constant_maps_by_hand(level_a, level_b):
    # Zero variances: SSIM = (2 a b + C1) / (a^2 + b^2 + C1) * C2 / C2.
    a = np.full((1, 11, 11), level_a)
    b = np.full((1, 11, 11), level_b)
    expected = (2 * level_a * level_b + C1) / (level_a**2 + level_b**2 + C1)
    assert ssim(a, b) == pytest.approx(expected)


def test_ssim_identical_is_one_and_symmetric():
    rng = np.random.default_rng(3)
    a, b = rng.random((2, 1, 16, 16))
    assert ssim(a, a) == pytest.approx(1.0)
    assert ssim(a, b) == pytest.approx(ssim(b, a))
    assert ssim(a, 1 - a) < 0


def test_ssim_rejects_values_outside_unit_interval():
    expected = re.escape("`b`. Expected values in [0, 1] (SSIM uses data_range=1")
    with pytest.raises(ValueError, match=expected):
        ssim(np.ones((1, 11, 11)), np.full((1, 11, 11), 2.0))


def test_ssim_rejects_maps_smaller_than_the_window():
    with pytest.raises(ValueError, match=r"Expected maps of at least 11 x 11 pixels"):
        ssim(np.ones((1, 7, 7)), np.ones((1, 7, 7)))
