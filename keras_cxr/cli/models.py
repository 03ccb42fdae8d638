"""`keras-cxr models`: the models under a folder, with their versions and headline metrics."""

from __future__ import annotations

import argparse

HELP = "list the models under a folder"
DESCRIPTION = (
    "Lists every .keras file under a folder, newest first, with its fingerprint, creation "
    "time, recipe, training-config hash, parent model, validation ROC AUC and threshold, "
    "read from the files' metadata (no weights are loaded)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the options of `keras-cxr models` to its parser.

    Args:
        parser: The sub-command's parser.

    Example:
        >>> keras_cxr.cli.build_parser().parse_args(["models", "runs"]).folder
        'runs'
    """
    parser.add_argument("folder", help="the folder to search (recursively)")


def run(args: argparse.Namespace) -> int:
    """Prints the table of `keras_cxr.training.list_models`.

    Args:
        args: The parsed `keras-cxr models` arguments.

    Returns:
        0 (failures raise).

    Raises:
        NotADirectoryError: If the folder does not exist.

    Example:
        >>> keras_cxr.cli.models.run(keras_cxr.cli.build_parser().parse_args(["models", "runs"]))
        0
    """
    from keras_cxr.training.model_versions import format_models, list_models

    versions = list_models(args.folder)
    if not versions:
        print(f"No .keras files under {args.folder}.")
        return 0
    print(format_models(versions))
    return 0
