"""FedAvg: the example-weighted mean, against a hand computation and Flower's own FedAvg."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_cxr.federated import federated_average


def test_matches_a_hand_computed_weighted_average():
    # Two sites, two arrays: a 2x2 kernel and a bias. Site A trained on 10 images, B on 30.
    a = [np.array([[1.0, 2.0], [3.0, 4.0]], np.float32), np.array([0.0], np.float32)]
    b = [np.array([[5.0, 6.0], [7.0, 8.0]], np.float32), np.array([4.0], np.float32)]
    averaged = federated_average([a, b], [10, 30])
    # (10 * a + 30 * b) / 40 = a/4 + 3b/4, by hand:
    np.testing.assert_array_equal(averaged[0], [[4.0, 5.0], [6.0, 7.0]])
    np.testing.assert_array_equal(averaged[1], [3.0])
    assert averaged[0].dtype == np.float32


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 5), st.integers(0, 2**16))
def test_equals_a_loop_over_sites(sites, seed):
    rng = np.random.default_rng(seed)
    shapes = [(3, 2), (2,), ()]
    weights = [[rng.normal(size=s) for s in shapes] for _ in range(sites)]
    counts = rng.integers(1, 100, size=sites).tolist()
    expected = []
    for i in range(len(shapes)):
        total = np.zeros(shapes[i])
        for site in range(sites):
            total = total + counts[site] * weights[site][i]
        expected.append(total / sum(counts))
    for got, want in zip(federated_average(weights, counts), expected):
        np.testing.assert_allclose(got, want, rtol=1e-12)


def test_equals_flowers_fedavg_aggregation():
    flwr = pytest.importorskip("flwr")  # noqa: F841
    from flwr.app import ArrayRecord, MetricRecord, RecordDict
    from flwr.serverapp.strategy.strategy_utils import aggregate_arrayrecords

    rng = np.random.default_rng(0)
    weights = [[rng.normal(size=(4, 3)), rng.normal(size=(3,))] for _ in range(3)]
    counts = [12, 40, 7]
    replies = [
        RecordDict(
            {
                "arrays": ArrayRecord(w),
                "metrics": MetricRecord({"num-examples": n}),
            }
        )
        for w, n in zip(weights, counts)
    ]
    theirs = aggregate_arrayrecords(replies, "num-examples").to_numpy_ndarrays()
    for ours, flower in zip(federated_average(weights, counts), theirs):
        np.testing.assert_allclose(ours, flower, rtol=1e-12)


@pytest.mark.parametrize(
    ("weights", "counts", "message"),
    [
        ([], [], "one weight list and one example count per site"),
        ([[np.zeros(2)]], [1, 2], "Received 1 weight lists and 2 counts"),
        ([[np.zeros(2)], [np.zeros(2)]], [0, 0], r"not all 0. Received num_examples=\[0, 0\]"),
        ([[np.zeros(2)], [np.zeros(2)]], [-1, 3], "must be >= 0"),
        ([[np.zeros(2)], [np.zeros(3)]], [1, 1], "every site must train the same model"),
    ],
)
def test_bad_inputs_are_refused(weights, counts, message):
    with pytest.raises(ValueError, match=message):
        federated_average(weights, counts)
