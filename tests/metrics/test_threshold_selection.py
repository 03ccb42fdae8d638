"""Tests for keras_cxr.metrics.threshold_selection: each method by hand and by its objective."""

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_cxr.metrics import select_threshold

from .binary_cases import Y_SCORE, Y_TRUE, labelled_scores

pytestmark = pytest.mark.backends  # also run under JAX and PyTorch


def test_select_threshold_youden_by_hand():
    # J at thresholds .9, .6, .5, .4, .3: 1/3, 2/3, 2/3 - 1/5, 2/3 - 2/5, 1 - 2/5 = 0.6.
    assert select_threshold(Y_TRUE, Y_SCORE, method="youden") == 0.6


def test_select_threshold_f1_by_hand():
    # F1 = 2TP / (2TP + FP + FN): .9 -> 2/4, .6 -> 4/5, .5 -> 4/6, .3 -> 6/9.
    assert select_threshold(Y_TRUE, Y_SCORE, method="f1") == 0.6


def test_select_threshold_sensitivity_target_by_hand():
    assert select_threshold(Y_TRUE, Y_SCORE, method="sensitivity", target=0.95) == 0.3
    assert select_threshold(Y_TRUE, Y_SCORE, method="sensitivity", target=0.6) == 0.6
    assert select_threshold(Y_TRUE, Y_SCORE, method="sensitivity", target=1 / 3) == 0.9


def test_select_threshold_prefers_the_highest_threshold_on_ties():
    # Youden's J is 0.5 at both .8 and .3.
    assert select_threshold([1, 0, 1, 0], [0.8, 0.5, 0.3, 0.1]) == 0.8


@settings(max_examples=60, deadline=None)
@given(labelled_scores(), st.sampled_from(["youden", "f1"]))
def test_select_threshold_maximizes_its_objective(data, method):
    labels, scores = data

    def objective(threshold):
        predicted = scores >= threshold
        tp = np.sum(predicted & (labels == 1))
        fp = np.sum(predicted & (labels == 0))
        fn = np.sum(~predicted & (labels == 1))
        if method == "f1":
            return 2 * tp / (2 * tp + fp + fn)
        return tp / labels.sum() - fp / (len(labels) - labels.sum())

    chosen = select_threshold(labels, scores, method=method)
    assert chosen in scores
    assert objective(chosen) == pytest.approx(max(objective(t) for t in np.unique(scores)))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"method": "roc"},
            "Expected one of ('youden', 'f1', 'sensitivity', 'specificity'), or "
            "'sensitivity:T' / 'specificity:T' with a target T in (0, 1]. Received: method='roc'",
        ),
        ({"method": "sensitivity", "target": 0}, "Expected a float in (0, 1]. Received: target=0"),
        ({"target": 1.5}, "Expected a float in (0, 1]. Received: target=1.5"),
    ],
)
def test_select_threshold_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        select_threshold(Y_TRUE, Y_SCORE, **kwargs)


def test_select_threshold_needs_both_classes():
    with pytest.raises(ValueError, match="Selecting a threshold needs both classes"):
        select_threshold([1, 1], [0.3, 0.4])
