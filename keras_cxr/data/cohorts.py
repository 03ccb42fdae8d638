"""Acquisition cohorts in the Kermany file names, and splits that move the cohort mix.

The normal images of Kermany et al. (2018) come in two naming cohorts, `IM-…` and
`NORMAL2-IM-…`, which differ in how often a model over-calls them: 55 % of the training
normals are `NORMAL2`, 70 % of the test normals. A validation split drawn like the
training pool (`keras_cxr.data.split_by_patient`) hides that shift; the two splits here
expose it, still keeping every patient on one side:

- `cohort_matched_split`: validation patients chosen so that the validation normals hold
  a target share of one cohort (the test split's 70 % `NORMAL2`);
- `hold_out_cohort`: every normal of one cohort held out, so a model trained on the other
  cohort's normals is graded on normals it has never seen the like of.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from keras_cxr._validation import invalid_value
from keras_cxr.data.patients import split_by_patient

#: Cohort of pneumonia images (`person<N>_<kind>_<k>`).
PERSON = "person"
#: Cohort of names that follow no Kermany scheme.
UNKNOWN = "unknown"
#: Share of `NORMAL2` among the normals of the Kermany test split (163 of 234).
TEST_NORMAL2_SHARE = 0.70

_NORMAL_PREFIX = re.compile(r"^(NORMAL\d*)-IM-\d+", re.IGNORECASE)
_IM = re.compile(r"^IM-\d+", re.IGNORECASE)
_PERSON = re.compile(r"^person\d+_", re.IGNORECASE)


def image_cohort(filename: str) -> str:
    """The naming cohort of a Kermany chest X-ray file.

    Args:
        filename: A file name or path; only the final component is read.

    Returns:
        `"IM"` for `IM-0115-0001.jpeg`, the prefix in upper case for
        `NORMAL2-IM-0035-0001.jpeg` (`"NORMAL2"`), `"person"` for the pneumonia names
        `person1000_bacteria_2931.jpeg`, and `"unknown"` for anything else.

    Example:
        >>> keras_cxr.data.image_cohort("NORMAL2-IM-0035-0001.jpeg")
        'NORMAL2'
        >>> keras_cxr.data.image_cohort("train/NORMAL/IM-0115-0001.jpeg")
        'IM'
        >>> keras_cxr.data.image_cohort("scan.png")
        'unknown'
    """
    name = re.split(r"[\\/]", str(filename))[-1]
    match = _NORMAL_PREFIX.match(name)
    if match:
        return match.group(1).upper()
    if _IM.match(name):
        return "IM"
    if _PERSON.match(name):
        return PERSON
    return UNKNOWN


def cohort_share(cohorts: Sequence[str], labels: Sequence[int], cohort: str, label: int = 0):
    """The share of `cohort` among the items of class `label`, or None without any.

    Args:
        cohorts: Cohort of each item (`image_cohort`).
        labels: Label of each item.
        cohort: The cohort counted, e.g. `"NORMAL2"`.
        label: The class looked at. Defaults to 0 (NORMAL).

    Returns:
        A float in [0, 1], or None when no item has `label`.

    Example:
        >>> keras_cxr.data.cohort_share(["IM", "NORMAL2", "person"], [0, 0, 1], "NORMAL2")
        0.5
    """
    members = [c for c, y in zip(cohorts, labels, strict=True) if int(y) == label]
    return None if not members else sum(c == cohort for c in members) / len(members)


def cohort_matched_split(
    patients: Sequence[str],
    labels: Sequence[int],
    cohorts: Sequence[str],
    val_fraction: float,
    cohort: str = "NORMAL2",
    share: float = TEST_NORMAL2_SHARE,
    seed: int = 0,
) -> np.ndarray:
    """Chooses validation patients so that `share` of the validation normals are `cohort`.

    Pneumonia patients are split as by `keras_cxr.data.split_by_patient`. The validation
    normals number `round(val_fraction * normals)` images, of which `round(share * that)`
    come from `cohort` patients and the rest from the other normal patients, each drawn
    patient by patient in a seeded order until its count is reached (a cohort gives at
    most all of its patients but one). A patient's images never straddle the split. The
    share reached is within `max images of one patient / validation normals` of `share`
    when both cohorts have enough patients.

    Args:
        patients: Patient of each item.
        labels: Label of each item, 0 = NORMAL.
        cohorts: Cohort of each item (`image_cohort`).
        val_fraction: Share of the items moved to validation, in [0, 1).
        cohort: The cohort whose share among validation normals is set. Defaults to
            `"NORMAL2"`.
        share: Target share in [0, 1]. Defaults to `TEST_NORMAL2_SHARE` (0.70).
        seed: Seed of the draws. Defaults to 0.

    Returns:
        Boolean `(N,)`, True for validation items.

    Raises:
        ValueError: For a `val_fraction` outside [0, 1), a `share` outside [0, 1], or
            sequences of different lengths.

    Example:
        >>> names = ["IM-1-1", "IM-2-1", "NORMAL2-IM-1-1", "NORMAL2-IM-2-1", "NORMAL2-IM-3-1"]
        >>> cohorts = [keras_cxr.data.image_cohort(n) for n in names]
        >>> patients = [n.rsplit("-", 1)[0] for n in names]
        >>> keras_cxr.data.cohort_matched_split(patients, [0] * 5, cohorts, 0.4, share=1.0)
        array([False, False, False,  True,  True])
    """
    _check_lengths(patients=patients, labels=labels, cohorts=cohorts)
    if not 0 <= val_fraction < 1:
        raise invalid_value("val_fraction", "a float in [0, 1)", val_fraction)
    if not 0 <= share <= 1:
        raise invalid_value("share", "a float in [0, 1]", share)
    labels = np.asarray(labels, dtype=np.int64)
    is_val = np.zeros(len(labels), dtype=bool)
    others = np.flatnonzero(labels != 0)
    if len(others):
        is_val[others] = split_by_patient(
            [patients[i] for i in others], labels[others].tolist(), val_fraction, seed
        )
    normals = np.flatnonzero(labels == 0)
    wanted = round(val_fraction * len(normals))
    in_cohort = np.asarray([cohorts[i] == cohort for i in normals], dtype=bool)
    rng = np.random.default_rng([seed, 17])
    taken = _take_patients(patients, normals[in_cohort], round(share * wanted), rng)
    rest = _take_patients(patients, normals[~in_cohort], wanted - len(taken), rng)
    is_val[taken + rest] = True
    return is_val


def cohort_matched_subset(
    labels: Sequence[int],
    cohorts: Sequence[str],
    cohort: str = "NORMAL2",
    share: float = TEST_NORMAL2_SHARE,
    seed: int = 0,
) -> np.ndarray | None:
    """The items to keep so that `share` of the normals kept are `cohort`, dropping the fewest.

    For a split that is already drawn (a run's validation patients): every non-normal
    item stays, and normals of whichever side is over-represented are dropped, in a
    seeded order, until `cohort` makes `share` of the normals left (as near as whole
    images allow: within `1 / normals kept`).

    Args:
        labels: Label of each item, 0 = NORMAL.
        cohorts: Cohort of each item (`image_cohort`).
        cohort: The cohort whose share is set. Defaults to `"NORMAL2"`.
        share: Target share, in (0, 1). Defaults to `TEST_NORMAL2_SHARE` (0.70).
        seed: Seed of the order in which items are dropped. Defaults to 0.

    Returns:
        Sorted int64 indices of the items kept, or None when the normals are all of
        `cohort` or all of other cohorts (no mix can be matched).

    Raises:
        ValueError: For a `share` outside (0, 1) or sequences of different lengths.

    Example:
        >>> keras_cxr.data.cohort_matched_subset(
        ...     [0, 0, 0, 0, 1], ["IM", "IM", "IM", "NORMAL2", "person"], share=0.5)
        array([0, 3, 4])
    """
    _check_lengths(labels=labels, cohorts=cohorts)
    if not 0 < share < 1:
        raise invalid_value("share", "a float in (0, 1)", share)
    labels = np.asarray(labels, dtype=np.int64)
    normal = labels == 0
    inside = np.flatnonzero(normal & np.asarray([c == cohort for c in cohorts], dtype=bool))
    outside = np.flatnonzero(normal & ~np.isin(np.arange(len(labels)), inside))
    if not len(inside) or not len(outside):
        return None
    rng = np.random.default_rng([seed, 29])
    # Keep one side whole and as much of the other as the share allows.
    if len(inside) / (len(inside) + len(outside)) < share:
        outside = rng.permutation(outside)[: max(1, round(len(inside) * (1 - share) / share))]
    else:
        inside = rng.permutation(inside)[: max(1, round(len(outside) * share / (1 - share)))]
    kept = np.concatenate([np.flatnonzero(~normal), inside, outside])
    return np.sort(kept).astype(np.int64)


def hold_out_cohort(
    patients: Sequence[str],
    labels: Sequence[int],
    cohorts: Sequence[str],
    held_out: str = "NORMAL2",
    val_fraction: float = 0.1,
    shifted_fraction: float = 0.2,
    seed: int = 0,
) -> np.ndarray:
    """Assigns items to "train", "val" or "shifted", holding out one cohort of normals.

    Every normal of cohort `held_out` goes to "shifted". The other items are split by
    patient (`keras_cxr.data.split_by_patient`, stratified by label): first
    `shifted_fraction` of the pneumonia items go to "shifted" (so that the shifted fold
    has both classes), then `val_fraction` of what is left to "val". A model trained on
    "train" and thresholded on "val" (both without `held_out` normals) is then graded on
    "shifted", normals of a cohort it never saw: a fold that predicts cohort shift.

    Args:
        patients: Patient of each item.
        labels: Label of each item, 0 = NORMAL.
        cohorts: Cohort of each item (`image_cohort`).
        held_out: Cohort of normals held out. Defaults to `"NORMAL2"`.
        val_fraction: Share of the remaining items moved to "val", in (0, 1). Defaults to
            0.1.
        shifted_fraction: Share of the pneumonia items moved to "shifted", in (0, 1).
            Defaults to 0.2.
        seed: Seed of the splits. Defaults to 0.

    Returns:
        A `(N,)` array of str, each "train", "val" or "shifted".

    Raises:
        ValueError: For fractions outside (0, 1), sequences of different lengths, or no
            normal of cohort `held_out`.

    Example:
        >>> folds = keras_cxr.data.hold_out_cohort(patients, labels, cohorts, "NORMAL2")
        >>> sorted(set(folds))
        ['shifted', 'train', 'val']
    """
    _check_lengths(patients=patients, labels=labels, cohorts=cohorts)
    for argument, value in (("val_fraction", val_fraction), ("shifted_fraction", shifted_fraction)):
        if not 0 < value < 1:
            raise invalid_value(argument, "a float in (0, 1)", value)
    labels = np.asarray(labels, dtype=np.int64)
    held = np.asarray([c == held_out for c in cohorts]) & (labels == 0)
    if not held.any():
        raise invalid_value("held_out", "a cohort of some normal items", held_out)
    folds = np.full(len(labels), "train", dtype=object)
    folds[held] = "shifted"
    positives = np.flatnonzero(labels != 0)
    if len(positives):
        moved = split_by_patient(
            [patients[i] for i in positives], labels[positives].tolist(), shifted_fraction, seed
        )
        folds[positives[moved]] = "shifted"
    rest = np.flatnonzero(folds == "train")
    to_val = split_by_patient(
        [patients[i] for i in rest], labels[rest].tolist(), val_fraction, seed + 1
    )
    folds[rest[to_val]] = "val"
    return folds.astype(str)


def _take_patients(patients, items: np.ndarray, count: int, rng) -> list[int]:
    """Whole patients of `items`, in a seeded order, until `count` items (all but one)."""
    items_of: dict[str, list[int]] = defaultdict(list)
    for item in items:
        items_of[patients[item]].append(int(item))
    members = sorted(items_of)
    taken: list[int] = []
    for index in rng.permutation(len(members))[: max(len(members) - 1, 0)]:
        if len(taken) >= count:
            break
        taken += items_of[members[index]]
    return taken


def _check_lengths(**sequences: Sequence) -> None:
    lengths = {name: len(values) for name, values in sequences.items()}
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"len({name})={n}" for name, n in lengths.items())
        raise ValueError(f"The sequences must have one entry per item. Received {listed}.")
