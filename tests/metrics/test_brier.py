"""Tests for keras_cxr.metrics.brier: the Brier score against its hand formula."""

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_cxr.metrics import brier_score, classification_report

pytestmark = pytest.mark.backends  # also run under JAX and PyTorch


def test_binary_brier_by_hand():
    # (0.1 - 0)^2 + (0.8 - 1)^2 + (0.4 - 1)^2 = 0.01 + 0.04 + 0.36, over 3 cases.
    assert brier_score([0, 1, 1], [0.1, 0.8, 0.4]) == pytest.approx(0.41 / 3)
    assert brier_score([0, 1], [0.5, 0.5]) == pytest.approx(0.25)
    assert brier_score([0, 1], [0.0, 1.0]) == 0.0


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.floats(0, 1)), min_size=1, max_size=40))
def test_binary_brier_is_the_mean_squared_error(pairs):
    labels, probabilities = (np.array(column) for column in zip(*pairs))
    expected = sum((p - y) ** 2 for y, p in pairs) / len(pairs)
    assert brier_score(labels, probabilities) == pytest.approx(expected)


def test_multiclass_brier_sums_over_the_classes():
    probabilities = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    # Case 1, label 0: .09 + .04 + .01; case 2, label 1: .01 + .81 + .64.
    assert brier_score([0, 1], probabilities) == pytest.approx((0.14 + 1.46) / 2)


def test_the_report_holds_the_brier_score():
    report = classification_report([0, 1, 1], [0.1, 0.8, 0.4])
    assert report["brier"] == pytest.approx(0.41 / 3)
    assert np.isnan(classification_report([0, 1], [-1.0, 2.0])["brier"])  # not probabilities


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (([0, 1], [0.2, 1.5]), "Expected probabilities in [0, 1]"),
        (([0, 2], [0.2, 0.5]), "Expected binary labels in {0, 1}"),
        (([0, 3], np.full((2, 3), 1 / 3)), "Expected class indices in 0..2"),
        (([0], np.full((2, 3), 1 / 3)), "Expected one row per label (1)"),
    ],
)
def test_bad_input_is_refused(args, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        brier_score(*args)
