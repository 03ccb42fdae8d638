"""Tests for keras_cxr.metrics.classification against hand and brute-force computations."""

import itertools
import json
import math
import re

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from keras_cxr.metrics import (
    classification_report,
    confusion_matrix,
    expected_calibration_error,
    npv,
    ppv,
    reliability_curve,
    roc_auc,
    roc_curve,
    select_threshold,
    sensitivity,
    specificity,
)

# 3 positives, 5 negatives. At 0.5: TP = 2 (.9, .6), FN = 1 (.3), FP = 1 (.5), TN = 4.
Y_TRUE = [1, 1, 1, 0, 0, 0, 0, 0]
Y_SCORE = [0.9, 0.6, 0.3, 0.5, 0.4, 0.2, 0.1, 0.05]


def labelled_scores(min_size=2, max_size=30, both_classes=True):
    """(labels, integer-valued scores) with many ties."""

    @st.composite
    def draw_pairs(draw):
        size = draw(st.integers(min_size, max_size))
        labels = draw(st.lists(st.integers(0, 1), min_size=size, max_size=size))
        scores = draw(st.lists(st.integers(0, 6), min_size=size, max_size=size))
        if both_classes:
            assume(0 < sum(labels) < size)
        return np.array(labels), np.array(scores, dtype=float)

    return draw_pairs()


def brute_force_auc(labels, scores):
    positives = scores[labels == 1]
    negatives = scores[labels == 0]
    wins = sum(
        1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(positives, negatives)
    )
    return wins / (len(positives) * len(negatives))


# ---------------------------------------------------------------- rates


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


# ---------------------------------------------------------------- ROC


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


# ---------------------------------------------------------------- calibration


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


# ---------------------------------------------------------------- thresholds


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
            "Expected one of ('youden', 'f1', 'sensitivity'). Received: method='roc'",
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


# ---------------------------------------------------------------- report


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


# ---------------------------------------------------------------- input validation


@pytest.mark.parametrize(
    ("y_true", "y_score", "message"),
    [
        (
            [0, 1, 1],
            [0.1, 0.2],
            "Expected a 1-D array of shape (3,), like `y_true`. Received: y_score.shape=(2,)",
        ),
        (
            [0, 2],
            [0.1, 0.2],
            "`y_true`. Expected binary labels in {0, 1}. Received: y_true='values [0, 2]'",
        ),
        ([0, 1], [0.1, float("nan")], "`y_score`. Expected finite values (no NaN or inf)"),
        ([], [], "Expected a non-empty 1-D array of shape (N,). Received: y_true.shape=(0,)"),
        ([[0, 1], [1, 0]], [0.1, 0.2], "Received: y_true.shape=(2, 2)"),
    ],
)
@pytest.mark.parametrize("metric", [sensitivity, roc_auc, classification_report])
def test_rejects_bad_labels_and_scores(metric, y_true, y_score, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        metric(y_true, y_score)


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
