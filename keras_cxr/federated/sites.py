"""`partition_sites`: simulated hospitals cut out of one Kermany folder, each patient whole.

Federated learning is studied on one data set split into "sites". How the split is drawn
decides how different the sites are, and so how much federated training loses against
training on the pooled data:

- `iid:K`: patients dealt at random to `K` sites, class by class, so every site sees about
  the same label mix (the easy case).
- `label:K`: label skew. For each class, the share of its patients that each site gets is
  drawn from a Dirichlet distribution with concentration `alpha` (small `alpha`, strong
  skew), after each site has received `min_patients_per_class` patients of every class, so
  that each site can still train and choose a threshold on its own validation split.
- `cohort`: one site per naming cohort of the normal images (`IM-…`, `NORMAL2-IM-…`, see
  `keras_cxr.data.image_cohort`), the closest the Kermany names come to two acquisition
  sites; the pneumonia patients, whose names carry no cohort, are dealt to them at random.

Every split keeps each patient's images on one site. Real sites (one folder per hospital)
need no partition: `parse_sites` returns their folders.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from keras_cxr._validation import invalid_value
from keras_cxr.data.cohorts import PERSON, UNKNOWN

#: The simulated partitions `partition_sites` draws.
KINDS = ("iid", "label", "cohort")

_SPEC_HELP = "'iid:K', 'label:K', 'cohort' or comma-separated site folders 'DIR,DIR'"


def parse_sites(spec: str) -> tuple[str, int | list[Path]]:
    """Reads a `--sites` value: a simulated partition or the folders of real sites.

    Args:
        spec: `"iid:K"` or `"label:K"` (K >= 2 sites), `"cohort"`, or at least two
            comma-separated folders, one Kermany-layout folder per site.

    Returns:
        `(kind, sites)`: `("iid" | "label", K)`, `("cohort", 0)` (the count comes from the
        data), or `("folders", [Path, ...])`.

    Raises:
        ValueError: For anything else, or a folder that does not exist.

    Example:
        >>> keras_cxr.federated.parse_sites("label:3")
        ('label', 3)
        >>> keras_cxr.federated.parse_sites("cohort")
        ('cohort', 0)
    """
    text = str(spec).strip()
    kind, _, count = text.partition(":")
    if kind in ("iid", "label"):
        if not count.isdigit() or int(count) < 2:
            raise invalid_value("sites", f"{_SPEC_HELP}, with K >= 2", spec)
        return kind, int(count)
    if text == "cohort":
        return "cohort", 0
    folders = [Path(part.strip()) for part in text.split(",") if part.strip()]
    if len(folders) < 2:
        raise invalid_value("sites", _SPEC_HELP, spec)
    missing = [os.fspath(folder) for folder in folders if not folder.is_dir()]
    if missing:
        raise ValueError(
            f"Site folder {missing[0]!r} does not exist. Pass one Kermany-layout folder per "
            f"site, or a simulated partition: {_SPEC_HELP}."
        )
    return "folders", folders


def partition_sites(
    patients: Sequence[str],
    labels: Sequence[int],
    spec: str,
    cohorts: Sequence[str] | None = None,
    seed: int = 0,
    alpha: float = 0.5,
    min_patients_per_class: int = 2,
) -> dict[str, np.ndarray]:
    """Splits items into simulated sites by patient: IID, by label (Dirichlet) or by cohort.

    See the module docstring for the three partitions. A patient's class is the most common
    label of their images (ties go to the smaller label). The result depends only on the
    set of (patient, label, cohort) items and `seed`, not on their order.

    Args:
        patients: Patient of each item (`keras_cxr.data.patient_id`).
        labels: Integer label of each item.
        spec: `"iid:K"`, `"label:K"` or `"cohort"` (see `parse_sites`).
        cohorts: Naming cohort of each item (`keras_cxr.data.image_cohort`); needed for
            `"cohort"`.
        seed: Seed of the shuffles and of the Dirichlet draws. Defaults to 0.
        alpha: Dirichlet concentration of `"label:K"`, > 0. Defaults to 0.5.
        min_patients_per_class: Patients of every class each `"label:K"` site receives
            before the Dirichlet draw. Defaults to 2 (one for training, one for validation).

    Returns:
        Site name → sorted item indices (int64). Sites are `"site1"`… for `iid` and
        `label`, the cohort names for `cohort`. Every item is in exactly one site.

    Raises:
        ValueError: For a bad spec or `alpha`, sequences of different lengths, fewer
            patients than sites (per class for `label:K`), or fewer than two cohorts of
            normal images for `cohort`.

    Example:
        >>> sites = keras_cxr.federated.partition_sites(
        ...     ["a", "a", "b", "c", "d"], [0, 0, 1, 0, 1], "iid:2")
        >>> sorted(sites), sum(len(items) for items in sites.values())
        (['site1', 'site2'], 5)
    """
    if len(patients) != len(labels) or (cohorts is not None and len(cohorts) != len(labels)):
        raise ValueError(
            "`patients`, `labels` and `cohorts` must have one entry per item. Received "
            f"lengths {len(patients)}, {len(labels)} and "
            f"{'None' if cohorts is None else len(cohorts)}."
        )
    kind, count = parse_sites(spec)
    if kind == "folders":
        raise invalid_value("spec", "'iid:K', 'label:K' or 'cohort'", spec)
    if not alpha > 0:
        raise invalid_value("alpha", "a float > 0", alpha)
    items_of: dict[str, list[int]] = defaultdict(list)
    for item, patient in enumerate(patients):
        items_of[patient].append(item)
    label_of = {
        p: min(Counter(int(labels[i]) for i in items).items(), key=lambda c: (-c[1], c[0]))[0]
        for p, items in items_of.items()
    }
    rng = np.random.default_rng(seed)
    if kind == "iid":
        if len(items_of) < count:
            raise ValueError(
                f"{count} sites need at least {count} patients; the data has "
                f"{len(items_of)}. Use fewer sites."
            )
        site_of = _deal(sorted(items_of), label_of, [f"site{k + 1}" for k in range(count)], rng)
    elif kind == "label":
        site_of = _dirichlet(sorted(items_of), label_of, count, alpha, min_patients_per_class, rng)
    else:
        if cohorts is None:
            raise ValueError(
                "The 'cohort' partition needs `cohorts` (keras_cxr.data.image_cohort)."
            )
        site_of = _by_cohort(items_of, label_of, cohorts, rng)
    sites: dict[str, list[int]] = defaultdict(list)
    for patient, items in items_of.items():
        sites[site_of[patient]] += items
    return {
        name: np.asarray(sorted(sites[name]), np.int64) for name in sorted(set(site_of.values()))
    }


def _deal(patients: list[str], label_of: dict, names: list[str], rng) -> dict[str, str]:
    """Each class's patients shuffled and dealt round robin, continuing from site to site."""
    site_of, turn = {}, 0
    for label in sorted(set(label_of.values())):
        members = [p for p in patients if label_of[p] == label]
        for index in rng.permutation(len(members)):
            site_of[members[index]] = names[turn % len(names)]
            turn += 1
    return site_of


def _dirichlet(patients, label_of, count, alpha, minimum, rng) -> dict[str, str]:
    names = [f"site{k + 1}" for k in range(count)]
    site_of = {}
    for label in sorted(set(label_of.values())):
        members = [p for p in patients if label_of[p] == label]
        if len(members) < minimum * count:
            raise ValueError(
                f"label:{count} gives each site {minimum} patients of every class first, which "
                f"needs {minimum * count} patients of class {label}; the data has "
                f"{len(members)}. Use fewer sites, or iid:{count}."
            )
        order = [members[i] for i in rng.permutation(len(members))]
        for k in range(minimum * count):
            site_of[order[k]] = names[k % count]
        rest = order[minimum * count :]
        shares = rng.dirichlet(np.full(count, float(alpha)))
        cuts = np.floor(np.cumsum(shares)[:-1] * len(rest)).astype(int)
        for name, part in zip(names, np.split(np.arange(len(rest)), cuts)):
            for index in part:
                site_of[rest[index]] = name
    return site_of


def _by_cohort(items_of, label_of, cohorts, rng) -> dict[str, str]:
    cohort_of = {p: str(cohorts[items[0]]) for p, items in items_of.items()}
    names = sorted(
        {c for p, c in cohort_of.items() if label_of[p] == 0 and c not in (PERSON, UNKNOWN)}
    )
    if len(names) < 2:
        raise ValueError(
            "The 'cohort' partition makes one site per naming cohort of the normal images "
            f"(IM, NORMAL2, ...); the data has {names or 'none'}. Use iid:K or label:K."
        )
    fixed = {p: c for p, c in cohort_of.items() if c in names}
    rest = sorted(p for p in items_of if p not in fixed)
    return {**fixed, **(_deal(rest, label_of, names, rng) if rest else {})}


__all__ = ["KINDS", "parse_sites", "partition_sites"]
