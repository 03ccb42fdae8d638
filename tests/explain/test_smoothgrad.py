"""SmoothGrad: the mean of the wrapped method over noisy copies made as documented."""

import keras
import numpy as np
import pytest

from keras_cxr import GradCAM
from keras_cxr.explain import (
    GradientTimesInput,
    Saliency,
    SmoothGrad,
    attribution_heatmaps,
    normalize,
)

from .models import tiny_cnn, with_random_weights

#: Run under every Keras backend (tests/test_backends.py).
pytestmark = pytest.mark.backends

MODEL = with_random_weights(tiny_cnn(), seed=5, scale=0.2)
IMAGES = np.random.default_rng(0).uniform(0, 255, (3, 16, 16, 3)).astype("float32")


def noisy_copies(images, samples, noise, seed):
    """Copy k = x + σ·z_k, σ = noise × (max − min) per image, z_k the k-th float32 draw."""
    rng = np.random.default_rng(seed)
    sigma = (noise * (images.max(axis=(1, 2, 3)) - images.min(axis=(1, 2, 3))))[:, None, None, None]
    return [
        images + sigma.astype("float32") * rng.standard_normal(images.shape, dtype=np.float32)
        for _ in range(samples)
    ]


#: How far zero-noise SmoothGrad may be from the wrapped method: two float32 steps at 1.0.
#: The paths are not bit-identical by design: SmoothGrad min-max scales the mean of the
#: wrapped method's maps again, and under JAX the compiled normalisation divides by
#: multiplying with a reciprocal, so a map's maximum can be 0.99999994 (one step below
#: 1.0); scaling it again moves values of that map by one float32 step (seen: 221 of 768
#: values, by 1.2e-7, every run). Anything larger is a real difference.
ROUNDING = 2.0 * float(np.finfo(np.float32).eps)


@pytest.mark.parametrize("wrapped", [Saliency, GradientTimesInput, GradCAM])
def test_zero_noise_equals_the_wrapped_method(wrapped):
    explainer = wrapped(MODEL)
    alone = explainer.explain(IMAGES, class_index=1)
    smoothed = SmoothGrad(explainer, samples=3, noise=0.0).explain(IMAGES, class_index=1)

    def assert_maps_equal(actual, expected):
        np.testing.assert_allclose(actual, expected, rtol=0, atol=ROUNDING)

    assert_maps_equal(smoothed.heatmaps, alone.heatmaps)
    np.testing.assert_array_equal(smoothed.scores, alone.scores)
    np.testing.assert_array_equal(smoothed.class_index, alone.class_index)
    assert smoothed.layer_heatmaps.keys() == alone.layer_heatmaps.keys()
    for path, maps in alone.layer_heatmaps.items():
        assert_maps_equal(smoothed.layer_heatmaps[path], maps)
    if alone.attributions is None:
        assert smoothed.attributions is None and smoothed.display is None
    else:
        assert_maps_equal(smoothed.attributions, alone.attributions)
        assert smoothed.display == alone.display
    assert smoothed.method == f"smoothgrad({alone.method})"


def test_the_compiled_normalisation_is_within_the_rounding_allowed():
    """The reason for `ROUNDING`: a normalised map's maximum is 1.0 to one float32 step."""
    maps = np.asarray(GradCAM(MODEL).explain(IMAGES, class_index=1).heatmaps)
    np.testing.assert_allclose(maps.max(axis=(1, 2)), 1.0, rtol=0, atol=ROUNDING / 2)
    np.testing.assert_array_equal(maps.min(axis=(1, 2)), 0.0)


def test_the_mean_of_the_attributions_over_the_documented_copies():
    explanation = SmoothGrad(GradientTimesInput(MODEL), samples=4, noise=0.15, seed=3).explain(
        IMAGES, class_index=0
    )
    wrapped = GradientTimesInput(MODEL)
    samples = [
        wrapped.explain(copy, class_index=0).attributions
        for copy in noisy_copies(IMAGES, 4, 0.15, 3)
    ]
    expected = np.mean(np.asarray(samples, np.float64), axis=0)
    np.testing.assert_allclose(explanation.attributions, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        explanation.heatmaps, np.asarray(attribution_heatmaps(expected, "positive")), atol=1e-5
    )
    assert not np.allclose(expected, wrapped.explain(IMAGES, class_index=0).attributions)


def test_a_cam_averages_its_heatmaps_and_scales_them_again():
    explanation = SmoothGrad(GradCAM(MODEL), samples=3, noise=0.2, seed=1).explain(IMAGES)
    clean = GradCAM(MODEL).explain(IMAGES)
    copies = noisy_copies(IMAGES, 3, 0.2, 1)
    maps = [GradCAM(MODEL).explain(c, class_index=clean.class_index).heatmaps for c in copies]
    expected = np.asarray(normalize(np.mean(maps, axis=0)))
    np.testing.assert_allclose(explanation.heatmaps, expected, atol=1e-5)
    np.testing.assert_array_equal(explanation.class_index, clean.class_index)
    assert explanation.attributions is None


def test_a_fixed_seed_gives_identical_maps_and_other_seeds_differ():
    explainer = SmoothGrad(MODEL, samples=2, noise=0.1, seed=0)
    first, again = explainer.explain(IMAGES), explainer.explain(IMAGES)
    np.testing.assert_array_equal(first.attributions, again.attributions)
    other = SmoothGrad(MODEL, samples=2, noise=0.1, seed=1).explain(IMAGES)
    assert not np.array_equal(first.attributions, other.attributions)
    assert first.method == "smoothgrad(saliency)"  # a model alone wraps Saliency


def test_the_class_of_the_image_is_explained_in_every_copy():
    # Noise can flip a prediction; the copies still explain the image's own class.
    calls = []
    wrapped = Saliency(MODEL)
    explain = wrapped.explain

    def recording(images, class_index=None):
        calls.append(None if class_index is None else list(class_index))
        return explain(images, class_index)

    wrapped.explain = recording
    result = SmoothGrad(wrapped, samples=2, noise=0.5).explain(IMAGES)
    assert calls[0] is None and calls[1:] == [list(result.class_index)] * 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"samples": 0}, r"argument `samples`. Expected an integer >= 1"),
        ({"noise": -0.1}, r"argument `noise`. Expected a number >= 0 .*Received: noise=-0.1"),
        ({"noise": float("nan")}, r"argument `noise`"),
        ({"noise": "0.1"}, r"argument `noise`"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SmoothGrad(MODEL, **kwargs)


def test_not_an_explainer():
    with pytest.raises(
        ValueError,
        match=r"argument `explainer`. Expected a keras.Model or an explainer such as "
        r"keras_cxr.GradCAM\(model\). Received: explainer='Dense'",
    ):
        SmoothGrad(keras.layers.Dense(1))
