"""Small models for explainer tests, with non-vanishing activations."""

from __future__ import annotations

import keras
import numpy as np


def calibrate_batchnorm(model: keras.Model, images: np.ndarray, passes: int = 60) -> None:
    """Set every BatchNorm's moving statistics from `images`, so that randomly initialised
    deep backbones keep O(1) activations instead of vanishing (MobileNetV2 reaches ~1e-13).

    All BatchNorm inputs are read in one forward pass; each pass fixes the layers whose
    inputs are finite (random DenseNets overflow before calibration), and a few passes let
    deeper statistics settle after the shallower ones changed.
    """
    from keras_cxr.explain.graph import flatten_model

    graph = flatten_model(model)
    nodes = [n for n in graph.nodes if isinstance(n.layer, keras.layers.BatchNormalization)]
    probe = keras.Model(graph.inputs[0], [n.inputs[0] for n in nodes])

    for _ in range(passes):
        settled = True
        with np.errstate(all="ignore"):
            # `predict` is compiled once on every backend and reads the current variables.
            outputs = probe.predict(images, batch_size=len(images), verbose=0)
            for node, values in zip(nodes, outputs if len(nodes) > 1 else [outputs]):
                values = np.asarray(values, dtype=np.float64)
                axes = tuple(range(values.ndim - 1))
                mean, variance = values.mean(axis=axes), values.var(axis=axes) + 1e-3
                if not (np.isfinite(mean).all() and np.isfinite(variance).all()):
                    settled = False
                    continue
                old = np.asarray(node.layer.moving_variance)
                settled &= bool(np.allclose(variance, old, rtol=0.1))
                node.layer.moving_mean.assign(mean.astype("float32"))
                node.layer.moving_variance.assign(variance.astype("float32"))
        if settled:
            return


def tiny_cnn(
    input_shape=(16, 16, 3), name="tiny", sigmoid_in_dense=False, units=1, padding="same"
) -> keras.Model:
    """Input → Conv(8) → ReLU → Conv(6) → ReLU ("last_relu") → GAP → Dense → Activation.

    With `padding="valid"` a constant image gives constant feature maps (no zero border).
    """
    inputs = keras.Input(input_shape, name="image")
    x = keras.layers.Conv2D(8, 3, padding=padding, name="conv1")(inputs)
    x = keras.layers.ReLU(name="relu1")(x)
    x = keras.layers.Conv2D(6, 3, padding=padding, name="conv2")(x)
    x = keras.layers.ReLU(name="last_relu")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    if sigmoid_in_dense:
        outputs = keras.layers.Dense(units, activation="sigmoid", name="dense")(x)
    else:
        x = keras.layers.Dense(units, name="logits")(x)
        outputs = keras.layers.Activation("sigmoid" if units == 1 else "softmax", name="prob")(x)
    return keras.Model(inputs, outputs, name=name)
