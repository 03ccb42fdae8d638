"""Tests for keras_cxr.metrics.uncertainty: MC dropout on a tiny StackedEnsemble.

The head is BatchNorm → Dense(6, relu) → Dropout(0.5) → Dense(1) → sigmoid, so one sample
is one of the 2**6 dropout masks of the six hidden units. The tests enumerate those masks
with NumPy to get the exact distribution of a sample, and compare the draws with it.
"""

from __future__ import annotations

import itertools
import re

import keras
import numpy as np
import pytest

import keras_cxr
from keras_cxr.layers import compact_cnn
from keras_cxr.metrics import mc_dropout_predict

pytestmark = pytest.mark.backends  # also run under JAX and PyTorch

SIZE = 32
RATE = 0.5


def _ensemble(dropout):
    """One compact backbone under the head; seeded, so two calls build the same weights."""
    keras.utils.set_random_seed(1)
    backbone = compact_cnn((SIZE, SIZE, 3), width=4, stages=2, name="cnn")
    model = keras_cxr.StackedEnsemble(
        backbones=[backbone],
        input_shape=(SIZE, SIZE, 3),
        weights=None,
        head_units=(6,),
        dropout=dropout,
    )
    # Moving statistics far from a batch's own, so BatchNorm in training mode would show.
    bn = model.get_layer("head_bn_1")
    bn.moving_mean.assign(np.linspace(-1, 1, bn.moving_mean.shape[0]).astype("float32"))
    bn.moving_variance.assign(np.full(bn.moving_variance.shape, 4.0, "float32"))
    return model


@pytest.fixture(scope="module")
def ensemble():
    return _ensemble(RATE)


@pytest.fixture(scope="module")
def no_dropout(ensemble):
    model = _ensemble(0.0)
    model.set_weights(ensemble.get_weights())
    return model


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).integers(0, 256, (10, SIZE, SIZE, 3)).astype(np.uint8)


@pytest.fixture(scope="module")
def features(ensemble, images):
    return np.asarray(ensemble.stacked_backbones.predict(images.astype("float32"), verbose=0))


def _mask_outcomes(model, features):
    """Every possible sample, (64, N), and the probability of each mask, (64,), in NumPy."""
    bn = model.get_layer("head_bn_1")
    dense = model.get_layer("head_dense_1")
    logits = model.get_layer("logits")
    gamma, beta, mean, variance = (np.asarray(w, np.float64) for w in bn.get_weights())
    normalized = (features - mean) / np.sqrt(variance + bn.epsilon) * gamma + beta
    kernel, bias = (np.asarray(w, np.float64) for w in dense.get_weights())
    hidden = np.maximum(normalized @ kernel + bias, 0.0)
    out_kernel, out_bias = (np.asarray(w, np.float64) for w in logits.get_weights())
    masks = np.array(list(itertools.product((0.0, 1.0), repeat=hidden.shape[1])))
    kept = masks.sum(axis=1)
    mask_probability = (1 - RATE) ** kept * RATE ** (hidden.shape[1] - kept)
    # Inverted dropout: kept units are scaled by 1 / (1 - rate).
    dropped = hidden[None] * masks[:, None] / (1 - RATE)
    outcomes = 1 / (1 + np.exp(-(dropped @ out_kernel + out_bias)[..., 0]))
    return outcomes, mask_probability


def test_without_dropout_every_sample_is_the_inference_prediction(no_dropout, images):
    expected = no_dropout.predict(images.astype("float32"), verbose=0)[:, 0]
    draws = mc_dropout_predict(no_dropout, images, samples=3)
    assert draws.shape == (3, 10) and draws.dtype == np.float64
    # The samples are identical, and BatchNorm used its moving statistics: batch
    # statistics would give other values.
    assert np.all(draws.std(axis=0) == 0)
    np.testing.assert_allclose(draws.mean(axis=0), expected, atol=1e-5)


def test_cached_features_and_batch_size_give_the_same_predictions(no_dropout, images, features):
    from_images = mc_dropout_predict(no_dropout, images, samples=2, batch_size=3)
    from_features = mc_dropout_predict(no_dropout, features=features, samples=2)
    np.testing.assert_allclose(from_features, from_images, atol=1e-5)


def test_each_sample_is_one_dropout_mask_and_the_mean_converges(ensemble, features):
    outcomes, mask_probability = _mask_outcomes(ensemble, features.astype(np.float64))
    samples = 300
    draws = mc_dropout_predict(ensemble, features=features, samples=samples)
    assert draws.shape == (samples, 10)
    # Every draw is exactly one of the 64 possible outcomes of its case.
    distance = np.abs(draws[:, None, :] - outcomes[None]).min(axis=1)
    assert distance.max() < 1e-5
    # The samples differ, and their mean and spread match the exact mask distribution.
    exact_mean = mask_probability @ outcomes
    exact_std = np.sqrt(np.maximum(mask_probability @ outcomes**2 - exact_mean**2, 0.0))
    assert draws.std(axis=0).min() > 0
    assert np.all(np.abs(draws.mean(axis=0) - exact_mean) <= 5 * exact_std / np.sqrt(samples))
    np.testing.assert_allclose(draws.std(axis=0), exact_std, rtol=0.15)


@pytest.mark.parametrize("samples", [0, -3, 2.5, True])
def test_rejects_bad_samples(ensemble, images, samples):
    message = "Invalid value received for argument `samples`. Expected an integer >= 1. "
    message += f"Received: samples={samples!r}"
    with pytest.raises(ValueError, match=re.escape(message)):
        mc_dropout_predict(ensemble, images, samples=samples)


def test_rejects_bad_batch_size(ensemble, images):
    with pytest.raises(ValueError, match=re.escape("Received: batch_size=0")):
        mc_dropout_predict(ensemble, images, batch_size=0)


def test_needs_exactly_one_of_images_and_features(ensemble, images, features):
    with pytest.raises(ValueError, match="Pass exactly one of `images` and `features`"):
        mc_dropout_predict(ensemble, images, features=features)
    with pytest.raises(ValueError, match="Pass exactly one of `images` and `features`"):
        mc_dropout_predict(ensemble)


def test_refuses_a_model_without_stacked_backbones():
    inputs = keras.Input((4,))
    plain = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(inputs))
    with pytest.raises(ValueError, match="StackedEnsemble"):
        mc_dropout_predict(plain, features=np.zeros((2, 4), np.float32))


def test_the_old_training_name_warns_and_is_the_same_function():
    import keras_cxr.training

    with pytest.warns(DeprecationWarning, match="keras_cxr.metrics.mc_dropout_predict"):
        assert keras_cxr.training.mc_dropout_predict is mc_dropout_predict
