"""Gradient × input against each framework's own autodiff, and `backend.input_gradients`."""

import keras
import numpy as np
import pytest

from keras_cxr import backend
from keras_cxr.explain import GradientTimesInput, attribution_heatmaps

from .autodiff import maps_and_gradients
from .models import tiny_cnn, with_random_weights

#: Run under every Keras backend (tests/test_backends.py).
pytestmark = pytest.mark.backends


def logits_of(model):
    """The pre-sigmoid output of `tiny_cnn(sigmoid_in_dense=True)`, recomposed by hand."""
    dense = model.get_layer("dense")
    trunk = keras.Model(model.inputs, model.get_layer("gap").output)

    def run(watch, x):
        x = watch(x)
        return [x], keras.ops.matmul(trunk(x), dense.kernel) + dense.bias

    return run


@pytest.mark.parametrize(("class_index", "sign"), [(1, 1.0), (0, -1.0)])
def test_gradient_times_input_by_autodiff(class_index, sign):
    model = with_random_weights(tiny_cnn(sigmoid_in_dense=True), seed=3)
    images = np.random.default_rng(0).uniform(0, 1, (3, 16, 16, 3)).astype("float32")
    (x,), (gradients,) = maps_and_gradients(
        logits_of(model), images, lambda logits: sign * logits[:, 0]
    )
    expected = (x * gradients).sum(axis=-1)
    explanation = GradientTimesInput(model).explain(images, class_index=class_index)
    np.testing.assert_allclose(explanation.attributions, expected, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(
        explanation.heatmaps, np.asarray(attribution_heatmaps(expected, "positive")), atol=1e-4
    )
    assert explanation.display == "positive"
    absolute = GradientTimesInput(model, display="abs").explain(images, class_index=class_index)
    np.testing.assert_array_equal(absolute.attributions, explanation.attributions)
    np.testing.assert_allclose(
        absolute.heatmaps, np.asarray(attribution_heatmaps(expected, "abs")), atol=1e-4
    )


def test_a_linear_model_without_bias_is_complete():
    # s(x) = Σ w·x, so Σ x·∂s/∂x = s(x): the attributions add up to the logit.
    inputs = keras.Input((4, 4, 2))
    flat = keras.layers.Flatten()(inputs)
    model = keras.Model(inputs, keras.layers.Dense(1, use_bias=False, name="logits")(flat))
    weights = np.random.default_rng(1).normal(size=(32, 1)).astype("float32")
    model.get_layer("logits").set_weights([weights])
    images = np.random.default_rng(2).normal(size=(2, 4, 4, 2)).astype("float32")
    explanation = GradientTimesInput(model).explain(images, class_index=1)
    np.testing.assert_allclose(
        explanation.attributions, (images * weights.reshape(4, 4, 2)).sum(-1), rtol=1e-5
    )
    np.testing.assert_allclose(explanation.attributions.sum((1, 2)), explanation.scores, rtol=1e-5)


def test_input_gradients_of_a_function_known_by_hand():
    # f(x) = (Σ w·x)², so ∂f/∂x = 2 (Σ w·x) w, image by image.
    weights = np.arange(12, dtype="float32").reshape(2, 2, 3) / 10

    def function(x):
        total = keras.ops.sum(x * keras.ops.convert_to_tensor(weights), axis=(1, 2, 3))
        return keras.ops.reshape(total, (-1, 1)) ** 2

    compiled = backend.compile_function(
        lambda x: backend.input_gradients(function, x, lambda logits: logits[:, 0]),
        [((None, 2, 2, 3), "float32")],
    )
    images = np.random.default_rng(0).normal(size=(3, 2, 2, 3)).astype("float32")
    logits, gradients = compiled(images)
    total = (images * weights).sum(axis=(1, 2, 3))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(logits)[:, 0], total**2, rtol=1e-5)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(gradients), 2 * total[:, None, None, None] * weights, rtol=1e-5
    )
