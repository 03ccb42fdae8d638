"""What a trained model needs besides its weights: threshold, classes, recipe, stored in its file.

The metadata is a JSON document stored **inside** the `.keras` archive, as the member
`keras_cxr.json` next to Keras's own `config.json` and `metadata.json`. Keras ignores
members it does not know, so the file still loads with `keras.models.load_model`, and the
decision threshold chosen on the validation split travels with the model: copying the
one file is enough.

Keys written by `keras_cxr.training.train`: `"threshold"` (on the calibrated probability),
`"temperature"` (of temperature scaling, `keras_cxr.models.temperature`; a file without it
reads as 1), `"operating_point"` (the spec the threshold was chosen for, e.g.
`"sensitivity:0.95"`), `"calibration"` (validation ECE and NLL before and after),
`"threshold_method"`, `"threshold_split"`, `"class_names"`, `"image_size"`, `"color_mode"`,
`"recipe"`, `"config"`, `"val_metrics"` and `"best_epoch"`.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import keras

from keras_cxr._validation import check_unit_interval
from keras_cxr.atomic import atomic_write, to_json
from keras_cxr.models.loading import ModelFileError

#: Name of the metadata member inside the `.keras` archive.
METADATA_MEMBER = "keras_cxr.json"
#: Decision threshold used when neither the caller nor the model file gives one.
DEFAULT_THRESHOLD = 0.5


def save_model(
    model: keras.Model,
    path: str | os.PathLike,
    metadata: dict[str, Any] | None = None,
    include_optimizer: bool = False,
) -> Path:
    """Saves a model as `.keras` with keras_cxr metadata inside, atomically.

    The model is saved to a temporary file in the same folder, the metadata is appended
    to the archive, and the file is renamed into place, keeping the file it replaces as
    `<path>.prev`. A crash never leaves a truncated model at `path`.

    By default the file holds the model for inference: an uncompiled copy with the same
    weights, so loading it never warns about optimizer variables that do not match (a
    from-scratch model trains its BatchNorm layers, which a reloaded model freezes again).
    Training state for resuming lives in the run's `checkpoints/` folder instead.

    Args:
        model: The model to save.
        path: Destination; must end in `.keras`.
        metadata: JSON-serializable dict (e.g. `{"threshold": 0.42}`), or None.
        include_optimizer: Save the model as it is, compiled with its optimizer state.
            Defaults to False.

    Returns:
        `path` as a `Path`.

    Raises:
        ValueError: If `path` does not end in `.keras`.
        OSError: If the folder cannot be written.

    Example:
        >>> keras_cxr.models.save_model(model, "model.keras", {"threshold": 0.42})
        >>> keras_cxr.models.read_metadata("model.keras")["threshold"]
        0.42
    """
    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"Model files must end in `.keras`. Received: path={str(path)!r}")

    if not include_optimizer and getattr(model, "optimizer", None) is not None:
        copy = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(model))
        copy.set_weights(model.get_weights())
        model = copy

    def write(temporary: Path) -> None:
        model.save(temporary)
        if metadata is not None:
            with zipfile.ZipFile(temporary, "a") as archive:
                archive.writestr(METADATA_MEMBER, json.dumps(to_json(metadata), indent=2))

    return atomic_write(path, write, keep_previous=True, suffix=".keras")


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """Reads the keras_cxr metadata stored in a `.keras` file.

    Args:
        path: A `.keras` file.

    Returns:
        The metadata dict; empty for a model saved without metadata (e.g. by plain
        `model.save`).

    Raises:
        FileNotFoundError: If `path` does not exist.
        keras_cxr.ModelFileError: If `path` is not a `.keras` archive or its metadata is
            not valid JSON.

    Example:
        >>> keras_cxr.models.read_metadata("runs/demo/model.keras")["threshold"]
        0.5123
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No model file at {str(path)!r}.")
    if not zipfile.is_zipfile(path):
        raise ModelFileError(
            f"The model file {str(path)!r} is not a `.keras` archive (truncated or in "
            "another format)."
        )
    with zipfile.ZipFile(path) as archive:
        if METADATA_MEMBER not in archive.namelist():
            return {}
        text = archive.read(METADATA_MEMBER).decode("utf-8")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise ModelFileError(
            f"The keras_cxr metadata in {str(path)!r} is not valid JSON ({error})."
        ) from error
    if not isinstance(value, dict):
        raise ModelFileError(f"The keras_cxr metadata in {str(path)!r} is not a JSON object.")
    return value


def decision_threshold(threshold: float | None, metadata: Mapping[str, Any]) -> tuple[float, str]:
    """The decision threshold to apply, and where it came from.

    `threshold` when it is given (the caller's choice wins), else the `"threshold"` stored
    in the model file's `metadata`, else `DEFAULT_THRESHOLD` (0.5).

    Args:
        threshold: The caller's threshold in [0, 1], or None to use the stored one.
        metadata: `keras_cxr.models.read_metadata(path)` (empty for a bare model).

    Returns:
        `(threshold, source)`, the source `"argument"`, `"model file"` or `"default"`.

    Raises:
        ValueError: If `threshold` is not a number in [0, 1].

    Example:
        >>> keras_cxr.models.decision_threshold(None, {"threshold": 0.42})
        (0.42, 'model file')
        >>> keras_cxr.models.decision_threshold(0.3, {"threshold": 0.42})
        (0.3, 'argument')
        >>> keras_cxr.models.decision_threshold(None, {})
        (0.5, 'default')
    """
    if threshold is not None:
        return check_unit_interval("threshold", threshold, include_zero=True), "argument"
    if metadata.get("threshold") is not None:
        return float(metadata["threshold"]), "model file"
    return DEFAULT_THRESHOLD, "default"
