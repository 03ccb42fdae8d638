"""Saliency against central finite differences of a float64 numpy copy of the model."""

import numpy as np
import pytest

from keras_cxr.explain import Saliency, attribution_heatmaps

from .models import numpy_smooth_cnn, smooth_cnn, with_random_weights

#: Run under every Keras backend (tests/test_backends.py).
pytestmark = pytest.mark.backends


def finite_difference_gradients(score, images: np.ndarray, step: float = 1e-5) -> np.ndarray:
    """d score / d pixel for every pixel and channel, by central differences in float64."""
    images = images.astype(np.float64)
    gradients = np.zeros_like(images)
    for index in np.ndindex(images.shape[1:]):
        plus, minus = images.copy(), images.copy()
        plus[(slice(None), *index)] += step
        minus[(slice(None), *index)] -= step
        gradients[(slice(None), *index)] = (score(plus) - score(minus)) / (2 * step)
    return gradients


MODEL = with_random_weights(smooth_cnn(), seed=1, scale=0.8)
IMAGES = np.random.default_rng(2).uniform(-1, 1, (3, 6, 6, 2)).astype("float32")


def test_the_numpy_copy_is_the_model():
    logits = numpy_smooth_cnn(MODEL, IMAGES)[:, 0]
    probabilities = np.asarray(MODEL.predict(IMAGES, verbose=0))[:, 0]
    np.testing.assert_allclose(1 / (1 + np.exp(-logits)), probabilities, rtol=1e-5)


@pytest.mark.parametrize(("class_index", "sign"), [(1, 1.0), (0, -1.0)])
def test_saliency_is_the_largest_absolute_gradient_over_the_channels(class_index, sign):
    gradients = finite_difference_gradients(
        lambda x: sign * numpy_smooth_cnn(MODEL, x)[:, 0], IMAGES
    )
    expected = np.abs(gradients).max(axis=-1)
    explanation = Saliency(MODEL).explain(IMAGES, class_index=class_index)
    assert explanation.attributions.dtype == np.float32
    np.testing.assert_allclose(explanation.attributions, expected, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(
        explanation.heatmaps, np.asarray(attribution_heatmaps(expected, "abs")), atol=1e-4
    )
    assert explanation.display == "abs" and explanation.method == "saliency"
    assert explanation.completeness_gap is None and explanation.layer_heatmaps == {}


def test_probability_score_has_the_gradient_of_the_probability():
    def probability(x):
        return 1 / (1 + np.exp(-numpy_smooth_cnn(MODEL, x)[:, 0]))

    expected = np.abs(finite_difference_gradients(probability, IMAGES)).max(axis=-1)
    explanation = Saliency(MODEL, score="probability").explain(IMAGES, class_index=1)
    np.testing.assert_allclose(explanation.attributions, expected, rtol=1e-4, atol=1e-8)
    np.testing.assert_allclose(explanation.scores, probability(IMAGES), rtol=1e-5)


def test_softmax_unit_by_unit():
    model = with_random_weights(smooth_cnn(units=3), seed=4, scale=0.8)
    for unit in range(3):
        gradients = finite_difference_gradients(
            lambda x, unit=unit: numpy_smooth_cnn(model, x)[:, unit], IMAGES
        )
        explanation = Saliency(model).explain(IMAGES, class_index=unit)
        np.testing.assert_allclose(
            explanation.attributions, np.abs(gradients).max(-1), rtol=1e-4, atol=1e-7
        )
