"""Multi-label metrics against scikit-learn, column by column; masked labels left out."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.metrics import average_precision_score, recall_score, roc_auc_score

from keras_cxr.metrics import (
    average_precision,
    bootstrap_intervals,
    multilabel_intervals,
    multilabel_report,
    roc_auc,
)


@pytest.fixture(scope="module")
def case():
    rng = np.random.default_rng(0)
    labels = (rng.random((300, 4)) < [0.1, 0.3, 0.5, 0.2]).astype(float)
    scores = np.clip(0.35 * labels + rng.random((300, 4)) * 0.8, 0, 1).round(2)  # ties too
    labels[rng.random((300, 4)) < 0.15] = np.nan
    return labels, scores, ("A", "B", "C", "D")


def test_per_finding_metrics_match_sklearn_on_the_known_labels(case):
    labels, scores, names = case
    thresholds = (0.3, 0.5, 0.6, 0.45)
    report = multilabel_report(labels, scores, names, thresholds)
    for k, name in enumerate(names):
        known = ~np.isnan(labels[:, k])
        y, s = labels[known, k].astype(int), scores[known, k]
        row = report["per_finding"][name]
        called = (s >= thresholds[k]).astype(int)
        assert row["roc_auc"] == pytest.approx(roc_auc_score(y, s), abs=1e-12)
        assert row["average_precision"] == pytest.approx(average_precision_score(y, s), abs=1e-12)
        assert row["sensitivity"] == pytest.approx(recall_score(y, called), abs=1e-12)
        assert row["specificity"] == pytest.approx(recall_score(1 - y, 1 - called), abs=1e-12)
        assert row["positive"] == y.sum() and row["negative"] == len(y) - y.sum()
        assert row["ignored"] == int(np.sum(~known)) and row["threshold"] == thresholds[k]
    aucs = [report["per_finding"][name]["roc_auc"] for name in names]
    assert report["macro_roc_auc"] == pytest.approx(np.mean(aucs))


def test_micro_averages_pool_the_known_pairs(case):
    labels, scores, names = case
    report = multilabel_report(labels, scores, names, 0.5)
    known = ~np.isnan(labels)
    y, s = labels[known].astype(int), scores[known]
    assert report["micro_roc_auc"] == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert report["micro_average_precision"] == pytest.approx(
        average_precision_score(y, s), abs=1e-12
    )
    assert report["micro_sensitivity"] == pytest.approx(recall_score(y, s >= 0.5), abs=1e-12)


def test_without_masks_sklearn_multilabel_averages_agree(case):
    _, scores, _ = case
    labels = (scores > 0.45).astype(int)
    labels[:5] = 1 - labels[:5]
    report = multilabel_report(labels, scores)
    for average in ("macro", "micro"):
        expected = roc_auc_score(labels, scores, average=average)
        assert report[f"{average}_roc_auc"] == pytest.approx(expected, abs=1e-12)
        expected = average_precision_score(labels, scores, average=average)
        assert report[f"{average}_average_precision"] == pytest.approx(expected, abs=1e-12)


def test_minus_one_is_unknown_like_nan_and_one_class_findings_leave_the_macro_average():
    labels = np.array([[1, -1], [0, 0], [1, 0], [0, -1]], float)
    scores = np.array([[0.9, 0.99], [0.2, 0.1], [0.8, 0.4], [0.1, 0.0]])
    report = multilabel_report(labels, scores, ("A", "B"))
    with_nan = multilabel_report(np.where(labels == -1, np.nan, labels), scores, ("A", "B"))
    for name in ("A", "B"):
        expected = pytest.approx(with_nan["per_finding"][name], nan_ok=True)
        assert report["per_finding"][name] == expected
    assert np.isnan(report["per_finding"]["B"]["roc_auc"])  # B: only negatives known
    assert np.isnan(report["per_finding"]["B"]["sensitivity"])
    assert report["macro_roc_auc"] == 1.0  # A alone
    assert report["per_finding"]["B"]["specificity"] == 1.0


@settings(max_examples=60, deadline=None)
@given(
    arrays(np.int64, st.integers(2, 40), elements=st.integers(0, 1)),
    st.data(),
)
def test_average_precision_matches_sklearn(labels, data):
    scores = data.draw(
        arrays(np.float64, len(labels), elements=st.sampled_from([0.1, 0.5, 0.7, 0.9]))
    )
    if labels.sum() == 0:
        assert np.isnan(average_precision(labels, scores))
    else:
        assert average_precision(labels, scores) == pytest.approx(
            average_precision_score(labels, scores), abs=1e-12
        )


def test_intervals_resample_patients_and_match_a_direct_bootstrap(case):
    labels, scores, names = case
    groups = [f"p{i // 3}" for i in range(len(labels))]
    intervals = multilabel_intervals(labels, scores, names, 0.5, groups, n_resamples=60, seed=4)
    report = multilabel_report(labels, scores, names)
    assert intervals["macro_roc_auc"].point == pytest.approx(report["macro_roc_auc"])
    assert intervals["C/average_precision"].point == report["per_finding"]["C"]["average_precision"]
    # Finding B's AUC interval equals the one-column bootstrap with the same seed and groups.
    known = ~np.isnan(labels[:, 1])
    rows = np.arange(len(labels))

    def column_auc(picked, _):
        keep = known[picked]
        return roc_auc(labels[picked[keep], 1], scores[picked[keep], 1])

    direct = bootstrap_intervals(column_auc, rows, rows, groups, n_resamples=60, seed=4)
    assert intervals["B/roc_auc"].low == direct["column_auc"].low
    assert intervals["B/roc_auc"].high == direct["column_auc"].high
    assert (
        intervals["macro_roc_auc"].low < report["macro_roc_auc"] < intervals["macro_roc_auc"].high
    )


@pytest.mark.parametrize(
    ("labels", "scores", "kwargs", "message"),
    [
        ([[1, 2]], [[0.5, 0.5]], {}, r"argument `y_true`. Expected labels in \{0, 1\}"),
        (
            [1, 0],
            [0.5, 0.5],
            {},
            r"argument `y_true`. Expected a non-empty array of shape \(N, K\)",
        ),
        ([[1, 0]], [[0.5, 0.5, 0.5]], {}, r"argument `y_score`. Expected the shape of `y_true`"),
        ([[1, 0]], [[np.nan, 0.5]], {}, r"argument `y_score`. Expected finite"),
        ([[1, 0]], [[0.5, 0.5]], {"findings": ("A",)}, r"argument `findings`. Expected 2 distinct"),
        (
            [[1, 0]],
            [[0.5, 0.5]],
            {"thresholds": (0.5, 0.5, 0.5)},
            r"could not be broadcast|thresholds",
        ),
    ],
)
def test_bad_inputs_are_named(labels, scores, kwargs, message):
    with pytest.raises(ValueError, match=message):
        multilabel_report(labels, scores, **kwargs)
