"""Where a trained model comes from: its version record and a summary of its training data.

`train` stores both in the model file's metadata (`keras_cxr.models.read_metadata`):
`"version"` names the model (its fingerprint), the run that made it (the training
config's hash, the creation time, the package versions) and what it was trained from
(`"parent"`: the weights file it started from, with that file's fingerprint where it is
a keras_cxr model); `"training_data"` counts images, patients, classes and naming cohorts
per split. `keras-cxr models` lists models by these fields and model cards show them.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import os
from collections import Counter
from pathlib import Path
from typing import Any

import keras

import keras_cxr
from keras_cxr.data.cohorts import image_cohort
from keras_cxr.data.image_splits import ImageSet, ImageSplits
from keras_cxr.models.fingerprint import model_fingerprint
from keras_cxr.models.metadata import read_metadata

#: The frameworks whose versions a model's record keeps, where installed.
FRAMEWORKS = ("keras", "tensorflow", "jax", "torch", "numpy")


def package_versions() -> dict[str, str]:
    """The versions of keras_cxr, Keras's backend and the frameworks installed here.

    Returns:
        `{"keras_cxr": "0.1.0", "backend": "tensorflow", "keras": "3.15.1", ...}`, with
        only the frameworks of `FRAMEWORKS` that are installed.

    Example:
        >>> keras_cxr.training.provenance.package_versions()["keras_cxr"]
        '0.1.0'
    """
    versions = {"keras_cxr": keras_cxr.__version__, "backend": keras.backend.backend()}
    for name in FRAMEWORKS:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def parent_record(weights: str | os.PathLike | None) -> dict[str, Any] | None:
    """What a model was trained from: None for random or ImageNet weights, else the file.

    Args:
        weights: `TrainConfig.weights`: `"imagenet"`, None or a weights file.

    Returns:
        None, or `{"path": ..., "fingerprint": ...}`, the fingerprint being the one in
        the file's metadata when it is a keras_cxr `.keras` model (None otherwise).

    Example:
        >>> keras_cxr.training.provenance.parent_record("imagenet") is None
        True
    """
    if weights is None or weights == "imagenet":
        return None
    path = Path(weights)
    fingerprint = None
    if path.suffix == ".keras" and path.is_file():
        fingerprint = read_metadata(path).get("version", {}).get("fingerprint")
    return {"path": str(path.resolve()), "fingerprint": fingerprint}


def version_record(model: keras.Model, config_hash: str, weights: Any) -> dict[str, Any]:
    """A trained model's version record, stored as metadata key `"version"`.

    Args:
        model: The trained model (its weights are hashed: `keras_cxr.models.model_fingerprint`).
        config_hash: `TrainConfig.fingerprint()` of the run.
        weights: `TrainConfig.weights`, for `parent_record`.

    Returns:
        `{"fingerprint", "config_hash", "parent", "created", "packages"}`; `created` is
        UTC in ISO 8601 to the second.

    Example:
        >>> record = keras_cxr.training.provenance.version_record(model, "ab12", None)
        >>> sorted(record)
        ['config_hash', 'created', 'fingerprint', 'packages', 'parent']
    """
    created = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    return {
        "fingerprint": model_fingerprint(model),
        "config_hash": config_hash,
        "parent": parent_record(weights),
        "created": created,
        "packages": package_versions(),
    }


def split_summary(images: ImageSet, class_names: tuple[str, ...]) -> dict[str, Any]:
    """Counts of one split: images, patients, images per class and per naming cohort.

    Args:
        images: The split.
        class_names: Names of the labels, in label order.

    Returns:
        `{"images": n, "patients": p, "classes": {...}, "cohorts": {...}}`; images whose
        patient cannot be read from the file name count as one patient each.

    Example:
        >>> keras_cxr.training.provenance.split_summary(splits.val, splits.class_names)
        {'images': 520, 'patients': 410, 'classes': {...}, 'cohorts': {...}}
    """
    labels = Counter(int(label) for label in images.labels)
    patients = {p if p is not None else str(path) for p, path in zip(images.patients, images.paths)}
    cohorts = Counter(image_cohort(path.name) for path in images.paths)
    return {
        "images": len(images),
        "patients": len(patients),
        "classes": {name: labels.get(i, 0) for i, name in enumerate(class_names)},
        "cohorts": dict(sorted(cohorts.items())),
    }


def training_data_summary(splits: ImageSplits, data: Any, split_rule: str) -> dict[str, Any]:
    """The training data of a run, stored as metadata key `"training_data"`.

    Args:
        splits: The run's splits.
        data: The data folder the run read.
        split_rule: How the splits were made, in words.

    Returns:
        `{"folder", "split", "skipped", "splits": {"train": ..., "val": ..., "test": ...}}`
        with `split_summary` for each split present.

    Example:
        >>> summary = keras_cxr.training.provenance.training_data_summary(
        ...     splits, "chest_xray", "by patient")
        >>> summary["splits"]["train"]["images"]
        4172
    """
    parts = {"train": splits.train, "val": splits.val, "test": splits.test}
    return {
        "folder": None if data is None else str(Path(data).resolve()),
        "split": split_rule,
        "skipped": len(splits.skipped),
        "splits": {
            name: split_summary(part, splits.class_names)
            for name, part in parts.items()
            if part is not None
        },
    }


__all__ = [
    "package_versions",
    "parent_record",
    "split_summary",
    "training_data_summary",
    "version_record",
]
