"""Tests for keras_cxr.metrics.multiclass_bootstrap: points, grouping, dropped resamples."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_cxr.metrics import multiclass_intervals, multiclass_report, pairwise_report

NAMES = ("NORMAL", "BACTERIAL", "VIRAL")


def _cases(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels and noisy probabilities that usually favour the true class."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, count)
    scores = rng.random((count, 3)) + 1.5 * np.eye(3)[labels]
    return labels, scores / scores.sum(axis=1, keepdims=True)


def test_points_are_the_reports_metrics():
    labels, probabilities = _cases(60, seed=0)
    intervals = multiclass_intervals(
        labels, probabilities, NAMES, n_resamples=50, pairs={"bacterial_vs_viral": (1, 2)}
    )
    report = multiclass_report(labels, probabilities, NAMES)
    pair = pairwise_report(labels, probabilities, (1, 2))
    assert intervals["accuracy"].point == report["accuracy"]
    assert intervals["macro_f1"].point == report["macro_f1"]
    assert intervals["VIRAL/specificity"].point == report["per_class"]["VIRAL"]["specificity"]
    assert intervals["BACTERIAL/roc_auc"].point == report["per_class"]["BACTERIAL"]["roc_auc"]
    assert intervals["bacterial_vs_viral/roc_auc"].point == pair["roc_auc"]
    assert len(intervals) == 4 + 3 * 3 + 2
    for interval in intervals.values():
        assert interval.low <= interval.point + 1e-12
        assert interval.point <= interval.high + 1e-12
        assert interval.resamples == 50


def test_perfect_classifier_has_degenerate_intervals():
    labels = np.repeat([0, 1, 2], 10)
    intervals = multiclass_intervals(labels, np.eye(3)[labels], NAMES, n_resamples=100)
    for name in ("accuracy", "macro_f1", "VIRAL/sensitivity", "NORMAL/roc_auc"):
        assert (intervals[name].low, intervals[name].high) == (1.0, 1.0)


@settings(max_examples=15, deadline=None)
@given(st.integers(8, 40), st.integers(0, 10_000))
def test_a_patient_with_two_identical_images_counts_once(count, seed):
    """Each case twice, both in its own patient, gives the intervals of the single cases.

    Resampling whole patients draws the same patients in the same order (same seed and
    number of groups), and every metric here is a ratio or a rank statistic that a
    doubled sample leaves unchanged.
    """
    labels, probabilities = _cases(count, seed)
    single = multiclass_intervals(labels, probabilities, NAMES, n_resamples=40, seed=seed)
    doubled = multiclass_intervals(
        np.repeat(labels, 2),
        np.repeat(probabilities, 2, axis=0),
        NAMES,
        groups=np.repeat(np.arange(count), 2),
        n_resamples=40,
        seed=seed,
    )
    for name, interval in single.items():
        other = doubled[name]
        for a, b in ((interval.low, other.low), (interval.high, other.high)):
            assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, abs=1e-12)
        assert interval.dropped == other.dropped


def test_resamples_without_a_class_are_dropped_for_that_class_only():
    # One viral patient among 20: a resample misses it with probability (19/20)^20 ≈ 0.36.
    labels = np.array([0] * 10 + [1] * 9 + [2])
    probabilities = np.eye(3)[labels] * 0.6 + 0.1
    intervals = multiclass_intervals(labels, probabilities, NAMES, n_resamples=400, seed=1)
    share = intervals["VIRAL/sensitivity"].dropped / 400
    assert 0.25 < share < 0.48
    assert intervals["accuracy"].dropped == 0
    assert intervals["NORMAL/sensitivity"].dropped == 0


def test_bad_class_names_are_refused_with_the_count():
    labels, probabilities = _cases(10, seed=2)
    with pytest.raises(ValueError, match="3 names, one per column"):
        multiclass_intervals(labels, probabilities, ("NORMAL", "PNEUMONIA"), n_resamples=5)
