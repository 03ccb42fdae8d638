"""Argument types and the options that several commands share."""

from __future__ import annotations

import argparse
from collections.abc import Callable

#: The names of `keras_cxr.explain.METHODS` (the CAMs and the pixel attribution methods),
#: restated so that building the parser imports no Keras; tests/cli/test_arguments.py checks
#: that the two agree.
METHOD_NAMES = (
    "eigencam",
    "gradcam",
    "gradcam++",
    "gradient-times-input",
    "hirescam",
    "integrated-gradients",
    "layercam",
    "lime",
    "occlusion",
    "saliency",
    "scorecam",
    "shap",
    "smoothgrad",
    "vargrad",
    "xgradcam",
)


def integer_at_least(minimum: int) -> Callable[[str], int]:
    """An `argparse` type that accepts integers >= `minimum` (a usage error otherwise)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text}")
        return value

    parse.__name__ = f"integer >= {minimum}"
    return parse


positive_int = integer_at_least(1)
non_negative_int = integer_at_least(0)


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """`--model` and `--threshold`, for the commands that apply a trained model."""
    parser.add_argument("--model", required=True, help="a .keras model file")
    parser.add_argument(
        "--threshold", type=float, default=None, help="override the stored decision threshold"
    )


def add_method_option(parser: argparse.ArgumentParser) -> None:
    """`--method`, the explanation method of the heatmaps (a CAM or a pixel method)."""
    parser.add_argument(
        "--method", choices=METHOD_NAMES, default="gradcam", help="explanation method"
    )


def add_quiet_option(parser: argparse.ArgumentParser) -> None:
    """`--quiet`: no progress bars."""
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
