"""LabelTable and split_label_table: patients stay whole, abnormal shares stay close."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_cxr.data import LabelTable, split_label_table


def make_table(patients, labels):
    labels = np.asarray(labels, np.float32)
    paths = [Path(f"{i}.png") for i in range(len(patients))]
    return LabelTable(paths, labels, list(patients), ("A", "B"), list(range(2, len(paths) + 2)))


def test_take_and_counts():
    table = make_table(["p", "q", "r"], [[1, 0], [np.nan, 1], [0, 0]])
    part = table.take([2, 0])
    assert part.patients == ["r", "p"] and part.lines == [4, 2]
    np.testing.assert_array_equal(part.labels, [[0, 0], [1, 0]])
    assert table.label_counts() == {
        "A": {"positive": 1, "negative": 1, "ignored": 1},
        "B": {"positive": 1, "negative": 2, "ignored": 0},
    }
    np.testing.assert_array_equal(table.mask, [[True, True], [False, True], [True, True]])


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 15), st.booleans()), min_size=4, max_size=60),
    st.sampled_from([(0.2, 0.0), (0.2, 0.2), (0.1, 0.3)]),
    st.integers(0, 3),
)
def test_no_patient_is_in_two_splits_and_every_row_is_kept(rows, fractions, seed):
    patients = [f"p{patient}" for patient, _ in rows]
    labels = [[float(sick), 0.0] for _, sick in rows]
    splits = split_label_table(make_table(patients, labels), *fractions, seed=seed)
    assert sorted(splits) == (["test", "train", "val"] if fractions[1] else ["train", "val"])
    owners = [set(split.patients) for split in splits.values()]
    for i, first in enumerate(owners):
        for second in owners[i + 1 :]:
            assert not first & second
    assert sorted(line for split in splits.values() for line in split.lines) == list(
        range(2, len(rows) + 2)
    )


def test_splits_keep_the_abnormal_share():
    patients = [f"p{i // 2}" for i in range(400)]
    labels = [[float(i % 8 < 2), 0.0] for i in range(0, 400, 2) for _ in range(2)]
    splits = split_label_table(make_table(patients, labels), 0.2, 0.1, seed=1)
    for name, expected in (("train", 0.7), ("val", 0.2), ("test", 0.1)):
        assert len(splits[name]) / 400 == pytest.approx(expected, abs=0.02)
        share = np.mean(splits[name].labels[:, 0])
        assert share == pytest.approx(0.25, abs=0.03)


def test_bad_fractions():
    table = make_table(["p", "q"], [[1, 0], [0, 0]])
    with pytest.raises(ValueError, match=r"argument `val_fraction`. Expected a float in \[0, 1\)"):
        split_label_table(table, 1.0)
    with pytest.raises(ValueError, match=r"val_fraction \+ test_fraction < 1"):
        split_label_table(table, 0.6, 0.5)
