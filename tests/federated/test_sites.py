"""Site partitions: every patient in exactly one site, whole; the skews they promise."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_cxr.federated import parse_sites, partition_sites


@st.composite
def items(draw, min_patients=1):
    """Patients with 1-3 images each, a label per image, and a naming cohort per patient."""
    count = draw(st.integers(min_patients, 40))
    patients, labels, cohorts = [], [], []
    for index in range(count):
        label = draw(st.integers(0, 1))
        cohort = "person" if label else draw(st.sampled_from(["IM", "NORMAL2"]))
        for _ in range(draw(st.integers(1, 3))):
            patients.append(f"p{index}")
            # a patient's images usually share a label; sometimes not
            labels.append(label if draw(st.integers(0, 5)) else 1 - label)
            cohorts.append(cohort)
    return patients, labels, cohorts


def _check_partition(sites, patients):
    everything = np.concatenate(list(sites.values()))
    assert sorted(everything.tolist()) == list(range(len(patients)))  # each item exactly once
    site_of = defaultdict(set)
    for name, indices in sites.items():
        for i in indices:
            site_of[patients[i]].add(name)
    assert all(len(names) == 1 for names in site_of.values())  # no patient split


@settings(max_examples=60, deadline=None)
@given(items(min_patients=3), st.integers(2, 3), st.integers(0, 2**16))
def test_iid_keeps_patients_whole_and_balances_classes(data, k, seed):
    patients, labels, _ = data
    sites = partition_sites(patients, labels, f"iid:{k}", seed=seed)
    assert sorted(sites) == [f"site{i + 1}" for i in range(k)]
    _check_partition(sites, patients)
    # dealt round robin: site sizes in patients differ by at most one
    sizes = [len({patients[i] for i in indices}) for indices in sites.values()]
    assert max(sizes) - min(sizes) <= 1


@settings(max_examples=60, deadline=None)
@given(items(min_patients=12), st.integers(2, 3), st.floats(0.05, 10), st.integers(0, 2**16))
def test_label_skew_keeps_patients_whole(data, k, alpha, seed):
    patients, labels, _ = data
    per_class = defaultdict(set)
    for p, y in zip(patients, labels):
        per_class[y].add(p)
    try:
        sites = partition_sites(patients, labels, f"label:{k}", seed=seed, alpha=alpha)
    except ValueError as error:  # too few patients of a class for 2 per site
        assert "patients of class" in str(error)
        return
    _check_partition(sites, patients)
    assert len(sites) == k


@settings(max_examples=40, deadline=None)
@given(items(min_patients=2), st.integers(0, 2**16))
def test_cohort_sites_hold_their_cohort_and_keep_patients_whole(data, seed):
    patients, labels, cohorts = data
    try:
        sites = partition_sites(patients, labels, "cohort", cohorts=cohorts, seed=seed)
    except ValueError as error:
        assert "naming cohort" in str(error)
        return
    _check_partition(sites, patients)
    for name, indices in sites.items():
        assert {cohorts[i] for i in indices} <= {name, "person"}


@settings(max_examples=30, deadline=None)
@given(items(min_patients=3), st.integers(0, 2**16), st.randoms(use_true_random=False))
def test_the_partition_does_not_depend_on_item_order(data, seed, random):
    patients, labels, _ = data
    order = list(range(len(patients)))
    random.shuffle(order)
    first = partition_sites(patients, labels, "iid:2", seed=seed)
    shuffled = partition_sites(
        [patients[i] for i in order], [labels[i] for i in order], "iid:2", seed=seed
    )
    as_patients = lambda sites, names: {s: sorted(names[i] for i in ix) for s, ix in sites.items()}  # noqa: E731
    assert as_patients(first, patients) == as_patients(shuffled, [patients[i] for i in order])


def test_small_alpha_skews_labels_more_than_large_alpha():
    patients = [f"p{i}" for i in range(600)]
    labels = [i % 2 for i in range(600)]

    def spread(alpha):
        gaps = []
        for seed in range(5):
            sites = partition_sites(patients, labels, "label:3", seed=seed, alpha=alpha)
            shares = [np.mean([labels[i] for i in ix]) for ix in sites.values()]
            gaps.append(max(shares) - min(shares))
        return np.mean(gaps)

    assert spread(0.1) > 0.4 > 0.15 > spread(100.0)


def test_label_skew_gives_each_site_two_patients_of_each_class():
    patients = [f"p{i}" for i in range(40)]
    labels = [int(i < 12) for i in range(40)]
    for seed in range(10):
        sites = partition_sites(patients, labels, "label:3", seed=seed, alpha=0.01)
        for indices in sites.values():
            assert sum(labels[i] for i in indices) >= 2
            assert sum(1 - labels[i] for i in indices) >= 2


def test_parse_sites(tmp_path):
    assert parse_sites("iid:4") == ("iid", 4)
    assert parse_sites("cohort") == ("cohort", 0)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    kind, folders = parse_sites(f"{tmp_path / 'a'},{tmp_path / 'b'}")
    assert kind == "folders" and [f.name for f in folders] == ["a", "b"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("iid:1", r"argument `sites`.*K >= 2.*Received: sites='iid:1'"),
        ("label:x", r"argument `sites`"),
        ("random", r"argument `sites`"),
        ("/no/such/a,/no/such/b", r"Site folder '/no/such/a' does not exist"),
    ],
)
def test_bad_specs_are_refused(spec, message):
    with pytest.raises(ValueError, match=message):
        parse_sites(spec)


def test_too_few_patients_and_cohorts_are_explained():
    with pytest.raises(ValueError, match="3 sites need at least 3 patients; the data has 2"):
        partition_sites(["a", "b"], [0, 1], "iid:3")
    with pytest.raises(ValueError, match=r"needs 4 patients of class 1; the data has 1"):
        partition_sites(["a", "b", "c", "d", "e"], [0, 0, 0, 0, 1], "label:2")
    with pytest.raises(ValueError, match=r"one site per naming cohort.*\['IM'\]"):
        partition_sites(["a", "b"], [0, 1], "cohort", cohorts=["IM", "person"])
    with pytest.raises(ValueError, match="argument `alpha`"):
        partition_sites(["a", "b"], [0, 1], "label:2", alpha=0)
