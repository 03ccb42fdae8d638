"""Tests of `keras_cxr.callbacks.samples.Samples`: arrays, files (DICOM too) and datasets."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_cxr.callbacks.samples import Samples
from keras_cxr.data import read_image

from ._files import write_dicom, write_png
from ._toy import invalid_message

pytestmark = pytest.mark.backends  # also run under JAX and PyTorch

SIZE = 32


def _model(input_shape=(SIZE, SIZE, 3), units: int = 1) -> keras.Model:
    inputs = keras.Input(input_shape)
    x = keras.layers.Conv2D(2, 3, padding="same")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(units, activation="sigmoid")(x), name="tiny")


def _images(count: int) -> np.ndarray:
    return np.random.default_rng(0).uniform(0, 1, (count, SIZE, SIZE, 3)).astype("float32")


# ---------------------------------------------------------------------- arrays and datasets
def test_arrays_are_taken_as_given_up_to_max_images():
    images = _images(5)
    samples = Samples(images, labels=[0, 1, 1, 0, 1], max_images=3)
    assert len(samples) == 3 and samples.paths is None
    np.testing.assert_array_equal(samples.images, images[:3])
    np.testing.assert_array_equal(samples.labels, [0, 1, 1])
    fitted, masks = samples.fit_to(_model())
    assert fitted is samples.images and masks is None


def test_dataset_of_batches_gives_images_and_labels():
    images = _images(10)
    labels = np.random.default_rng(1).integers(0, 2, (10, 1)).astype("float32")
    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(3)
    samples = Samples(dataset, max_images=5)
    assert samples.images.shape == (5, SIZE, SIZE, 3)
    np.testing.assert_array_equal(samples.images, images[:5])
    np.testing.assert_array_equal(samples.labels, labels[:5, 0].astype(int))


def test_unbatched_dataset_of_images_and_one_hot_labels():
    images = _images(3)
    samples = Samples(tf.data.Dataset.from_tensor_slices(images).repeat())
    assert samples.images.shape == (16, SIZE, SIZE, 3) and samples.labels is None
    one_hot = np.eye(3, dtype="float32")[[2, 0, 1]]
    samples = Samples(tf.data.Dataset.from_tensor_slices((images, one_hot)))
    np.testing.assert_array_equal(samples.labels, [2, 0, 1])


def test_class_index_overrides_labels_as_the_target():
    samples = Samples(_images(3), labels=[0, 1, 0], class_index=1)
    assert samples.targets == 1
    np.testing.assert_array_equal(samples.labels, [0, 1, 0])
    assert Samples(_images(3), labels=[0, 1, 0]).targets.tolist() == [0, 1, 0]
    assert Samples(_images(3)).targets is None


def test_targets_beyond_the_model_outputs_name_their_argument():
    expected = invalid_message(
        "class_index", "class indices in [0, 2] for the 3 output unit(s) of model `tiny`", "[0, 3]"
    )
    with pytest.raises(ValueError, match=f"^{expected}$"):
        Samples(_images(2), class_index=[0, 3]).fit_to(_model(units=3))


# ---------------------------------------------------------------------- files
def test_image_paths_are_read_as_rgb_and_resized_with_their_masks(tmp_path):
    red = np.zeros((40, 48, 3), np.uint8)
    red[..., 0] = 255
    paths = [write_png(tmp_path / f"xray_{index}.png", red) for index in range(3)]
    masks = np.zeros((3, 40, 48), bool)
    masks[:, :20] = True
    samples = Samples(paths, masks=masks)
    assert samples.paths == paths and samples.images[0].shape == (40, 48, 3)
    images, fitted_masks = samples.fit_to(_model())
    assert images.shape == (3, SIZE, SIZE, 3)
    assert (images[..., 0] == 255).all() and (images[..., 2] == 0).all()
    assert fitted_masks.shape == (3, SIZE, SIZE)
    assert fitted_masks[:, :16].all() and not fitted_masks[:, 16:].any()


def test_dicom_paths_are_read_with_their_window_at_the_model_input(tmp_path):
    rng = np.random.default_rng(2)
    pixels = rng.integers(100, 4000, (SIZE, SIZE)).astype(np.uint16)
    path = write_dicom(tmp_path / "cr.dcm", pixels)
    # No window in the file: read_dicom stretches the stored values' min-max to [0, 255].
    low, high = pixels.min(), pixels.max()
    expected = np.rint((pixels - low) / (high - low) * 255.0).astype(np.uint8)

    images, _ = Samples([path]).fit_to(_model())
    assert images.shape == (1, SIZE, SIZE, 3) and images.dtype == np.uint8
    for channel in range(3):
        np.testing.assert_array_equal(images[0, ..., channel], expected)
    gray, _ = Samples([path]).fit_to(_model((SIZE, SIZE, 1)))
    np.testing.assert_array_equal(gray[0, ..., 0], expected)

    resized, _ = Samples([path]).fit_to(_model((16, 24, 3)))
    np.testing.assert_array_equal(resized[0], read_image(path, "rgb", image_size=(16, 24)))


def test_files_of_several_sizes_need_a_fixed_input_size(tmp_path):
    paths = [
        write_png(tmp_path / "a.png", np.zeros((40, 40, 3), np.uint8)),
        write_png(tmp_path / "b.png", np.zeros((48, 40, 3), np.uint8)),
    ]
    images, _ = Samples(paths).fit_to(_model())
    assert images.shape == (2, SIZE, SIZE, 3)
    with pytest.raises(ValueError, match="Expected files of one size when the model's input"):
        Samples(paths).fit_to(_model((None, None, 3)))
    same, _ = Samples(paths[:1] * 2).fit_to(_model((None, None, 3)))
    assert same.shape == (2, 40, 40, 3)


def test_a_mask_of_another_size_than_its_file_is_refused(tmp_path):
    path = write_png(tmp_path / "a.png", np.zeros((40, 48, 3), np.uint8))
    samples = Samples([path], masks=np.zeros((1, 40, 40), bool))
    with pytest.raises(
        ValueError,
        match=invalid_message("masks", "masks of each file's size (40, 48)", "'shape (40, 40)'"),
    ):
        samples.fit_to(_model())


@pytest.mark.parametrize("name", ["missing.png", "notes.txt", "notes.dcm"])
def test_unreadable_files_raise_at_construction(tmp_path, name):
    if name != "missing.png":
        (tmp_path / name).write_text("not an image")
    path = str(tmp_path / name)
    with pytest.raises(
        ValueError, match=invalid_message("images", "paths of readable image files", repr(path))
    ):
        Samples([path])
