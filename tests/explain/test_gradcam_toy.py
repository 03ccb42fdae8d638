"""Hand-computed heatmaps on a one-convolution model with known weights."""

import keras
import numpy as np
import pytest

from keras_cxr import GradCAM, HiResCAM, LayerCAM, XGradCAM
from keras_cxr.explain import GradCAMPlusPlus

#: 1×1 convolution kernels c_k and dense weights v_k of the toy model.
C = np.array([1.0, -2.0, 0.5], "float32")
V = np.array([0.3, 0.7, -1.2], "float32")


def toy_model():
    inputs = keras.Input((4, 4, 1))
    conv = keras.layers.Conv2D(3, 1, use_bias=False, name="conv")
    dense = keras.layers.Dense(1, name="logits")
    x = dense(keras.layers.GlobalAveragePooling2D()(conv(inputs)))
    model = keras.Model(inputs, keras.layers.Activation("sigmoid")(x))
    conv.set_weights([C.reshape(1, 1, 1, 3)])
    dense.set_weights([V.reshape(3, 1), np.array([0.1], "float32")])
    return model


def minmax(cam):
    low, high = cam.min(), cam.max()
    return (
        np.zeros_like(cam)
        if high - low <= 1e-6 * max(abs(high), abs(low))
        else (cam - low) / (high - low)
    )


IMAGE = np.arange(16, dtype="float32").reshape(1, 4, 4, 1) / 4.0 - 1.5


def activations():
    return IMAGE[0, :, :, 0, None] * C  # (4, 4, 3): A_k = c_k · x


def test_gradcam_by_hand():
    # score = v·mean(A) + b, so dScore/dA_k(i,j) = v_k / 16 and the Grad-CAM weight is v_k / 16.
    expected = minmax(np.maximum((activations() * V / 16).sum(-1), 0))
    explanation = GradCAM(toy_model()).explain(IMAGE, class_index=1)
    np.testing.assert_allclose(explanation.heatmaps[0], expected, atol=1e-6)
    logit = float((activations().mean((0, 1)) * V).sum() + 0.1)
    np.testing.assert_allclose(explanation.scores, [logit], rtol=1e-5)
    np.testing.assert_allclose(explanation.predictions[:, 0], [1 / (1 + np.exp(-logit))], rtol=1e-5)


def test_negative_class_of_a_sigmoid_unit_is_the_negated_logit():
    expected = minmax(np.maximum((activations() * -V / 16).sum(-1), 0))
    explanation = GradCAM(toy_model()).explain(IMAGE, class_index=0)
    np.testing.assert_allclose(explanation.heatmaps[0], expected, atol=1e-6)
    logit = float((activations().mean((0, 1)) * V).sum() + 0.1)
    np.testing.assert_allclose(explanation.scores, [-logit], rtol=1e-5)


def test_probability_score():
    explanation = GradCAM(toy_model(), score="probability").explain(IMAGE, class_index=0)
    logit = float((activations().mean((0, 1)) * V).sum() + 0.1)
    np.testing.assert_allclose(explanation.scores, [1 - 1 / (1 + np.exp(-logit))], rtol=1e-5)


@pytest.mark.parametrize(
    ("method", "raw"),
    [
        (HiResCAM, lambda a, g: np.maximum((a * g).sum(-1), 0)),
        (LayerCAM, lambda a, g: np.maximum((np.maximum(g, 0) * a).sum(-1), 0)),
        (
            XGradCAM,
            lambda a, g: np.maximum(((a * g).sum((0, 1)) / a.sum((0, 1)) * a).sum(-1), 0),
        ),
        (
            GradCAMPlusPlus,
            lambda a, g: np.maximum(
                ((g**2 / (2 * g**2 + a.sum((0, 1)) * g**3) * np.maximum(g, 0)).sum((0, 1)) * a).sum(
                    -1
                ),
                0,
            ),
        ),
    ],
)
def test_gradient_methods_by_hand(method, raw):
    gradients = np.broadcast_to(V / 16, (4, 4, 3))
    expected = minmax(raw(activations(), gradients))
    np.testing.assert_allclose(
        method(toy_model()).explain(IMAGE, 1).heatmaps[0], expected, atol=1e-5
    )
