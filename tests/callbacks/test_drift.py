"""Tests of `keras_cxr.callbacks.drift`: correlations computed by NumPy, constant maps."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import keras_cxr
from keras_cxr.callbacks import drift
from keras_cxr.callbacks.drift import heatmap_correlations, heatmap_drift

pytestmark = pytest.mark.backends  # also run under JAX and PyTorch

maps = hnp.arrays(
    np.float32,
    st.tuples(st.integers(1, 3), st.integers(2, 6), st.integers(2, 6)),
    elements=st.floats(0, 1, width=32),
)


@settings(max_examples=60, deadline=None)
@given(maps, st.data())
def test_heatmap_correlation_properties(current, data):
    previous = data.draw(hnp.arrays(np.float32, current.shape, elements=st.floats(0, 1, width=32)))
    correlation = heatmap_correlations(current, previous)
    assert correlation.shape == (current.shape[0],)
    assert np.isfinite(correlation).all() and (np.abs(correlation) <= 1.0).all()
    np.testing.assert_allclose(heatmap_correlations(previous, current), correlation, atol=1e-12)
    np.testing.assert_allclose(heatmap_correlations(current, current), 1.0, atol=1e-9)
    varying = (np.ptp(current, axis=(1, 2)) > 1e-3) & (np.ptp(previous, axis=(1, 2)) > 1e-3)
    for index in np.flatnonzero(varying):
        a, b = current[index].ravel(), previous[index].ravel()
        expected = np.corrcoef(a.astype(np.float64), b.astype(np.float64))[0, 1]
        assert correlation[index] == pytest.approx(expected, abs=1e-6)
        scaled = heatmap_correlations(
            3 * current[index : index + 1] + 0.5, previous[index : index + 1]
        )
        assert scaled[0] == pytest.approx(expected, abs=1e-6)
    assert heatmap_drift(current, previous) == pytest.approx(1.0 - correlation.mean())


def test_constant_heatmaps_have_a_defined_correlation():
    zeros, ones = np.zeros((1, 4, 4)), np.ones((1, 4, 4))
    ramp = np.arange(16, dtype=float).reshape(1, 4, 4)
    assert heatmap_correlations(zeros, ones).tolist() == [1.0]
    assert heatmap_correlations(zeros, ramp).tolist() == [0.0]
    assert heatmap_correlations(ramp, -ramp).tolist() == [-1.0]


def test_drift_is_one_minus_the_mean_correlation():
    ramp = np.arange(16, dtype=float).reshape(1, 4, 4)
    current = np.concatenate([ramp, -ramp, np.zeros_like(ramp)])
    previous = np.concatenate([ramp, ramp, ramp])
    # correlations 1, -1 and 0 (a constant map against a varying one): mean 0.
    assert heatmap_drift(current, previous) == pytest.approx(1.0)


def test_maps_of_different_shapes_are_refused():
    with pytest.raises(ValueError, match=r"argument `previous`.*Received: previous.shape=\(1, 4\)"):
        heatmap_correlations(np.zeros((1, 4, 4)), np.zeros((1, 4)))


def test_docstring_examples_run():
    result = doctest.testmod(drift, extraglobs={"keras_cxr": keras_cxr, "np": np})
    assert result.attempted > 0 and result.failed == 0
