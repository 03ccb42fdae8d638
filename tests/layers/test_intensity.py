"""`keras_cxr.layers.intensity`: per-image intensity normalisation as saved layers."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import keras_cxr
from keras_cxr.data import shift_images
from keras_cxr.layers import HistogramEqualization, PerImageStandardization, compact_cnn


@pytest.fixture(scope="module")
def images():
    return keras_cxr.data.synthetic.make_phantoms(4, image_size=32, seed=1).images.astype("float32")


def _apply(layer, x):
    return keras.ops.convert_to_numpy(layer(x))


def _equalize_reference(image: np.ndarray) -> np.ndarray:
    """Mid-rank of each pixel among the image's pixels, counted by comparisons."""
    levels = np.clip(np.rint(image), 0, 255).ravel()
    below = (levels[None, :] < levels[:, None]).sum(axis=1)
    equal = (levels[None, :] == levels[:, None]).sum(axis=1)
    return ((below + equal / 2) / levels.size).reshape(image.shape)


def test_standardization_matches_numpy_and_undoes_brightness_and_contrast(images):
    out = _apply(PerImageStandardization(), images)
    flat = images.reshape(len(images), -1)
    expected = (flat - flat.mean(1, keepdims=True)) / flat.std(1, keepdims=True)
    np.testing.assert_allclose(out.reshape(len(images), -1), expected, atol=1e-4)
    shifted = 0.7 * images + 40.0
    np.testing.assert_allclose(_apply(PerImageStandardization(), shifted), out, atol=1e-4)
    flat_image = np.full((1, 4, 4, 1), 9.0, np.float32)
    assert np.all(_apply(PerImageStandardization(), flat_image) == 0)


def test_equalization_matches_a_comparison_reference_and_undoes_gamma(images):
    out = _apply(HistogramEqualization(), images)
    for image, got in zip(images, out):
        np.testing.assert_allclose(got, _equalize_reference(image), atol=1e-6)
    brightened = shift_images(images, "gamma", 0.8)
    # Gamma keeps the order of levels; merged neighbouring levels move a pixel a little.
    assert np.abs(_apply(HistogramEqualization(), brightened) - out).mean() < 0.01
    assert out.min() > 0 and out.max() < 1


@pytest.mark.parametrize("normalization", ["standardize", "equalize"])
def test_normalised_compact_ensemble_reloads_with_identical_outputs(
    normalization, images, tmp_path
):
    name = {"standardize": "cnn_3x3_std", "equalize": "cnn_3x3_eq"}[normalization]
    model = keras_cxr.StackedEnsemble(
        backbones=[name], input_shape=(32, 32, 3), head_units=(4,), weights=None
    )
    layer = model.stacked_backbones.backbones[name].get_layer(f"{name}_{normalization}")
    assert layer.__class__.__name__ in ("PerImageStandardization", "HistogramEqualization")
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded(images)), keras.ops.convert_to_numpy(model(images))
    )


def test_layers_round_trip_through_their_config():
    layer = PerImageStandardization(epsilon=2.5, name="std")
    revived = keras.layers.deserialize(keras.layers.serialize(layer))
    assert isinstance(revived, PerImageStandardization) and revived.epsilon == 2.5
    revived = keras.layers.deserialize(keras.layers.serialize(HistogramEqualization()))
    assert isinstance(revived, HistogramEqualization)


def test_invalid_settings_are_refused():
    with pytest.raises(ValueError, match="`epsilon`"):
        PerImageStandardization(epsilon=0)
    with pytest.raises(ValueError, match="`normalization`"):
        compact_cnn((32, 32, 3), normalization="clahe")
