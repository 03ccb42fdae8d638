"""Explainer properties (hypothesis), targets, outputs, precision policies and bad input."""

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keras_cxr import GradCAM, HiResCAM
from keras_cxr.explain import METHODS, get_method, is_cam

from .models import tiny_cnn


def conv_net():
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="c1")(inputs)
    x = keras.layers.Conv2D(5, 3, strides=2, padding="same", activation="relu", name="c2")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(3, name="logits")(x))


NET = conv_net()
EXPLAINER = GradCAM(NET, batch_size=4)
#: The CAM family; the pixel attribution methods have tests of their own
#: (tests/explain/test_attribution_behaviour.py).
CAMS = sorted(name for name, cls in METHODS.items() if is_cam(cls))


@pytest.mark.backends
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(size=st.integers(8, 30), batch=st.integers(1, 6), seed=st.integers(0, 1000))
def test_shape_range_and_dtype(size, batch, seed):
    images = np.random.default_rng(seed).uniform(0, 255, (batch, size, size, 3))
    explanation = EXPLAINER.explain(images)
    assert explanation.heatmaps.shape == (batch, size, size)
    assert explanation.heatmaps.dtype == np.float32
    assert np.isfinite(explanation.heatmaps).all()
    assert explanation.heatmaps.min() >= 0 and explanation.heatmaps.max() <= 1
    assert len(explanation) == batch


@pytest.mark.backends
@settings(max_examples=6, deadline=None)
@given(batch=st.integers(2, 7), seed=st.integers(0, 1000))
def test_a_batch_equals_each_image_alone_and_is_deterministic(batch, seed):
    images = np.random.default_rng(seed).uniform(0, 255, (batch, 16, 16, 3))
    together = EXPLAINER.explain(images, class_index=2)
    again = EXPLAINER.explain(images, class_index=2)
    np.testing.assert_array_equal(together.heatmaps, again.heatmaps)
    for i in range(batch):
        alone = EXPLAINER.explain(images[i : i + 1], class_index=2)
        np.testing.assert_allclose(alone.heatmaps[0], together.heatmaps[i], atol=1e-5)
        # A batch of another size is summed in another order (XLA and oneDNN tile by the
        # batch), and the logit sums conv terms of pixel scale (0-255) in float32: a score
        # of -0.057 came out 5.3e-6 apart under JAX, so the tolerance is absolute.
        np.testing.assert_allclose(alone.scores[0], together.scores[i], rtol=1e-5, atol=1e-4)


@pytest.mark.backends
@pytest.mark.parametrize("value", [0.0, 128.0, 255.0])
@pytest.mark.parametrize("name", CAMS)
def test_constant_and_zero_images_give_zeros_not_nan(name, value):
    # Without padding a constant image gives constant feature maps, so every method's map
    # is flat, and a flat map must become zeros rather than NaN (a division by a zero range).
    explainer = get_method(name)(tiny_cnn(padding="valid"))
    heatmaps = explainer.explain(np.full((2, 16, 16, 3), value)).heatmaps
    assert np.isfinite(heatmaps).all()
    np.testing.assert_array_equal(heatmaps, np.zeros((2, 16, 16), np.float32))


def fully_convolutional_net():
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(4, 3, strides=2, padding="same", activation="relu", name="c1")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(2, name="logits")(x))


@pytest.mark.backends
@pytest.mark.parametrize("name", CAMS)
def test_every_method_explains_several_image_sizes_of_a_fully_convolutional_model(name):
    # ScoreCAM used to compile for the first size only and then refused the second one.
    explainer = get_method(name)(fully_convolutional_net(), batch_size=2)
    rng = np.random.default_rng(0)
    for size in (64, 96, 64):
        images = rng.uniform(0, 255, (3, size, size, 3))
        explanation = explainer.explain(images, class_index=1)
        assert explanation.heatmaps.shape == (3, size, size)
        assert np.isfinite(explanation.heatmaps).all()
        alone = explainer.explain(images[:1], class_index=1)
        np.testing.assert_allclose(alone.heatmaps[0], explanation.heatmaps[0], atol=1e-5)
    assert {key[-1] for key in explainer._compiled} == {(64, 64, 3), (96, 96, 3)}


@pytest.mark.backends
def test_class_index_forms_and_predicted_class():
    images = np.random.default_rng(0).uniform(0, 255, (4, 16, 16, 3))
    logits = NET.predict(images, verbose=0)
    explanation = EXPLAINER.explain(images)
    np.testing.assert_array_equal(explanation.class_index, logits.argmax(1))
    np.testing.assert_allclose(explanation.scores, logits.max(1), rtol=1e-5)
    per_image = EXPLAINER.explain(images, class_index=[0, 1, 2, 0])
    np.testing.assert_allclose(per_image.scores, logits[np.arange(4), [0, 1, 2, 0]], rtol=1e-5)
    np.testing.assert_allclose(per_image.predictions, logits, rtol=1e-5)  # linear output


@pytest.mark.backends
def test_softmax_probability_scores():
    model = tiny_cnn(units=3)
    images = np.random.default_rng(0).uniform(0, 255, (2, 16, 16, 3))
    probabilities = model.predict(images, verbose=0)
    explanation = GradCAM(model, score="probability").explain(images, class_index=1)
    np.testing.assert_allclose(explanation.scores, probabilities[:, 1], rtol=1e-5)
    np.testing.assert_allclose(explanation.predictions, probabilities, rtol=1e-5)
    np.testing.assert_allclose(explanation.probabilities, probabilities[:, 1], rtol=1e-5)


@pytest.mark.backends
def test_sigmoid_inside_dense_is_explained_as_a_logit():
    model = tiny_cnn(sigmoid_in_dense=True)
    images = np.random.default_rng(0).uniform(0, 255, (3, 16, 16, 3))
    probability = model.predict(images, verbose=0)[:, 0]
    # Saturated (towards 1 under TensorFlow's initial weights, towards 0 under JAX's): the
    # logit still tells the images apart where the probability no longer does.
    assert (probability > 0.999).all() or (probability < 0.001).all()
    pooled = keras.Model(model.inputs, model.get_layer("gap").output).predict(images, verbose=0)
    dense = model.get_layer("dense")
    logits = pooled @ dense.kernel.numpy()[:, 0] + dense.bias.numpy()[0]
    explanation = GradCAM(model).explain(images, class_index=1)
    np.testing.assert_allclose(explanation.scores, logits, rtol=1e-4)
    np.testing.assert_allclose(explanation.predictions[:, 0], probability, rtol=1e-5)
    assert dense.activation.__name__ == "sigmoid"  # the model itself is left untouched


@pytest.mark.parametrize(
    ("images", "message"),
    [
        (np.zeros((16, 16, 3)), r"4-D batch.*Add a batch axis"),
        (np.zeros((1, 1, 16, 16, 3)), r"4-D batch"),
        (np.zeros((1, 16, 16, 1)), r"axis 3 differs"),
        (np.zeros((1, 20, 16, 3)), r"axis 1 differs"),
        (np.full((1, 16, 16, 3), np.nan), r"finite pixel values"),
        (np.full((1, 16, 16, 3), np.inf), r"finite pixel values"),
        (np.zeros((0, 16, 16, 3)), r"at least one image"),
        (np.array([["a"]]), r"numeric array"),
    ],
)
@pytest.mark.backends
def test_bad_images_are_rejected(images, message):
    with pytest.raises(ValueError, match=rf"argument `images`.*{message}|{message}"):
        GradCAM(tiny_cnn()).explain(images)


@pytest.mark.backends
def test_uint8_equals_float32():
    images = np.random.default_rng(0).integers(0, 256, (2, 16, 16, 3), dtype=np.uint8)
    explainer = GradCAM(tiny_cnn())
    np.testing.assert_array_equal(
        explainer.explain(images).heatmaps, explainer.explain(images.astype("float32")).heatmaps
    )


@pytest.mark.parametrize(
    ("class_index", "message"),
    [
        (2, r"indices in \[0, 1\].*single sigmoid unit"),
        (-1, r"indices in \[0, 1\]"),
        ([0, 1, 1], "one int per image"),
        (0.5, "integers"),
    ],
)
@pytest.mark.backends
def test_bad_class_index(class_index, message):
    with pytest.raises(ValueError, match=message):
        GradCAM(tiny_cnn()).explain(np.zeros((2, 16, 16, 3)), class_index=class_index)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"score": "logits"}, "argument `score`"),
        ({"batch_size": 0}, r"argument `batch_size`.*integer >= 1.*batch_size=0"),
        ({"batch_size": True}, r"argument `batch_size`.*Received: batch_size=True"),
        ({"batch_size": 2.0}, r"argument `batch_size`.*Received: batch_size=2.0"),
        ({"output": 3}, "argument `output`"),
    ],
)
@pytest.mark.backends
def test_bad_constructor_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GradCAM(tiny_cnn(), **kwargs)


@pytest.mark.backends
def test_not_a_model():
    with pytest.raises(
        ValueError, match=r"argument `model`.*Received: model='Sequential'|argument `model`"
    ):
        GradCAM(object())


@pytest.mark.backends
def test_multi_output_models_by_index_and_name():
    inputs = keras.Input((16, 16, 3))
    features = keras.layers.Conv2D(4, 3, activation="relu", name="features")(inputs)
    pooled = keras.layers.GlobalAveragePooling2D()(features)
    first = keras.layers.Dense(1, name="pneumonia")(pooled)
    second = keras.layers.Dense(3, name="kind")(pooled)
    model = keras.Model(inputs, [first, second])
    images = np.random.default_rng(0).uniform(0, 255, (2, 16, 16, 3))
    first_out, second_out = model.predict(images, verbose=0)
    by_name = GradCAM(model, output="kind").explain(images, class_index=2)
    np.testing.assert_allclose(by_name.scores, second_out[:, 2], rtol=1e-5)
    by_index = GradCAM(model, output=0).explain(images, class_index=1)
    np.testing.assert_allclose(by_index.scores, first_out[:, 0], rtol=1e-5)


@pytest.mark.backends
@pytest.mark.parametrize(("policy", "atol"), [("mixed_float16", 0.05), ("mixed_bfloat16", 0.1)])
def test_mixed_precision_model_gives_finite_float32_heatmaps(policy, atol):
    keras.config.set_dtype_policy(policy)
    try:
        model = tiny_cnn()
    finally:
        keras.config.set_dtype_policy("float32")
    images = np.random.default_rng(0).uniform(0, 255, (2, 16, 16, 3))
    # The predicted class has a positive score, so its map cannot be all zeros.
    explanation = GradCAM(model).explain(images)
    assert explanation.heatmaps.dtype == np.float32 and explanation.scores.dtype == np.float32
    assert np.isfinite(explanation.heatmaps).all() and np.isfinite(explanation.scores).all()
    reference = tiny_cnn()
    reference.set_weights([w.astype("float32") for w in model.get_weights()])
    expected = GradCAM(reference).explain(images)
    np.testing.assert_array_equal(explanation.class_index, expected.class_index)
    assert expected.heatmaps.max() == pytest.approx(1.0), "not zeros against zeros"
    np.testing.assert_allclose(explanation.heatmaps, expected.heatmaps, atol=atol)


@pytest.mark.backends
def test_hirescam_equals_gradcam_for_a_gap_dense_head_on_a_single_position():
    # Through global average pooling and a dense layer, d(score)/dA_k(i, j) = v_k / (h·w) at
    # every position, so Grad-CAM's spatially averaged gradient is the gradient itself and
    # both maps are ReLU(Σ_k v_k A_k / (h·w)), position by position.
    model = tiny_cnn()
    images = np.random.default_rng(3).uniform(0, 255, (4, 16, 16, 3))
    for class_index in (0, 1):
        hires = HiResCAM(model).explain(images, class_index=class_index)
        grad = GradCAM(model).explain(images, class_index=class_index)
        np.testing.assert_allclose(hires.heatmaps, grad.heatmaps, atol=1e-4)  # float32 means
        np.testing.assert_allclose(hires.scores, grad.scores, rtol=1e-6)
        assert hires.heatmaps.max() == pytest.approx(1.0), "not zeros against zeros"


def flatten_head_net():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(5, 3, strides=2, padding="same", activation="relu", name="c1")(inputs)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(4, activation="relu")(x)
    return keras.Model(inputs, keras.layers.Dense(1, name="logits")(x))


@pytest.mark.backends
def test_hirescam_differs_from_gradcam_where_gradients_vary_by_position():
    # The control for the equality above: a dense layer on the flattened 4 × 4 map gives
    # every position its own gradient, and the two methods part.
    model = flatten_head_net()
    images = np.random.default_rng(4).uniform(0, 255, (2, 8, 8, 3))
    hires = HiResCAM(model).explain(images, class_index=1).heatmaps
    grad = GradCAM(model).explain(images, class_index=1).heatmaps
    assert np.abs(hires - grad).max() > 0.05


@pytest.mark.backends
def test_get_method_names():
    assert get_method("GradCAMpp") is METHODS["gradcam++"]
    assert CAMS == [
        "eigencam", "gradcam", "gradcam++", "hirescam", "layercam", "scorecam", "xgradcam"
    ]  # fmt: skip
    with pytest.raises(ValueError, match=r"argument `method`.*Received: method='guidedbackprop'"):
        get_method("guidedbackprop")


@pytest.mark.backends
def test_the_explainer_reads_current_weights():
    model = tiny_cnn()
    explainer = GradCAM(model)
    images = np.random.default_rng(0).uniform(0, 255, (2, 16, 16, 3))
    before = explainer.explain(images, class_index=1)
    model.get_layer("logits").kernel.assign(-model.get_layer("logits").kernel)
    after = explainer.explain(images, class_index=1)
    np.testing.assert_allclose(
        after.scores,
        -before.scores + 2 * model.get_layer("logits").bias.numpy()[0],
        rtol=1e-4,
        atol=1e-5,
    )


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="counts tf.function traces")
def test_compiled_once_across_calls_and_batch_sizes():
    explainer = GradCAM(tiny_cnn(), batch_size=4)
    for batch in (1, 3, 4, 9):
        explainer.explain(np.zeros((batch, 16, 16, 3)))
    (compiled,) = explainer._compiled.values()
    assert compiled.experimental_get_tracing_count() == 1


@pytest.mark.backends
@pytest.mark.backends
@pytest.mark.skipif(keras.backend.backend() == "torch", reason="PyTorch runs eagerly")
def test_a_last_partial_batch_is_not_compiled_again():
    # Under JAX the batch of 1 is padded to the 4 already compiled; TensorFlow's batch axis
    # is dynamic. Traces are counted by the Python calls of the compiled function.
    explainer = GradCAM(tiny_cnn(), batch_size=4)
    run_batch, traces = explainer._run_batch, []

    def counted(*args):
        traces.append(args[0].shape)
        return run_batch(*args)

    counted.__name__ = run_batch.__name__
    explainer._run_batch = counted
    explainer.explain(np.zeros((9, 16, 16, 3)))
    explainer.explain(np.zeros((6, 16, 16, 3)))
    assert len(traces) == 1, traces


def test_bad_class_index_fails_before_any_work():
    explainer = GradCAM(tiny_cnn(), batch_size=1)
    with pytest.raises(ValueError, match=r"indices in \[0, 1\]"):
        explainer.explain(np.zeros((3, 16, 16, 3)), class_index=[0, 1, 5])
    assert explainer._compiled == {}


def test_explain_tensors_is_the_core_of_explain():
    images = np.random.default_rng(4).uniform(0, 1, (3, 12, 12, 3)).astype("float32")
    classes = np.array([2, -1, 0], "int32")
    out = EXPLAINER.explain_tensors(images, classes)
    predicted = int(np.argmax(NET.predict(images[1:2], verbose=0)))
    explanation = EXPLAINER.explain(images, class_index=[2, predicted, 0])
    assert list(np.asarray(out["classes"])) == [2, predicted, 0]
    np.testing.assert_allclose(np.asarray(out["fused"]), explanation.heatmaps, atol=1e-6)
    np.testing.assert_allclose(np.asarray(out["scores"]), explanation.scores, atol=1e-6)
    assert np.asarray(out["layer_maps"]).shape == (3, 1, 12, 12)
