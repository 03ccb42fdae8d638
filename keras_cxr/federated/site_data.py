"""`load_sites`: each site's decoded training and validation images, and the held-out test.

A simulated federation (`iid:K`, `label:K`, `cohort`) reads one Kermany-layout folder:
the folder's `test/` (or, for a folder without one, `test_fraction` of its patients) is
held out for the final evaluation, and the rest is cut into sites by patient
(`keras_cxr.federated.partition_sites`); each site then splits its own patients into
training and validation (`keras_cxr.data.split_by_patient`, plus one validation patient
for a class whose share rounds to none), as a hospital would. Real sites are one folder
each, split by `keras_cxr.data.load_image_splits` as `train` splits a folder; a site's own
`test/` is evaluated at the site.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from keras_cxr.data.cohorts import image_cohort
from keras_cxr.data.image_splits import ImageSet, ImageSplits, load_image_splits
from keras_cxr.data.index import ScannedIndex, scan_chest_xray
from keras_cxr.data.patients import split_by_patient
from keras_cxr.federated.sites import parse_sites, partition_sites


@dataclass
class Site:
    """One site of a federation: its name and its decoded images.

    Attributes:
        name: `"site1"`…, a cohort name, or the folder name of a real site.
        splits: The site's `train` and `val` images (and `test` for a real site with
            one); they never leave the site.

    Example:
        >>> sites, held_out = keras_cxr.federated.load_sites("chest_xray", "iid:3")
        >>> sites[0].name, len(sites[0].splits.train)
        ('site1', 1565)
    """

    name: str
    splits: ImageSplits


def load_sites(
    data: str | os.PathLike | None,
    sites: str,
    image_size: int = 128,
    val_fraction: float = 0.1,
    test_fraction: float = 0.0,
    seed: int = 0,
    alpha: float = 0.5,
    max_images: int | None = None,
    progress: bool = False,
) -> tuple[list[Site], ImageSet | None]:
    """Loads the sites of a federation and the held-out test images.

    Args:
        data: The Kermany-layout folder a simulated partition cuts up; ignored (may be
            None) for real site folders.
        sites: `"iid:K"`, `"label:K"`, `"cohort"` or `"DIR,DIR,..."` (see
            `keras_cxr.federated.parse_sites`).
        image_size: Side of the square images. Defaults to 128.
        val_fraction: Share of each site's images moved to its validation split by
            patient. Defaults to 0.1.
        test_fraction: For a simulated partition of a folder without `test/`: share of
            the patients held out for the final test. Defaults to 0.
        seed: Seed of the partition and of the splits. Defaults to 0.
        alpha: Dirichlet concentration of `label:K`. Defaults to 0.5.
        max_images: At most this many images per split of each site (quick runs).
        progress: Show decoding progress. Defaults to False.

    Returns:
        `(sites, held_out)`: one `Site` per site, and the held-out test images of a
        simulated partition (None for real sites, or a folder without a test split).

    Raises:
        ValueError: For a bad `sites` value, data too small for the partition, or a
            site whose training or validation split lacks a class.
        FileNotFoundError: If a folder is missing.

    Example:
        >>> sites, held_out = keras_cxr.federated.load_sites("chest_xray", "label:3")
    """
    kind, parsed = parse_sites(sites)
    options = {
        "image_size": image_size,
        "val_fraction": val_fraction,
        "seed": seed,
        "max_images": max_images,
        "progress": progress,
    }
    if kind == "folders":
        loaded = [
            Site(_unique_name(folder, parsed), load_image_splits(folder, **options))
            for folder in parsed
        ]
        return _checked(loaded), None
    if data is None:
        raise ValueError(f"--sites {sites} partitions one folder: pass it as `data` (--data).")
    scanned = scan_chest_xray(data, "binary", 0.0, seed)
    pool, test = scanned.split("train"), scanned.split("test")
    if test_fraction and not test:
        is_test = split_by_patient(
            [r.patient for r in pool], [r.label for r in pool], test_fraction, seed + 1
        )
        test = [dataclasses.replace(r, split="test") for r, held in zip(pool, is_test) if held]
        pool = [r for r, held in zip(pool, is_test) if not held]
    parts = partition_sites(
        [r.patient for r in pool],
        [r.label for r in pool],
        sites,
        cohorts=[image_cohort(r.path.name) for r in pool],
        seed=seed,
        alpha=alpha,
    )
    loaded = []
    for name, items in parts.items():
        records = [pool[i] for i in items]
        is_val = _site_validation(records, val_fraction, seed)
        records = [
            dataclasses.replace(r, split="val" if val else "train")
            for r, val in zip(records, is_val)
        ]
        index = ScannedIndex(records, [], scanned.class_names)
        loaded.append(Site(name, load_image_splits(data, index=index, **options)))
    held_out = None
    if test:
        index = ScannedIndex(test, [], scanned.class_names)
        held_out = load_image_splits(data, index=index, **options).test
    return _checked(loaded), held_out


def _site_validation(records, val_fraction: float, seed: int) -> np.ndarray:
    """`split_by_patient`, then one patient more for a class left without validation images.

    A small, skewed site may hold so few images of a class that its share rounds to no
    validation patient; the site then could not grade or threshold that class.
    """
    patients, labels = [r.patient for r in records], [r.label for r in records]
    is_val = split_by_patient(patients, labels, val_fraction, seed)
    rng = np.random.default_rng(seed)
    for label in sorted(set(labels)):
        if any(v and y == label for v, y in zip(is_val, labels)):
            continue
        candidates = sorted(
            {p for p, y, v in zip(patients, labels, is_val) if y == label and not v}
        )
        if len(candidates) >= 2:  # training keeps at least one
            chosen = candidates[rng.integers(len(candidates))]
            is_val |= np.asarray([p == chosen for p in patients])
    return is_val


def _unique_name(folder: Path, folders: list[Path]) -> str:
    """The folder's name, or its path when two sites share a name."""
    names = [f.name for f in folders]
    return folder.name if names.count(folder.name) == 1 else os.fspath(folder)


def _checked(sites: list[Site]) -> list[Site]:
    for site in sites:
        for split in ("train", "val"):
            part = getattr(site.splits, split)
            classes = 0 if part is None else len(set(part.labels.tolist()))
            if classes < len(site.splits.class_names):
                raise ValueError(
                    f"Site {site.name!r} has {0 if part is None else len(part)} {split} images "
                    f"of {classes} class(es); every site needs both classes in training and "
                    "validation. Use fewer sites, a larger alpha, or more data."
                )
    return sites


def load_sites_of(config: Any) -> tuple[list[Site], ImageSet | None]:
    """`load_sites` with the settings of a `keras_cxr.federated.FederatedConfig`.

    Args:
        config: The federation's settings (its data, sites, fractions, seed, alpha and
            image cap, and its recipe's image size).

    Returns:
        `(sites, held_out)`, as `load_sites` returns them.

    Raises:
        ValueError, FileNotFoundError: As `load_sites` raises.

    Example:
        >>> config = keras_cxr.federated.FederatedConfig("chest_xray", "iid:3")
        >>> sites, held_out = keras_cxr.federated.site_data.load_sites_of(config)
    """
    return load_sites(
        config.data,
        config.sites,
        config.train_config().image_size,
        config.val_fraction,
        config.test_fraction,
        config.seed,
        config.alpha,
        config.max_images,
    )


__all__ = ["Site", "load_sites", "load_sites_of"]
