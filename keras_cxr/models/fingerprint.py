"""`model_fingerprint`: a short hash that names a model by its architecture and weights."""

from __future__ import annotations

import hashlib
import json

import keras
import numpy as np

#: Hexadecimal digits kept of the SHA-256 digest: 64 bits, ample to tell models apart.
FINGERPRINT_LENGTH = 16


def model_fingerprint(model: keras.Model) -> str:
    """A hash of a model's configuration and weights: equal for the same model, saved or not.

    The digest covers the model's `get_config()` (as sorted JSON) and, in order, the path,
    shape, dtype and bytes of every variable, trainable or not (BatchNorm statistics
    included). A model and the same model loaded back from its `.keras` file get the same
    fingerprint; retraining or another architecture changes it. (A hash of the file's
    bytes would not do: the archive stores timestamps, so each save of the same model
    differs.) The stored threshold is not part of it:
    callers that depend on it record it beside the fingerprint.

    Args:
        model: Any Keras model (a subclassed model without `get_config` is hashed by its
            class name and weights).

    Returns:
        `FINGERPRINT_LENGTH` lowercase hexadecimal characters.

    Raises:
        Nothing of its own: variables are read, never changed.

    Example:
        >>> keras_cxr.models.model_fingerprint(keras_cxr.load_model("model.keras"))
        '3f9a0c1d5e7b2a44'
    """
    digest = hashlib.sha256()
    try:
        config = model.get_config()
    except NotImplementedError:
        config = {"class_name": type(model).__name__}
    digest.update(json.dumps(config, sort_keys=True, default=repr).encode("utf-8"))
    for variable in model.weights:
        value = np.ascontiguousarray(keras.ops.convert_to_numpy(variable))
        header = f"{variable.path}|{value.shape}|{value.dtype}"
        digest.update(header.encode("utf-8"))
        digest.update(value.tobytes())
    return digest.hexdigest()[:FINGERPRINT_LENGTH]
