"""`ImageSet.to_dataset`: the tf.data pipeline training reads, on every Keras backend."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from keras_cxr.data.image_splits import ImageSet


def _augmented() -> dict:
    """Augments 8 fixed images inside tf.data under this process's backend; what it saw."""
    rng = np.random.default_rng(0)
    images = rng.integers(40, 216, (8, 32, 32, 3), dtype=np.uint8)
    images[:, 8:24, 8:24] = 255
    names = [str(i) for i in range(8)]
    split = ImageSet(images, np.arange(8) % 2, names, names)
    x, y = next(iter(split.to_dataset(8, augment=True, seed=3)))
    x = np.asarray(x)
    return {
        "backend": keras.backend.backend(),
        "shape": list(x.shape),
        "dtype": str(x.dtype),
        "finite": bool(np.isfinite(x).all()),
        "range": [float(x.min()), float(x.max())],
        "changed": float(np.abs(x - images).mean()),
        "labels": np.asarray(y).ravel().tolist(),
    }


def _split(count: int = 10) -> ImageSet:
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (count, 16, 16, 3), dtype=np.uint8)
    labels = np.arange(count) % 2
    return ImageSet(images, labels, [Path(f"{i}.png") for i in range(count)], [""] * count)


def test_batches_hold_float_pixels_labels_and_class_weights():
    split = _split()
    batches = list(split.to_dataset(4, class_weight={0: 0.5, 1: 2.0}))
    assert [len(b[0]) for b in batches] == [4, 4, 2]
    x, y, w = (np.concatenate([np.asarray(b[i]) for b in batches]) for i in range(3))
    assert x.dtype == np.float32 and y.shape == (10, 1)
    np.testing.assert_array_equal(x, split.images.astype(np.float32))
    np.testing.assert_array_equal(y[:, 0], split.labels)
    np.testing.assert_array_equal(w, np.where(split.labels == 1, 2.0, 0.5))
    assert [len(b[0]) for b in split.to_dataset(4, drop_remainder=True)] == [4, 4]


@pytest.mark.backends  # under JAX and PyTorch in tests/test_backends.py's child suites
def test_augmentation_runs_inside_tf_data_on_every_backend():
    # Under JAX and PyTorch a keras.Sequential of the augmentation layers, called in
    # tf.data, failed with "Cannot convert a symbolic tf.Tensor to a numpy array".
    seen = _augmented()
    assert seen["backend"] == keras.backend.backend()
    assert seen["shape"] == [8, 32, 32, 3] and seen["dtype"] == "float32" and seen["finite"]
    low, high = seen["range"]
    assert low >= 0.0 and high <= 255.0 + 1e-3
    assert seen["changed"] > 1.0  # rotated, zoomed, shifted and contrast-changed
    assert seen["labels"] == [0, 1, 0, 1, 0, 1, 0, 1]
