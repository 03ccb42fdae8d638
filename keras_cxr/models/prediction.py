"""Predicted probabilities of a chest X-ray classifier, batch by batch."""

from __future__ import annotations

import keras
import numpy as np

from keras_cxr._validation import check_int, shape_error


def predict_probabilities(
    model: keras.Model, images: np.ndarray, batch_size: int = 32, progress: bool = False
) -> np.ndarray:
    """Positive-class probabilities of a binary model, batch by batch.

    Args:
        model: A model with a `(batch, 1)` sigmoid or `(batch, 2)` softmax output.
        images: `(N, H, W, C)` raw pixels.
        batch_size: Images per forward pass. Defaults to 32.
        progress: Show a progress bar. Defaults to False.

    Returns:
        float64 `(N,)` in [0, 1].

    Raises:
        ValueError: If the images do not match the model's input shape, or `batch_size`
            is not an integer >= 1.

    Example:
        >>> p = keras_cxr.models.predict_probabilities(model, x_test)
    """
    return positive_probability(predict_outputs(model, images, batch_size, progress))


def predict_outputs(
    model: keras.Model, images: np.ndarray, batch_size: int = 32, progress: bool = False
) -> np.ndarray:
    """The model's outputs, batch by batch: `(N, 1)` sigmoid or `(N, k)` softmax probabilities.

    Args:
        model: A model with one image input.
        images: `(N, H, W, C)` raw pixels.
        batch_size: Images per forward pass. Defaults to 32.
        progress: Show a progress bar. Defaults to False.

    Returns:
        float64 `(N, units)`.

    Raises:
        ValueError: If the images do not match the model's input shape, or `batch_size`
            is not an integer >= 1.

    Example:
        >>> keras_cxr.models.predict_outputs(three_class_model, x_test).shape
        (624, 3)
    """
    from tqdm.auto import tqdm

    batch_size = check_int("batch_size", batch_size)
    images = np.asarray(images)
    expected = tuple(model.input_shape[1:])
    if images.ndim != 4 or tuple(images.shape[1:]) != expected:
        raise shape_error(
            "images",
            f"a batch of shape (N, {', '.join(map(str, expected))}) to match the model",
            images.shape,
        )
    outputs = []
    starts = range(0, len(images), batch_size)
    for start in tqdm(starts, desc="predicting", disable=not progress, leave=False):
        batch = images[start : start + batch_size].astype(np.float32)
        # Under a MirroredStrategy, Keras runs the whole batch on every replica and stacks
        # the copies: the first `len(batch)` rows are the batch's.
        outputs.append(keras.ops.convert_to_numpy(model.predict_on_batch(batch))[: len(batch)])
    units = int(model.output_shape[-1] or 1)
    predictions = np.concatenate(outputs) if outputs else np.zeros((0, units), np.float32)
    return np.asarray(predictions, np.float64)


def positive_probability(predictions: np.ndarray) -> np.ndarray:
    """The PNEUMONIA probability from a `(N, 1)` sigmoid or `(N, 2)` softmax output.

    Args:
        predictions: Model outputs, `(N, 1)` or `(N, 2)`.

    Returns:
        float64 `(N,)`: the sigmoid output, or the softmax column of class 1.

    Example:
        >>> keras_cxr.models.positive_probability(np.array([[0.2, 0.8]]))
        array([0.8])
    """
    predictions = np.asarray(predictions, dtype=np.float64)
    return predictions[:, 0] if predictions.shape[-1] == 1 else predictions[:, 1]
