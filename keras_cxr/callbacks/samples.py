"""`Samples`: the fixed images a callback explains, with their labels, masks and classes."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

import cv2
import keras
import numpy as np

from keras_cxr._validation import invalid_value
from keras_cxr.data import read_image
from keras_cxr.explain.class_targets import num_classes_of


class Samples:
    """The images to explain at every epoch, taken once, with what is known about them.

    Images come as a NumPy array, as image files, or from a `tf.data.Dataset`; the first
    `max_images` are taken at construction, so a bad source fails before training.
    Files (JPEG, PNG or DICOM) are read with `keras_cxr.data.read_image`, the decoder
    of the training data: once here (to check them and learn their sizes) and again by
    `fit_to`, at the model's input size and color mode, so the model sees them exactly as
    it sees its training images.

    The explained class of each image, `targets`, is in order of precedence:
    `class_index` when given, else the true label when `labels` are given (or come from
    the dataset), else `None` (the model's predicted class).

    Args:
        images: A NumPy array `(N, H, W, C)`; a list of image file paths; or a
            `tf.data.Dataset` of images, `(image, label)` pairs or `(image, label,
            weight)` triples, batched or not.
        labels: `None`, or the true class of each image as given (ints, a `(N, 1)` column
            of 0/1 for a sigmoid output, or one-hot rows). For a dataset, `None` takes the
            labels from the dataset when it has them; explicit labels must cover at least
            the images taken from it. Defaults to None.
        masks: `None`, or one binary region mask per image as given, `(N, H, W)` (or
            `(N, H, W, 1)`), at the images' resolution (masks of files are resized with
            them, nearest-neighbour). Defaults to None.
        class_index: `None`, one int for all images, or one int per image as given; it
            overrides `labels` as the explained class. Defaults to None.
        max_images: Most images taken, an integer >= 1 (checked by the caller). Defaults
            to 16.

    Attributes:
        images: The images taken, `(N, H, W, C)` as given; for files, each file as read
            (RGB uint8, at its own size), in a list.
        paths: The files taken, or `None` when the images are not files.
        labels: int64 `(N,)` class indices, or `None`.
        masks: bool `(N, H, W)`, or `None`.
        targets: The explained classes: `None`, an int, or int `(N,)`.

    Raises:
        ValueError: For no images, images that are not a 4-D numeric batch, a path that
            cannot be read as an image, labels, masks or `class_index` whose length
            differs from the images, labels that are not class indices, or non-binary or
            wrongly sized masks.

    Example:
        >>> samples = keras_cxr.callbacks.samples.Samples(["a.png", "b.dcm"], labels=[0, 1])
        >>> images, masks = samples.fit_to(model)  # at the model's input size
    """

    def __init__(
        self,
        images: Any,
        labels: Any = None,
        masks: Any = None,
        class_index: int | Sequence[int] | None = None,
        max_images: int = 16,
    ) -> None:
        self.paths: list[str] | None = None
        exact = not _is_dataset(images)
        if _is_dataset(images):
            self.images, found = _take_from_dataset(images, max_images)
            given = None
        elif _is_path(images):
            raise invalid_value("images", "an array, a list of paths or a tf.data.Dataset", images)
        elif isinstance(images, (list, tuple)) and images and all(map(_is_path, images)):
            self.paths = [os.fspath(path) for path in images[:max_images]]
            self.images = [_read_file(path) for path in self.paths]
            found, given = None, len(images)
        else:
            array = _numeric_batch(images)
            self.images, found, given = array[:max_images], None, array.shape[0]
        count = len(self.images)
        if labels is None:
            labels, exact = found, True
        self.labels = None if labels is None else _class_indices(labels, given, count, exact)
        self.masks = None if masks is None else _binary_masks(masks, given, count, exact)
        self.targets = _targets(class_index, self.labels, given, count)
        self._targets_argument = "labels" if class_index is None else "class_index"
        if self.masks is not None and self.paths is None:
            _check_mask_size(self.masks, self.images.shape[1:3])

    def __len__(self) -> int:
        return len(self.images)

    def fit_to(self, model: keras.Model) -> tuple[np.ndarray, np.ndarray | None]:
        """The images and masks as `model` takes them, after checking the targets.

        Files are read again at the model's input size (gray for a one-channel input, RGB
        otherwise) and their masks resized with them; arrays are returned as taken (the
        explainer checks their size against the model).

        Args:
            model: The model to explain.

        Returns:
            `(images, masks)`: the images `(N, H, W, C)` and the bool masks `(N, H, W)` at
            their resolution, or `None` without masks.

        Raises:
            ValueError: If a class target is beyond the model's output units, files differ
                in size while the model's input size is not fixed, or a file's mask does
                not have the file's size.

        Example:
            >>> samples = keras_cxr.callbacks.samples.Samples(x_val[:4], labels=y_val[:4])
            >>> images, masks = samples.fit_to(model)
        """
        self._check_targets(model)
        if self.paths is None:
            return self.images, self.masks
        return self._read_for(_input_shape(model))

    def _check_targets(self, model: keras.Model) -> None:
        try:
            units = int(model.outputs[0].shape[-1])
        except (AttributeError, IndexError, TypeError, ValueError):
            return  # subclassed models: the explainer checks the range when it runs
        if self.targets is None:
            return
        classes = num_classes_of(units)
        if np.max(self.targets) >= classes:
            raise invalid_value(
                self._targets_argument,
                f"class indices in [0, {classes - 1}] for the {units} output unit(s) of "
                f"model `{model.name}`",
                np.asarray(self.targets).tolist(),
            )

    def _read_for(self, input_shape: tuple) -> tuple[np.ndarray, np.ndarray | None]:
        height, width, channels = input_shape if len(input_shape) == 3 else (None,) * 3
        sizes = {image.shape[:2] for image in self.images}
        if (height is None or width is None) and len(sizes) > 1:
            raise invalid_value(
                "images",
                "files of one size when the model's input size is not fixed",
                sorted(sizes),
            )
        color_mode = "grayscale" if channels == 1 else "rgb"
        images, masks = [], []
        for index, (path, original) in enumerate(zip(self.paths, self.images)):
            size = (height or original.shape[0], width or original.shape[1])
            images.append(read_image(path, color_mode, image_size=size))
            if self.masks is not None:
                masks.append(_resize_mask(self.masks[index], original.shape[:2], size))
        return np.stack(images), (None if self.masks is None else np.stack(masks))


def _is_dataset(value: Any) -> bool:
    # No dataset can exist unless TensorFlow was imported, so do not import it here.
    tf = sys.modules.get("tensorflow")
    return tf is not None and isinstance(value, tf.data.Dataset)


def _is_path(value: Any) -> bool:
    return isinstance(value, (str, os.PathLike))


def _input_shape(model: keras.Model) -> tuple:
    try:
        return tuple(model.inputs[0].shape[1:])
    except (AttributeError, IndexError, TypeError, ValueError):
        return ()


def _numeric_batch(images: Any) -> np.ndarray:
    array = np.asarray(images)
    if array.ndim >= 1 and array.shape[0] == 0:
        raise invalid_value("images", "at least one image", f"shape {array.shape}")
    if array.dtype == object or not (
        np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
    ):
        raise invalid_value(
            "images", "a numeric array, a list of paths or a tf.data.Dataset", type(images)
        )
    if array.ndim != 4:
        hint = " Add a batch axis with images[None]." if array.ndim == 3 else ""
        raise invalid_value(
            "images", f"a 4-D batch (N, height, width, channels).{hint}", f"shape {array.shape}"
        )
    return array


def _read_file(path: str) -> np.ndarray:
    try:
        return read_image(path)
    except (OSError, ValueError) as error:
        raise invalid_value("images", "paths of readable image files", path) from error


def _take_from_dataset(dataset, max_images: int) -> tuple[np.ndarray, np.ndarray | None]:
    images, labels = [], []
    taken = 0
    for element in dataset:
        if isinstance(element, dict):
            raise invalid_value(
                "images", "a Dataset of images or (image, label) tuples", "dict elements"
            )
        parts = list(element) if isinstance(element, (tuple, list)) else [element]
        batch = np.asarray(parts[0])
        label = None if len(parts) < 2 else np.asarray(parts[1])
        if batch.ndim == 3:  # an unbatched dataset
            batch = batch[None]
            label = None if label is None else label[None]
        if batch.ndim != 4:
            raise invalid_value(
                "images", "a Dataset of (height, width, channels) images", f"shape {batch.shape}"
            )
        keep = min(batch.shape[0], max_images - taken)
        images.append(batch[:keep])
        labels.append(None if label is None else label[:keep])
        taken += keep
        if taken >= max_images:
            break
    if taken == 0:
        raise invalid_value("images", "at least one image", "an empty Dataset")
    found = None if any(label is None for label in labels) else np.concatenate(labels)
    return np.concatenate(images), found


def _check_count(argument: str, length: int, given: int | None, count: int, exact: bool) -> None:
    if exact and given is not None and length != given:
        raise invalid_value(argument, f"one entry per image ({given})", f"{length} entries")
    if length < count:
        raise invalid_value(
            argument, f"at least one entry per image taken ({count})", f"{length} entries"
        )


def _class_indices(labels: Any, given: int | None, count: int, exact: bool) -> np.ndarray:
    array = np.asarray(labels)
    if array.ndim == 2:
        array = array[:, 0] if array.shape[1] == 1 else np.argmax(array, axis=1)
    if array.ndim != 1 or not (
        np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
    ):
        raise invalid_value(
            "labels", "class indices, a 0/1 column or one-hot rows", f"shape {array.shape}"
        )
    _check_count("labels", array.shape[0], given, count, exact)
    array = array[:count]
    if not np.array_equal(array, np.rint(array)) or (array < 0).any():
        raise invalid_value(
            "labels",
            "non-negative integer class indices (pass class_index= to explain another class)",
            array.tolist(),
        )
    return array.astype(np.int64)


def _binary_masks(masks: Any, given: int | None, count: int, exact: bool) -> np.ndarray:
    array = np.asarray(masks)
    if array.ndim == 4 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim != 3:
        raise invalid_value("masks", "an (N, height, width) array", f"shape {array.shape}")
    _check_count("masks", array.shape[0], given, count, exact)
    if array.dtype != np.bool_ and not np.isin(array, (0, 1)).all():
        raise invalid_value("masks", "binary masks (bool or 0/1)", "other values")
    return array[:count].astype(bool)


def _check_mask_size(masks: np.ndarray, size: tuple[int, int]) -> None:
    if tuple(masks.shape[1:3]) != tuple(size):
        raise invalid_value(
            "masks", f"masks of the images' size {tuple(size)}", f"shape {masks.shape}"
        )


def _resize_mask(mask: np.ndarray, original: tuple[int, int], size: tuple[int, int]):
    if mask.shape != original:
        raise invalid_value("masks", f"masks of each file's size {original}", f"shape {mask.shape}")
    if mask.shape == size:
        return mask
    resized = cv2.resize(mask.astype(np.uint8), size[::-1], interpolation=cv2.INTER_NEAREST)
    return resized.astype(bool)


def _targets(class_index: Any, labels: np.ndarray | None, given: int | None, count: int):
    if class_index is None:
        return labels
    array = np.asarray(class_index)
    if not np.issubdtype(array.dtype, np.integer) or isinstance(class_index, bool):
        raise invalid_value("class_index", "None, an int or one int per image", class_index)
    if (array < 0).any():
        raise invalid_value("class_index", "non-negative class indices", class_index)
    if array.ndim == 0:
        return int(array)
    if array.ndim != 1:
        raise invalid_value("class_index", "None, an int or one int per image", class_index)
    _check_count("class_index", array.shape[0], given, count, True)
    return array[:count]
