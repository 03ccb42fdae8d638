"""What is written beside an export: the model's threshold, classes, input, origin and check."""

from __future__ import annotations

import datetime
from typing import Any

import keras


def export_metadata(
    model: keras.Model,
    export_format: str,
    *,
    threshold: float,
    threshold_source: str,
    source_metadata: dict[str, Any],
    source_path: str | None,
    check: dict[str, Any],
    method: str | None = None,
) -> dict[str, Any]:
    """The metadata document of an export (`keras_cxr.json` / `<file>.json`).

    It carries what a server needs besides the graph (the decision threshold, the class
    names, the input the graph takes) and what names the export's origin: the source
    model's fingerprint (`keras_cxr.models.model_fingerprint`, equal for the `.keras` file
    and the model loaded from it), the versions that wrote it and the check it passed.

    Args:
        model: The exported Keras model.
        export_format: The format's name.
        threshold: The decision threshold.
        threshold_source: Where the threshold came from (`"argument"`, `"model file"`,
            `"default"`).
        source_metadata: The metadata stored in the source `.keras` file (may be empty).
        source_path: The source `.keras` file, or None for an in-memory model.
        check: The check's record (`images`, `tolerance`, `max_abs_diff`, ...).
        method: The CAM method of an explaining export, else None.

    Returns:
        A JSON-serializable dict.

    Example:
        >>> keras_cxr.export.export_metadata(model, "onnx", threshold=0.5,
        ...     threshold_source="default", source_metadata={}, source_path=None,
        ...     check={"max_abs_diff": 0.0})["input"]["dtype"]
        'float32'
    """
    import keras_cxr
    from keras_cxr.explain.batch_explainer import DEFAULT_CLASS_NAMES
    from keras_cxr.models import model_fingerprint

    units = int(model.outputs[0].shape[-1])
    class_names = source_metadata.get("class_names") or list(DEFAULT_CLASS_NAMES)
    return {
        "format": export_format,
        "threshold": float(threshold),
        "threshold_source": threshold_source,
        "class_names": list(class_names),
        "input": {
            "shape": list(model.input_shape[1:]),
            "dtype": "float32",
            "pixel_range": [0, 255],
            "note": "raw pixels; the model's preprocessing is inside the export",
        },
        "output": {"units": units, "activation": "sigmoid" if units == 1 else "softmax"},
        "method": method,
        "source": {"path": source_path, "fingerprint": model_fingerprint(model)},
        "source_metadata": source_metadata,
        "check": check,
        "versions": {
            "keras_cxr": keras_cxr.__version__,
            "keras": keras.__version__,
            "backend": keras.backend.backend(),
        },
        "exported_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
