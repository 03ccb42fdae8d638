"""Exports of a classifier for serving: SavedModel, ONNX, TFLite and an explaining SavedModel.

`export_model` writes one, checks it by loading it in its own runtime and comparing it
with Keras, and puts it in place atomically with its metadata beside it.
"""

from keras_cxr.export.checks import (
    CHECK_IMAGES,
    TOLERANCE,
    check_images,
    compare_export,
    run_export,
)
from keras_cxr.export.explaining_saved_model import (
    EXPLAIN_OUTPUTS,
    explaining_function,
    write_explaining_saved_model,
)
from keras_cxr.export.export_metadata import export_metadata
from keras_cxr.export.export_model import ExportResult, export_model
from keras_cxr.export.formats import (
    FORMATS,
    METADATA_NAME,
    Format,
    check_destination,
    get_format,
    metadata_path,
)
from keras_cxr.export.onnx import check_onnx_packages, write_onnx
from keras_cxr.export.saved_model import image_signature, write_saved_model
from keras_cxr.export.tflite import write_tflite

__all__ = [
    "CHECK_IMAGES",
    "EXPLAIN_OUTPUTS",
    "FORMATS",
    "METADATA_NAME",
    "TOLERANCE",
    "ExportResult",
    "Format",
    "check_destination",
    "check_images",
    "check_onnx_packages",
    "compare_export",
    "explaining_function",
    "export_metadata",
    "export_model",
    "get_format",
    "image_signature",
    "metadata_path",
    "run_export",
    "write_explaining_saved_model",
    "write_onnx",
    "write_saved_model",
    "write_tflite",
]
