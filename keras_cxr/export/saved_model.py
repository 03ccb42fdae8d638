"""Writing a classifier as a TensorFlow SavedModel, its preprocessing inside."""

from __future__ import annotations

import os

import keras


def write_saved_model(model: keras.Model, path: str | os.PathLike) -> None:
    """Writes `model`'s forward pass as a SavedModel (`keras.Model.export`).

    The graph holds the whole model, the per-backbone preprocessing layers included, so
    it takes the raw pixels the model takes. Signatures: `serving_default` (and `serve`),
    one float32 input `(batch, height, width, channels)` with a free batch axis, the
    model's probabilities out. Loading needs TensorFlow only, not keras_cxr.

    Args:
        model: The Keras model (TensorFlow backend).
        path: The folder to write; an empty or missing one.

    Returns:
        None.

    Raises:
        RuntimeError, ValueError: From Keras, for a model it cannot trace.

    Example:
        >>> keras_cxr.export.write_saved_model(model, "export/1")
    """
    model.export(
        os.fspath(path),
        format="tf_saved_model",
        verbose=False,
        input_signature=image_signature(model),
    )


def image_signature(model: keras.Model) -> list:
    """The input signature of every export: float32 images named `"image"`, the batch free.

    Args:
        model: A model with one image input.

    Returns:
        `[keras.InputSpec((None, H, W, C), "float32", name="image")]`.

    Example:
        >>> keras_cxr.export.image_signature(model)[0].shape
        (None, 32, 32, 3)
    """
    return [keras.InputSpec(shape=(None, *model.input_shape[1:]), dtype="float32", name="image")]
