"""The export formats: their names, what kind of path each writes, and where its metadata goes."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from keras_cxr._validation import invalid_value

#: Name of the metadata file inside an exported folder (the archive member's name too).
METADATA_NAME = "keras_cxr.json"


@dataclass(frozen=True)
class Format:
    """One export format.

    Attributes:
        name: The name `export_model(format=...)` and `keras-cxr export --format` take.
        suffix: The ending a single-file export must have (`""` for a folder).
        runtime: What loads the export back to check it.
        description: One line for `--help` and the docs.
    """

    name: str
    suffix: str
    runtime: str
    description: str

    @property
    def is_folder(self) -> bool:
        """Whether the export is a folder (a SavedModel) rather than one file."""
        return not self.suffix


#: The formats, by name, in the order the docs list them.
FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("savedmodel", "", "tf.saved_model.load", "TensorFlow SavedModel (TF Serving)"),
        Format("onnx", ".onnx", "onnxruntime", "ONNX, converted with tf2onnx"),
        Format("tflite", ".tflite", "tf.lite.Interpreter", "TFLite / LiteRT flatbuffer"),
        Format(
            "explaining-savedmodel",
            "",
            "tf.saved_model.load",
            "SavedModel whose serving signature returns the prediction and its Grad-CAM map",
        ),
    )
}


def get_format(name: str) -> Format:
    """The `Format` called `name`.

    Args:
        name: One of `keras_cxr.export.FORMATS`.

    Returns:
        The `Format`.

    Raises:
        ValueError: For an unknown name; the message lists the known ones.

    Example:
        >>> keras_cxr.export.get_format("onnx").suffix
        '.onnx'
    """
    found = FORMATS.get(name) if isinstance(name, str) else None
    if found is None:
        raise invalid_value("format", f"one of {list(FORMATS)}", name)
    return found


def metadata_path(out: str | os.PathLike, export_format: Format) -> Path:
    """Where the metadata of an export at `out` goes.

    Inside the folder of a SavedModel (`<out>/keras_cxr.json`, which TF Serving ignores),
    beside a single file otherwise (`model.onnx` → `model.onnx.json`).

    Args:
        out: The export's path.
        export_format: Its `Format`.

    Returns:
        The metadata file's path.

    Example:
        >>> keras_cxr.export.metadata_path("m.onnx", keras_cxr.export.get_format("onnx"))
        PosixPath('m.onnx.json')
    """
    out = Path(out)
    if export_format.is_folder:
        return out / METADATA_NAME
    return out.with_name(out.name + ".json")


def check_destination(out: str | os.PathLike, export_format: Format, overwrite: bool) -> Path:
    """Checks that an export may be written at `out`, before any work starts.

    Args:
        out: The export's path: a folder for SavedModels, a file with the format's suffix
            otherwise.
        export_format: The `Format`.
        overwrite: Whether an existing export at `out` may be replaced.

    Returns:
        `out` as a `Path`.

    Raises:
        ValueError: If a single-file export's path lacks the format's suffix.
        FileExistsError: If `out` (or its metadata file) exists and `overwrite` is False,
            or exists as the other kind (a file where a folder goes, or the reverse).
        NotADirectoryError, PermissionError: If the parent folder cannot be written.

    Example:
        >>> keras_cxr.export.check_destination("m.onnx", keras_cxr.export.get_format("onnx"), False)
        PosixPath('m.onnx')
    """
    from keras_cxr._output_folder import check_writable

    out = Path(out)
    suffix = export_format.suffix
    if suffix and out.suffix != suffix:
        raise invalid_value(
            "out", f"a path ending in {suffix!r} for {export_format.name}", str(out)
        )
    taken = [p for p in (out, metadata_path(out, export_format)) if p.exists()]
    if taken and not overwrite:
        raise FileExistsError(
            f"{str(taken[0])!r} already exists; choose another --out, or pass --overwrite "
            "(overwrite=True) to replace the export there."
        )
    if out.exists() and out.is_dir() != export_format.is_folder:
        kind = "a folder" if out.is_dir() else "a file"
        raise FileExistsError(
            f"{str(out)!r} is {kind}, which a {export_format.name} export does not replace; "
            "remove it yourself or choose another --out."
        )
    check_writable(out.parent)
    return out
