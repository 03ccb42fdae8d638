"""Tests for keras_cxr.metrics.roc against thresholding by hand and a pairwise count."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_cxr.metrics import roc_auc, roc_curve

from .binary_cases import brute_force_auc, labelled_scores

pytestmark = pytest.mark.backends  # also run under JAX and PyTorch


def test_roc_curve_by_hand():
    fpr, tpr, thresholds = roc_curve([0, 1, 0, 1], [0.1, 0.8, 0.8, 0.35])
    # Descending distinct scores: .8 (one of each), .35 (positive), .1 (negative).
    np.testing.assert_allclose(fpr, [0, 0.5, 0.5, 1])
    np.testing.assert_allclose(tpr, [0, 0.5, 1, 1])
    np.testing.assert_array_equal(thresholds, [np.inf, 0.8, 0.35, 0.1])


@settings(max_examples=80, deadline=None)
@given(labelled_scores())
def test_roc_curve_matches_thresholding_each_score(data):
    labels, scores = data
    fpr, tpr, thresholds = roc_curve(labels, scores)
    for threshold, x, y in zip(thresholds, fpr, tpr):
        predicted = scores >= threshold
        assert y == pytest.approx(predicted[labels == 1].mean())
        assert x == pytest.approx(predicted[labels == 0].mean())


@settings(max_examples=80, deadline=None)
@given(labelled_scores())
def test_roc_auc_matches_pairwise_count_and_trapezoid(data):
    labels, scores = data
    expected = brute_force_auc(labels, scores)
    assert roc_auc(labels, scores) == pytest.approx(expected)
    fpr, tpr, _ = roc_curve(labels, scores)
    assert np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2) == pytest.approx(expected)


@settings(max_examples=80, deadline=None)
@given(
    labelled_scores(),
    st.sampled_from([lambda s: 3 * s + 1, lambda s: np.exp(s / 2), lambda s: s**3 - 100, np.sqrt]),
)
def test_roc_auc_is_invariant_to_monotone_transforms(data, transform):
    labels, scores = data
    assert roc_auc(labels, transform(scores)) == pytest.approx(roc_auc(labels, scores))


def test_roc_auc_by_hand_with_ties():
    # Pairs (positive, negative): (.8, .1) win, (.8, .8) tie, (.35, .1) win, (.35, .8) loss.
    assert roc_auc([0, 1, 0, 1], [0.1, 0.8, 0.8, 0.35]) == pytest.approx(2.5 / 4)


def test_roc_with_a_single_class():
    assert math.isnan(roc_auc([1, 1, 1], [0.2, 0.5, 0.9]))
    with pytest.raises(ValueError, match=r"A ROC curve needs both classes in `y_true`"):
        roc_curve([0, 0], [0.2, 0.5])
