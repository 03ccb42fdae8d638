"""`mc_dropout_predict`: prediction uncertainty from dropout kept on at inference (MC dropout)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from keras_cxr._validation import check_int

if TYPE_CHECKING:
    import keras


def mc_dropout_predict(
    model: keras.Model,
    images: np.ndarray | None = None,
    samples: int = 30,
    batch_size: int = 32,
    features: np.ndarray | None = None,
) -> np.ndarray:
    """Sample predictions with the head's dropout active and everything else in inference mode.

    Calling a model with `training=True` would also put BatchNorm in training mode (batch
    statistics instead of the learned ones), which changes the predictions for reasons
    that have nothing to do with uncertainty. So the backbones run once, in inference mode,
    and only the head is sampled: each head layer is called by hand, Dropout layers with
    `training=True` and all others (BatchNorm included) with `training=False`. The spread
    of the samples (their standard deviation) estimates the model's uncertainty. With a
    dropout rate of 0 every sample equals `model.predict`.

    Args:
        model: A `keras_cxr.StackedEnsemble` (or a model of the same shape, see
            `keras_cxr.models.head_layers`).
        images: Raw pixels of shape (N, H, W, C); or None when `features` are given.
            Defaults to None.
        samples: Number of dropout samples, an integer >= 1. Defaults to 30.
        batch_size: Images per backbone pass, an integer >= 1. Defaults to 32.
        features: Pooled backbone features of shape (N, D) already computed (e.g. cached),
            to skip the backbones. Defaults to None.

    Returns:
        A float64 array of shape (samples, N): the positive-class probability (the sigmoid
        output, or softmax column 1) of each case in each sample.

    Raises:
        ValueError: For a model without a `stacked_backbones` head, a `samples` or
            `batch_size` that is not an integer >= 1, or neither or both of `images` and
            `features`.

    Example:
        >>> draws = keras_cxr.metrics.mc_dropout_predict(model, x_test, samples=30)
        >>> mean, spread = draws.mean(axis=0), draws.std(axis=0)

    Reference:
        Gal, Ghahramani. "Dropout as a Bayesian Approximation: Representing Model
        Uncertainty in Deep Learning." ICML 2016. https://arxiv.org/abs/1506.02142
    """
    import keras

    from keras_cxr.models.head import feature_extractor, head_layers
    from keras_cxr.models.prediction import positive_probability

    samples = check_int("samples", samples)
    batch_size = check_int("batch_size", batch_size)
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
        draws[sample] = positive_probability(keras.ops.convert_to_numpy(x))
    return draws
