"""Small models for explainer tests, with non-vanishing activations."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops


def calibrate_batchnorm(model: keras.Model, images: np.ndarray) -> None:
    """Set every BatchNorm's moving statistics from `images`, so that randomly initialised
    deep backbones keep O(1) activations instead of vanishing (MobileNetV2 reaches ~1e-13).

    One forward pass in training mode, where every BatchNorm normalises by the statistics of
    its own input batch, reads all BatchNorm inputs at once; storing those statistics as the
    moving ones makes inference on `images` equal that pass (to float32 round-off), so no
    layer's statistics go stale when a shallower one changes. Dropout is switched off for
    the pass so that a BatchNorm after a Dropout sees the inference-time input.
    """
    from keras_cxr.explain.graph import flatten_model

    graph = flatten_model(model)
    nodes = [n for n in graph.nodes if isinstance(n.layer, keras.layers.BatchNormalization)]
    probe = keras.Model(graph.inputs[0], [n.inputs[0] for n in nodes])
    dropouts = [n.layer for n in graph.nodes if isinstance(n.layer, keras.layers.Dropout)]
    rates = [layer.rate for layer in dropouts]
    for layer in dropouts:
        layer.rate = 0.0
    try:
        outputs = probe(images, training=True)
    finally:
        for layer, rate in zip(dropouts, rates):
            layer.rate = rate
    for node, values in zip(nodes, outputs if len(nodes) > 1 else [outputs]):
        values = np.asarray(ops.convert_to_numpy(values), dtype=np.float64)
        axes = tuple(range(values.ndim - 1))
        node.layer.moving_mean.assign(values.mean(axis=axes).astype("float32"))
        node.layer.moving_variance.assign(values.var(axis=axes).astype("float32"))


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


def with_random_weights(model: keras.Model, seed: int, scale: float = 0.3) -> keras.Model:
    """`model` with every weight, biases included, drawn from N(0, scale²): non-zero biases
    move the ReLU kinks away from the black image, as in a trained network."""
    rng = np.random.default_rng(seed)
    model.set_weights(
        [rng.normal(0, scale, w.shape).astype("float32") for w in model.get_weights()]
    )
    return model


def smooth_cnn(input_shape=(6, 6, 2), units=1) -> keras.Model:
    """Input → Conv(3, 3×3, valid, tanh) "conv" → GAP → Dense "logits" → sigmoid/softmax.

    Smooth everywhere, so central finite differences converge; `numpy_smooth_cnn` repeats
    its logits in float64.
    """
    inputs = keras.Input(input_shape, name="image")
    x = keras.layers.Conv2D(3, 3, activation="tanh", name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(units, name="logits")(x)
    activation = "sigmoid" if units == 1 else "softmax"
    return keras.Model(inputs, keras.layers.Activation(activation)(x))


def numpy_smooth_cnn(model: keras.Model, images: np.ndarray) -> np.ndarray:
    """The logits of `smooth_cnn` computed in float64 numpy, `(batch, units)`."""
    kernel, bias = (np.asarray(w, np.float64) for w in model.get_layer("conv").get_weights())
    dense, dense_bias = (np.asarray(w, np.float64) for w in model.get_layer("logits").get_weights())
    images = np.asarray(images, np.float64)
    size = kernel.shape[0]
    height, width = images.shape[1] - size + 1, images.shape[2] - size + 1
    conv = np.zeros((len(images), height, width, kernel.shape[-1]))
    for i in range(size):
        for j in range(size):
            conv += np.einsum(
                "bhwc,ck->bhwk", images[:, i : i + height, j : j + width], kernel[i, j]
            )
    pooled = np.tanh(conv + bias).mean(axis=(1, 2))
    return pooled @ dense + dense_bias


#: The toy ViT: 16-px images, 4-px patches (a 4×4 grid), 8 channels per token.
SIZE, PATCH, WIDTH = 16, 4, 8


@keras.saving.register_keras_serializable(package="keras_cxr_tests")
class ClassToken(keras.layers.Layer):
    """Prepends `count` learned tokens (a class token and registers) to the patch tokens.

    Registered, so that a toy ViT saved to a `.keras` file loads (the CLI tests)."""

    def __init__(self, count=1, **kwargs):
        super().__init__(**kwargs)
        self.count = count

    def get_config(self):
        return {**super().get_config(), "count": self.count}

    def build(self, input_shape):
        self.token = self.add_weight(
            shape=(1, self.count, input_shape[-1]), initializer="random_normal"
        )

    def call(self, patches):
        token = ops.repeat(ops.cast(self.token, patches.dtype), ops.shape(patches)[0], axis=0)
        return ops.concatenate([token, patches], axis=1)


def toy_vit(extra=1, blocks=2):
    """Patch embedding (a strided Conv2D), class/register tokens, `blocks` pre-norm
    attention blocks, the class token through a final norm, a sigmoid unit."""
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(WIDTH, PATCH, strides=PATCH, name="patch_embed")(inputs)
    x = keras.layers.Reshape(((SIZE // PATCH) ** 2, WIDTH))(x)
    x = ClassToken(extra, name="class_token")(x)
    for number in range(blocks):
        y = keras.layers.LayerNormalization(name=f"block_{number}_norm1")(x)
        y = keras.layers.MultiHeadAttention(2, 4, name=f"block_{number}_attention")(y, y)
        x = keras.layers.Add()([x, y])
        y = keras.layers.LayerNormalization(name=f"block_{number}_norm2")(x)
        x = keras.layers.Add()([x, keras.layers.Dense(WIDTH, name=f"block_{number}_mlp")(y)])
    x = keras.layers.LayerNormalization(name="final_norm")(x)
    logit = keras.layers.Dense(1, name="logit")(x[:, 0])
    model = keras.Model(inputs, keras.layers.Activation("sigmoid")(logit))
    rng = np.random.default_rng(extra)
    model.set_weights([rng.normal(0, 0.4, w.shape).astype("float32") for w in model.weights])
    return model
