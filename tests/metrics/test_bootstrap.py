"""Tests for keras_cxr.metrics.bootstrap: intervals against a hand-written loop, by patient."""

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_cxr.metrics import (
    bootstrap_intervals,
    brier_score,
    classification_intervals,
    classification_report,
    roc_auc,
)
from keras_cxr.metrics.bootstrap import group_members
from keras_cxr.metrics.report import INTERVAL_METRICS

pytestmark = pytest.mark.backends  # also run under JAX and PyTorch


def patients_data(n_patients, seed, images_per_patient=3):
    """Labels, probabilities and patient ids: each patient's images share a label."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, images_per_patient + 1, n_patients)
    groups = np.repeat([f"p{i}" for i in range(n_patients)], sizes)
    labels = np.repeat(rng.integers(0, 2, n_patients), sizes)
    probabilities = np.clip(0.3 * labels + rng.uniform(0, 0.7, len(labels)), 0, 1)
    return labels, probabilities, groups


def hand_bootstrap(metric, labels, scores, groups, n, confidence, seed):
    """The percentile bootstrap over patients, written out as a plain loop."""
    patients = list(dict.fromkeys(groups))  # first-appearance order
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n):
        drawn = rng.integers(0, len(patients), size=len(patients))
        cases = [i for d in drawn for i in range(len(groups)) if groups[i] == patients[d]]
        values.append(metric(labels[cases], scores[cases]))
    values = np.array(values)
    kept = values[~np.isnan(values)]
    tail = 100 * (1 - confidence) / 2
    return np.percentile(kept, [tail, 100 - tail]), n - len(kept)


def test_intervals_match_a_hand_written_patient_bootstrap():
    labels, scores, groups = patients_data(12, seed=0)
    intervals = bootstrap_intervals(
        {"auc": roc_auc, "brier": brier_score}, labels, scores, groups, 300, 0.9, seed=7
    )
    for name, metric in (("auc", roc_auc), ("brier", brier_score)):
        (low, high), dropped = hand_bootstrap(metric, labels, scores, groups, 300, 0.9, 7)
        assert (intervals[name].low, intervals[name].high) == pytest.approx((low, high))
        assert intervals[name].dropped == dropped
        assert intervals[name].point == pytest.approx(metric(labels, scores))
    # 12 patients of random labels: some resamples hold one class, where the AUC is NaN.
    assert intervals["auc"].dropped > 0 and intervals["brier"].dropped == 0


@settings(max_examples=25, deadline=None)
@given(st.integers(3, 15), st.integers(0, 1000))
def test_duplicated_images_of_a_patient_give_the_interval_of_the_patient_once(n, seed):
    # Every patient has one image, then the same image twice: resampling patients as
    # wholes draws the same patients, and mean-based metrics and the AUC do not change
    # when every case is doubled.
    labels, scores, _ = patients_data(n, seed, images_per_patient=1)
    ids = np.array([f"p{i}" for i in range(len(labels))])
    doubled = bootstrap_intervals(
        {"brier": brier_score, "auc": roc_auc},
        np.repeat(labels, 2),
        np.repeat(scores, 2),
        np.repeat(ids, 2),
        n_resamples=50,
        seed=seed,
    )
    once = bootstrap_intervals(
        {"brier": brier_score, "auc": roc_auc}, labels, scores, None, n_resamples=50, seed=seed
    )
    for name in ("brier", "auc"):
        np.testing.assert_allclose(
            [doubled[name].low, doubled[name].high], [once[name].low, once[name].high]
        )
        assert doubled[name].dropped == once[name].dropped


def test_resampling_images_instead_of_patients_narrows_the_interval():
    # Three identical images per patient: image-level resampling pretends to 3x the data.
    labels, scores, _ = patients_data(40, seed=3, images_per_patient=1)
    ids = np.repeat(np.arange(len(labels)), 3)
    labels, scores = np.repeat(labels, 3), np.repeat(scores, 3)
    by_patient = bootstrap_intervals(brier_score, labels, scores, ids, 400)["brier_score"]
    by_image = bootstrap_intervals(brier_score, labels, scores, None, 400)["brier_score"]
    assert (by_image.high - by_image.low) < 0.75 * (by_patient.high - by_patient.low)


def test_group_members_keep_each_patient_whole_in_first_appearance_order():
    members = group_members(["b", "a", "b", "c", "a"], 5)
    assert [m.tolist() for m in members] == [[0, 2], [1, 4], [3]]
    assert [m.tolist() for m in group_members(None, 3)] == [[0], [1], [2]]


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 12), st.integers(0, 1000), st.floats(0.5, 0.99))
def test_interval_of_a_mean_lies_within_the_data_and_is_ordered(n, seed, confidence):
    labels, scores, groups = patients_data(n, seed)

    def mean_score(_labels, scores):
        return float(scores.mean())

    interval = bootstrap_intervals(mean_score, labels, scores, groups, 100, confidence, seed)[
        "mean_score"
    ]
    assert scores.min() - 1e-12 <= interval.low <= interval.high <= scores.max() + 1e-12
    assert interval.point == pytest.approx(scores.mean())
    assert (interval.confidence, interval.resamples) == (confidence, 100)


def test_classification_intervals_bootstrap_every_report_metric():
    labels, scores, groups = patients_data(30, seed=5)
    intervals = classification_intervals(labels, scores, 0.5, groups, n_resamples=200)
    report = classification_report(labels, scores, 0.5)
    assert tuple(intervals) == INTERVAL_METRICS
    assert set(INTERVAL_METRICS) == {"accuracy", "sensitivity", "specificity", "ppv", "npv"} | {
        "roc_auc",
        "brier",
        "ece",
    }
    for name, interval in intervals.items():
        assert interval.point == pytest.approx(report[name])
        assert interval.low <= interval.high
    assert str(intervals["accuracy"]).startswith(f"{report['accuracy']:.4f} [")
    assert intervals["accuracy"].to_dict()["resamples"] == 200


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_resamples": 0}, "`n_resamples`. Expected an integer >= 1"),
        ({"confidence": 1.0}, "`confidence`. Expected a float in (0, 1)"),
        ({"confidence": 0}, "`confidence`. Expected a float in (0, 1]"),
        ({"groups": ["a", "b"]}, "`groups`. Expected one group per case (4)"),
        ({"metrics": "auc"}, "`metrics`. Expected a callable or a dict of callables"),
        ({"metrics": {"bad": lambda y, p: "x"}}, "`metrics`. Expected numbers; 'bad' returned"),
    ],
)
def test_bad_arguments_are_refused(kwargs, message):
    arguments = {"metrics": {"auc": roc_auc}, "y_true": [0, 1, 0, 1], "y_score": [0.1] * 4}
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=re.escape(message)):
        bootstrap_intervals(**arguments)
