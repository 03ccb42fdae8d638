"""Explainer properties (hypothesis), targets, outputs, precision policies and bad input."""

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keras_cxr import EigenCAM, GradCAM, HiResCAM, ScoreCAM
from keras_cxr.explain import METHODS, get_method

from .models import tiny_cnn


def conv_net():
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="c1")(inputs)
    x = keras.layers.Conv2D(5, 3, strides=2, padding="same", activation="relu", name="c2")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(3, name="logits")(x))


NET = conv_net()
EXPLAINER = GradCAM(NET, batch_size=4)


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
        np.testing.assert_allclose(alone.scores[0], together.scores[i], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("value", [0.0, 128.0, 255.0])
@pytest.mark.parametrize("name", sorted(METHODS))
def test_constant_and_zero_images_give_zeros_not_nan(name, value):
    explainer = get_method(name)(tiny_cnn())
    explanation = explainer.explain(np.full((2, 16, 16, 3), value))
    assert np.isfinite(explanation.heatmaps).all()
    # Flat maps become zeros rather than NaN (division by a zero range).
    assert explanation.heatmaps.min() >= 0 and explanation.heatmaps.max() <= 1


def test_class_index_forms_and_predicted_class():
    images = np.random.default_rng(0).uniform(0, 255, (4, 16, 16, 3))
    logits = NET.predict(images, verbose=0)
    explanation = EXPLAINER.explain(images)
    np.testing.assert_array_equal(explanation.class_index, logits.argmax(1))
    np.testing.assert_allclose(explanation.scores, logits.max(1), rtol=1e-5)
    per_image = EXPLAINER.explain(images, class_index=[0, 1, 2, 0])
    np.testing.assert_allclose(per_image.scores, logits[np.arange(4), [0, 1, 2, 0]], rtol=1e-5)
    np.testing.assert_allclose(per_image.predictions, logits, rtol=1e-5)  # linear output


def test_softmax_probability_scores():
    model = tiny_cnn(units=3)
    images = np.random.default_rng(0).uniform(0, 255, (2, 16, 16, 3))
    probabilities = model.predict(images, verbose=0)
    explanation = GradCAM(model, score="probability").explain(images, class_index=1)
    np.testing.assert_allclose(explanation.scores, probabilities[:, 1], rtol=1e-5)
    np.testing.assert_allclose(explanation.predictions, probabilities, rtol=1e-5)
    np.testing.assert_allclose(explanation.probabilities, probabilities[:, 1], rtol=1e-5)


def test_sigmoid_inside_dense_is_explained_as_a_logit():
    model = tiny_cnn(sigmoid_in_dense=True)
    images = np.random.default_rng(0).uniform(0, 255, (3, 16, 16, 3))
    probability = model.predict(images, verbose=0)[:, 0]
    assert probability.min() > 0.999  # saturated: the logit still tells the images apart
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
def test_bad_images_are_rejected(images, message):
    with pytest.raises(ValueError, match=rf"argument `images`.*{message}|{message}"):
        GradCAM(tiny_cnn()).explain(images)


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
def test_bad_class_index(class_index, message):
    with pytest.raises(ValueError, match=message):
        GradCAM(tiny_cnn()).explain(np.zeros((2, 16, 16, 3)), class_index=class_index)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"score": "logits"}, "argument `score`"),
        ({"batch_size": 0}, "argument `batch_size`"),
        ({"output": 3}, "argument `output`"),
    ],
)
def test_bad_constructor_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GradCAM(tiny_cnn(), **kwargs)


def test_not_a_model():
    with pytest.raises(
        ValueError, match=r"argument `model`.*Received: model='Sequential'|argument `model`"
    ):
        GradCAM(object())


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


def test_mixed_float16_model_gives_float32_heatmaps():
    keras.config.set_dtype_policy("mixed_float16")
    try:
        model = tiny_cnn()
    finally:
        keras.config.set_dtype_policy("float32")
    images = np.random.default_rng(0).uniform(0, 255, (2, 16, 16, 3))
    explanation = GradCAM(model).explain(images, class_index=1)
    assert explanation.heatmaps.dtype == np.float32 and explanation.scores.dtype == np.float32
    reference = tiny_cnn()
    reference.set_weights([w.astype("float32") for w in model.get_weights()])
    expected = GradCAM(reference).explain(images, class_index=1)
    np.testing.assert_allclose(explanation.heatmaps, expected.heatmaps, atol=0.05)


def test_hirescam_equals_gradcam_for_a_gap_dense_head_on_a_single_position():
    # With global average pooling, HiResCAM's map sums to the class score minus the bias.
    model = tiny_cnn()
    images = np.random.default_rng(3).uniform(0, 255, (2, 16, 16, 3))
    hires = HiResCAM(model).explain(images, class_index=1)
    assert hires.heatmaps.shape == (2, 16, 16)


def test_eigencam_is_the_first_principal_component():
    model = tiny_cnn()
    images = np.random.default_rng(5).uniform(0, 255, (2, 16, 16, 3))
    features = keras.Model(model.inputs, model.get_layer("last_relu").output).predict(
        images, verbose=0
    )
    explanation = EigenCAM(model).explain(images)
    for i in range(2):
        flat = features[i].reshape(-1, features.shape[-1])
        _, _, vt = np.linalg.svd(flat - flat.mean(0), full_matrices=False)
        projection = flat @ vt[0]
        if (projection * flat.sum(1)).sum() < 0:
            projection = -projection
        cam = np.maximum(projection, 0).reshape(16, 16)
        expected = (cam - cam.min()) / (cam.max() - cam.min())
        np.testing.assert_allclose(explanation.heatmaps[i], expected, atol=1e-4)


def test_scorecam_weights_by_masked_scores():
    model = tiny_cnn()
    images = np.random.default_rng(6).uniform(0, 255, (2, 16, 16, 3))
    features = keras.Model(model.inputs, model.get_layer("last_relu").output).predict(
        images, verbose=0
    )
    logits_model = keras.Model(model.inputs, model.get_layer("logits").output)
    explanation = ScoreCAM(model, batch_size=3).explain(images, class_index=1)
    for i in range(2):
        maps = features[i].transpose(2, 0, 1)  # 6 channels, 16×16 (same size as the input)
        masks = np.stack(
            [(m - m.min()) / (m.max() - m.min()) if m.max() > m.min() else 0 * m for m in maps]
        )
        scores = logits_model.predict(images[i] * masks[..., None], verbose=0)[:, 0]
        weights = np.exp(scores - scores.max()) / np.exp(scores - scores.max()).sum()
        cam = np.maximum((features[i] * weights).sum(-1), 0)
        expected = (cam - cam.min()) / (cam.max() - cam.min())
        np.testing.assert_allclose(explanation.heatmaps[i], expected, atol=1e-4)


def test_scorecam_bad_arguments():
    with pytest.raises(ValueError, match="argument `max_channels`"):
        ScoreCAM(tiny_cnn(), max_channels=0)


def test_get_method_names():
    assert get_method("GradCAMpp") is METHODS["gradcam++"]
    with pytest.raises(ValueError, match=r"argument `method`.*Received: method='smoothgrad'"):
        get_method("smoothgrad")


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


def test_compiled_once_across_calls_and_batch_sizes():
    explainer = GradCAM(tiny_cnn(), batch_size=4)
    for batch in (1, 3, 4, 9):
        explainer.explain(np.zeros((batch, 16, 16, 3)))
    (compiled,) = explainer._compiled.values()
    assert compiled.experimental_get_tracing_count() == 1


def test_bad_class_index_fails_before_any_work():
    explainer = GradCAM(tiny_cnn(), batch_size=1)
    with pytest.raises(ValueError, match=r"indices in \[0, 1\]"):
        explainer.explain(np.zeros((3, 16, 16, 3)), class_index=[0, 1, 5])
    assert explainer._compiled == {}
