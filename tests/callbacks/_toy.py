"""Toy models, data and readers shared by the `GradCAMCallback` tests."""

from __future__ import annotations

import os
import re

import cv2
import keras
import numpy as np
from tensorboard.backend.event_processing import event_accumulator
from tensorboard.util import tensor_util

SIZE = 32


def two_branch_model() -> keras.Model:
    """Two conv branches on one input, so the grid has a column per branch."""
    inputs = keras.Input((SIZE, SIZE, 3))
    a = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv_a")(inputs)
    b = keras.layers.Conv2D(4, 5, padding="same", activation="relu", name="conv_b")(inputs)
    pooled = [keras.layers.GlobalAveragePooling2D()(t) for t in (a, b)]
    x = keras.layers.Concatenate()(pooled)
    outputs = keras.layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs, name="two_branch")
    model.compile(keras.optimizers.Adam(0.01), "binary_crossentropy")
    return model


def tiny_model(cls=keras.Model, channels: int = 3) -> keras.Model:
    inputs = keras.Input((SIZE, SIZE, channels))
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inputs)
    x = keras.layers.ReLU(name="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(1, activation="sigmoid")(x)
    model = cls(inputs, outputs, name="tiny")
    if cls is keras.Model:
        model.compile(keras.optimizers.Adam(0.01), "binary_crossentropy")
    return model


def data(count: int = 16, seed: int = 0):
    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 1, (count, SIZE, SIZE, 3)).astype("float32")
    labels = rng.integers(0, 2, (count, 1)).astype("float32")
    return images, labels


def masks(count: int) -> np.ndarray:
    masks = np.zeros((count, SIZE, SIZE), bool)
    masks[:, 8:20, 10:24] = True
    return masks


def gradcam_warnings(record) -> list[str]:
    return [str(w.message) for w in record if "GradCAMCallback" in str(w.message)]


def expected_drift(current: np.ndarray, previous: np.ndarray) -> float:
    """1 − mean Pearson correlation, with the documented rule for constant maps."""
    correlations = []
    for c, p in zip(current, previous):
        c_constant, p_constant = c.min() == c.max(), p.min() == p.max()
        if c_constant or p_constant:
            correlations.append(1.0 if c_constant and p_constant else 0.0)
        else:
            correlations.append(np.corrcoef(c.ravel(), p.ravel())[0, 1])
    return 1.0 - float(np.mean(correlations))


def read_events(log_dir):
    accumulator = event_accumulator.EventAccumulator(
        str(log_dir), size_guidance={event_accumulator.TENSORS: 0}
    )
    accumulator.Reload()
    return accumulator


def decoded(event) -> np.ndarray:
    # An image summary is a string tensor [width, height, encoded PNG...].
    values = tensor_util.make_ndarray(event.tensor_proto)
    image = cv2.imdecode(np.frombuffer(values[2], np.uint8), cv2.IMREAD_UNCHANGED)
    assert (image.shape[1], image.shape[0]) == (int(values[0]), int(values[1]))
    return image


def files(log_dir) -> list[str]:
    return sorted(os.listdir(log_dir))


def invalid_message(argument: str, expected: str, received: str) -> str:
    """The regex of a `keras_cxr._validation.invalid_value` message."""
    return re.escape(
        f"Invalid value received for argument `{argument}`. Expected {expected}. "
        f"Received: {argument}={received}"
    )
