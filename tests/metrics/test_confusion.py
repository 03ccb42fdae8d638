"""Tests for keras_cxr.metrics.confusion: the confusion matrix and its rates, by hand."""

import math
import re

import numpy as np
import pytest

from keras_cxr.metrics import confusion_matrix, npv, ppv, sensitivity, specificity

from .binary_cases import Y_SCORE, Y_TRUE

pytestmark = pytest.mark.backends  # also run under JAX and PyTorch


def test_confusion_matrix_by_hand():
    matrix = confusion_matrix([0, 0, 0, 1, 1], [0, 1, 1, 1, 0])
    np.testing.assert_array_equal(matrix, [[1, 2], [1, 1]])
    assert matrix.dtype == np.int64


def test_rates_by_hand():
    assert sensitivity(Y_TRUE, Y_SCORE) == pytest.approx(2 / 3)
    assert specificity(Y_TRUE, Y_SCORE) == pytest.approx(4 / 5)
    assert ppv(Y_TRUE, Y_SCORE) == pytest.approx(2 / 3)
    assert npv(Y_TRUE, Y_SCORE) == pytest.approx(4 / 5)


def test_threshold_is_inclusive():
    assert sensitivity([1], [0.5], threshold=0.5) == 1.0
    assert sensitivity([1], [0.5], threshold=0.50001) == 0.0


def test_rates_with_zero_denominator_are_nan():
    assert math.isnan(sensitivity([0, 0], [0.1, 0.9]))  # no positives
    assert math.isnan(specificity([1, 1], [0.1, 0.9]))  # no negatives
    assert math.isnan(ppv([0, 1], [0.1, 0.2]))  # nothing predicted positive
    assert math.isnan(npv([0, 1], [0.8, 0.9]))  # nothing predicted negative


def test_accepts_column_vectors_and_bools():
    assert sensitivity(np.array(Y_TRUE, dtype=bool)[:, None], np.array(Y_SCORE)[:, None]) == (
        pytest.approx(2 / 3)
    )


@pytest.mark.parametrize("threshold", [float("inf"), "0.5", None])
def test_rejects_bad_threshold(threshold):
    with pytest.raises(
        ValueError, match=re.escape(f"Expected a finite number. Received: threshold={threshold!r}")
    ):
        specificity([0, 1], [0.2, 0.8], threshold=threshold)


def test_confusion_matrix_rejects_mismatched_lengths():
    expected = re.escape(
        "Expected a 1-D array of shape (3,), like `y_true`. Received: y_pred.shape=(2,)"
    )
    with pytest.raises(ValueError, match=expected):
        confusion_matrix([0, 1, 1], [0, 1])
