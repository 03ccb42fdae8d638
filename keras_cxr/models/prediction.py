"""Predicted probabilities and logits of a chest X-ray classifier, batch by batch."""

from __future__ import annotations

import weakref

import keras
import numpy as np

from keras_cxr._validation import check_int, shape_error
from keras_cxr.models.temperature import logits_from_probabilities


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
    return positive_probability(_predict_batches(model, images, batch_size, progress))


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
    return _predict_batches(model, images, batch_size, progress)


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


def predict_logits(
    model: keras.Model, images: np.ndarray, batch_size: int = 32, progress: bool = False
) -> np.ndarray:
    """The model's pre-activation outputs (logits), batch by batch.

    When the model ends in a sigmoid or softmax `Activation` layer (a
    `keras_cxr.StackedEnsemble` ends in `"predictions"` after its `"logits"` Dense layer),
    the logits are read before that layer, exactly. Any other model is run whole and its
    outputs are mapped back by `keras_cxr.models.logits_from_probabilities`, which loses
    precision where float32 probabilities saturate.

    Args:
        model: A model with a `(batch, 1)` sigmoid or `(batch, k)` softmax output.
        images: `(N, H, W, C)` raw pixels.
        batch_size: Images per forward pass. Defaults to 32.
        progress: Show a progress bar. Defaults to False.

    Returns:
        float64 `(N, units)`; `keras_cxr.models.apply_temperature` turns them into
        (calibrated) probabilities.

    Raises:
        ValueError: As for `keras_cxr.models.predict_probabilities`.

    Example:
        >>> logits = keras_cxr.models.predict_logits(model, x_test)
        >>> p = keras_cxr.models.apply_temperature(logits, 1.7)[:, 0]
    """
    logits_model = output_logits_model(model)
    if logits_model is not None:
        return _predict_batches(logits_model, images, batch_size, progress)
    return logits_from_probabilities(_predict_batches(model, images, batch_size, progress))


def output_logits_model(model: keras.Model) -> keras.Model | None:
    """The model up to the input of its final sigmoid/softmax `Activation` layer, or None.

    Made once per model and kept while the model lives: Keras compiles a model's predict
    function on its first `predict_on_batch`, so a fresh logits model per call would trace
    it anew each time (TensorFlow warned "5 out of the last 5 calls ... triggered
    tf.function retracing" when `keras-cxr demo` graded the shifted copies one by one).

    Args:
        model: A functional Keras model.

    Returns:
        A model sharing `model`'s layers that outputs the logits, or None when the last
        layer is no such activation (or the model is not functional); the same object on
        every call with the same `model`.

    Example:
        >>> keras_cxr.models.prediction.output_logits_model(ensemble).output.shape
        (None, 1)
    """
    try:
        return _LOGITS_MODELS[model]
    except KeyError:
        pass
    except TypeError:  # not weakly referable: nothing to keep it with
        return _make_logits_model(model)
    logits_model = _LOGITS_MODELS[model] = _make_logits_model(model)
    return logits_model


#: model → its logits model (or None), dropped with the model.
_LOGITS_MODELS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _make_logits_model(model: keras.Model) -> keras.Model | None:
    last = model.layers[-1] if getattr(model, "layers", None) else None
    activation = getattr(last, "activation", None)
    name = getattr(activation, "__name__", None)
    if not isinstance(last, keras.layers.Activation) or name not in ("sigmoid", "softmax"):
        return None
    try:
        return keras.Model(model.inputs, last.input, name=f"{model.name}_logits")
    except (AttributeError, ValueError, TypeError):
        return None


def _predict_batches(model, images, batch_size, progress) -> np.ndarray:
    """`model`'s outputs on `images`, checked against the input shape, batch by batch."""
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
    if not outputs:
        return np.zeros((0, int(model.output_shape[-1] or 1)), np.float64)
    return np.concatenate(outputs).astype(np.float64)
