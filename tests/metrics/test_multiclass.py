"""Tests for keras_cxr.metrics.multiclass: by hand, against a brute-force count, and properties."""

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_cxr.metrics import (
    classification_report,
    multiclass_confusion_matrix,
    multiclass_report,
    pairwise_report,
    top_label_calibration_error,
)

from .binary_cases import brute_force_auc

pytestmark = pytest.mark.backends  # also run under JAX and PyTorch

NAMES = ("NORMAL", "BACTERIAL", "VIRAL")
# Seven cases; the arg-max decisions are 0, 0, 1, 1, 2, 2, 1.
LABELS = [0, 0, 1, 1, 1, 2, 2]
PROBABILITIES = [
    [0.7, 0.2, 0.1],
    [0.5, 0.3, 0.2],
    [0.1, 0.8, 0.1],
    [0.2, 0.5, 0.3],
    [0.1, 0.3, 0.6],
    [0.1, 0.2, 0.7],
    [0.2, 0.5, 0.3],
]


def test_confusion_matrix_by_hand():
    matrix = multiclass_confusion_matrix(LABELS, np.argmax(PROBABILITIES, axis=1), 3)
    # Rows true, columns predicted: one bacterial case called viral, one viral called
    # bacterial.
    assert matrix.tolist() == [[2, 0, 0], [0, 2, 1], [0, 1, 1]]
    assert matrix.dtype == np.int64


def test_report_by_hand():
    report = multiclass_report(LABELS, PROBABILITIES, NAMES)
    assert report["n"] == 7
    assert report["accuracy"] == pytest.approx(5 / 7)
    assert report["class_names"] == list(NAMES)
    assert report["decision"] == "argmax"
    normal, bacterial, viral = (report["per_class"][name] for name in NAMES)
    # NORMAL: TP 2, FN 0, FP 0, TN 5.
    assert (normal["n"], normal["sensitivity"], normal["specificity"]) == (2, 1.0, 1.0)
    assert normal["f1"] == 1.0
    # BACTERIAL: TP 2, FN 1, FP 1, TN 3.
    assert bacterial["sensitivity"] == pytest.approx(2 / 3)
    assert bacterial["specificity"] == pytest.approx(3 / 4)
    assert bacterial["ppv"] == pytest.approx(2 / 3)
    assert bacterial["f1"] == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))
    # VIRAL: TP 1, FN 1, FP 1, TN 4.
    assert viral["sensitivity"] == pytest.approx(1 / 2)
    assert viral["specificity"] == pytest.approx(4 / 5)
    assert viral["f1"] == pytest.approx(2 / (2 + 1 + 1))
    assert report["macro_f1"] == pytest.approx((1 + 2 / 3 + 1 / 2) / 3)
    assert report["macro_sensitivity"] == pytest.approx((1 + 2 / 3 + 1 / 2) / 3)
    # One-vs-rest AUC of VIRAL: positives score 0.7 and 0.3, negatives 0.1, 0.2, 0.1,
    # 0.3, 0.6: 0.7 wins 5 pairs, 0.3 wins 3 and ties 1, out of 10.
    assert viral["roc_auc"] == pytest.approx(8.5 / 10)
    scores = np.asarray(PROBABILITIES)[:, 1]
    expected = brute_force_auc((np.asarray(LABELS) == 1).astype(int), scores)
    assert bacterial["roc_auc"] == pytest.approx(expected)
    assert report["macro_roc_auc"] == pytest.approx((1.0 + expected + 0.85) / 3)
    json.dumps(report)  # plain Python types only


def test_pairwise_report_by_hand():
    report = pairwise_report(LABELS, PROBABILITIES, (1, 2))
    # Five pneumonia cases: bacterial 0.8 vs 0.1, 0.5 vs 0.3, 0.3 vs 0.6 (wrong); viral
    # 0.7 vs 0.2, 0.3 vs 0.5 (wrong).
    assert (report["n"], report["n_positive"]) == (5, 2)
    assert report["accuracy"] == pytest.approx(3 / 5)
    # Viral shares p_v / (p_b + p_v): bacterial 1/9, 3/8, 6/9; viral 7/9 (wins 3 pairs)
    # and 3/8 (wins 1, ties 1): AUC 4.5 / 6.
    assert report["roc_auc"] == pytest.approx(4.5 / 6)


def test_missing_class_gives_nan_not_a_number():
    report = multiclass_report([0, 0, 1], [[0.9, 0.1, 0], [0.6, 0.4, 0], [0.2, 0.8, 0]], NAMES)
    assert math.isnan(report["per_class"]["VIRAL"]["sensitivity"])
    assert math.isnan(report["per_class"]["VIRAL"]["roc_auc"])
    assert math.isnan(report["per_class"]["VIRAL"]["ppv"])
    # Macro means skip the undefined values.
    assert report["macro_sensitivity"] == 1.0
    assert math.isnan(pairwise_report([0, 0], [[0.5, 0.3, 0.2]] * 2, (1, 2))["accuracy"])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: multiclass_report([0, 3], [[1, 0, 0], [0, 1, 0]]), "class indices in"),
        (lambda: multiclass_report([0, 1], [[1, 0, 0]]), "shape (2, 3)"),
        (lambda: multiclass_report([0, 1], [0.2, 0.8]), "shape (N, k)"),
        (lambda: multiclass_report([0], [[np.nan, 1]]), "finite numbers"),
        (lambda: multiclass_report([0], [[0.5, 0.5]], NAMES), "2 names"),
        (lambda: multiclass_confusion_matrix([0], [0], 1), "`num_classes`"),
        (lambda: multiclass_confusion_matrix([0, 1], [0], 2), "`y_pred`"),
        (lambda: pairwise_report([0], [[1, 0, 0]], (1, 1)), "two different class indices"),
    ],
)
def test_bad_input_is_refused(call, message):
    with pytest.raises(ValueError, match="Invalid value received") as error:
        call()
    assert message in str(error.value)


def _reference_counts(labels, predicted, k):
    matrix = np.zeros((k, k), dtype=np.int64)
    for truth, guess in zip(labels, predicted):
        matrix[truth, guess] += 1
    return matrix


@settings(max_examples=40, deadline=None)
@given(
    st.integers(2, 5).flatmap(
        lambda k: st.tuples(
            st.just(k),
            st.lists(
                st.tuples(st.integers(0, k - 1), st.lists(st.floats(0, 1), min_size=k, max_size=k)),
                min_size=1,
                max_size=30,
            ),
        )
    )
)
def test_matches_a_loop_over_cases(case):
    k, rows = case
    labels = np.array([label for label, _ in rows])
    scores = np.array([row for _, row in rows])
    report = multiclass_report(labels, scores)
    matrix = _reference_counts(labels, scores.argmax(axis=1), k)
    assert report["confusion_matrix"] == matrix.tolist()
    assert report["accuracy"] == pytest.approx(np.mean(labels == scores.argmax(axis=1)))
    for c in range(k):
        row = report["per_class"][str(c)]
        positive = labels == c
        called = scores.argmax(axis=1) == c
        if positive.any():
            assert row["sensitivity"] == pytest.approx((positive & called).sum() / positive.sum())
        if (~positive).any():
            expected = (~positive & ~called).sum() / (~positive).sum()
            assert row["specificity"] == pytest.approx(expected)
            if positive.any():
                auc = brute_force_auc(positive.astype(int), scores[:, c])
                assert row["roc_auc"] == pytest.approx(auc)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 1), st.floats(0, 1).filter(lambda p: abs(p - 0.5) > 1e-6)),
        min_size=2,
        max_size=30,
    )
)
def test_two_classes_agree_with_the_binary_report(rows):
    labels = np.array([label for label, _ in rows])
    positive = np.array([p for _, p in rows])
    report = multiclass_report(labels, np.stack([1 - positive, positive], axis=1))
    binary = classification_report(labels, positive, threshold=0.5)
    assert report["confusion_matrix"] == binary["confusion_matrix"]
    assert report["accuracy"] == pytest.approx(binary["accuracy"])
    for key in ("sensitivity", "specificity", "ppv"):
        np.testing.assert_allclose(report["per_class"]["1"][key], binary[key])
    np.testing.assert_allclose(report["per_class"]["1"]["roc_auc"], binary["roc_auc"])


def _top_label_ece_by_loop(labels, probabilities, n_bins):
    """Guo et al.'s top-label ECE, bin by bin, written out plainly."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    total = 0.0
    for b in range(n_bins):
        low, high = b / n_bins, (b + 1) / n_bins
        inside = (confidence >= low) & ((confidence < high) | (b == n_bins - 1))
        if inside.any():
            gap = abs(correct[inside].mean() - confidence[inside].mean())
            total += inside.sum() / len(labels) * gap
    return total


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    k=st.integers(2, 5),
    n=st.integers(1, 40),
    n_bins=st.integers(1, 15),
)
def test_top_label_ece_matches_a_loop_over_bins(seed, k, n, n_bins):
    rng = np.random.default_rng(seed)
    probabilities = rng.dirichlet(np.ones(k), n)
    labels = rng.integers(0, k, n)
    expected = _top_label_ece_by_loop(labels, probabilities, n_bins)
    assert top_label_calibration_error(labels, probabilities, n_bins) == pytest.approx(
        expected, abs=1e-12
    )


def test_top_label_ece_rejects_mismatched_inputs():
    with pytest.raises(ValueError, match="`probabilities`"):
        top_label_calibration_error([0, 1], np.full((3, 3), 1 / 3))
    with pytest.raises(ValueError, match="`y_true`"):
        top_label_calibration_error([0, 3], np.full((2, 3), 1 / 3))
