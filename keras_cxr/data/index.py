"""The index of a Kermany-layout folder: one record per image with its label, patient and split."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from keras_cxr._validation import invalid_value
from keras_cxr.data._layout import ImageFile, find_image_files
from keras_cxr.data.labels import CLASS_NAMES, kermany_label
from keras_cxr.data.patients import patient_id, split_by_patient
from keras_cxr.data.scan import scan_images


@dataclass(frozen=True)
class IndexRecord:
    """One image of a chest X-ray data set and where it goes.

    Attributes:
        path: Path of the image file.
        label: Class index into `ChestXRay.class_names` (0 is NORMAL).
        patient: The patient the image belongs to (see `keras_cxr.data.patient_id`); a file
            whose name encodes no patient is its own patient, named by its relative path.
        split: "train", "val" or "test".

    Example:
        >>> record = keras_cxr.data.index_chest_xray("chest_xray")[0]
        >>> record.patient, record.split
        ('IM-0001', 'test')
    """

    path: Path
    label: int
    patient: str
    split: str


def index_chest_xray(
    root: str | os.PathLike,
    label_mode: str = "binary",
    val_fraction: float = 0.1,
    seed: int = 0,
) -> list[IndexRecord]:
    """Indexes a Kermany-layout folder without opening any image.

    Files of `root/test/` form the test split. Files of `root/train/` and of the official
    `root/val/` (only 16 images in Kermany et al.) are pooled, and `val_fraction` of the pool
    is moved to validation by patient with `keras_cxr.data.split_by_patient`, so no patient
    is in two splits. Pool files of a patient who also has test images are left out (with a
    warning) for the same reason. Names that encode no patient make each file its own
    patient, with one warning. This is the first step of `keras_cxr.data.load_chest_xray`,
    which also checks that every file decodes.

    Args:
        root: Folder laid out as `root/{train,test,val}/{NORMAL,PNEUMONIA}/`.
        label_mode: "binary" or "categorical" (NORMAL=0, PNEUMONIA=1), or "three_class"
            (NORMAL=0, BACTERIAL=1, VIRAL=2, read from "bacteria" / "virus" in the name).
        val_fraction: Share of the pooled train and val images moved to validation, in
            [0, 1). Defaults to 0.1.
        seed: Seed of the patient split. Defaults to 0.

    Returns:
        One `keras_cxr.data.IndexRecord` per usable file, sorted by path.

    Raises:
        FileNotFoundError: `root` or a class folder is missing.
        ValueError: bad argument, no split folder, folders differing only by case, or an
            empty class folder.

    Example:
        >>> records = keras_cxr.data.index_chest_xray("chest_xray", val_fraction=0.1)
        >>> sorted({r.split for r in records})
        ['test', 'train', 'val']
    """
    _check_split_arguments(label_mode, val_fraction)
    records, dropped = _build_index(find_image_files(root), label_mode, val_fraction, seed)
    if dropped:
        warnings.warn(_summarize_skipped(dropped, len(records) + len(dropped)), stacklevel=2)
    return records


@dataclass(frozen=True)
class ScannedIndex:
    """The usable images of a chest X-ray folder, split by patient, and what was left out.

    Attributes:
        records: One `keras_cxr.data.IndexRecord` per usable image, sorted by path.
        skipped: `(path, reason)` of every file left out (unreadable, or unusable for the
            split).
        class_names: Name of each label, e.g. `("NORMAL", "PNEUMONIA")`.

    Example:
        >>> scanned = keras_cxr.data.scan_chest_xray("chest_xray")
        >>> len(scanned.records), len(scanned.skipped)
        (5856, 0)
    """

    records: list[IndexRecord]
    skipped: list[tuple[Path, str]]
    class_names: tuple[str, ...]

    def split(self, name: str) -> list[IndexRecord]:
        """The records of split `name` ("train", "val" or "test")."""
        return [record for record in self.records if record.split == name]


def scan_chest_xray(
    root: str | os.PathLike,
    label_mode: str = "binary",
    val_fraction: float = 0.1,
    seed: int = 0,
    strict: bool = False,
) -> ScannedIndex:
    """Indexes a Kermany-layout folder, checks every file, and splits the usable ones by patient.

    `index_chest_xray` plus `keras_cxr.data.scan_images`: empty, truncated, corrupt or
    oversized files are left out before the split, with one summary warning (or an error
    in `strict` mode), so training never stops halfway through an epoch. This is done once
    per run: `load_chest_xray` and the training pipeline's `load_image_splits` both start
    here.

    Args:
        root: Folder laid out as `root/{train,test,val}/{NORMAL,PNEUMONIA}/`.
        label_mode: "binary", "categorical" or "three_class". Defaults to "binary".
        val_fraction: Share of the pooled train and val images moved to validation by
            patient, in [0, 1). Defaults to 0.1.
        seed: Seed of the patient split. Defaults to 0.
        strict: Raise instead of skipping unusable files. Defaults to False.

    Returns:
        A `keras_cxr.data.ScannedIndex`.

    Raises:
        FileNotFoundError: `root` or a class folder is missing.
        ValueError: a bad argument, no split folder, folders differing only by case, an
            empty class folder, a class left without any usable image, or (with
            `strict=True`) any unusable file.

    Example:
        >>> scanned = keras_cxr.data.scan_chest_xray("chest_xray", val_fraction=0.1)
        >>> len(scanned.split("val"))
        520
    """
    _check_split_arguments(label_mode, val_fraction)
    files = find_image_files(root)
    unreadable = dict(scan_images([file.path for file in files]))
    usable = [file for file in files if file.path not in unreadable]
    records, dropped = _build_index(usable, label_mode, val_fraction, seed)
    skipped = [*unreadable.items(), *dropped]
    if skipped:
        message = _summarize_skipped(skipped, len(files))
        if strict:
            raise ValueError(f"{message}\nFix or remove them, or pass strict=False to skip them.")
        warnings.warn(message, stacklevel=2)
    class_names = CLASS_NAMES[label_mode]
    _check_every_class_present(records, class_names, root)
    return ScannedIndex(records, skipped, class_names)


def _check_every_class_present(records, class_names, root) -> None:
    pool = [record for record in records if record.split != "test"] or records
    present = {record.label for record in pool}
    missing = [name for label, name in enumerate(class_names) if label not in present]
    if missing:
        raise ValueError(
            f"No usable {' or '.join(missing)} image is left for training in {str(root)!r} "
            "(see the warning about skipped files). Add images of every class."
        )


def _build_index(
    files: Sequence[ImageFile], label_mode: str, val_fraction: float, seed: int
) -> tuple[list[IndexRecord], list[tuple[Path, str]]]:
    """Labels, assigns patients and splits `files`; returns `(records, dropped)`.

    `dropped` lists `(path, reason)` for files that cannot be used: pneumonia images whose
    name tells neither bacteria nor virus in "three_class" mode, and pool images of
    patients who also have test images.
    """
    labeled: list[tuple[ImageFile, int, str]] = []
    dropped: list[tuple[Path, str]] = []
    unnamed: list[Path] = []
    for file in sorted(files, key=lambda f: f.path):
        label = _label(file, label_mode)
        if label is None:
            dropped.append((file.path, "three_class needs 'bacteria' or 'virus' in the name"))
            continue
        patient = patient_id(file.path.name)
        if patient is None:
            unnamed.append(file.path)
            patient = f"{file.split_folder}/{file.class_folder}/{file.path.name}"
        labeled.append((file, label, patient))
    if unnamed:
        warnings.warn(
            f"{len(unnamed)} file names encode no patient (e.g. {unnamed[0].name!r}); each "
            "such file is treated as its own patient, so images of one patient may end up in "
            "both train and val. Kermany names look like 'person12_bacteria_34.jpeg' or "
            "'IM-0115-0001.jpeg'.",
            stacklevel=3,
        )
    test_patients = {patient for file, _, patient in labeled if file.split_folder == "test"}
    records = [
        IndexRecord(file.path, label, patient, "test")
        for file, label, patient in labeled
        if file.split_folder == "test"
    ]
    pool = []
    for file, label, patient in labeled:
        if file.split_folder == "test":
            continue
        if patient in test_patients:
            dropped.append((file.path, f"patient {patient} also has test images"))
        else:
            pool.append((file, label, patient))
    is_val = split_by_patient(
        [patient for _, _, patient in pool], [label for _, label, _ in pool], val_fraction, seed
    )
    records += [
        IndexRecord(file.path, label, patient, "val" if val else "train")
        for (file, label, patient), val in zip(pool, is_val)
    ]
    return sorted(records, key=lambda r: r.path), dropped


def _summarize_skipped(skipped: Sequence[tuple[Path, str]], total: int, limit: int = 20) -> str:
    """One message listing the skipped files and why, for a warning or an error."""
    lines = [f"  {path}: {reason}" for path, reason in skipped[:limit]]
    if len(skipped) > limit:
        lines.append(f"  ... and {len(skipped) - limit} more (see ChestXRay.skipped)")
    return f"Skipped {len(skipped)} of {total} files that cannot be used:\n" + "\n".join(lines)


def _check_split_arguments(label_mode: str, val_fraction: float) -> None:
    if label_mode not in CLASS_NAMES:
        raise invalid_value("label_mode", f"one of {sorted(CLASS_NAMES)}", label_mode)
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, (int, float)):
        raise invalid_value("val_fraction", "a float in [0, 1)", val_fraction)
    if not 0 <= val_fraction < 1:
        raise invalid_value("val_fraction", "a float in [0, 1)", val_fraction)


def _label(file: ImageFile, label_mode: str) -> int | None:
    """The file's label, or None for a pneumonia file whose name gives no cause."""
    try:
        return kermany_label(file.path, label_mode, file.class_folder)
    except ValueError:
        return None
