"""Writing a classifier as ONNX with tf2onnx, for onnxruntime."""

from __future__ import annotations

import importlib.util
import os
import warnings

import keras

from keras_cxr.export.saved_model import image_signature

#: The packages ONNX export and its check need, and the extra that installs them.
ONNX_PACKAGES = ("tf2onnx", "onnx", "onnxruntime")
INSTALL_HINT = 'pip install "keras-cxr[export]"'


def check_onnx_packages() -> None:
    """Fails early, before any work, when a package of the ONNX export is missing.

    Returns:
        None.

    Raises:
        ImportError: Naming the missing packages and the extra that installs them.

    Example:
        >>> keras_cxr.export.check_onnx_packages()
    """
    missing = [name for name in ONNX_PACKAGES if not _importable(name)]
    if missing:
        raise ImportError(
            f"ONNX export needs {', '.join(missing)}, which is not installed: {INSTALL_HINT}"
        )


def write_onnx(model: keras.Model, path: str | os.PathLike) -> None:
    """Writes `model` as an `.onnx` file (`keras.Model.export(format="onnx")`, via tf2onnx).

    The graph holds the whole model, preprocessing included; one float32 input named
    after the model's input (`"image"`), `(batch, height, width, channels)` with a free
    batch axis, and the probabilities out.

    Args:
        model: The Keras model (TensorFlow backend).
        path: The file to write.

    Returns:
        None.

    Raises:
        ImportError: If tf2onnx, onnx or onnxruntime is missing.

    Example:
        >>> keras_cxr.export.write_onnx(model, "model.onnx")
    """
    check_onnx_packages()
    with warnings.catch_warnings():  # Keras's patch of tf2onnx probes `np.object`
        warnings.simplefilter("ignore", FutureWarning)
        model.export(
            os.fspath(path), format="onnx", verbose=False, input_signature=image_signature(model)
        )


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a module set to None in sys.modules
        return False
