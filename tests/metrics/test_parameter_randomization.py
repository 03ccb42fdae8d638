"""sMPRT and eMPRT on a one-layer Keras model, against loops written out here."""

import keras
import numpy as np
import pytest

from keras_cxr import metrics
from keras_cxr.metrics.model_randomization import fully_randomized_model
from keras_cxr.metrics.parameter_randomization import histogram_entropy

pytestmark = pytest.mark.backends

SIDE = 12
IMAGES = np.random.default_rng(0).uniform(size=(4, SIDE * SIDE)).astype("float32")


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    layers = [keras.Input((SIDE * SIDE,)), keras.layers.Dense(3, name="hidden"),
              keras.layers.Dense(1, name="head")]  # fmt: skip
    return keras.Sequential(layers)


def gradient_times_input(model, images):
    """Input x gradient of the linear two-layer model, written with its weights."""
    kernel_1, _, kernel_2, _ = model.get_weights()
    return (np.asarray(images) * (kernel_1 @ kernel_2)[:, 0]).reshape(-1, SIDE, SIDE)


def test_the_fully_randomized_model_is_the_last_cascading_copy(model):
    *_, (_, last) = metrics.randomize_model(model, seed=3)
    for ours, theirs in zip(fully_randomized_model(model, seed=3).get_weights(),
                            last.get_weights()):  # fmt: skip
        np.testing.assert_array_equal(ours, theirs)


def test_histogram_entropy_matches_the_definition():
    maps = np.random.default_rng(1).normal(size=(3, 5, 5))
    for single, value in zip(maps, histogram_entropy(maps, n_bins=7)):
        counts, _ = np.histogram(single, bins=7)
        p = counts / counts.sum()
        assert value == pytest.approx(-sum(q * np.log(q) for q in p if q > 0))


def test_efficient_mprt_is_the_relative_rise_in_entropy(model):
    values = metrics.efficient_mprt(gradient_times_input, model, IMAGES, n_bins=10, seed=2,
                                    batch_size=3, per_image=True)  # fmt: skip
    before = histogram_entropy(gradient_times_input(model, IMAGES), 10)
    after = histogram_entropy(
        gradient_times_input(fully_randomized_model(model, seed=2), IMAGES), 10
    )
    np.testing.assert_allclose(values, (after - before) / before)
    assert metrics.efficient_mprt(gradient_times_input, model, IMAGES, n_bins=10, seed=2) == (
        pytest.approx(values.mean())
    )


def test_smooth_mprt_compares_the_mean_maps_over_the_same_noisy_copies(model):
    values = metrics.smooth_mprt(gradient_times_input, model, IMAGES, nr_samples=4,
                                 noise_magnitude=0.2, seed=1, batch_size=5,
                                 per_image=True)  # fmt: skip
    randomized = fully_randomized_model(model, seed=1)
    spread = IMAGES.max(axis=1, keepdims=True) - IMAGES.min(axis=1, keepdims=True)
    rng = np.random.default_rng(1)
    copies = [IMAGES + (rng.standard_normal(IMAGES.shape) * 0.2 * spread).astype("float32")
              for _ in range(3)] + [IMAGES]  # fmt: skip
    smooth = [
        np.abs(np.mean([gradient_times_input(each, copy) for copy in copies], axis=0))
        for each in (model, randomized)
    ]
    expected = metrics.spearman_rank_correlation(*smooth, per_image=True)
    np.testing.assert_allclose(values, expected, rtol=1e-6)
    assert np.all(values < 0.99)


def test_smooth_mprt_of_a_model_blind_explainer_is_one(model):
    def blind(model, images):
        return np.asarray(images).reshape(-1, SIDE, SIDE)

    assert metrics.smooth_mprt(blind, model, IMAGES, nr_samples=1) == pytest.approx(1.0)
    assert metrics.smooth_mprt(blind, model, IMAGES, nr_samples=1, similarity="ssim") == (
        pytest.approx(1.0)
    )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"nr_samples": 0}, "nr_samples"),
        ({"noise_magnitude": -1.0}, "noise_magnitude"),
        ({"similarity": "iou"}, "similarity"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_smooth_mprt_names_bad_arguments(model, kwargs, match):
    with pytest.raises(ValueError, match=match):
        metrics.smooth_mprt(gradient_times_input, model, IMAGES, **kwargs)


def test_maps_of_a_wrong_shape_are_refused(model):
    with pytest.raises(ValueError, match=r"explain_fn.*\(4, H, W\)"):
        metrics.efficient_mprt(lambda m, x: np.zeros((2, 3, 3)), model, IMAGES)
    with pytest.raises(ValueError, match="n_bins"):
        metrics.efficient_mprt(gradient_times_input, model, IMAGES, n_bins=1)
