"""Tests for keras_cxr.metrics.calibration: reliability curve and ECE, by hand and by property."""

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_cxr.metrics import expected_calibration_error, reliability_curve

from .binary_cases import labelled_scores

pytestmark = pytest.mark.backends  # also run under JAX and PyTorch


def test_reliability_curve_by_hand_with_empty_bins_and_edges():
    y_prob = [0.0, 0.1, 0.3, 0.35, 1.0]
    y_true = [0, 0, 1, 0, 1]
    confidence, accuracy, counts = reliability_curve(y_true, y_prob, n_bins=5)
    # Bins [0, .2), [.2, .4), [.4, .6), [.6, .8), [.8, 1]: .1 is in the first bin.
    np.testing.assert_array_equal(counts, [2, 2, 0, 0, 1])
    np.testing.assert_allclose(confidence, [0.05, 0.325, np.nan, np.nan, 1.0])
    np.testing.assert_allclose(accuracy, [0.0, 0.5, np.nan, np.nan, 1.0])


def test_bin_edges_are_exact_decimal_boundaries():
    # 0.29 * 100 is 28.999999999999996 in floating point, but 0.29 opens bin 29.
    _, _, counts = reliability_curve([1], [0.29], n_bins=100)
    assert counts[29] == 1


def test_expected_calibration_error_by_hand():
    y_prob = [0.0, 0.1, 0.3, 0.35, 1.0]
    y_true = [0, 0, 1, 0, 1]
    # Weighted gaps: 2/5 * |0 - .05| + 2/5 * |.5 - .325| + 1/5 * |1 - 1| = .02 + .07.
    assert expected_calibration_error(y_true, y_prob, n_bins=5) == pytest.approx(0.09)


@st.composite
def calibrated_groups(draw):
    """Groups of identical probabilities j / m holding exactly j positives out of m cases."""
    labels, probabilities = [], []
    for _ in range(draw(st.integers(1, 6))):
        size = draw(st.integers(1, 8))
        positives = draw(st.integers(0, size))
        labels += [1] * positives + [0] * (size - positives)
        probabilities += [positives / size] * size
    return np.array(labels), np.array(probabilities)


@settings(max_examples=80, deadline=None)
@given(calibrated_groups(), st.integers(1, 20))
def test_perfectly_calibrated_groups_have_zero_ece(data, n_bins):
    labels, probabilities = data
    assert expected_calibration_error(labels, probabilities, n_bins) == pytest.approx(0, abs=1e-12)


@settings(max_examples=50, deadline=None)
@given(labelled_scores(both_classes=False), st.integers(1, 12))
def test_ece_is_the_count_weighted_gap_of_the_reliability_curve(data, n_bins):
    labels, scores = data
    probabilities = scores / 6
    confidence, accuracy, counts = reliability_curve(labels, probabilities, n_bins)
    filled = counts > 0
    expected = np.sum(counts[filled] * np.abs(accuracy[filled] - confidence[filled])) / len(labels)
    assert expected_calibration_error(labels, probabilities, n_bins) == pytest.approx(expected)
    assert counts.sum() == len(labels)


def test_calibration_rejects_values_outside_unit_interval():
    with pytest.raises(ValueError, match=re.escape("`y_prob`. Expected probabilities in [0, 1]")):
        expected_calibration_error([0, 1], [0.5, 1.2])
    with pytest.raises(ValueError, match=re.escape("Expected an integer >= 1. Received: n_bins=0")):
        reliability_curve([0, 1], [0.5, 0.2], n_bins=0)
