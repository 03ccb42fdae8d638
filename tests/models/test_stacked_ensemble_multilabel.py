"""`StackedEnsemble(multi_label=True)`: independent sigmoids, saved and loaded in safe mode."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import keras_cxr

pytestmark = pytest.mark.backends


def small(**kwargs):
    return keras_cxr.StackedEnsemble(
        backbones=["cnn_3x3"], weights=None, input_shape=(32, 32, 3), head_units=(4,), **kwargs
    )


def test_each_unit_is_its_own_sigmoid_of_its_logit(tmp_path):
    model = small(num_classes=3, multi_label=True)
    images = np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)).astype("float32")
    probabilities = keras.ops.convert_to_numpy(model(images))
    logits_model = keras.Model(model.inputs, model.get_layer("logits").output)
    logits = keras.ops.convert_to_numpy(logits_model(images))
    np.testing.assert_allclose(probabilities, 1 / (1 + np.exp(-logits)), rtol=1e-5, atol=1e-6)
    path = tmp_path / "multilabel.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    assert loaded.multi_label is True and loaded.get_config()["multi_label"] is True
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(images)), probabilities, rtol=1e-5)


def test_single_label_configs_do_not_change():
    assert "multi_label" not in small().get_config()
    assert "multi_label" not in small(num_classes=3).get_config()
    softmax = keras.ops.convert_to_numpy(small(num_classes=3)(np.zeros((1, 32, 32, 3))))
    assert softmax.sum() == pytest.approx(1.0, abs=1e-5)


def test_multi_label_must_be_a_bool():
    with pytest.raises(ValueError, match=r"argument `multi_label`. Expected True or False"):
        small(num_classes=3, multi_label="yes")
