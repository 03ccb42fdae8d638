"""`keras_cxr.models.predict_logits`: the logits before the output activation."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_cxr.models import predict_logits, predict_probabilities
from keras_cxr.models.prediction import output_logits_model

pytestmark = pytest.mark.backends  # also run under JAX and PyTorch


def scaled_mean_model(scale: float, split_activation: bool = True) -> keras.Model:
    """The logit is `scale` times the mean pixel; a separate `Activation` or a built-in one."""
    inputs = keras.Input((4, 4, 1))
    x = keras.layers.GlobalAveragePooling2D()(inputs)
    dense = keras.initializers.Constant(scale)
    if not split_activation:
        return keras.Model(inputs, keras.layers.Dense(1, "sigmoid", kernel_initializer=dense)(x))
    x = keras.layers.Dense(1, kernel_initializer=dense, name="logits")(x)
    return keras.Model(inputs, keras.layers.Activation("sigmoid", name="predictions")(x))


def test_logits_are_read_before_the_activation_even_where_the_sigmoid_saturates():
    images = np.stack([np.full((4, 4, 1), v, np.float32) for v in (-0.5, 0.1, 1.0)])
    model = scaled_mean_model(40.0)
    np.testing.assert_allclose(predict_logits(model, images)[:, 0], [-20.0, 4.0, 40.0], rtol=1e-5)
    assert predict_probabilities(model, images)[2] == 1.0  # float32: the logit is lost there
    assert output_logits_model(model).output.shape[-1] == 1


def test_a_built_in_activation_falls_back_to_inverting_the_probabilities():
    images = np.stack([np.full((4, 4, 1), v, np.float32) for v in (-0.5, 0.1, 0.5)])
    model = scaled_mean_model(4.0, split_activation=False)
    assert output_logits_model(model) is None
    np.testing.assert_allclose(predict_logits(model, images)[:, 0], [-2.0, 0.4, 2.0], atol=1e-5)


def test_images_of_the_wrong_shape_are_refused():
    with pytest.raises(ValueError, match=r"Expected a batch of shape \(N, 4, 4, 1\)"):
        predict_logits(scaled_mean_model(1.0), np.zeros((2, 3, 3, 1)))
