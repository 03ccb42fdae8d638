from collections import defaultdict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_cxr.data import patient_id, split_by_patient


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("person1000_bacteria_2931.jpeg", "person1000"),
        ("person1000_virus_1681.jpeg", "person1000"),
        ("person447_virus_921_1.jpeg", "person447"),
        ("IM-0115-0001.jpeg", "IM-0115"),
        ("IM-0429-0001-0002.jpeg", "IM-0429"),
        ("NORMAL2-IM-0035-0001.jpeg", "NORMAL2-IM-0035"),
        ("chest_xray/train/NORMAL/IM-0117-0001.JPEG", "IM-0117"),
        ("person12_bacteria_34.png", "person12"),
    ],
)
def test_patient_id_reads_kermany_names(filename, expected):
    assert patient_id(filename) == expected


@pytest.mark.parametrize(
    "filename", ["scan_001.png", "person12.jpeg", "IM-0001.jpeg", "personA_virus_1.jpeg", ""]
)
def test_patient_id_is_none_for_other_names(filename):
    assert patient_id(filename) is None


def test_split_by_patient_matches_hand_example():
    # One stratum of 4 items; the target is round(0.5 * 4) = 2 validation items.
    is_val = split_by_patient(["a", "a", "b", "c"], [0, 0, 0, 0], 0.5, seed=0)
    assert is_val.dtype == bool and is_val.shape == (4,)
    assert is_val[0] == is_val[1]  # both images of patient a on the same side
    assert 2 <= is_val.sum() <= 3
    assert not is_val.all()


def test_split_by_patient_zero_fraction_keeps_everything_in_train():
    assert not split_by_patient(["a", "b", "c"], [0, 1, 1], 0.0).any()


@pytest.mark.parametrize("fraction", [-0.1, 1.0, 1.5])
def test_split_by_patient_rejects_fraction_outside_unit_interval(fraction):
    with pytest.raises(ValueError, match=r"argument `val_fraction`. Expected a float in \[0, 1\)"):
        split_by_patient(["a"], [0], fraction)


def test_split_by_patient_rejects_length_mismatch():
    with pytest.raises(ValueError, match=r"len\(patients\)=2 and len\(strata\)=1"):
        split_by_patient(["a", "b"], [0], 0.1)


items = st.lists(
    st.tuples(st.integers(0, 30).map(lambda p: f"p{p}"), st.integers(0, 2)),
    min_size=1,
    max_size=80,
)


@settings(max_examples=150, deadline=None)
@given(items=items, fraction=st.floats(0, 0.95), seed=st.integers(0, 2**16))
def test_split_by_patient_properties(items, fraction, seed):
    patients = [patient for patient, _ in items]
    strata = [stratum for _, stratum in items]
    is_val = split_by_patient(patients, strata, fraction, seed)

    sides = defaultdict(set)
    for patient, val in zip(patients, is_val):
        sides[patient].add(bool(val))
    assert all(len(side) == 1 for side in sides.values()), "a patient is on both sides"

    # Same seed, same answer, whatever the order of the items.
    order = np.random.default_rng(seed).permutation(len(items))
    shuffled = split_by_patient(
        [patients[i] for i in order], [strata[i] for i in order], fraction, seed
    )
    assert {patients[i] for i, v in zip(order, shuffled) if v} == {
        p for p, v in zip(patients, is_val) if v
    }

    # Per stratum (a patient's most common label, ties to the smaller one): the validation
    # share reaches its target unless only one patient is left, overshoots by less than one
    # patient, and training keeps at least one patient.
    items_of = defaultdict(list)
    for index, patient in enumerate(patients):
        items_of[patient].append(index)
    stratum_of = {}
    for patient, indices in items_of.items():
        counts = np.bincount([strata[i] for i in indices], minlength=3)
        stratum_of[patient] = int(np.argmax(counts))
    for stratum in set(stratum_of.values()):
        members = [p for p, s in stratum_of.items() if s == stratum]
        n_items = sum(len(items_of[p]) for p in members)
        target = round(fraction * n_items)
        val_members = [p for p in members if is_val[items_of[p][0]]]
        taken = sum(len(items_of[p]) for p in val_members)
        assert len(val_members) < len(members)
        assert taken >= target or len(val_members) == len(members) - 1
        assert taken < target + max(len(items_of[p]) for p in members)
