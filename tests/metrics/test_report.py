"""Tests for keras_cxr.metrics.report: `classification_report` against the single metrics."""

import json
import math

import numpy as np
import pytest

from keras_cxr.metrics import classification_report, expected_calibration_error

from .binary_cases import Y_SCORE, Y_TRUE, brute_force_auc

pytestmark = pytest.mark.backends  # also run under JAX and PyTorch


def test_classification_report_by_hand():
    report = classification_report(Y_TRUE, Y_SCORE, threshold=0.5)
    assert report["n"] == 8
    assert report["n_positive"] == 3
    assert report["threshold"] == 0.5
    assert report["accuracy"] == pytest.approx(6 / 8)
    assert report["sensitivity"] == pytest.approx(2 / 3)
    assert report["specificity"] == pytest.approx(4 / 5)
    assert report["ppv"] == pytest.approx(2 / 3)
    assert report["npv"] == pytest.approx(4 / 5)
    assert report["roc_auc"] == pytest.approx(brute_force_auc(np.array(Y_TRUE), np.array(Y_SCORE)))
    assert report["ece"] == pytest.approx(expected_calibration_error(Y_TRUE, Y_SCORE))
    assert report["confusion_matrix"] == [[4, 1], [1, 2]]
    json.dumps(report)  # plain Python types only


def test_classification_report_on_logits_has_nan_ece():
    report = classification_report([0, 1, 1], [-2.0, 0.5, 3.0], threshold=0.0)
    assert math.isnan(report["ece"])
    assert report["sensitivity"] == 1.0
