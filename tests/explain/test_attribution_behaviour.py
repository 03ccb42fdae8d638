"""What every pixel attribution method shares: shapes, class targets, sizes, models, errors."""

import importlib.util

import keras
import numpy as np
import pytest

from keras_cxr import GradCAM
from keras_cxr.explain import (
    METHODS,
    BaseAttention,
    BaseAttribution,
    IntegratedGradients,
    Saliency,
    get_method,
    is_cam,
)

from .models import tiny_cnn, with_random_weights

#: Run under every Keras backend (tests/test_backends.py).
pytestmark = pytest.mark.backends

PIXEL_METHODS = sorted(
    name
    for name, cls in METHODS.items()
    if not is_cam(cls) and not issubclass(cls, BaseAttention)  # those need attention layers
)
#: Cheap settings of each method for these tests.
CHEAP = {
    "gradient-times-input": {},
    "integrated-gradients": {"steps": 4},
    "lime": {"num_samples": 16},
    "occlusion": {"patch": 4},
    "saliency": {},
    "shap": {"max_evals": 20},
    "smoothgrad": {"samples": 2},
    "vargrad": {"samples": 2},
}
HAS_SHAP = importlib.util.find_spec("shap") is not None


def build(name, model, **kwargs):
    if name == "shap" and not HAS_SHAP:
        pytest.skip("shap is not installed (pip install 'keras_cxr[shap]')")
    return get_method(name)(model, **CHEAP[name], **kwargs)


def conv_net():
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="c1")(inputs)
    x = keras.layers.Conv2D(5, 3, strides=2, padding="same", activation="relu", name="c2")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(3, name="logits")(x))


NET = with_random_weights(conv_net(), seed=0, scale=0.3)


def test_the_pixel_methods_are_registered():
    assert PIXEL_METHODS == [
        "gradient-times-input", "integrated-gradients", "lime", "occlusion", "saliency",
        "shap", "smoothgrad", "vargrad",
    ]  # fmt: skip
    assert get_method("IntegratedGradients") is IntegratedGradients
    assert get_method("integrated_gradients") is IntegratedGradients
    assert get_method("Gradient_Times_Input") is METHODS["gradient-times-input"]
    assert get_method("SHAP") is METHODS["shap"]


@pytest.mark.parametrize("name", PIXEL_METHODS)
def test_every_method_runs_with_its_defaults_from_the_name_alone(name):
    if name == "shap" and not HAS_SHAP:
        pytest.skip("shap is not installed")
    images = np.random.default_rng(0).uniform(0, 255, (1, 16, 16, 3))
    explanation = get_method(name)(tiny_cnn()).explain(images)
    assert explanation.heatmaps.shape == explanation.attributions.shape == (1, 16, 16)


@pytest.mark.parametrize("name", PIXEL_METHODS)
def test_shapes_range_dtype_and_fields(name):
    images = np.random.default_rng(1).uniform(0, 255, (3, 16, 16, 3))
    explanation = build(name, NET).explain(images)
    assert explanation.heatmaps.shape == explanation.attributions.shape == (3, 16, 16)
    assert explanation.heatmaps.dtype == explanation.attributions.dtype == np.float32
    assert np.isfinite(explanation.heatmaps).all() and np.isfinite(explanation.attributions).all()
    assert explanation.heatmaps.min() >= 0 and explanation.heatmaps.max() == pytest.approx(1.0)
    assert explanation.layer_heatmaps == {} and explanation.target_layers == []
    assert explanation.display in ("abs", "positive")
    assert (explanation.completeness_gap is None) == (name not in ("integrated-gradients", "shap"))


@pytest.mark.parametrize("name", sorted(set(PIXEL_METHODS) - {"smoothgrad", "vargrad"}))
def test_a_batch_equals_each_image_alone(name):
    # (SmoothGrad and VarGrad draw the noise of a whole batch at once, so not for them.)
    explainer = build(name, NET, batch_size=2)
    images = np.random.default_rng(2).uniform(0, 255, (3, 16, 16, 3))
    together = explainer.explain(images, class_index=2)
    for i in range(3):
        alone = explainer.explain(images[i : i + 1], class_index=2)
        np.testing.assert_allclose(
            alone.attributions[0], together.attributions[i], rtol=1e-4, atol=1e-6
        )
        np.testing.assert_allclose(alone.scores[0], together.scores[i], rtol=1e-5)


@pytest.mark.parametrize("name", PIXEL_METHODS)
@pytest.mark.parametrize(
    ("units", "score", "class_index"),
    [(1, "logit", None), (1, "logit", 0), (1, "probability", 1), (3, "probability", 2)],
)
def test_the_same_class_targets_as_the_cams(name, units, score, class_index):
    model = with_random_weights(tiny_cnn(units=units), seed=1, scale=0.05)
    images = np.random.default_rng(3).uniform(0, 255, (2, 16, 16, 3))
    expected = GradCAM(model, score=score).explain(images, class_index=class_index)
    if name in ("smoothgrad", "vargrad"):  # the score is the wrapped explainer's
        explainer = get_method(name)(Saliency(model, score=score), samples=1)
    else:
        explainer = build(name, model, score=score)
    explanation = explainer.explain(images, class_index=class_index)
    np.testing.assert_array_equal(explanation.class_index, expected.class_index)
    np.testing.assert_allclose(explanation.scores, expected.scores, rtol=1e-5)
    np.testing.assert_allclose(explanation.predictions, expected.predictions, rtol=1e-5)


@pytest.mark.parametrize("name", sorted(set(PIXEL_METHODS) - {"smoothgrad", "vargrad"}))
def test_several_image_sizes_of_a_fully_convolutional_model(name):
    explainer = build(name, NET, batch_size=2)
    rng = np.random.default_rng(4)
    for size in (12, 20, 12):
        images = rng.uniform(0, 255, (3, size, size, 3))
        explanation = explainer.explain(images, class_index=1)
        assert explanation.attributions.shape == (3, size, size)
    assert {key[-1] for key in explainer._compiled} == {(12, 12, 3), (20, 20, 3)}


class LogitNet(keras.Model):
    """A subclassed model (no graph) returning logits; its layers are shared with a twin."""

    def __init__(self, twin: keras.Model):
        super().__init__()
        self.twin_layers = [twin.get_layer(n) for n in ("conv1", "relu1", "conv2", "last_relu")]
        self.pool, self.dense = twin.get_layer("gap"), twin.get_layer("logits")

    def call(self, inputs):
        x = inputs
        for layer in self.twin_layers:
            x = layer(x)
        return self.dense(self.pool(x))


@pytest.mark.parametrize("method", [Saliency, IntegratedGradients])
def test_a_subclassed_model_is_explained_through_its_output(method):
    functional = with_random_weights(tiny_cnn(), seed=2, scale=0.1)
    subclassed = LogitNet(functional)
    images = np.random.default_rng(5).uniform(0, 255, (2, 16, 16, 3))
    subclassed(images[:1])
    expected = method(functional).explain(images, class_index=1)
    explanation = method(subclassed).explain(images, class_index=1)
    np.testing.assert_allclose(
        explanation.attributions, expected.attributions, rtol=1e-4, atol=1e-7
    )
    np.testing.assert_allclose(explanation.scores, expected.scores, rtol=1e-5)


def test_overlay_and_plot_show_the_heatmaps():
    images = np.random.default_rng(6).integers(0, 256, (2, 16, 16, 3), dtype=np.uint8)
    explanation = Saliency(NET).explain(images)
    assert explanation.overlay(images).shape == (2, 16, 16, 3)
    figure = explanation.plot(images, labels=[0, 1])
    assert [axis.get_title() for axis in figure.axes[:2]] == ["image", "saliency"]


@pytest.mark.parametrize(
    ("build_explainer", "message"),
    [
        (lambda: Saliency(object()), r"argument `model`. Expected a keras.Model"),
        (lambda: Saliency(NET, display="raw"), r"argument `display`. Expected one of"),
        (lambda: Saliency(NET, score="logits"), r"argument `score`"),
        (lambda: Saliency(NET, batch_size=0), r"argument `batch_size`.*integer >= 1"),
        (lambda: Saliency(NET, output=2), r"argument `output`"),
    ],
)
def test_bad_constructor_arguments(build_explainer, message):
    with pytest.raises(ValueError, match=message):
        build_explainer()


@pytest.mark.parametrize(
    ("images", "class_index", "message"),
    [
        (np.zeros((16, 16, 3)), None, r"4-D batch.*Add a batch axis"),
        (np.full((1, 16, 16, 3), np.nan), None, r"finite pixel values"),
        (np.zeros((2, 16, 16, 3)), 3, r"indices in \[0, 2\]"),
        (np.zeros((2, 16, 16, 3)), [0, 1, 1], "one int per image"),
    ],
)
def test_bad_images_and_classes_are_refused_before_any_work(images, class_index, message):
    explainer = Saliency(NET)
    with pytest.raises(ValueError, match=message):
        explainer.explain(images, class_index=class_index)
    assert explainer._compiled == {}


def test_base_attribution_needs_a_hook():
    with pytest.raises(NotImplementedError):
        BaseAttribution(NET).explain(np.zeros((1, 8, 8, 3)))
