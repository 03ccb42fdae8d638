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


def test_intensity_preset_shifts_brightness_contrast_and_sharpness():
    from keras_cxr.data import AUGMENTATIONS, named_augmentation, shift_statistics
    from keras_cxr.data.synthetic import make_phantoms

    augment = named_augmentation("intensity", seed=0)
    assert layer_types(augment)[-3:] == ["RandomContrast", "RandomBrightness", "RandomGaussianBlur"]
    assert augment.layers[-3].factor == (0, 0.3)  # contrast × [0.7, 1.3]
    assert augment.layers[-2].factor == (-0.12, 0.12)
    assert layer_types(named_augmentation("geometric")) == layer_types(make_augmentation())
    images = make_phantoms(16, image_size=32, seed=0).images.astype("float32")
    only = make_augmentation(rotation=0, zoom=0, translation=0, contrast=0, seed=1, brightness=0.12)
    out = keras.ops.convert_to_numpy(only(images, training=True))
    offsets = (out - images).reshape(16, -1)
    moved = np.abs(offsets).mean(axis=1)
    assert moved.max() > 5 and moved.max() <= 0.12 * 255 + 1e-3  # brightness within ±12 %
    blur = make_augmentation(rotation=0, zoom=0, translation=0, contrast=0, seed=1, blur=1.0)
    blurred = keras.ops.convert_to_numpy(blur(images, training=True))
    assert shift_statistics(blurred)["sharpness"] < shift_statistics(images)["sharpness"]
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(blur(images, training=False)), images)
    assert set(AUGMENTATIONS) == {"geometric", "intensity"}


def test_unknown_preset_and_negative_strengths_are_refused():
    from keras_cxr.data import named_augmentation

    with pytest.raises(ValueError, match="`name`"):
        named_augmentation("clahe")
    with pytest.raises(ValueError, match="`blur`"):
        make_augmentation(blur=-1)
