"""`keras_cxr.data.balanced_sample` and `stratified_sample`."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from keras_cxr.data import balanced_sample, stratified_sample


def test_balanced_sample_alternates_classes_in_order_without_seed():
    labels = [0, 0, 0, 1, 1]
    assert balanced_sample(labels, 3).tolist() == [0, 1, 3]
    assert balanced_sample(labels, 10).tolist() == [0, 1, 2, 3, 4]  # all there is
    assert balanced_sample(labels, 0).tolist() == []


@given(
    labels=st.lists(st.integers(0, 2), min_size=1, max_size=40),
    count=st.integers(0, 50),
    seed=st.integers(0, 100),
)
def test_balanced_sample_is_as_even_as_the_classes_allow(labels, count, seed):
    chosen = balanced_sample(labels, count, seed)
    labels = np.asarray(labels)
    assert len(chosen) == min(count, len(labels))
    assert len(set(chosen.tolist())) == len(chosen) and list(chosen) == sorted(chosen)
    taken = {c: int(np.sum(labels[chosen] == c)) for c in np.unique(labels)}
    available = {c: int(np.sum(labels == c)) for c in np.unique(labels)}
    # A class short of images gives all it has; the others differ by at most one, and
    # none of them has fewer than a class that gave all it has, less one.
    full = [taken[c] for c in taken if taken[c] < available[c]]
    short = [taken[c] for c in taken if taken[c] == available[c]]
    assert not full or max(full) - min(full) <= 1
    assert not full or not short or min(full) >= max(short) - 1
    assert np.array_equal(chosen, balanced_sample(labels, count, seed))


@given(
    negatives=st.integers(1, 60),
    positives=st.integers(1, 60),
    count=st.integers(2, 40),
    seed=st.integers(0, 10),
)
def test_stratified_sample_keeps_each_class_share(negatives, positives, count, seed):
    labels = np.asarray([0] * negatives + [1] * positives)
    chosen = stratified_sample(labels, count, seed)
    for label, size in ((0, negatives), (1, positives)):
        expected = min(size, max(1, round(count * size / len(labels))))
        assert int(np.sum(labels[chosen] == label)) == expected
    assert np.array_equal(chosen, stratified_sample(labels, count, seed))


def test_counts_are_checked():
    with pytest.raises(ValueError, match=r"argument `count`\. Expected an integer >= 0"):
        balanced_sample([0, 1], -1)
    with pytest.raises(ValueError, match=r"argument `count`\. Expected an integer >= 1"):
        stratified_sample([0, 1], 0, seed=0)
