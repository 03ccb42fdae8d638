"""`keras-cxr explain`: heatmap overlays for image files."""

from __future__ import annotations

import argparse

from keras_cxr.cli._arguments import add_method_option, add_model_options, add_quiet_option
from keras_cxr.cli._model import load_model_and_threshold

HELP = "heatmap overlays for image files"
DESCRIPTION = (
    "One figure per image (JPEG, PNG or DICOM, resized to the model input): the image, one "
    "overlay per backbone branch and the fused one, named after the prediction."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the options of `keras-cxr explain` to its parser.

    Args:
        parser: The sub-command's parser.

    Example:
        >>> args = keras_cxr.cli.build_parser().parse_args(
        ...     ["explain", "--model", "m.keras", "a.png", "b.png", "--out", "explained"]
        ... )
        >>> args.images, args.method
        (['a.png', 'b.png'], 'gradcam')
    """
    add_model_options(parser)
    parser.add_argument("images", nargs="+", help="image files")
    parser.add_argument("--out", required=True, help="output folder")
    add_method_option(parser)
    add_quiet_option(parser)


def run(args: argparse.Namespace) -> int:
    """Explains each image, writes one figure per image and `predictions.json`.

    Args:
        args: The parsed `keras-cxr explain` arguments.

    Returns:
        0 (failures raise).

    Raises:
        FileNotFoundError: If the model file or an image does not exist.
        ValueError: If an image is smaller than the model input allows.

    Example:
        >>> parser = keras_cxr.cli.build_parser()
        >>> keras_cxr.cli.explain.run(
        ...     parser.parse_args(["explain", "--model", "m.keras", "a.png", "--out", "ex"])
        ... )
        0
    """
    from keras_cxr.training import check_writable, explain_files

    check_writable(args.out)
    model, threshold, _ = load_model_and_threshold(args.model, args.threshold)
    results = explain_files(
        model, args.images, args.out, args.method, threshold, progress=not args.quiet
    )
    for item in results:
        print(f"{item.source}: {item.predicted} (p={item.probability:.3f}) -> {item.figure}")
    print(f"Wrote {len(results)} figures and predictions.json in {args.out}")
    return 0
