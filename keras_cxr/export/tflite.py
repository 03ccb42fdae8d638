"""Writing a classifier as a TFLite (LiteRT) flatbuffer."""

from __future__ import annotations

import os

import keras

from keras_cxr.export.saved_model import image_signature


def write_tflite(model: keras.Model, path: str | os.PathLike) -> None:
    """Writes `model` as a `.tflite` file (`keras.Model.export(format="litert")`).

    Float32 throughout (no quantisation, so it matches Keras to rounding); the
    preprocessing layers are inside; the batch axis is free (resize the interpreter's
    input to the batch).

    Args:
        model: The Keras model (TensorFlow backend).
        path: The file to write, ending in `.tflite`.

    Returns:
        None.

    Raises:
        ValueError: From Keras, for a path without the `.tflite` suffix.

    Example:
        >>> keras_cxr.export.write_tflite(model, "model.tflite")
    """
    model.export(
        os.fspath(path), format="litert", verbose=False, input_signature=image_signature(model)
    )
