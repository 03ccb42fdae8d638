"""Patients in the Kermany chest X-ray file names, and splits that keep each patient whole."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np

from keras_cxr._validation import invalid_value

# `person1000_bacteria_2931.jpeg`, `person447_virus_921_1.jpeg` -> `person1000`, `person447`.
_PERSON = re.compile(r"^(person\d+)_(?:bacteria|virus)(?:_\d+)+$", re.IGNORECASE)
# `IM-0115-0001.jpeg`, `IM-0429-0001-0002.jpeg`, `NORMAL2-IM-0035-0001.jpeg`.
_IM = re.compile(r"^((?:NORMAL\d*-)?IM-\d+)(?:-\d+)+$", re.IGNORECASE)


def patient_id(filename: str) -> str | None:
    """Reads the patient out of a Kermany chest X-ray file name.

    The Kermany et al. (2018) data set names pneumonia images `person<N>_<kind>_<k>` and
    normal images `IM-<N>-<k>` or `NORMAL2-IM-<N>-<k>`, where the part before the last
    number(s) identifies the child. Several images of one child must stay in one split, or a
    model is graded on patients it has already seen.

    Args:
        filename: A file name or path; only the final component is read, and its extension
            is ignored.

    Returns:
        The patient, spelled as in the file name (`"person1000"`, `"IM-0115"`,
        `"NORMAL2-IM-0035"`), or `None` when the name follows neither scheme.

    Example:
        >>> keras_cxr.data.patient_id("person1000_bacteria_2931.jpeg")
        'person1000'
        >>> keras_cxr.data.patient_id("NORMAL2-IM-0035-0001.jpeg")
        'NORMAL2-IM-0035'
        >>> keras_cxr.data.patient_id("scan_001.png") is None
        True
    """
    stem = re.split(r"[\\/]", filename)[-1].rsplit(".", 1)[0]
    for pattern in (_PERSON, _IM):
        match = pattern.match(stem)
        if match:
            return match.group(1)
    return None


def split_by_patient(
    patients: Sequence[str],
    strata: Sequence[int],
    val_fraction: float,
    seed: int = 0,
) -> np.ndarray:
    """Chooses validation items so that no patient has items on both sides.

    Patients are grouped by their most common stratum (their label; ties go to the smaller
    stratum). Within each stratum the patients are shuffled with `seed` and moved to
    validation one by one until the stratum's validation share reaches
    `round(val_fraction * n_items_in_stratum)` items, so every label keeps about the same
    proportion on both sides. A stratum never gives its last patient away, so training
    always sees every label. The result depends only on the set of (patient, stratum)
    pairs and `seed`, not on their order.

    Args:
        patients: Patient of each item.
        strata: Stratum (integer label) of each item, same length as `patients`.
        val_fraction: Target share of validation items, in [0, 1).
        seed: Seed of the shuffle.

    Returns:
        A boolean array of shape `(len(patients),)`, True for validation items.

    Raises:
        ValueError: `val_fraction` is outside [0, 1) or the two sequences differ in length.

    Example:
        >>> keras_cxr.data.split_by_patient(["a", "a", "b", "c"], [0, 0, 0, 0], 0.5)
        array([ True,  True, False,  True])
    """
    if not 0 <= val_fraction < 1:
        raise invalid_value("val_fraction", "a float in [0, 1)", val_fraction)
    if len(patients) != len(strata):
        raise ValueError(
            f"`patients` and `strata` must have one entry per item. Received "
            f"len(patients)={len(patients)} and len(strata)={len(strata)}."
        )
    items_of: dict[str, list[int]] = defaultdict(list)
    for item, patient in enumerate(patients):
        items_of[patient].append(item)
    stratum_of = {
        patient: min(Counter(strata[i] for i in items).most_common(), key=lambda c: (-c[1], c[0]))[
            0
        ]
        for patient, items in items_of.items()
    }
    rng = np.random.default_rng(seed)
    is_val = np.zeros(len(patients), dtype=bool)
    for stratum in sorted(set(stratum_of.values())):
        members = sorted(patient for patient, s in stratum_of.items() if s == stratum)
        target = round(val_fraction * sum(len(items_of[p]) for p in members))
        taken = 0
        for index in rng.permutation(len(members))[: len(members) - 1]:
            if taken >= target:
                break
            items = items_of[members[index]]
            is_val[items] = True
            taken += len(items)
    return is_val
