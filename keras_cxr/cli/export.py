"""`keras-cxr export`: a trained classifier as a SavedModel, ONNX or TFLite file, checked."""

from __future__ import annotations

import argparse

from keras_cxr.cli._arguments import add_model_option, positive_int, probability

HELP = "export a model for serving (SavedModel, ONNX, TFLite), checked against Keras"
DESCRIPTION = (
    "Exports a .keras classifier, preprocessing included, as a TensorFlow SavedModel, an "
    "ONNX file, a TFLite file, or an explaining SavedModel whose serving signature returns "
    "the probability, the decision at the stored threshold and the Grad-CAM heatmap. The "
    "export is loaded back by its own runtime and compared with Keras on synthetic "
    "radiographs before it is put at --out; its metadata (threshold, classes, input size, "
    "the source model's fingerprint, the check) goes to <out>/keras_cxr.json for a "
    "SavedModel and <out>.json for one file. Needs the TensorFlow backend."
)

#: The names of `keras_cxr.export.FORMATS`, restated so that the parser imports no Keras
#: (tests/cli/test_export.py checks that the two agree).
FORMAT_NAMES = ("savedmodel", "onnx", "tflite", "explaining-savedmodel")
#: The CAM methods an explaining SavedModel computes in its graph (those that need only the
#: gradient of the score at the target layers).
CAM_NAMES = ("gradcam", "gradcam++", "hirescam", "layercam", "xgradcam")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the options of `keras-cxr export` to its parser.

    Args:
        parser: The sub-command's parser.

    Example:
        >>> args = keras_cxr.cli.build_parser().parse_args(
        ...     ["export", "--model", "m.keras", "--format", "onnx", "--out", "m.onnx"]
        ... )
        >>> args.format, args.overwrite, args.check_images
        ('onnx', False, 16)
    """
    add_model_option(parser)
    parser.add_argument("--format", required=True, choices=FORMAT_NAMES, help="export format")
    parser.add_argument(
        "--out", required=True, help="a new folder (SavedModels) or .onnx / .tflite file"
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace an existing export at --out"
    )
    parser.add_argument(
        "--threshold",
        type=probability,
        default=None,
        help="decision threshold of the explaining SavedModel and the metadata (default: "
        "the one stored in the model file, else 0.5)",
    )
    parser.add_argument(
        "--method",
        choices=CAM_NAMES,
        default="gradcam",
        help="CAM method of the explaining SavedModel (default: gradcam)",
    )
    parser.add_argument(
        "--check-images",
        type=positive_int,
        default=16,
        help="synthetic radiographs the export is checked on (default: 16)",
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=1e-4,
        help="largest accepted absolute difference from Keras (default: 1e-4)",
    )


def run(args: argparse.Namespace) -> int:
    """Exports the model with `keras_cxr.export.export_model` and prints the check.

    Args:
        args: The parsed `keras-cxr export` arguments.

    Returns:
        0 (failures raise).

    Raises:
        FileNotFoundError: If the model file does not exist.
        FileExistsError: If `--out` exists and `--overwrite` is not given.
        ValueError: For a path without the format's suffix, or an export that differs
            from Keras by more than `--tolerance` (nothing is written then).
        ImportError: If the ONNX packages are missing (`pip install "keras-cxr[export]"`).
        RuntimeError: Under a Keras backend other than TensorFlow.

    Example:
        >>> parser = keras_cxr.cli.build_parser()
        >>> keras_cxr.cli.export.run(parser.parse_args(
        ...     ["export", "--model", "m.keras", "--format", "tflite", "--out", "m.tflite"]))
        0
    """
    from keras_cxr.export import export_model

    result = export_model(
        args.model,
        args.out,
        args.format,
        threshold=args.threshold,
        method=args.method,
        overwrite=args.overwrite,
        images=args.check_images,
        tolerance=args.tolerance,
    )
    print(result)
    differences = ", ".join(f"{key} {value:.3g}" for key, value in result.differences.items())
    print(f"Max abs difference per output: {differences}.")
    return 0
