"""Tests for keras_cxr.metrics.data_randomization: `label_randomization`."""

import re

import numpy as np
import pytest

from keras_cxr.metrics import label_randomization

pytestmark = pytest.mark.backends  # also run under JAX and PyTorch


def test_label_randomization_permutes_rows_without_touching_the_input():
    labels = np.array([[1, 0], [1, 0], [0, 1], [0, 1], [0, 1]])
    original = labels.copy()
    shuffled = label_randomization(labels, seed=3)
    np.testing.assert_array_equal(labels, original)
    assert shuffled.shape == labels.shape and shuffled.dtype == labels.dtype
    assert sorted(map(tuple, shuffled)) == sorted(map(tuple, labels))
    np.testing.assert_array_equal(shuffled, label_randomization(labels, seed=3))
    many = np.arange(100)
    assert not np.array_equal(label_randomization(many, seed=0), many)


@pytest.mark.parametrize(
    ("labels", "seed", "message"),
    [
        (3, 0, "Expected an array of shape (N, ...). Received: labels=3"),
        ([0, 1], -2, "Expected an integer >= 0. Received: seed=-2"),
    ],
)
def test_label_randomization_rejects_bad_arguments(labels, seed, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        label_randomization(labels, seed=seed)
