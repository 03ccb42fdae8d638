"""`export_model`: a classifier exported, checked in its runtime, and published atomically."""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras

from keras_cxr import backend
from keras_cxr._validation import invalid_value
from keras_cxr.atomic import atomic_folder, atomic_write, atomic_write_json
from keras_cxr.export.checks import CHECK_IMAGES, TOLERANCE, check_images, compare_export
from keras_cxr.export.formats import Format, check_destination, get_format, metadata_path
from keras_cxr.models import decision_threshold, load_model, read_metadata


@dataclass
class ExportResult:
    """What `export_model` wrote and measured.

    Attributes:
        path: The export (folder or file).
        metadata_path: Its metadata file.
        format: The format's name.
        max_abs_diff: The largest absolute difference from Keras over the check images.
        differences: The same, per output.
        export_seconds: Time to write the export.
        check_seconds: Time to load it back and compare.
        metadata: The metadata written.
    """

    path: Path
    metadata_path: Path
    format: str
    max_abs_diff: float
    differences: dict[str, float]
    export_seconds: float
    check_seconds: float
    metadata: dict[str, Any] = field(repr=False)

    def __str__(self) -> str:
        images = self.metadata["check"]["images"]
        return (
            f"Exported {self.format} to {self.path} in {self.export_seconds:.1f} s; checked "
            f"with {self.metadata['check']['runtime']} on {images} images: max abs "
            f"difference from Keras {self.max_abs_diff:.3g} (tolerance "
            f"{self.metadata['check']['tolerance']:g}). Metadata: {self.metadata_path}"
        )


def export_model(
    model: str | os.PathLike | keras.Model,
    out: str | os.PathLike,
    format: str,
    *,
    threshold: float | None = None,
    method: str = "gradcam",
    overwrite: bool = False,
    images: int = CHECK_IMAGES,
    tolerance: float = TOLERANCE,
) -> ExportResult:
    """Exports a classifier, checks the export in its own runtime, then puts it at `out`.

    The export is written beside `out` under a temporary name, loaded back by its runtime
    (`tf.saved_model.load`, onnxruntime, the TFLite interpreter) and compared with Keras
    on `images` synthetic radiographs; only if the largest absolute difference is within
    `tolerance` is it renamed to `out`, so a failed export never leaves a file there and
    never replaces one. The metadata (`keras_cxr.export.export_metadata`: threshold,
    classes, input, the source's fingerprint, the check) goes to `<out>/keras_cxr.json`
    for a SavedModel, inside the same atomic rename, or to `<out>.json` for one file,
    written after it (the replaced export's metadata file is removed first, so an export
    is never described by another's metadata).

    Exports need the TensorFlow backend: SavedModel and TFLite are TensorFlow's formats and
    ONNX is converted from TensorFlow's graph. A `.keras` file is backend-independent, so
    a model trained under JAX or PyTorch is exported by loading it under TensorFlow.

    Args:
        model: A `.keras` file (its stored threshold and class names are used) or a model.
        out: The export's path: a folder for `savedmodel` and `explaining-savedmodel`, a
            file ending in `.onnx` / `.tflite` otherwise.
        format: One of `keras_cxr.export.FORMATS`.
        threshold: Decision threshold; None (default) uses the stored one, else 0.5.
        method: The CAM method of `explaining-savedmodel`. Defaults to "gradcam".
        overwrite: Replace an existing export at `out`. Defaults to False.
        images: Number of check images. Defaults to 16.
        tolerance: The largest accepted absolute difference. Defaults to 1e-4.

    Returns:
        An `ExportResult`.

    Raises:
        ValueError: For an unknown format, a path without the format's suffix, a bad
            `threshold` or `tolerance`, or a difference above `tolerance` (nothing is
            written then).
        FileExistsError: If `out` exists and `overwrite` is False.
        RuntimeError: Under a Keras backend other than TensorFlow.
        ImportError: If the format's packages are missing (`pip install "keras-cxr[export]"`).
        FileNotFoundError, keras_cxr.ModelFileError: For a missing or unreadable model file.

    Example:
        >>> result = keras_cxr.export.export_model("model.keras", "model.onnx", "onnx")
        >>> result.max_abs_diff < 1e-4
        True
    """
    export_format = get_format(format)
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or tolerance < 0:
        raise invalid_value("tolerance", "a number >= 0", tolerance)
    _check_backend(export_format)
    out = check_destination(out, export_format, overwrite)
    if export_format.name == "onnx":
        from keras_cxr.export.onnx import check_onnx_packages

        check_onnx_packages()
    model, source_metadata, source_path = _load(model)
    threshold, threshold_source = decision_threshold(threshold, source_metadata)
    check_inputs = check_images(model, images)
    method = method if export_format.name == "explaining-savedmodel" else None

    timings: dict[str, float] = {}
    published: dict[str, Any] = {}

    def write_and_check(target: Path) -> None:
        start = time.perf_counter()
        _write(model, target, export_format, threshold, method)
        timings["export"] = time.perf_counter() - start
        start = time.perf_counter()
        differences = compare_export(
            target, export_format, model, check_inputs, threshold, method or "gradcam"
        )
        timings["check"] = time.perf_counter() - start
        worst = max(differences.values())
        if not worst <= tolerance:
            raise ValueError(
                f"The {export_format.name} export differs from the Keras model by up to "
                f"{worst:.3g} on {images} images ({differences}), above the tolerance "
                f"{tolerance:g}; nothing was written to {str(out)!r}."
            )
        check = {
            "images": images,
            "tolerance": tolerance,
            "max_abs_diff": worst,
            "differences": differences,
            "runtime": _runtime(export_format),
            "export_seconds": round(timings["export"], 2),
        }
        published["metadata"] = _metadata(
            model, export_format, threshold, threshold_source, source_metadata, source_path,
            check, method,
        )  # fmt: skip
        if export_format.is_folder:
            atomic_write_json(metadata_path(target, export_format), published["metadata"])
        else:
            with contextlib.suppress(FileNotFoundError):
                metadata_path(out, export_format).unlink()

    out.parent.mkdir(parents=True, exist_ok=True)
    if export_format.is_folder:
        with atomic_folder(out, keep_previous=False) as temporary:
            write_and_check(temporary)
            _readable_by_all(temporary)
    else:
        atomic_write(out, write_and_check)
        atomic_write_json(metadata_path(out, export_format), published["metadata"])
    metadata = published["metadata"]
    return ExportResult(
        path=out,
        metadata_path=metadata_path(out, export_format),
        format=export_format.name,
        max_abs_diff=metadata["check"]["max_abs_diff"],
        differences=metadata["check"]["differences"],
        export_seconds=timings["export"],
        check_seconds=timings["check"],
        metadata=metadata,
    )


def _readable_by_all(folder: Path) -> None:
    """Gives the temporary folder (created private) the modes of a new folder, so that a
    server running as another user can read the export."""
    mask = os.umask(0)
    os.umask(mask)
    folder.chmod(0o777 & ~mask)


def _check_backend(export_format: Format) -> None:
    if backend.BACKEND != "tensorflow":
        raise RuntimeError(
            f"Exporting to {export_format.name} needs the TensorFlow backend; the active Keras "
            f"backend is {backend.BACKEND!r}. A .keras file loads under any backend: run "
            "the export with KERAS_BACKEND=tensorflow."
        )


def _load(model) -> tuple[keras.Model, dict[str, Any], str | None]:
    if isinstance(model, (str, os.PathLike)):
        return load_model(model, compile=False), read_metadata(model), os.fspath(model)
    if isinstance(model, keras.Model):
        return model, {}, None
    raise invalid_value("model", "a .keras file path or a keras.Model", type(model).__name__)


def _write(model, target: Path, export_format: Format, threshold: float, method) -> None:
    if export_format.name == "savedmodel":
        from keras_cxr.export.saved_model import write_saved_model

        write_saved_model(model, target)
    elif export_format.name == "onnx":
        from keras_cxr.export.onnx import write_onnx

        write_onnx(model, target)
    elif export_format.name == "tflite":
        from keras_cxr.export.tflite import write_tflite

        write_tflite(model, target)
    else:
        from keras_cxr.export.explaining_saved_model import write_explaining_saved_model

        write_explaining_saved_model(model, target, threshold, method)


def _runtime(export_format: Format) -> str:
    package = {"onnx": "onnxruntime"}.get(export_format.name, "tensorflow")
    try:
        return f"{export_format.runtime} ({package} {importlib.metadata.version(package)})"
    except importlib.metadata.PackageNotFoundError:
        return export_format.runtime


def _metadata(model, export_format, threshold, source, source_metadata, path, check, method):
    from keras_cxr.export.export_metadata import export_metadata

    return export_metadata(
        model,
        export_format.name,
        threshold=threshold,
        threshold_source=source,
        source_metadata=source_metadata,
        source_path=path,
        check=check,
        method=method,
    )
