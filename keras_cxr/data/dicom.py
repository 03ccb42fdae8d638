"""Reading a DICOM radiograph into display-ready pixels: rescale, window, MONOCHROME1 inversion."""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

import numpy as np

from keras_cxr._validation import invalid_value

OUTPUTS = ("uint8", "float")

# Which packages decode which compressed transfer syntaxes (see pydicom's "Supported
# Transfer Syntaxes" table); the hint names the usual pip installs.
_JPEG_LS = {"1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81"}
_JPEG_2000 = {
    "1.2.840.10008.1.2.4.90",
    "1.2.840.10008.1.2.4.91",
    "1.2.840.10008.1.2.4.201",
    "1.2.840.10008.1.2.4.202",
    "1.2.840.10008.1.2.4.203",
}


def read_dicom(path: str | os.PathLike | BinaryIO, output: str = "uint8") -> np.ndarray:
    """Reads a single-frame DICOM radiograph as a 2-D image ready for a model.

    The stored values go through the modality transform (Rescale Slope/Intercept or a
    Modality LUT), then the first VOI transform the file defines: a VOI LUT, else the first
    Window Center/Width with its VOI LUT Function (LINEAR, LINEAR_EXACT or SIGMOID, as in
    DICOM PS3.3 C.11.2.1.2), else the image's own min-max range. MONOCHROME1 images (where
    high values are dark) are inverted so that bone is always bright. Color images are
    turned to gray with the ITU-R BT.601 weights and stretched to their min-max range.

    pydicom is an optional dependency (`pip install keras_cxr[dicom]`); it is imported
    only when this function runs.

    Args:
        path: The DICOM file, or a binary file object holding one (e.g. `io.BytesIO`
            of an upload, read from its current position).
        output: "uint8" for values 0..255 or "float" for float32 in [0, 1]. Defaults to
            "uint8".

    Returns:
        An array of shape `(rows, columns)`, uint8 or float32 according to `output`.

    Raises:
        ImportError: pydicom is not installed.
        ValueError: the file is not DICOM, has no pixel data or has several frames, or
            `output` is unknown.
        RuntimeError: the pixel data is compressed with a transfer syntax that no
            installed package decodes; the message names the syntax and what to install.

    Example:
        >>> image = keras_cxr.data.read_dicom("study/CR.1.dcm")
        >>> image.dtype, image.ndim
        (dtype('uint8'), 2)
    """
    if output not in OUTPUTS:
        raise invalid_value("output", f"one of {list(OUTPUTS)}", output)
    dataset = _read_dataset(path)
    frames = int(dataset.get("NumberOfFrames", 1) or 1)
    if frames > 1:
        raise ValueError(
            f"{_subject(path)} holds {frames} frames; read_dicom reads single-frame radiographs. "
            "Export the frame you need as its own file."
        )
    pixels = _decode_pixels(dataset, path)
    if pixels.ndim == 3:
        unit = _min_max(pixels.astype(np.float64) @ np.array([0.299, 0.587, 0.114]))
    else:
        unit = _voi(_modality(pixels, dataset), dataset)
        if dataset.get("PhotometricInterpretation") == "MONOCHROME1":
            unit = 1.0 - unit
    if output == "float":
        return unit.astype(np.float32)
    return np.rint(unit * 255.0).astype(np.uint8)


def _read_dataset(path: str | os.PathLike | BinaryIO, stop_before_pixels: bool = False):
    """Parses a DICOM file with pydicom, with the errors worded for keras_cxr users.

    Raises:
        ImportError: pydicom is not installed.
        ValueError: the file is not DICOM or has no pixel data.
    """
    pydicom = _import_pydicom()
    try:
        source = path if hasattr(path, "read") else os.fspath(path)
        dataset = pydicom.dcmread(source, stop_before_pixels=stop_before_pixels)
    except pydicom.errors.InvalidDicomError as error:
        raise ValueError(
            f"{_subject(path)} is not a DICOM file (no 'DICM' preamble). Only .dcm files saved "
            "with DICOM file meta information can be read; convert other formats to PNG."
        ) from error
    except (OSError, EOFError, ValueError, KeyError) as error:
        if _disk_error(error):  # the disk's fault, not the file's: let callers retry
            raise
        raise ValueError(f"{_subject(path)} cannot be parsed as DICOM: {error}") from error
    if not stop_before_pixels and "PixelData" not in dataset:
        raise ValueError(
            f"{_subject(path)} has no pixel data (it may be a report, a DICOMDIR or a "
            "presentation state). Pass the file of the image itself."
        )
    return dataset


def _name(path) -> str:
    """How messages name a DICOM source: its path, or "the DICOM data" for a file object."""
    if hasattr(path, "read"):
        name = getattr(path, "name", None)
        return repr(name) if isinstance(name, str) else "the DICOM data"
    return repr(str(path))


def _subject(path) -> str:
    """`_name` at the start of a sentence."""
    name = _name(path)
    return name[:1].upper() + name[1:]


def _import_pydicom():
    try:
        import pydicom
        import pydicom.errors
    except ImportError as error:
        raise ImportError(
            "Reading DICOM files needs pydicom, which is not installed. Install it with "
            "`pip install keras_cxr[dicom]` (or `pip install pydicom`)."
        ) from error
    return pydicom


def _decode_pixels(dataset, path) -> np.ndarray:
    try:
        return dataset.pixel_array
    except (RuntimeError, NotImplementedError) as error:
        syntax = dataset.file_meta.get("TransferSyntaxUID")
        if syntax is None or not syntax.is_compressed:
            raise
        raise RuntimeError(
            f"Cannot decode the pixel data of {_name(path)}: it is compressed with transfer "
            f"syntax {syntax.name} ({syntax}) and no installed package decodes it. Install "
            f"one with `pip install {_decoder_hint(str(syntax))}`, or convert the file to an "
            "uncompressed transfer syntax."
        ) from error
    except (AttributeError, KeyError, TypeError, ValueError) as error:
        # pydicom's words for missing or inconsistent image elements (Rows, BitsAllocated,
        # a pixel data length that does not match them...).
        raise ValueError(f"Cannot decode the pixel data of {_name(path)}: {error}") from error


def _decoder_hint(syntax: str) -> str:
    if syntax in _JPEG_LS:
        return "pyjpegls` or `pip install python-gdcm"
    if syntax in _JPEG_2000:
        return "pylibjpeg pylibjpeg-openjpeg` or `pip install python-gdcm"
    return "pylibjpeg pylibjpeg-libjpeg` or `pip install python-gdcm"


def _modality(pixels: np.ndarray, dataset) -> np.ndarray:
    from pydicom.pixels import apply_modality_lut

    return np.asarray(apply_modality_lut(pixels, dataset), dtype=np.float64)


def _voi(values: np.ndarray, dataset) -> np.ndarray:
    """Maps modality values to [0, 1] with the file's VOI LUT, window, or min-max range."""
    if "VOILUTSequence" in dataset:
        from pydicom.pixels import apply_voi_lut

        # The LUT's output range, read the way pydicom reads the LUT (LUTData may be OW
        # bytes or a list): map every input the LUT covers.
        entries, first, _ = dataset.VOILUTSequence[0].LUTDescriptor
        domain = np.arange(first, first + (entries or 65536))
        outputs = np.asarray(apply_voi_lut(domain, dataset, prefer_lut=True), dtype=np.float64)
        # A LUT is indexed by integer modality values.
        indices = np.rint(values).astype(np.int64)
        mapped = np.asarray(apply_voi_lut(indices, dataset, prefer_lut=True), dtype=np.float64)
        return _scale(mapped, outputs.min(), outputs.max())
    if "WindowCenter" in dataset and "WindowWidth" in dataset:
        center = _first(dataset.WindowCenter)
        width = _first(dataset.WindowWidth)
        function = str(dataset.get("VOILUTFunction", "LINEAR") or "LINEAR").upper()
        return _window(values, center, width, function)
    return _min_max(values)


def _window(values: np.ndarray, center: float, width: float, function: str = "LINEAR"):
    """Applies a DICOM window (PS3.3 C.11.2.1.2) with output range [0, 1]."""
    values = np.asarray(values, dtype=np.float64)
    if function == "SIGMOID":
        return 1.0 / (1.0 + np.exp(-4.0 * (values - center) / width))
    if function == "LINEAR_EXACT":
        return np.clip((values - center) / width + 0.5, 0.0, 1.0)
    if width <= 1:
        return (values > center - 0.5).astype(np.float64)
    return np.clip((values - (center - 0.5)) / (width - 1) + 0.5, 0.0, 1.0)


def _first(value) -> float:
    """The first of a possibly multi-valued DS element (files may list several windows)."""
    return float(np.ravel(np.asarray(value, dtype=np.float64))[0])


def _scale(values: np.ndarray, low: float, high: float) -> np.ndarray:
    if high <= low:
        return np.zeros_like(values)
    return np.clip((values - low) / (high - low), 0.0, 1.0)


def _min_max(values: np.ndarray) -> np.ndarray:
    return _scale(values, float(values.min()), float(values.max()))


def _pixel_count(path: str | os.PathLike | BinaryIO) -> int:
    """Rows × columns × frames from the header, without decoding the pixels."""
    rows, columns, frames, _, _ = _header_fields(path)
    return rows * columns * frames


def _header_fields(path: str | os.PathLike | BinaryIO) -> tuple[int, int, int, int, int]:
    """Rows, columns, frames, samples per pixel and bits allocated, without the pixels."""
    dataset = _read_dataset(path if hasattr(path, "read") else Path(path), stop_before_pixels=True)
    if hasattr(path, "seek"):
        path.seek(0)  # the caller reads the same file object again

    def field(name: str, default: int) -> int:
        return int(dataset.get(name, default) or default)

    return (
        field("Rows", 0),
        field("Columns", 0),
        field("NumberOfFrames", 1),
        field("SamplesPerPixel", 1),
        field("BitsAllocated", 8),
    )


def _disk_error(error: BaseException) -> bool:
    """An `OSError` from the system (it has an errno) that is not about the file itself."""
    about_the_file = (FileNotFoundError, IsADirectoryError, PermissionError)
    return (
        isinstance(error, OSError)
        and error.errno is not None
        and not isinstance(error, about_the_file)
    )
