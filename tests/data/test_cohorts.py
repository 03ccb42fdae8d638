"""`keras_cxr.data.cohorts`: naming cohorts and the splits that move their mix."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from keras_cxr.data import (
    cohort_matched_split,
    cohort_matched_subset,
    cohort_share,
    hold_out_cohort,
    image_cohort,
    patient_id,
)


@pytest.mark.parametrize(
    ("name", "cohort"),
    [
        ("IM-0115-0001.jpeg", "IM"),
        ("train/NORMAL/im-0429-0001-0002.jpeg", "IM"),
        ("NORMAL2-IM-0035-0001.jpeg", "NORMAL2"),
        ("C:\\data\\normal2-IM-1-1.jpeg", "NORMAL2"),
        ("NORMAL3-IM-7-1.png", "NORMAL3"),
        ("person1000_bacteria_2931.jpeg", "person"),
        ("person447_virus_921_1.jpeg", "person"),
        ("scan_001.png", "unknown"),
        ("NORMAL2.jpeg", "unknown"),
    ],
)
def test_image_cohort_reads_the_naming_scheme(name, cohort):
    assert image_cohort(name) == cohort


@given(normal2=st.booleans(), patient=st.integers(0, 9999), image=st.integers(0, 9999))
def test_cohort_of_generated_normal_names(normal2, patient, image):
    name = f"{'NORMAL2-' if normal2 else ''}IM-{patient:04d}-{image:04d}.jpeg"
    assert image_cohort(name) == ("NORMAL2" if normal2 else "IM")
    assert patient_id(name).startswith("NORMAL2-IM" if normal2 else "IM")


def _pool(rng, normal2_patients, im_patients, pneumonia_patients, max_images=3):
    """Kermany-like names: (patients, labels, cohorts) with 1..max_images per patient."""
    patients, labels, cohorts = [], [], []
    groups = (
        ("NORMAL2-IM", 0, "NORMAL2", normal2_patients),
        ("IM", 0, "IM", im_patients),
        ("person", 1, "person", pneumonia_patients),
    )
    for prefix, label, cohort, count in groups:
        for p in range(count):
            for _ in range(int(rng.integers(1, max_images + 1))):
                patients.append(f"{prefix}-{p}")
                labels.append(label)
                cohorts.append(cohort)
    return patients, labels, cohorts


def _patients_whole(patients, mask) -> bool:
    sides = defaultdict(set)
    for patient, side in zip(patients, mask):
        sides[patient].add(str(side))
    return all(len(s) == 1 for s in sides.values())


@settings(max_examples=40, deadline=None)
@given(
    normal2=st.integers(20, 120),
    im=st.integers(20, 120),
    pneumonia=st.integers(5, 60),
    share=st.floats(0.2, 0.8),
    seed=st.integers(0, 1000),
)
def test_cohort_matched_split_keeps_patients_whole_and_hits_the_share(
    normal2, im, pneumonia, share, seed
):
    # Only pools where the share is reachable while both cohorts keep at least half their
    # patients for training (3 images at most a patient: 2 on average).
    assume(share * 0.2 * (normal2 + im) <= 0.5 * normal2)
    assume((1 - share) * 0.2 * (normal2 + im) <= 0.5 * im)
    patients, labels, cohorts = _pool(np.random.default_rng(seed), normal2, im, pneumonia)
    is_val = cohort_matched_split(patients, labels, cohorts, 0.2, share=share, seed=seed)
    assert _patients_whole(patients, is_val)
    val_labels = np.asarray(labels)[is_val]
    val_cohorts = [c for c, v in zip(cohorts, is_val) if v]
    normals = int((val_labels == 0).sum())
    # Whole patients of at most 3 images: the share is off by at most 2 images a side.
    assert abs(normals - round(0.2 * labels.count(0))) <= 2
    assert abs(cohort_share(val_cohorts, val_labels, "NORMAL2") - share) <= 4 / normals
    # Both cohorts keep normals in training.
    train_cohorts = {c for c, v, y in zip(cohorts, is_val, labels) if not v and y == 0}
    assert train_cohorts == {"IM", "NORMAL2"}


def test_cohort_matched_split_moves_the_share_a_plain_split_keeps():
    rng = np.random.default_rng(0)
    patients, labels, cohorts = _pool(rng, 200, 200, 100, max_images=1)
    is_val = cohort_matched_split(patients, labels, cohorts, 0.25, share=0.7, seed=1)
    val = [(c, y) for c, y, v in zip(cohorts, labels, is_val) if v]
    share = cohort_share([c for c, _ in val], [y for _, y in val], "NORMAL2")
    assert share == pytest.approx(0.7, abs=0.01)
    assert abs(sum(y for _, y in val) - 25) <= 1  # pneumonia split as split_by_patient


@settings(max_examples=40, deadline=None)
@given(inside=st.integers(1, 60), outside=st.integers(1, 60), share=st.floats(0.1, 0.9))
def test_cohort_matched_subset_drops_only_normals_and_matches_the_share(inside, outside, share):
    labels = [0] * (inside + outside) + [1] * 5
    cohorts = ["NORMAL2"] * inside + ["IM"] * outside + ["person"] * 5
    kept = cohort_matched_subset(labels, cohorts, share=share, seed=3)
    assert set(range(inside + outside, len(labels))) <= set(kept.tolist())
    kept_labels = np.asarray(labels)[kept]
    reached = cohort_share([cohorts[i] for i in kept], kept_labels, "NORMAL2")
    normals = int((kept_labels == 0).sum())
    assert (
        abs(reached - share) <= 1 / normals + 1e-9 or min(inside, outside) == 1
    )  # a single image on the short side is kept whole
    # One side is never cut: the fewest images are dropped.
    assert (np.asarray(cohorts)[kept] == "NORMAL2").sum() == inside or (
        np.asarray(cohorts)[kept] == "IM"
    ).sum() == outside


def test_cohort_matched_subset_needs_both_cohorts():
    assert cohort_matched_subset([0, 0, 1], ["IM", "IM", "person"]) is None


def test_hold_out_cohort_grades_a_cohort_never_trained_on():
    rng = np.random.default_rng(0)
    patients, labels, cohorts = _pool(rng, 50, 50, 80)
    folds = hold_out_cohort(patients, labels, cohorts, "NORMAL2", 0.1, 0.2, seed=0)
    assert set(folds) == {"train", "val", "shifted"}
    assert _patients_whole(patients, folds)
    by_fold = defaultdict(set)
    for fold, cohort, label in zip(folds, cohorts, labels):
        by_fold[fold].add((cohort, label))
    assert by_fold["shifted"] == {("NORMAL2", 0), ("person", 1)}
    assert ("NORMAL2", 0) not in by_fold["train"] | by_fold["val"]
    assert by_fold["val"] == {("IM", 0), ("person", 1)}
    positives = np.asarray(labels) == 1
    shifted_share = np.mean(folds[positives] == "shifted")
    assert shifted_share == pytest.approx(0.2, abs=0.05)


def test_invalid_arguments_name_the_argument():
    with pytest.raises(ValueError, match="`share`"):
        cohort_matched_split(["a"], [0], ["IM"], 0.1, share=1.5)
    with pytest.raises(ValueError, match="`val_fraction`"):
        cohort_matched_split(["a"], [0], ["IM"], 1.0)
    with pytest.raises(ValueError, match=r"len\(patients\)=2, len\(labels\)=1"):
        cohort_matched_split(["a", "b"], [0], ["IM", "IM"], 0.1)
    with pytest.raises(ValueError, match="`held_out`"):
        hold_out_cohort(["a", "b"], [0, 1], ["IM", "person"], "NORMAL2")
    with pytest.raises(ValueError, match="`shifted_fraction`"):
        hold_out_cohort(["a"], [0], ["IM"], "IM", shifted_fraction=0)
