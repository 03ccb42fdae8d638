import keras
import numpy as np
import pytest

from keras_cxr.data import make_augmentation


def layer_types(model):
    return [type(layer).__name__ for layer in model.layers]


def test_default_pipeline_has_no_flip():
    model = make_augmentation()
    assert isinstance(model, keras.Sequential)
    assert layer_types(model) == [
        "RandomRotation",
        "RandomZoom",
        "RandomTranslation",
        "RandomContrast",
    ]


def test_flip_is_horizontal_and_only_on_request():
    model = make_augmentation(horizontal_flip=True)
    assert layer_types(model)[0] == "RandomFlip"
    assert model.layers[0].mode == "horizontal"


def test_zero_strength_layers_are_left_out():
    model = make_augmentation(rotation=0, zoom=0, translation=0.1, contrast=0)
    assert layer_types(model) == ["RandomTranslation"]


def test_strengths_reach_the_layers():
    model = make_augmentation(rotation=0.02, zoom=0.3, translation=0.07, contrast=0.2)
    rotation, zoom, translation, contrast = model.layers
    assert rotation.factor == (-0.02, 0.02)
    assert zoom.height_factor == 0.3 and zoom.width_factor is None  # keeps the aspect ratio
    assert translation.height_factor == translation.width_factor == 0.07
    assert rotation.fill_mode == zoom.fill_mode == translation.fill_mode == "constant"
    assert contrast.value_range == (0, 255)


def test_output_keeps_shape_and_the_0_255_range():
    images = np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)).astype("float32")
    model = make_augmentation(contrast=0.9, seed=1)
    out = keras.ops.convert_to_numpy(model(images, training=True))
    assert out.shape == images.shape
    assert out.min() >= 0 and out.max() <= 255
    assert not np.allclose(out, images)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model(images, training=False)), images)


def test_same_seed_same_augmentation():
    images = np.random.default_rng(0).uniform(0, 255, (2, 16, 16, 1)).astype("float32")
    first = make_augmentation(seed=7)(images, training=True)
    second = make_augmentation(seed=7)(images, training=True)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(first), keras.ops.convert_to_numpy(second)
    )


def test_negative_strength_is_rejected():
    with pytest.raises(ValueError, match=r"argument `zoom`. Expected a non-negative float"):
        make_augmentation(zoom=-0.1)
