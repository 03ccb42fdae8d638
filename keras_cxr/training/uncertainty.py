"""`mc_dropout_predict`: prediction uncertainty from dropout kept on at inference (MC dropout)."""

from __future__ import annotations

import keras
import numpy as np

from keras_cxr._validation import invalid_value
from keras_cxr.training.features import feature_extractor, head_layers


def mc_dropout_predict(
    model: keras.Model,
    images: np.ndarray | None = None,
    samples: int = 30,
    batch_size: int = 32,
    features: np.ndarray | None = None,
) -> np.ndarray:
    """Samples predictions with the head's dropout active and everything else in inference mode.

    Calling a model with `training=True` would also put BatchNorm in training mode (batch
    statistics instead of the learned ones), which changes the predictions for reasons
    that have nothing to do with uncertainty. So the backbones run once, in inference mode,
    and only the head is sampled: each head layer is called by hand, Dropout layers with
    `training=True` and all others (BatchNorm included) with `training=False`. The spread
    of the samples (their standard deviation) estimates the model's uncertainty.

    Args:
        model: A `keras_cxr.StackedEnsemble` (or a model of the same shape, see
            `keras_cxr.training.head_layers`).
        images: `(N, H, W, C)` raw pixels; or None when `features` are given.
        samples: Number of dropout samples, >= 1. Defaults to 30.
        batch_size: Images per backbone pass. Defaults to 32.
        features: Pooled backbone features `(N, D)` already computed (e.g. cached), to skip
            the backbones.

    Returns:
        float64 `(samples, N)`: the probability of pneumonia in each sample.

    Raises:
        ValueError: For a model without a `stacked_backbones` head, a bad `samples`, or
            neither/both of `images` and `features`.

    Example:
        >>> draws = keras_cxr.training.mc_dropout_predict(model, x_test, samples=30)
        >>> mean, spread = draws.mean(axis=0), draws.std(axis=0)

    Reference:
        Gal, Ghahramani. "Dropout as a Bayesian Approximation: Representing Model
        Uncertainty in Deep Learning." ICML 2016. https://arxiv.org/abs/1506.02142
    """
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise invalid_value("samples", "an integer >= 1", samples)
    if (images is None) == (features is None):
        raise ValueError("Pass exactly one of `images` and `features` to mc_dropout_predict.")
    layers = head_layers(model)
    if features is None:
        extractor = feature_extractor(model)
        images = np.asarray(images)
        chunks = [
            keras.ops.convert_to_numpy(
                extractor.predict_on_batch(images[start : start + batch_size].astype(np.float32))
            )
            for start in range(0, len(images), batch_size)
        ]
        features = np.concatenate(chunks) if chunks else np.zeros((0, 1), np.float32)
    features = keras.ops.convert_to_tensor(np.asarray(features, dtype=np.float32))
    draws = np.empty((samples, int(features.shape[0])), dtype=np.float64)
    for sample in range(samples):
        x = features
        for layer in layers:
            x = layer(x, training=isinstance(layer, keras.layers.Dropout))
        output = keras.ops.convert_to_numpy(x).astype(np.float64)
        draws[sample] = output[:, 0] if output.shape[-1] == 1 else output[:, 1]
    return draws
