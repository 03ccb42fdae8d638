"""Hand-computed heatmaps on a one-convolution model with known weights."""

import keras
import numpy as np
import pytest

from keras_cxr import GradCAM, HiResCAM, LayerCAM, XGradCAM
from keras_cxr.explain import GradCAMPlusPlus

#: Run under every Keras backend (tests/test_backends.py).
pytestmark = pytest.mark.backends

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


# -------------------------------------------------------------------------------------------
# Toys whose gradient differs from position to position, so that Grad-CAM++'s α terms (g², g³
# and the activation mass), XGrad-CAM's activation-weighted mean and LayerCAM's pixel-wise
# weights all matter. Activations and gradients come from a numpy forward pass and its
# derivative written here, never from keras_cxr.

#: Two 5 × 6 two-channel images; the 1×1 convolution keeps the size, so the maps need no
#: upsampling.
POSITION_IMAGES = np.random.default_rng(11).normal(size=(2, 5, 6, 2)).astype("float32")
KERNEL = np.array([[1.0, -0.7, 0.4], [0.5, 0.9, -1.1]], "float32")
BIAS = np.array([0.1, 0.3, -0.2], "float32")


def numpy_features(images):
    return np.maximum(images @ KERNEL + BIAS, 0.0)  # (..., 5, 6, 3)


def relu_features(inputs):
    conv = keras.layers.Conv2D(3, 1, activation="relu", name="features")
    features = conv(inputs)
    return conv, features


def flatten_dense_toy():
    """features → Flatten → Dense(1): score = Σ_ijk U_ijk A_ijk + b, so g = U."""
    weights = np.random.default_rng(12).normal(size=(5, 6, 3)).astype("float32")
    inputs = keras.Input((5, 6, 2))
    conv, features = relu_features(inputs)
    dense = keras.layers.Dense(1, name="logits")
    model = keras.Model(inputs, dense(keras.layers.Flatten()(features)))
    conv.set_weights([KERNEL.reshape(1, 1, 2, 3), BIAS])
    dense.set_weights([weights.reshape(-1, 1), np.array([0.2], "float32")])

    def gradients(activations):
        return np.broadcast_to(weights, activations.shape)

    return model, gradients


def squared_toy():
    """features → A² → GAP → Dense(1): score = Σ_k v_k mean_ij(A²) + b, so g = 2 v_k A / (h·w)."""
    weights = np.array([0.9, -1.3, 0.6], "float32")
    inputs = keras.Input((5, 6, 2))
    conv, features = relu_features(inputs)
    squared = keras.layers.Multiply(name="squared")([features, features])
    dense = keras.layers.Dense(1, name="logits")
    x = dense(keras.layers.GlobalAveragePooling2D()(squared))
    model = keras.Model(inputs, keras.layers.Activation("sigmoid")(x))
    conv.set_weights([KERNEL.reshape(1, 1, 2, 3), BIAS])
    dense.set_weights([weights.reshape(3, 1), np.array([-0.1], "float32")])

    def gradients(activations):
        return 2.0 * weights * activations / 30.0

    return model, gradients


def gradcam_pp_reference(a, g):
    mass = a.sum((0, 1))
    denominator = 2 * g**2 + mass * g**3
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = np.where(denominator != 0, g**2 / denominator, 0.0)
    return np.maximum(((alpha * np.maximum(g, 0)).sum((0, 1)) * a).sum(-1), 0)


def xgradcam_reference(a, g):
    mass = a.sum((0, 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        weights = np.where(mass != 0, (a * g).sum((0, 1)) / mass, 0.0)
    return np.maximum((weights * a).sum(-1), 0)


REFERENCES = {
    GradCAM: lambda a, g: np.maximum((g.mean((0, 1)) * a).sum(-1), 0),
    GradCAMPlusPlus: gradcam_pp_reference,
    XGradCAM: xgradcam_reference,
    LayerCAM: lambda a, g: np.maximum((np.maximum(g, 0) * a).sum(-1), 0),
    HiResCAM: lambda a, g: np.maximum((a * g).sum(-1), 0),
}


@pytest.mark.parametrize("toy", [flatten_dense_toy, squared_toy])
@pytest.mark.parametrize("method", list(REFERENCES), ids=lambda m: m.__name__)
def test_gradient_methods_with_position_dependent_gradients(toy, method):
    model, numpy_gradients = toy()
    activations = numpy_features(POSITION_IMAGES)
    explanation = method(model, layer="features").explain(POSITION_IMAGES, class_index=1)
    for i in range(len(POSITION_IMAGES)):
        gradients = numpy_gradients(activations[i])
        assert np.ptp(gradients[..., 0]) > 0  # the point of these toys
        expected = minmax(REFERENCES[method](activations[i], gradients))
        assert expected.max() == 1.0, "the comparison must not be zeros against zeros"
        np.testing.assert_allclose(explanation.heatmaps[i], expected, atol=1e-5)


@pytest.mark.parametrize("toy", [flatten_dense_toy, squared_toy])
def test_position_dependent_gradients_set_the_methods_apart(toy):
    # Were the gradient the same at every position, Grad-CAM, Grad-CAM++ and XGrad-CAM
    # would give one map; here each must be told apart from Grad-CAM, or the test above
    # would not exercise what distinguishes them.
    _, numpy_gradients = toy()
    activations = numpy_features(POSITION_IMAGES[0])
    gradients = numpy_gradients(activations)
    gradcam = minmax(REFERENCES[GradCAM](activations, gradients))
    for method in (GradCAMPlusPlus, XGradCAM, LayerCAM, HiResCAM):
        other = minmax(REFERENCES[method](activations, gradients))
        assert np.abs(other - gradcam).max() > 0.05, method.__name__
