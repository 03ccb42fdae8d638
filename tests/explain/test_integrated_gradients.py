"""Integrated Gradients: exact on a linear model, complete on a CNN, chunked as promised."""

import keras
import numpy as np
import pytest

from keras_cxr.explain import IntegratedGradients
from keras_cxr.explain.baselines import baseline_images, gaussian_blur
from keras_cxr.explain.integrated_gradients import trapezoid_weights

from .models import tiny_cnn, with_random_weights

#: Run under every Keras backend (tests/test_backends.py).
pytestmark = pytest.mark.backends

SHAPE = (4, 5, 2)
WEIGHTS = np.random.default_rng(1).normal(size=SHAPE).astype("float32")
IMAGES = np.random.default_rng(2).uniform(0, 4, (3, *SHAPE)).astype("float32")


def linear_model():
    """logit = Σ w·x + b, then a sigmoid."""
    inputs = keras.Input(SHAPE)
    dense = keras.layers.Dense(1, name="logits")
    model = keras.Model(
        inputs, keras.layers.Activation("sigmoid")(dense(keras.layers.Flatten()(inputs)))
    )
    dense.set_weights([WEIGHTS.reshape(-1, 1), np.array([0.7], "float32")])
    return model


@pytest.mark.parametrize(
    "baseline",
    ["black", "blur", "uniform", 1.5, np.full(SHAPE, 2.0, "float32"), np.ones((3, *SHAPE))],
    ids=["black", "blur", "uniform", "number", "one-array", "per-image-arrays"],
)
@pytest.mark.parametrize(("class_index", "sign"), [(1, 1.0), (0, -1.0)])
def test_a_linear_model_gets_its_exact_attributions(baseline, class_index, sign):
    # The gradient is the constant ±w, so IG is (x − x')·(±w) summed over the channels,
    # whatever the number of steps, and the attributions add up to s(x) − s(x').
    explainer = IntegratedGradients(linear_model(), baseline=baseline, steps=3, seed=7)
    explanation = explainer.explain(IMAGES, class_index=class_index)
    reference = baseline_images(baseline, IMAGES, seed=7)
    expected = sign * ((IMAGES - reference) * WEIGHTS).sum(axis=-1)
    np.testing.assert_allclose(explanation.attributions, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(explanation.completeness_gap, 0.0, atol=1e-4)
    logits = (IMAGES * WEIGHTS).sum(axis=(1, 2, 3)) + 0.7
    np.testing.assert_allclose(explanation.scores, sign * logits, rtol=1e-5)
    assert explanation.method == "integrated-gradients" and explanation.display == "positive"


def test_a_small_cnn_is_complete_within_one_percent_at_64_steps():
    model = with_random_weights(tiny_cnn(input_shape=(12, 12, 3)), seed=3)
    images = np.random.default_rng(3).uniform(0, 1, (4, 12, 12, 3)).astype("float32")
    explanation = IntegratedGradients(model, steps=64).explain(images, class_index=1)
    black = np.zeros_like(images)
    logits = keras.Model(model.inputs, model.get_layer("logits").output)
    change = explanation.scores - np.asarray(logits.predict(black, verbose=0))[:, 0]
    assert np.abs(change).min() > 0.1, "a change worth measuring"
    gap = explanation.attributions.sum(axis=(1, 2)) - change
    np.testing.assert_allclose(explanation.completeness_gap, gap, atol=1e-5)
    assert np.all(np.abs(gap) <= 0.01 * np.abs(change)), gap / change
    # ... and a coarse rule is measurably worse: the gap is a real convergence measure.
    coarse = IntegratedGradients(model, steps=2).explain(images, class_index=1)
    assert np.abs(coarse.completeness_gap).max() > np.abs(gap).max()


def test_interpolated_images_go_to_the_model_in_chunks_of_internal_batch_size():
    explainer = IntegratedGradients(tiny_cnn(), steps=9, internal_batch_size=7, batch_size=2)
    images = np.random.default_rng(0).uniform(0, 255, (3, 16, 16, 3)).astype("float32")
    sizes = []
    compiled_for = explainer._compiled_for

    def recording(function, chunk, others=()):
        compiled = compiled_for(function, chunk, others)

        def call(points, classes, *others):
            if function.__name__ == "_input_gradients":
                sizes.append(len(points))
            return compiled(points, classes, *others)

        return call

    explainer._compiled_for = recording
    chunked = explainer.explain(images, class_index=1)
    # 2 + 1 images per chunk, 10 points each: 20 = 7 + 7 + 6, then 10 = 7 + 3.
    assert sizes == [7, 7, 6, 7, 3]
    whole = IntegratedGradients(tiny_cnn(), steps=9, internal_batch_size=100)
    whole.model.set_weights(explainer.model.get_weights())
    np.testing.assert_allclose(
        whole.explain(images, class_index=1).attributions,
        chunked.attributions,
        rtol=1e-5,
        atol=1e-6,
    )


def test_trapezoid_weights():
    np.testing.assert_allclose(trapezoid_weights(1), [0.5, 0.5])
    np.testing.assert_allclose(trapezoid_weights(4), [1 / 8, 1 / 4, 1 / 4, 1 / 4, 1 / 8])
    assert trapezoid_weights(64).sum() == pytest.approx(1.0)


def test_baselines():
    images = np.random.default_rng(0).uniform(0, 10, (2, 9, 9, 2)).astype("float32")
    np.testing.assert_array_equal(baseline_images("black", images), np.zeros_like(images))
    uniform = baseline_images("uniform", images, seed=3)
    np.testing.assert_array_equal(uniform, baseline_images("uniform", images, seed=3))
    assert not np.array_equal(uniform, baseline_images("uniform", images, seed=4))
    assert np.all(uniform >= images.min(axis=(1, 2, 3), keepdims=True))
    assert np.all(uniform <= images.max(axis=(1, 2, 3), keepdims=True))
    blurred = baseline_images("blur", images)
    np.testing.assert_allclose(blurred, gaussian_blur(images, 0.9), rtol=1e-6)


def test_gaussian_blur_against_scipy():
    ndimage = pytest.importorskip("scipy.ndimage")
    images = np.random.default_rng(0).normal(size=(2, 11, 8, 3))
    # scipy's "reflect" repeats the edge pixel, like numpy's "symmetric"; its radius is
    # int(3σ + 0.5), which is ceil(3σ) for σ = 1.5.
    expected = ndimage.gaussian_filter(images, sigma=(0, 1.5, 1.5, 0), mode="reflect", truncate=3)
    np.testing.assert_allclose(gaussian_blur(images, 1.5), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"steps": 0}, r"argument `steps`. Expected an integer >= 1. Received: steps=0"),
        ({"steps": 2.5}, r"argument `steps`.*Received: steps=2.5"),
        ({"internal_batch_size": 0}, r"argument `internal_batch_size`.*integer >= 1"),
        ({"baseline": "white"}, r"argument `baseline`. Expected one of \('black', 'blur', "),
        ({"baseline": np.inf}, r"argument `baseline`. Expected finite values"),
        ({"baseline": [[np.nan]]}, r"argument `baseline`. Expected finite values"),
        ({"display": "signed"}, r"argument `display`. Expected one of \('abs', 'positive'\)"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        IntegratedGradients(tiny_cnn(), **kwargs)


def test_a_baseline_of_the_wrong_shape_is_refused_before_any_work():
    explainer = IntegratedGradients(tiny_cnn(), baseline=np.zeros((8, 8, 3)))
    with pytest.raises(
        ValueError,
        match=r"argument `baseline`. Expected .* like the images. "
        r"Received: baseline='an array of shape \(8, 8, 3\)'",
    ):
        explainer.explain(np.zeros((2, 16, 16, 3)))
    assert explainer._compiled == {}
