"""The phantom model of `explanation_quality.py`: its architecture, training and forward pass."""

from __future__ import annotations

import math
import time

import keras
import numpy as np

from keras_cxr.backend import compile_function

#: The last feature map is the image downsampled by this factor (two max-pools).
DOWNSAMPLING = 4


def _conv_block(x, filters: int, name: str, dilation: int = 1):
    x = keras.layers.Conv2D(
        filters, 3, padding="same", dilation_rate=dilation, use_bias=False, name=name
    )(x)
    # A short fit has few steps, so the moving statistics need a faster momentum than 0.99.
    x = keras.layers.BatchNormalization(momentum=0.9, name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def build_model(size: int, name: str) -> keras.Model:
    """A small CNN whose last feature map keeps 1/4 of the image's resolution.

    Two max-pools bring the image to 1/4; two more convolutions at that scale and a
    dilated last one widen the receptive field (42 px, a large lesion and its
    surroundings) without a third downsampling, so Grad-CAM's map is 24 x 24 at 96 px.
    Width matters for localization here: with 16-24-48-64 channels and no extra
    convolution the pointing game was 0.80 on 192 positives (seed 0, where this model
    scores 0.95); a deeper dilation (a 74 px receptive field) dropped it to 0.41.
    """
    inputs = keras.Input((size, size, 1), name="image")
    x = keras.layers.Rescaling(1 / 255, name="rescale")(inputs)
    x = _conv_block(x, 24, "conv1")
    x = keras.layers.MaxPooling2D(name="pool1")(x)
    x = _conv_block(x, 48, "conv2")
    x = keras.layers.MaxPooling2D(name="pool2")(x)
    x = _conv_block(x, 64, "conv3")
    x = _conv_block(x, 96, "conv4")
    x = _conv_block(x, 128, "conv5", dilation=2)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.Dense(1, activation="sigmoid", name="pneumonia")(x)
    return keras.Model(inputs, outputs, name=name)


def gray(images: np.ndarray) -> np.ndarray:
    """The phantoms' three channels are identical; the model reads one, as float32."""
    return images[..., :1].astype("float32")


def train(phantoms, size: int, epochs: int, seed: int, name: str) -> tuple[keras.Model, float]:
    """Fit `build_model` with Adam and a cosine-decayed learning rate; returns the seconds."""
    keras.utils.set_random_seed(seed)  # same initial weights and batch order for every model
    model = build_model(size, name)
    steps = epochs * math.ceil(len(phantoms) / 32)
    schedule = keras.optimizers.schedules.CosineDecay(2e-3, steps)
    model.compile(keras.optimizers.Adam(schedule), "binary_crossentropy")
    start = time.perf_counter()
    model.fit(gray(phantoms.images), phantoms.labels, epochs=epochs, batch_size=32, verbose=0)
    return model, time.perf_counter() - start


def make_predict_fn(model: keras.Model, size: int):
    """A compiled forward pass returning probabilities, for the faithfulness metrics."""
    forward = compile_function(
        lambda batch: model(batch, training=False), [((None, size, size, 1), "float32")]
    )
    return lambda batch: np.asarray(forward(batch))


def forward_seconds(predict_fn, images: np.ndarray, batch_size: int = 16) -> float:
    """Seconds of a warm forward pass over `images` in batches of `batch_size`.

    The best of three passes: the reference that every method's time is divided by.
    """
    predict_fn(images[:batch_size])
    best = math.inf
    for _ in range(3):
        start = time.perf_counter()
        for begin in range(0, len(images), batch_size):
            predict_fn(images[begin : begin + batch_size])
        best = min(best, time.perf_counter() - start)
    return best
