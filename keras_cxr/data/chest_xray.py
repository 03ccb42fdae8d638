"""Loading a Kermany-layout chest X-ray folder into patient-split `tf.data` pipelines."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tensorflow as tf

from keras_cxr._validation import check_int, invalid_value
from keras_cxr.data.augmentation import make_augmentation
from keras_cxr.data.class_weight import balanced_class_weight
from keras_cxr.data.images import COLOR_MODES, read_image
from keras_cxr.data.index import IndexRecord, scan_chest_xray

# Decoded images are cached in uint8 (a quarter of float32); the shuffle buffer after the
# cache holds at most this many of them, on top of a seeded shuffle of the file order.
_SHUFFLE_BUFFER = 1024


@dataclass
class ChestXRay:
    """A chest X-ray data set split by patient, as returned by `load_chest_xray`.

    Attributes:
        train: Batches of `(images, labels)` for training, or None when there are none.
        val: Validation batches (never shuffled or augmented), or None.
        test: Test batches (never shuffled or augmented), or None.
        index: One `keras_cxr.data.IndexRecord` per image in the three splits.
        class_names: Name of each class index, e.g. `("NORMAL", "PNEUMONIA")`.
        class_weight: "Balanced" weights of the training split, for `fit(class_weight=...)`.
        skipped: `(path, reason)` of each file left out.

    Example:
        >>> data = keras_cxr.data.load_chest_xray("chest_xray")
        >>> data.class_names, [record.split for record in data.index[:1]]
        (('NORMAL', 'PNEUMONIA'), ['test'])
    """

    train: tf.data.Dataset | None
    val: tf.data.Dataset | None
    test: tf.data.Dataset | None
    index: list[IndexRecord] = field(repr=False)
    class_names: tuple[str, ...]
    class_weight: dict[int, float]
    skipped: list[tuple[Path, str]] = field(repr=False)


def load_chest_xray(
    root: str | os.PathLike,
    image_size: tuple[int, int] = (224, 224),
    batch_size: int = 16,
    label_mode: str = "binary",
    val_fraction: float = 0.1,
    seed: int = 0,
    color_mode: str = "rgb",
    strict: bool = False,
    shuffle: bool = True,
    cache: bool | str = True,
    augment: bool | Callable | None = None,
) -> ChestXRay:
    """Loads a Kermany-layout chest X-ray folder as patient-split `tf.data` pipelines.

    The folder is laid out as `root/{train,test,val}/{NORMAL,PNEUMONIA}/` (Kermany et al.,
    Cell 2018; any split may be missing, folder names match in any case, and clutter such as
    `.DS_Store`, `._*` and `.ipynb_checkpoints/` is ignored). The test split is `test/`
    as is. The official `val/` holds only 16 images, so it is merged into `train/` and
    `val_fraction` of that pool is carved out **by patient** (read from the file names, see
    `keras_cxr.data.patient_id`): no child has images on both sides, nor in train/val and
    test (pool images of a test patient are skipped). Set `val_fraction=0` to train on the
    whole pool.

    Before anything is decoded, every file is checked (`keras_cxr.data.scan_images`):
    empty, truncated, corrupt or oversized files are skipped with one summary warning, or
    raise in `strict` mode, so training never stops halfway through an epoch. The folder is
    only read, never written.

    Images are decoded in parallel inside the `tf.data` pipeline by
    `keras_cxr.data.read_image` (JPEG, PNG of any bit depth and channel count, CMYK JPEG,
    DICOM), resized to `image_size` without keeping the aspect ratio, cached as uint8 and
    yielded as float32 in [0, 255], the range Keras ImageNet backbones expect before their
    own preprocessing. Training batches are shuffled: the file order is shuffled once with
    `seed` before the cache, then a buffer of up to 1,024 images reshuffles every epoch.

    Labels per `label_mode`:
    - "binary": float32 of shape `(1,)`, NORMAL=0 and PNEUMONIA=1; batches of `(batch, 1)`
      match a `Dense(1, activation="sigmoid")` output and `binary_crossentropy`.
    - "categorical": one-hot float32 of shape `(2,)`, for `Dense(2, "softmax")` and
      `categorical_crossentropy`.
    - "three_class": int32 scalars NORMAL=0, BACTERIAL=1, VIRAL=2 (from "bacteria" /
      "virus" in the name), for `sparse_categorical_crossentropy`.

    Args:
        root: The data set folder.
        image_size: `(height, width)` of the images. Defaults to `(224, 224)`.
        batch_size: Images per batch. Defaults to 16.
        label_mode: "binary", "categorical" or "three_class". Defaults to "binary".
        val_fraction: Share of the train (+ official val) images moved to validation by
            patient, in [0, 1). Defaults to 0.1.
        seed: Seed of the patient split, the shuffles and the default augmentation.
            Defaults to 0.
        color_mode: "rgb" for 3 channels or "grayscale" for 1. Defaults to "rgb".
        strict: Raise instead of skipping unusable files. Defaults to False.
        shuffle: Shuffle the training batches. Defaults to True.
        cache: Cache decoded images in memory (True), in files with this path prefix (a
            str), or not at all (False). Defaults to True.
        augment: Augmentation applied to training batches only: a Keras layer or any
            callable taking `(images, training=True)`, True for
            `keras_cxr.data.make_augmentation(seed=seed)`, or None. Defaults to None.

    Returns:
        A `keras_cxr.data.ChestXRay` with `train`, `val`, `test` datasets (None where a
        split has no image), `index`, `class_names`, `class_weight` and `skipped`.

    Raises:
        FileNotFoundError: `root` or a class folder is missing.
        ValueError: a bad argument, no split folder, folders differing only by case, an
            empty class folder, a class left without any usable image, or (with
            `strict=True`) any unusable file.
        ImportError: `.dcm` files are present and pydicom is not installed.

    Example:
        >>> data = keras_cxr.data.load_chest_xray("chest_xray", image_size=(224, 224))
        >>> model.fit(data.train, validation_data=data.val, class_weight=data.class_weight)
    """
    _check_arguments(image_size, batch_size, color_mode)
    scanned = scan_chest_xray(root, label_mode, val_fraction, seed, strict)
    records, class_names = scanned.records, scanned.class_names
    if augment is True:
        augment = make_augmentation(seed=seed)
    elif augment is False:
        augment = None
    options = dict(
        image_size=tuple(image_size),
        batch_size=batch_size,
        label_mode=label_mode,
        num_classes=len(class_names),
        color_mode=color_mode,
        cache=cache,
    )
    splits = {
        split: [record for record in records if record.split == split]
        for split in ("train", "val", "test")
    }
    return ChestXRay(
        train=_dataset(
            splits["train"], "train", shuffle=shuffle, augment=augment, seed=seed, **options
        ),
        val=_dataset(splits["val"], "val", **options),
        test=_dataset(splits["test"], "test", **options),
        index=records,
        class_names=class_names,
        class_weight=balanced_class_weight(record.label for record in splits["train"]),
        skipped=scanned.skipped,
    )


def _dataset(
    records: Sequence[IndexRecord],
    split: str,
    *,
    image_size: tuple[int, int],
    batch_size: int,
    label_mode: str,
    num_classes: int,
    color_mode: str,
    cache: bool | str,
    shuffle: bool = False,
    augment: Callable | None = None,
    seed: int = 0,
) -> tf.data.Dataset | None:
    if not records:
        return None
    if shuffle:
        order = np.random.default_rng(seed).permutation(len(records))
        records = [records[i] for i in order]
    paths = [os.fspath(record.path) for record in records]
    labels = _encode_labels([record.label for record in records], label_mode, num_classes)
    channels = 1 if color_mode == "grayscale" else 3

    def load(path: tf.Tensor) -> tf.Tensor:
        image = tf.numpy_function(
            lambda p: read_image(os.fsdecode(p), color_mode, image_size),
            [path],
            tf.uint8,
            stateful=False,
        )
        image.set_shape((*image_size, channels))
        return image

    images = tf.data.Dataset.from_tensor_slices(paths).map(
        load, num_parallel_calls=tf.data.AUTOTUNE
    )
    dataset = tf.data.Dataset.zip(images, tf.data.Dataset.from_tensor_slices(labels))
    if cache is not False:
        dataset = dataset.cache(f"{cache}_{split}" if isinstance(cache, str) else "")
    if shuffle:
        dataset = dataset.shuffle(
            min(len(records), _SHUFFLE_BUFFER), seed=seed, reshuffle_each_iteration=True
        )
    # Casting image by image, before batching, runs several times faster than casting
    # whole uint8 batches (measured on TF 2.21 CPU).
    dataset = dataset.map(
        lambda x, y: (tf.cast(x, tf.float32), y), num_parallel_calls=tf.data.AUTOTUNE
    ).batch(batch_size)
    if augment is not None:
        dataset = dataset.map(
            lambda x, y: (augment(x, training=True), y), num_parallel_calls=tf.data.AUTOTUNE
        )
    return dataset.prefetch(tf.data.AUTOTUNE)


def _encode_labels(labels: list[int], label_mode: str, num_classes: int) -> np.ndarray:
    if label_mode == "binary":
        return np.asarray(labels, dtype=np.float32).reshape(-1, 1)
    if label_mode == "categorical":
        return np.eye(num_classes, dtype=np.float32)[labels]
    return np.asarray(labels, dtype=np.int32)


def _check_arguments(image_size, batch_size, color_mode) -> None:
    if (
        not isinstance(image_size, (tuple, list))
        or len(image_size) != 2
        or not all(isinstance(side, int) and side > 0 for side in image_size)
    ):
        raise invalid_value("image_size", "a (height, width) tuple of positive ints", image_size)
    check_int("batch_size", batch_size)
    if color_mode not in COLOR_MODES:
        raise invalid_value("color_mode", f"one of {list(COLOR_MODES)}", color_mode)
