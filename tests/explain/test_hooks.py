"""keras_cxr.explain.hooks: recording inner layers of a subclassed model, against numpy."""

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from keras import ops

from keras_cxr.explain.hooks import HookedModel

#: Run under every Keras backend (tests/test_backends.py).
pytestmark = pytest.mark.backends

KERNEL = np.array([[1.0, -0.5, 0.8], [0.3, 1.2, -0.9]], "float32")  # 2 bands → 3 channels
DENSE = np.array([[0.7, -1.1], [-0.4, 0.9], [1.3, 0.2]], "float32")
DENSE_BIAS = np.array([0.05, -0.3], "float32")
IMAGES = np.random.default_rng(0).normal(size=(3, 4, 5, 2)).astype("float32")


class Classifier(keras.Model):
    """image → backbone (1×1 conv "conv" → ReLU "out_relu") → pool → logits, optionally
    after the pooled features as a first output; `spare` is a layer that never runs."""

    def __init__(self, two_outputs: bool = False):
        super().__init__(name="classifier")
        self.two_outputs = two_outputs
        self.backbone = keras.Sequential(
            [
                keras.layers.Conv2D(3, 1, use_bias=False, name="conv"),
                keras.layers.ReLU(name="out_relu"),
            ],
            name="backbone",
        )
        self.pool = keras.layers.GlobalAveragePooling2D(name="pool")
        self.head = keras.layers.Dense(2, name="logits")
        self.spare = keras.layers.ReLU(name="spare")  # never called

    def call(self, x):
        pooled = self.pool(self.backbone(x))
        logits = self.head(pooled)
        return (pooled, logits) if self.two_outputs else logits


def classifier(two_outputs=False) -> Classifier:
    model = Classifier(two_outputs)
    model(IMAGES)
    model.backbone.get_layer("conv").set_weights([KERNEL.reshape(1, 1, 2, 3)])
    model.head.set_weights([DENSE, DENSE_BIAS])
    return model


def numpy_forward(images):
    """Pre-activation, activation and logits of `Classifier`, in numpy."""
    pre = images.astype(np.float64) @ KERNEL
    activations = np.maximum(pre, 0)
    logits = activations.mean(axis=(1, 2)) @ DENSE + DENSE_BIAS
    return pre, activations, logits


MODEL = classifier()
OUT_RELU = MODEL.backbone.get_layer("out_relu")
CONV = MODEL.backbone.get_layer("conv")


def test_a_missing_layer_asks_for_one_and_lists_the_top_level_layers():
    with pytest.raises(
        ValueError,
        match=r"Model `classifier` is subclassed.*Pass the layer explicitly, e\.g\. "
        r"`GradCAM\(model, layer=model\.backbone\)`.*Top-level layers: "
        r"\['backbone', 'pool', 'logits', 'spare'\]",
    ):
        HookedModel(MODEL, None, 0)


@pytest.mark.parametrize(
    ("spec", "path"),
    [
        (OUT_RELU, "backbone/out_relu"),
        (MODEL.backbone, "backbone"),
        ("backbone/out_relu", "backbone/out_relu"),
        ("/backbone/conv/", "backbone/conv"),
        ("pool", "pool"),
    ],
)
def test_layers_by_object_or_path(spec, path):
    hooked = HookedModel(MODEL, spec, 0)
    assert hooked.paths == [path]
    expected = MODEL
    for name in path.split("/"):
        expected = expected.backbone if name == "backbone" else expected.get_layer(name)
    assert hooked.layers == [expected]


def test_several_layers_keep_their_order():
    hooked = HookedModel(MODEL, ["backbone/out_relu", CONV], 0)
    assert hooked.paths == ["backbone/out_relu", "backbone/conv"]
    assert hooked.layers == [OUT_RELU, CONV]


def test_a_layer_that_does_not_run_is_reported():
    hooked = HookedModel(MODEL, ["backbone/out_relu", "spare"], 0)
    with pytest.raises(
        ValueError, match=r"Layers \['spare'\] did not run when model `classifier` was called"
    ):
        hooked.activations_and_gradients(IMAGES, np.array([-1, -1, -1], "int32"), "logit")
    assert "call" not in vars(MODEL.spare) and "call" not in vars(OUT_RELU)


def test_a_layer_given_twice_is_recorded_twice_and_restored():
    hooked = HookedModel(MODEL, [CONV, CONV], 0)
    activations, gradients, _, _ = hooked.activations_and_gradients(
        IMAGES, np.array([0, 1, 0], "int32"), "logit"
    )
    pre, _, _ = numpy_forward(IMAGES)
    for recorded in activations:
        np.testing.assert_allclose(ops.convert_to_numpy(recorded), pre, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        ops.convert_to_numpy(gradients[0]), ops.convert_to_numpy(gradients[1])
    )
    assert "call" not in vars(CONV)


@pytest.mark.parametrize(
    ("spec", "error", "message"),
    [
        (
            "backbone/nope",
            ValueError,
            r"Could not find layer `nope` \(from `backbone/nope`\) in `backbone`\. "
            r"Its layers: \[.*'conv', 'out_relu'\]",
        ),
        (
            "head",
            ValueError,
            r"Could not find layer `head` \(from `head`\) in `classifier`\. "
            r"Its layers: \['backbone', 'pool', 'logits', 'spare'\]",
        ),
        (
            keras.layers.ReLU(name="stray"),
            ValueError,
            r"Layer `stray` is not part of model `classifier`\.",
        ),
        (
            3,
            ValueError,
            r"Invalid value received for argument `layer`\. Expected a layer object or a "
            r"path of layer names\. Received: layer=3",
        ),
    ],
)
def test_bad_layers(spec, error, message):
    with pytest.raises(error, match=message):
        HookedModel(MODEL, spec, 0)


def test_call_plain_is_the_chosen_output():
    model = classifier(two_outputs=True)
    pooled, logits = (ops.convert_to_numpy(t) for t in model(IMAGES))
    np.testing.assert_allclose(
        ops.convert_to_numpy(HookedModel(model, "pool", 1).call_plain(IMAGES)), logits
    )
    np.testing.assert_allclose(
        ops.convert_to_numpy(HookedModel(model, "pool", 0).call_plain(IMAGES)), pooled
    )
    _, _, expected = numpy_forward(IMAGES)
    np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("score_mode", ["logit", "probability"])
def test_activations_and_gradients_match_numpy(score_mode):
    # score = logits[c] = Σ_k DENSE[k, c] · mean(A_k) + b_c, so d(score)/dA_k = DENSE[k, c] / (h·w)
    # at every position, and through the ReLU d(score)/d(pre_k) = that where pre_k > 0. The
    # model's output has no activation, so the probability mode explains it as it is. The
    # layers are asked for in the reverse of the order they run, and come back as asked.
    hooked = HookedModel(MODEL, [OUT_RELU, CONV], 0)
    requested = np.array([-1, 0, 1], "int32")
    activations, gradients, outputs, classes = hooked.activations_and_gradients(
        IMAGES, requested, score_mode
    )
    pre, relu, logits = numpy_forward(IMAGES)
    expected_classes = np.where(requested < 0, logits.argmax(axis=1), requested)
    np.testing.assert_array_equal(ops.convert_to_numpy(classes), expected_classes)
    np.testing.assert_allclose(ops.convert_to_numpy(outputs), logits, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ops.convert_to_numpy(activations[0]), relu, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ops.convert_to_numpy(activations[1]), pre, rtol=1e-5, atol=1e-6)
    per_position = DENSE[:, expected_classes].T[:, None, None, :] / (4 * 5)
    np.testing.assert_allclose(
        ops.convert_to_numpy(gradients[0]),
        np.broadcast_to(per_position, relu.shape),
        rtol=1e-5,
        atol=1e-7,
    )
    np.testing.assert_allclose(
        ops.convert_to_numpy(gradients[1]), per_position * (pre > 0), rtol=1e-5, atol=1e-7
    )


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10_000), st.integers(0, 1))
def test_gradients_are_per_image(seed, class_index):
    # Each image's gradient depends on its own score only, whatever the batch holds.
    images = np.random.default_rng(seed).normal(size=(2, 4, 5, 2)).astype("float32")
    hooked = HookedModel(MODEL, CONV, 0)
    classes = np.full(2, class_index, "int32")
    _, together, _, _ = hooked.activations_and_gradients(images, classes, "logit")
    for i in range(2):
        _, alone, _, _ = hooked.activations_and_gradients(images[i : i + 1], classes[:1], "logit")
        np.testing.assert_allclose(
            ops.convert_to_numpy(alone[0])[0], ops.convert_to_numpy(together[0])[i], atol=1e-7
        )


def test_layers_are_restored_after_a_call_and_after_an_error():
    model = classifier()
    layer = model.backbone.get_layer("out_relu")
    hooked = HookedModel(model, layer, 0)
    hooked.activations_and_gradients(IMAGES, np.array([-1, -1, -1], "int32"), "logit")
    assert "call" not in vars(layer)
    with pytest.raises(Exception, match=r"(?i)input|shape|channel|dimension"):
        hooked.activations_and_gradients(np.zeros((1, 4, 5, 3), "float32"), np.array([-1]), "logit")
    assert "call" not in vars(layer)
    np.testing.assert_allclose(
        ops.convert_to_numpy(model(IMAGES)), numpy_forward(IMAGES)[2], rtol=1e-5, atol=1e-6
    )
