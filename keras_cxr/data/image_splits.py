"""Chest X-ray folders decoded into NumPy arrays, split by patient, for the reference pipeline.

Feature caching, the decision threshold and the report all need every image of a split at
once, so the pipeline decodes the splits into uint8 arrays (a 5,216-image training set at
128 × 128 takes 256 MB) instead of streaming them from disk each epoch. The folder is
indexed, checked and split by patient once (`keras_cxr.data.scan_chest_xray`), and every
image is decoded by the package's one reader (`keras_cxr.data.read_images`).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from keras_cxr._validation import check_int, invalid_value
from keras_cxr.data._layout import find_class_files, has_class_folders, split_folder
from keras_cxr.data.class_weight import balanced_class_weight
from keras_cxr.data.images import read_images
from keras_cxr.data.index import IndexRecord, ScannedIndex, scan_chest_xray
from keras_cxr.data.labels import CLASS_NAMES, kermany_label
from keras_cxr.data.patients import patient_id, split_by_patient
from keras_cxr.data.sampling import stratified_sample
from keras_cxr.data.scan import scan_images

#: Class names of the binary task, in label order.
BINARY_CLASS_NAMES = ("NORMAL", "PNEUMONIA")


@dataclass
class ImageSet:
    """The decoded images of one split, with their labels and where they came from.

    Attributes:
        images: uint8 `(N, H, W, C)`.
        labels: int64 `(N,)`, 0 for NORMAL and 1 for PNEUMONIA (or, for the
            "three_class" labels, 0 NORMAL, 1 BACTERIAL and 2 VIRAL).
        paths: The file of each image.
        patients: The patient of each image (see `keras_cxr.data.patient_id`).

    Example:
        >>> splits = keras_cxr.data.load_image_splits("chest_xray", image_size=128)
        >>> splits.val.images.shape
        (520, 128, 128, 3)
    """

    images: np.ndarray
    labels: np.ndarray
    paths: list[Path] = field(repr=False)
    patients: list[str] = field(repr=False)

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, indices: Sequence[int] | np.ndarray) -> ImageSet:
        """The images at `indices`, as a new `ImageSet`.

        Args:
            indices: Positions to keep, in the order wanted.

        Returns:
            A new `keras_cxr.data.ImageSet`.

        Example:
            >>> first_ten = splits.val.take(range(10))
        """
        indices = np.asarray(indices, dtype=np.int64)
        return ImageSet(
            self.images[indices],
            self.labels[indices],
            [self.paths[i] for i in indices],
            [self.patients[i] for i in indices],
        )

    def to_dataset(
        self,
        batch_size: int,
        class_weight: dict[int, float] | None = None,
        shuffle: bool = False,
        augment: bool | str = False,
        seed: int = 0,
        drop_remainder: bool = False,
    ) -> Any:
        """A `tf.data.Dataset` of float32 batches `(images, labels[, sample weights])`.

        Keras accepts a `tf.data.Dataset` in `fit` on every backend. Labels are float32
        `(batch, 1)`; with `class_weight`, a third element holds each image's weight.

        Args:
            batch_size: Images per batch.
            class_weight: Label → weight, or None for no weights. Defaults to None.
            shuffle: Reshuffle every epoch (seeded). Defaults to False.
            augment: Apply `keras_cxr.data.make_augmentation(seed=seed)` to each batch
                (True), or the preset of `keras_cxr.data.AUGMENTATIONS` so named (a str).
                Defaults to False.
            seed: Seed of the shuffle and the augmentation. Defaults to 0.
            drop_remainder: Leave out the last partial batch of each pass (data-parallel
                training, where batches must split evenly). Defaults to False.

        Returns:
            The dataset, prefetched.

        Example:
            >>> model.fit(splits.train.to_dataset(32, shuffle=True, augment=True))
        """
        import tensorflow as tf

        from keras_cxr.data.augmentation import named_augmentation

        labels = self.labels.astype(np.float32)[:, None]
        if class_weight is None:
            dataset = tf.data.Dataset.from_tensor_slices((self.images, labels))
        else:
            weights = np.asarray([class_weight[int(y)] for y in self.labels], np.float32)
            dataset = tf.data.Dataset.from_tensor_slices((self.images, labels, weights))
        if shuffle:
            dataset = dataset.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
        batch_size = check_int("batch_size", batch_size)
        dataset = dataset.batch(batch_size, drop_remainder=drop_remainder).map(
            lambda x, *rest: (tf.cast(x, tf.float32), *rest), num_parallel_calls=tf.data.AUTOTUNE
        )
        if augment:
            # Layer by layer: each preprocessing layer runs on TensorFlow inside tf.data
            # whatever the Keras backend, but a Sequential around them would call them
            # through JAX or PyTorch ops, which cannot take a symbolic tf.Tensor.
            preset = augment if isinstance(augment, str) else "geometric"
            layers = named_augmentation(preset, seed=seed).layers

            def augmented(x, *rest):
                for layer in layers:
                    x = layer(x, training=True)
                return (x, *rest)

            dataset = dataset.map(augmented, num_parallel_calls=tf.data.AUTOTUNE)
        return dataset.prefetch(tf.data.AUTOTUNE)


@dataclass
class ImageSplits:
    """The train, validation and test splits of a chest X-ray folder, decoded.

    Attributes:
        train: Training images, or None.
        val: Validation images (patients disjoint from train), or None.
        test: Test images (the folder's `test/`, or carved out by patient), or None.
        class_names: `("NORMAL", "PNEUMONIA")`.
        class_weight: Balanced class weights of `train`, for `fit(class_weight=...)`.
        skipped: `(path, reason)` of each unusable file left out.

    Example:
        >>> splits = keras_cxr.data.load_image_splits("chest_xray", test_fraction=0.1)
        >>> len(splits.train), len(splits.val), len(splits.test)
        (4177, 520, 519)
    """

    train: ImageSet | None
    val: ImageSet | None
    test: ImageSet | None
    class_names: tuple[str, ...] = BINARY_CLASS_NAMES
    class_weight: dict[int, float] = field(default_factory=dict)
    skipped: list[tuple[Path, str]] = field(default_factory=list, repr=False)


def load_image_splits(
    root: str | os.PathLike,
    image_size: int = 224,
    val_fraction: float = 0.1,
    test_fraction: float = 0.0,
    seed: int = 0,
    color_mode: str = "rgb",
    max_images: int | None = None,
    progress: bool = True,
    index: ScannedIndex | None = None,
    labels: str = "binary",
) -> ImageSplits:
    """Loads a Kermany-layout folder into patient-split arrays.

    The folder is indexed, checked and split once by `keras_cxr.data.scan_chest_xray`
    (the official `val/` merges into `train/`, and `val_fraction` of that pool is carved
    out by patient). When the folder has no `test/` split, `test_fraction` of the pool can
    be carved out by patient as well, so a folder with only `train/` (like the one shipped
    without its test set) still gives an untouched test split. Images are then decoded
    with `keras_cxr.data.read_images` in parallel threads and resized to `image_size`.

    Args:
        root: The data set folder, `root/{train,val,test}/{NORMAL,PNEUMONIA}/`.
        image_size: Side of the square images. Defaults to 224.
        val_fraction: Share of the pool moved to validation by patient, in (0, 1).
            Defaults to 0.1.
        test_fraction: Share of the pool moved to a test split by patient, in [0, 1),
            only for folders without `test/`. Defaults to 0.
        seed: Seed of the patient splits. Defaults to 0.
        color_mode: "rgb" or "grayscale". Defaults to "rgb".
        max_images: Keep at most this many images per split (a seeded, class-stratified
            sample), for quick runs; None keeps all. Defaults to None.
        progress: Show a progress bar while decoding. Defaults to True.
        index: The folder's `keras_cxr.data.scan_chest_xray(root, labels, val_fraction,
            seed)`, when the caller has it already (the training pipeline checks the
            folder before it builds a model); None scans the folder here. Defaults to None.
        labels: `"binary"` or `"three_class"` (NORMAL / BACTERIAL / VIRAL, see
            `keras_cxr.data.kermany_label`). Defaults to `"binary"`.

    Returns:
        A `keras_cxr.data.ImageSplits`.

    Raises:
        FileNotFoundError: `root` or a class folder is missing.
        ValueError: A bad argument, a folder without split or class folders, a
            `test_fraction` on a folder that has `test/`, a class without images, or an
            image smaller than `keras_cxr.data.MIN_IMAGE_SIDE`.

    Example:
        >>> splits = keras_cxr.data.load_image_splits(
        ...     "/data/chest_xray", image_size=128, test_fraction=0.1)
    """
    check_int("image_size", image_size)
    if not 0 < val_fraction < 1:
        raise invalid_value("val_fraction", "a float in (0, 1)", val_fraction)
    if not 0 <= test_fraction < 1 or val_fraction + test_fraction >= 1:
        raise invalid_value(
            "test_fraction",
            "a float in [0, 1) with val_fraction + test_fraction < 1",
            test_fraction,
        )
    scanned = scan_chest_xray(root, labels, val_fraction, seed) if index is None else index
    records = {name: scanned.split(name) for name in ("train", "val", "test")}
    if test_fraction:
        if records["test"]:
            raise ValueError(
                f"{str(root)!r} already has a test/ split; `test_fraction` only carves a test "
                "split out of folders that have none. Pass test_fraction=0."
            )
        pool = records["train"]
        share = test_fraction / (1 - val_fraction)
        is_test = split_by_patient(
            [r.patient for r in pool], [r.label for r in pool], share, seed + 1
        )
        records["test"] = [r for r, test in zip(pool, is_test) if test]
        records["train"] = [r for r, test in zip(pool, is_test) if not test]
    sets = {}
    for name, split_records in records.items():
        if max_images is not None and len(split_records) > max_images:
            chosen = stratified_sample([r.label for r in split_records], max_images, seed)
            split_records = [split_records[i] for i in chosen]
        sets[name] = _decode(split_records, image_size, color_mode, progress, name)
    train = sets["train"]
    return ImageSplits(
        train=train,
        val=sets["val"],
        test=sets["test"],
        class_names=scanned.class_names,
        class_weight=balanced_class_weight(train.labels.tolist()) if train is not None else {},
        skipped=list(scanned.skipped),
    )


def load_image_folder(
    folder: str | os.PathLike,
    image_size: int,
    color_mode: str = "rgb",
    progress: bool = True,
    labels: str = "binary",
) -> ImageSet:
    """Loads the labelled images to evaluate: a split folder, or the `test/` split of a root.

    `folder` is either one split, laid out as `folder/{NORMAL,PNEUMONIA}/` (e.g.
    `chest_xray/test`), or a data set root with a `test/` split. Unusable files are
    skipped with one warning (see `keras_cxr.data.scan_images`).

    Args:
        folder: The folder.
        image_size: Side the images are resized to (the model's input).
        color_mode: "rgb" or "grayscale". Defaults to "rgb".
        progress: Show a progress bar while decoding. Defaults to True.
        labels: `"binary"`, or `"three_class"` to label pneumonia files BACTERIAL (1) or
            VIRAL (2) from their names; pneumonia files whose name says neither are
            skipped with the warning. Defaults to `"binary"`.

    Returns:
        A `keras_cxr.data.ImageSet` with labels 0 (NORMAL) and 1 (PNEUMONIA), or 0, 1, 2
        for `"three_class"`.

    Raises:
        FileNotFoundError: `folder` does not exist.
        NotADirectoryError: `folder` is a file.
        ValueError: The folder has neither class sub-folders nor a `test/` split, a class
            folder holds no usable image, or an image is smaller than
            `keras_cxr.data.MIN_IMAGE_SIDE`.

    Example:
        >>> test = keras_cxr.data.load_image_folder("chest_xray/test", image_size=224)
    """
    check_int("image_size", image_size)
    folder = Path(folder).expanduser()
    if not folder.exists():
        raise FileNotFoundError(f"The data folder {str(folder)!r} does not exist.")
    if not folder.is_dir():
        raise NotADirectoryError(f"{str(folder)!r} is a file, not a data folder.")
    if not has_class_folders(folder):
        test_dir = split_folder(folder, "test")
        if test_dir is None:
            raise ValueError(
                f"{str(folder)!r} has no NORMAL and PNEUMONIA sub-folders (nor a test/ split "
                "holding them). Pass a folder laid out as DIR/{NORMAL,PNEUMONIA}/*.jpeg."
            )
        return load_image_folder(test_dir, image_size, color_mode, progress, labels)
    if labels not in CLASS_NAMES:
        raise invalid_value("labels", f"one of {sorted(CLASS_NAMES)}", labels)
    files = find_class_files(folder)
    problems = dict(scan_images([file.path for file in files]))
    for file in files:
        if file.path not in problems:
            try:
                kermany_label(file.path, labels, file.class_folder)
            except ValueError:
                problems[file.path] = "its name says neither 'bacteria' nor 'virus'"
    if problems:
        listed = "; ".join(f"{p.name}: {reason}" for p, reason in list(problems.items())[:5])
        warnings.warn(f"Skipped {len(problems)} unusable files ({listed}).", stacklevel=2)
    records = [
        IndexRecord(
            file.path,
            kermany_label(file.path, labels, file.class_folder),
            patient_id(file.path.name) or file.path.name,
            "test",
        )
        for file in files
        if file.path not in problems
    ]
    for label, name in enumerate(CLASS_NAMES[labels]):
        if not any(record.label == label for record in records):
            folder_name = "NORMAL" if label == 0 else "PNEUMONIA"
            kind = "" if name == folder_name else f" {name.lower()}"
            raise ValueError(f"{str(folder / folder_name)!r} holds no usable{kind} image.")
    return _decode(records, image_size, color_mode, progress, "evaluation")


def _decode(records, image_size, color_mode, progress, name) -> ImageSet | None:
    if not records:
        return None
    images = read_images(
        [r.path for r in records], image_size, color_mode, progress, f"decoding {name}"
    )
    return ImageSet(
        images=images,
        labels=np.asarray([r.label for r in records], dtype=np.int64),
        paths=[Path(r.path) for r in records],
        patients=[r.patient for r in records],
    )
