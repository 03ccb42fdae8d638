"""Running exported models in TensorFlow's runtimes: a reloaded SavedModel, the TFLite interpreter.

These read exports back to check them (`keras_cxr.export.checks`); they need TensorFlow
whatever the Keras backend, since SavedModel and TFLite are TensorFlow's formats. Writing
the exports goes through `keras.Model.export` and `keras.export.ExportArchive`, which need
no TensorFlow code of ours.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import tensorflow as tf

#: The signature TF Serving calls when a request names none.
DEFAULT_SIGNATURE = "serving_default"


def run_saved_model(
    path: str | os.PathLike, images: np.ndarray, signature: str = DEFAULT_SIGNATURE
) -> dict[str, np.ndarray]:
    """Loads a SavedModel with `tf.saved_model.load` and calls one of its signatures.

    The model is loaded afresh, as TF Serving would load it: no Keras or keras_cxr code
    is involved, only the graph and variables in the folder.

    Args:
        path: The SavedModel folder.
        images: float32 `(n, height, width, channels)`, the signature's input.
        signature: The signature to call. Defaults to `"serving_default"`.

    Returns:
        The signature's outputs by name, as NumPy arrays.

    Raises:
        OSError: If `path` holds no SavedModel.
        ValueError: If the SavedModel has no such signature (the message lists them).

    Example:
        >>> outputs = keras_cxr.backend.tensorflow_export.run_saved_model("export", images)
    """
    loaded = tf.saved_model.load(os.fspath(path))
    if signature not in loaded.signatures:
        raise ValueError(
            f"Invalid value received for argument `signature`. Expected one of "
            f"{sorted(loaded.signatures)}. Received: signature={signature!r}"
        )
    function = loaded.signatures[signature]
    (argument,) = function.structured_input_signature[1]  # one keyword input
    outputs = function(**{argument: tf.constant(images, tf.float32)})
    return {name: value.numpy() for name, value in outputs.items()}


def run_tflite(path: str | os.PathLike, images: np.ndarray) -> np.ndarray:
    """Runs a `.tflite` file on a batch with the TFLite interpreter (LiteRT when installed).

    The input is resized to the batch, so a file exported with a free batch axis takes
    any number of images at once.

    Args:
        path: The `.tflite` file.
        images: float32 `(n, height, width, channels)`.

    Returns:
        The first output, as a NumPy array.

    Raises:
        ValueError: If the file is not a TFLite model, or `images` does not fit its input.

    Example:
        >>> probabilities = keras_cxr.backend.tensorflow_export.run_tflite("m.tflite", images)
    """
    interpreter = _interpreter(os.fspath(path))
    (given,) = interpreter.get_input_details()
    interpreter.resize_tensor_input(given["index"], images.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(given["index"], np.asarray(images, given["dtype"]))
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


def _interpreter(path: str):
    try:  # the runtime that replaces tf.lite.Interpreter, if installed
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        with warnings.catch_warnings():  # its deprecation notice names the package above
            warnings.simplefilter("ignore", UserWarning)
            return tf.lite.Interpreter(model_path=path)
    return Interpreter(model_path=path)
