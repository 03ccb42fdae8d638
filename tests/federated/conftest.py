"""What the federated tests share: a model small enough to train in a second per site."""

from __future__ import annotations

import keras
import pytest


def _tiny_model(config):
    """A one-conv binary classifier ending in `logits` → sigmoid, like a StackedEnsemble.

    The recipes' StackedEnsemble takes ~20 s a site to trace on TensorFlow; this, ~2 s.
    """
    inputs = keras.Input((config.image_size, config.image_size, 3))
    x = keras.layers.Rescaling(1 / 255.0)(inputs)
    x = keras.layers.Conv2D(4, 3, strides=2, activation="relu", name="conv")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(1, name="logits")(x)
    return keras.Model(inputs, keras.layers.Activation("sigmoid", name="predictions")(x))


@pytest.fixture(scope="session")
def tiny_model():
    """`model_builder` of `keras_cxr.federated.federate`: `TrainConfig` → tiny model."""
    return _tiny_model
