"""VarGrad: the population variance of the wrapped method over the same noisy copies."""

import numpy as np
import pytest

from keras_cxr import GradCAM
from keras_cxr.explain import Saliency, SmoothGrad, VarGrad, attribution_heatmaps, normalize

from .models import tiny_cnn, with_random_weights
from .test_smoothgrad import noisy_copies

#: Run under every Keras backend (tests/test_backends.py).
pytestmark = pytest.mark.backends

MODEL = with_random_weights(tiny_cnn(), seed=6, scale=0.2)
IMAGES = np.random.default_rng(1).uniform(0, 255, (2, 16, 16, 3)).astype("float32")


def test_vargrad_is_the_mean_square_minus_the_squared_mean():
    explanation = VarGrad(Saliency(MODEL), samples=5, noise=0.2, seed=4).explain(IMAGES, 1)
    copies = noisy_copies(IMAGES, 5, 0.2, 4)
    samples = np.asarray(
        [Saliency(MODEL).explain(c, class_index=1).attributions for c in copies], np.float64
    )
    expected = (samples**2).mean(axis=0) - samples.mean(axis=0) ** 2
    scale = expected.max()
    assert scale > 0
    np.testing.assert_allclose(explanation.attributions, expected, rtol=1e-4, atol=1e-6 * scale)
    np.testing.assert_allclose(
        explanation.heatmaps, np.asarray(attribution_heatmaps(expected, "abs")), atol=1e-4
    )
    assert explanation.display == "abs" and explanation.method == "vargrad(saliency)"
    mean = SmoothGrad(Saliency(MODEL), samples=5, noise=0.2, seed=4).explain(IMAGES, 1)
    np.testing.assert_allclose(mean.attributions, samples.mean(axis=0), rtol=1e-5, atol=1e-7)


def test_zero_noise_has_zero_variance():
    explanation = VarGrad(MODEL, samples=3, noise=0.0).explain(IMAGES)
    np.testing.assert_array_equal(explanation.attributions, 0.0)
    np.testing.assert_array_equal(explanation.heatmaps, 0.0)


def test_a_cam_gets_the_variance_of_its_heatmaps():
    explanation = VarGrad(GradCAM(MODEL), samples=3, noise=0.2, seed=2).explain(IMAGES, 1)
    maps = np.asarray(
        [
            GradCAM(MODEL).explain(c, class_index=1).heatmaps
            for c in noisy_copies(IMAGES, 3, 0.2, 2)
        ],
        np.float64,
    )
    np.testing.assert_allclose(
        explanation.heatmaps, np.asarray(normalize(maps.var(axis=0))), atol=1e-4
    )
    assert explanation.attributions is None
