"""Loading a model with its decision threshold, and reading what input it takes.

`load_model_and_folder` is the loading step `keras-cxr evaluate` and `keras-cxr report`
share: the model, what is stored with it, and the labelled images it is applied to.
"""

from __future__ import annotations

import os
import warnings
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:  # pragma: no cover - for type checkers only
    import keras

    from keras_cxr.data import ImageSet


def load_model_and_threshold(
    path: str | os.PathLike, threshold: float | None
) -> tuple[keras.Model, float, str]:
    """Loads a model and the threshold stored with it (`--threshold` overrides it).

    Returns `(model, threshold, where_the_threshold_came_from)`; a model saved without a
    threshold gets 0.5, with a warning.
    """
    import keras_cxr
    from keras_cxr.models import read_metadata

    model = keras_cxr.load_model(path, compile=False)
    if threshold is not None:
        return model, threshold, "--threshold"
    metadata = read_metadata(path)
    stored = metadata.get("threshold")
    if stored is None and metadata.get("decision") == "argmax":
        return model, 0.5, "none: the arg-max decides"  # a k-class model has no threshold
    if stored is None:
        warnings.warn(
            f"{path} has no stored decision threshold (it was not saved by `keras-cxr train`); "
            "using 0.5. Pass --threshold to choose one.",
            stacklevel=2,
        )
        return model, 0.5, "default 0.5"
    return model, float(stored), "validation split, stored with the model"


def stored_calibration(path: str | os.PathLike) -> tuple[float, str | None]:
    """`(temperature, operating point)` stored with a model: 1 and None for older files.

    The operating point falls back to the `threshold_method` of files written before
    operating points were stored.
    """
    from keras_cxr.models import read_metadata, stored_temperature

    metadata = read_metadata(path)
    return stored_temperature(metadata), (
        metadata.get("operating_point") or metadata.get("threshold_method")
    )


def square_input(model: keras.Model) -> int:
    """The side of the model's square image input; ValueError for any other input."""
    shape = model.input_shape
    if len(shape) != 4 or shape[1] is None or shape[1] != shape[2]:
        raise ValueError(
            f"The model takes inputs of shape {shape}; keras-cxr needs a fixed square image "
            "input (batch, size, size, channels)."
        )
    return int(shape[1])


def color_mode(model: keras.Model) -> str:
    """`"grayscale"` for a one-channel input, else `"rgb"`."""
    return "grayscale" if model.input_shape[-1] == 1 else "rgb"


def model_labels(path: str | os.PathLike, model: keras.Model) -> str:
    """The label set a model was trained on: stored with it, else from its output units.

    `"three_class"` for a model file that says so, or for three softmax outputs; else
    `"binary"`.
    """
    from keras_cxr.models import read_metadata

    stored = read_metadata(path).get("labels")
    if stored is not None:
        return str(stored)
    return "three_class" if model.output_shape[-1] == 3 else "binary"


class ModelAndFolder(NamedTuple):
    """A model file and a labelled image folder, loaded for evaluation.

    Attributes:
        model: The loaded model.
        threshold: The decision threshold (`--threshold`, else the stored one).
        threshold_source: Where the threshold came from.
        temperature: The stored temperature (1 for older files).
        operating_point: The stored operating point, or None when `--threshold`
            replaces the stored threshold (or the file stores none).
        labels: The label set, `"binary"` or `"three_class"` (see `model_labels`).
        data: The images of the folder, at the model's input size and colour mode.
    """

    model: keras.Model
    threshold: float
    threshold_source: str
    temperature: float
    operating_point: str | None
    labels: str
    data: ImageSet


def load_model_and_folder(
    path: str | os.PathLike,
    threshold: float | None,
    folder: str | os.PathLike,
    progress: bool = True,
) -> ModelAndFolder:
    """Loads a model with what is stored with it, and the labelled images of `folder`.

    Args:
        path: The `.keras` model file.
        threshold: `--threshold`, or None for the stored one.
        folder: A split folder or a data set root (see `keras_cxr.data.load_image_folder`).
        progress: Show a progress bar while the images load. Defaults to True.

    Returns:
        A `ModelAndFolder`.

    Raises:
        FileNotFoundError: If the model file or the folder does not exist.
        ValueError: If the model does not take a fixed square image, or the folder has
            no images of the model's classes.

    Example:
        >>> loaded = keras_cxr.cli._model.load_model_and_folder("m.keras", None, "test")
        >>> loaded.threshold_source, len(loaded.data)
        ('validation split, stored with the model', 624)
    """
    from keras_cxr.data import load_image_folder

    model, chosen, source = load_model_and_threshold(path, threshold)
    temperature, operating_point = stored_calibration(path)
    if threshold is not None:  # the stored operating point no longer describes the decision
        operating_point = None
    labels = model_labels(path, model)
    data = load_image_folder(
        folder, square_input(model), color_mode(model), progress=progress, labels=labels
    )
    return ModelAndFolder(model, chosen, source, temperature, operating_point, labels, data)
