"""`load_model`: `keras.models.load_model` with errors that say what is wrong with the file."""

from __future__ import annotations

import contextlib
import os
import weakref
import zipfile
from typing import Any

import keras

# The keras_cxr metadata (threshold, temperature, class names) of each model that
# `load_model` read from a file, so that whichever explainer is given the model object
# finds what the file stores (`file_metadata`).
_FILE_METADATA: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class ModelFileError(ValueError):
    """A model file is missing, empty, truncated, or refused by safe mode."""


def load_model(path: str | os.PathLike, safe_mode: bool = True, compile: bool = True):
    """Load a `.keras` model file, explaining what is wrong when it cannot be loaded.

    keras_cxr models need no `custom_objects`: importing keras_cxr registers them. This
    wrapper only checks the file first and rewords Keras's low-level errors (a truncated
    zip reads "File is not a zip file"). The file is only ever read. The file's keras_cxr
    metadata stays with the model object (`file_metadata`), so that
    `keras_cxr.explain.BatchExplainer(load_model(path))` decides at the stored threshold
    and temperature, as `BatchExplainer(path)` does.

    Args:
        path: Path to a `.keras` file.
        safe_mode: Refuse to deserialize arbitrary code such as `Lambda` layers.
            Defaults to `True`; only turn it off for files you trust.
        compile: Whether to compile the model with its saved settings. Defaults to `True`.

    Returns:
        The loaded `keras.Model`.

    Raises:
        FileNotFoundError: If `path` does not exist.
        ModelFileError: If the file is empty, not a `.keras` archive (truncated or another
            format), or contains a `Lambda` layer while `safe_mode=True`.

    Example:
        >>> model = keras_cxr.load_model("ensemble.keras")
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No model file at {path!r}.")
    if os.path.getsize(path) == 0:
        raise ModelFileError(f"The model file {path!r} is empty (0 bytes); save the model again.")
    if not zipfile.is_zipfile(path):
        raise ModelFileError(
            f"The model file {path!r} is not a complete `.keras` archive: it is truncated or "
            "in another format. Save it again with `model.save('model.keras')`."
        )
    try:
        model = keras.models.load_model(path, safe_mode=safe_mode, compile=compile)
    except (zipfile.BadZipFile, EOFError, OSError) as error:
        raise ModelFileError(
            f"The model file {path!r} is damaged and could not be read ({error}). "
            "Save it again with `model.save('model.keras')`."
        ) from error
    except ValueError as error:
        if "Lambda" in str(error) or "safe_mode" in str(error):
            raise ModelFileError(
                f"The model file {path!r} contains a `Lambda` layer, which runs arbitrary "
                "code when loaded, so safe mode refused it. Rebuild the model without Lambda "
                "layers, or pass `safe_mode=False` only if you trust the file's author."
            ) from error
        raise

    from keras_cxr.models.metadata import read_metadata  # it imports this module

    with contextlib.suppress(ModelFileError, OSError):  # unreadable metadata: none known
        _FILE_METADATA[model] = {**read_metadata(path), "path": path}
    return model


def file_metadata(model: Any) -> dict[str, Any]:
    """The keras_cxr metadata of the file `model` was loaded from by `load_model`.

    Args:
        model: A model object.

    Returns:
        The metadata dict with the file's `"path"` added (a copy); `{}` for a model that
        `load_model` did not load (built in memory, or loaded by `keras.models.load_model`).

    Raises:
        Nothing: an unknown object gives `{}`.

    Example:
        >>> model = keras_cxr.load_model("runs/demo/model.keras")
        >>> keras_cxr.models.loading.file_metadata(model)["threshold"]
        0.5123
    """
    try:
        return dict(_FILE_METADATA.get(model, {}))
    except TypeError:  # not weakly referenceable, or unhashable: never registered
        return {}
