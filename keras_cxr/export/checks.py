"""Checking an export by loading it in its own runtime and comparing it with Keras."""

from __future__ import annotations

import os

import keras
import numpy as np

from keras_cxr._validation import check_int, invalid_value
from keras_cxr.export.formats import Format

#: Images an export is checked on, and the largest absolute difference it may show.
CHECK_IMAGES = 16
TOLERANCE = 1e-4


def check_images(model: keras.Model, n: int = CHECK_IMAGES, seed: int = 0) -> np.ndarray:
    """Synthetic chest radiographs at the model's input size, to check exports on.

    Phantoms (`keras_cxr.data.synthetic.make_phantoms`, half with pneumonia) rather than
    noise, so the activations are those of chest X-rays; resized and given the model's
    channels as files are read.

    Args:
        model: A model with one fixed-size image input `(batch, H, W, 1 | 3)`.
        n: Number of images. Defaults to `CHECK_IMAGES` (16).
        seed: Seed of the phantoms. Defaults to 0.

    Returns:
        float32 `(n, H, W, C)` raw pixels in [0, 255].

    Raises:
        ValueError: For a model without such an input, or `n` < 1.

    Example:
        >>> keras_cxr.export.check_images(model, 4).shape
        (4, 32, 32, 3)
    """
    from keras_cxr.data import resize_images
    from keras_cxr.data.synthetic import make_phantoms

    n = check_int("n", n)
    height, width, channels = _image_input(model)
    phantoms = make_phantoms(n, image_size=max(32, height, width), seed=seed)
    color_mode = "grayscale" if channels == 1 else "rgb"
    return resize_images(phantoms.images, (height, width), color_mode).astype(np.float32)


def compare_export(
    path: str | os.PathLike,
    export_format: Format,
    model: keras.Model,
    images: np.ndarray,
    threshold: float = 0.5,
    method: str = "gradcam",
) -> dict[str, float]:
    """Loads an export in its runtime and measures how far its outputs are from Keras's.

    The plain formats are compared with `model.predict` on the same images; the
    explaining SavedModel's outputs with `keras_cxr.explain.BatchExplainer` (same
    threshold and method), output by output.

    Args:
        path: The export (folder or file).
        export_format: Its `Format`.
        model: The Keras model it was exported from.
        images: float32 `(n, H, W, C)`, e.g. from `check_images`.
        threshold: For the explaining SavedModel: its threshold. Defaults to 0.5.
        method: For the explaining SavedModel: its CAM method. Defaults to "gradcam".

    Returns:
        `{output name: max abs difference}`: `{"probabilities": d}` for the plain formats,
        one entry per `EXPLAIN_OUTPUTS` name for the explaining one (the decisions count
        as 0/1 values).

    Raises:
        ImportError: If the runtime (onnxruntime) is missing.

    Example:
        >>> images = keras_cxr.export.check_images(model)
        >>> keras_cxr.export.compare_export("m.onnx", keras_cxr.export.get_format("onnx"),
        ...                                 model, images)
        {'probabilities': 5.96e-08}
    """
    images = np.asarray(images, np.float32)
    if export_format.name == "explaining-savedmodel":
        return _compare_explaining(path, model, images, threshold, method)
    expected = keras.ops.convert_to_numpy(model.predict_on_batch(images))
    return {"probabilities": _max_abs_diff(run_export(path, export_format, images), expected)}


def run_export(path: str | os.PathLike, export_format: Format, images: np.ndarray) -> np.ndarray:
    """The first output of an export on `images`, computed by the export's own runtime.

    Args:
        path: The export (folder or file).
        export_format: Its `Format` (for the explaining SavedModel: its `predict`
            signature).
        images: float32 `(n, H, W, C)`.

    Returns:
        The model output, `(n, units)`.

    Raises:
        ImportError: If onnxruntime is missing (ONNX).

    Example:
        >>> keras_cxr.export.run_export("m.tflite", keras_cxr.export.get_format("tflite"),
        ...                             images)
    """
    from keras_cxr.backend import tensorflow_export

    images = np.asarray(images, np.float32)
    if export_format.name == "onnx":
        from keras_cxr.export.onnx import check_onnx_packages

        check_onnx_packages()
        import onnxruntime

        session = onnxruntime.InferenceSession(os.fspath(path), providers=["CPUExecutionProvider"])
        return session.run(None, {session.get_inputs()[0].name: images})[0]
    if export_format.name == "tflite":
        return tensorflow_export.run_tflite(path, images)
    signature = "predict" if export_format.name == "explaining-savedmodel" else "serving_default"
    (output,) = tensorflow_export.run_saved_model(path, images, signature).values()
    return output


def _compare_explaining(path, model, images, threshold: float, method: str) -> dict[str, float]:
    from keras_cxr.backend import tensorflow_export
    from keras_cxr.explain import BatchExplainer
    from keras_cxr.export.explaining_saved_model import EXPLAIN_OUTPUTS

    exported = tensorflow_export.run_saved_model(path, images)
    expected = BatchExplainer(model, method, threshold=threshold, warm_up=False)({"image": images})
    return {key: _max_abs_diff(exported[key], expected[key]) for key in EXPLAIN_OUTPUTS}


def _max_abs_diff(actual, expected) -> float:
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    if actual.shape != expected.shape:
        return float("inf")
    return float(np.max(np.abs(actual - expected), initial=0.0))


def _image_input(model: keras.Model) -> tuple[int, int, int]:
    shape = tuple(model.input_shape)
    if len(shape) != 4 or None in shape[1:] or shape[3] not in (1, 3):
        raise invalid_value(
            "model", "a model with one fixed-size image input (batch, H, W, 1 or 3)", shape
        )
    return int(shape[1]), int(shape[2]), int(shape[3])
