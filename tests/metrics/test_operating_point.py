"""Tests for keras_cxr.metrics.operating_point and the targeted thresholds it selects."""

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_cxr.metrics import OperatingPoint, parse_operating_point, select_threshold
from keras_cxr.training import config as config_module

from .binary_cases import Y_SCORE, Y_TRUE, labelled_scores

pytestmark = pytest.mark.backends  # also run under JAX and PyTorch

GOOD_SPECS = [
    "youden",
    "f1",
    "sensitivity",
    "specificity",
    "sensitivity:0.95",
    " F1 ",
    "SPECIFICITY:1",
]
BAD_SPECS = [
    "roc",
    "youden:0.5",
    "f1:1",
    "sensitivity:0",
    "sensitivity:1.5",
    "specificity:abc",
    "specificity:nan",
    "sensitivity:",
    "",
]


def rates(labels, scores, threshold):
    predicted = scores >= threshold
    sensitivity = np.sum(predicted & (labels == 1)) / np.sum(labels == 1)
    specificity = np.sum(~predicted & (labels == 0)) / np.sum(labels == 0)
    return sensitivity, specificity


def test_specs_parse_into_operating_points():
    assert parse_operating_point("sensitivity:0.95") == OperatingPoint("sensitivity", 0.95)
    assert parse_operating_point("Specificity: 0.9 ") == OperatingPoint("specificity", 0.9)
    assert parse_operating_point("sensitivity").target == 0.95
    assert parse_operating_point("youden") == OperatingPoint("youden")
    assert parse_operating_point("specificity:0.90").spec == "specificity:0.9"
    point = OperatingPoint("f1")
    assert parse_operating_point(point) is point and str(point) == "f1"


@pytest.mark.parametrize("spec", BAD_SPECS)
def test_bad_specs_are_refused_with_the_format(spec):
    with pytest.raises(ValueError, match=re.escape("argument `operating_point`. Expected ")):
        parse_operating_point(spec)


@pytest.mark.parametrize("spec", GOOD_SPECS + BAD_SPECS)
def test_the_settings_accept_exactly_the_specs_the_parser_accepts(spec):
    try:
        parse_operating_point(spec)
        parsed = True
    except ValueError:
        parsed = False
    config = config_module.TrainConfig(operating_point=spec)
    if parsed:
        config.validate()
    else:
        with pytest.raises(ValueError, match="argument `operating_point`"):
            config.validate()


def test_targets_by_hand():
    # Y_SCORE: positives .9 .6 .3, negatives .5 .4 .2 .1 .05.
    assert select_threshold(Y_TRUE, Y_SCORE, "sensitivity:0.6") == 0.6
    assert select_threshold(Y_TRUE, Y_SCORE, "specificity:0.8") == 0.5  # 4 of 5 below .5
    assert select_threshold(Y_TRUE, Y_SCORE, "specificity:1") == 0.6
    assert select_threshold(Y_TRUE, Y_SCORE, OperatingPoint("specificity", 0.6)) == 0.3
    # A bare kind keeps taking its target from `target`, as before operating points.
    assert select_threshold(Y_TRUE, Y_SCORE, "specificity", target=0.8) == 0.5


def test_an_unreachable_specificity_calls_nothing_positive():
    threshold = select_threshold([0, 1], [0.9, 0.2], "specificity:1")
    assert threshold > 0.9
    assert rates(np.array([0, 1]), np.array([0.9, 0.2]), threshold) == (0.0, 1.0)


@settings(max_examples=60, deadline=None)
@given(labelled_scores(), st.sampled_from(["sensitivity", "specificity"]), st.floats(0.05, 1))
def test_the_threshold_reaches_the_target_with_the_best_other_rate(data, kind, target):
    labels, scores = data
    chosen = select_threshold(labels, scores, OperatingPoint(kind, target))
    index = 0 if kind == "sensitivity" else 1
    assert rates(labels, scores, chosen)[index] >= target - 1e-12
    # No candidate that also reaches the target has a better rate on the other side.
    other = rates(labels, scores, chosen)[1 - index]
    for candidate in np.unique(scores):
        candidate_rates = rates(labels, scores, candidate)
        if candidate_rates[index] >= target - 1e-12:
            assert candidate_rates[1 - index] <= other + 1e-12


@pytest.mark.parametrize("method", ["sensitivity:2", "youden:0.5", "precision"])
def test_bad_methods_name_the_argument(method):
    with pytest.raises(ValueError, match=re.escape("argument `method`. Expected one of (")):
        select_threshold(Y_TRUE, Y_SCORE, method)
