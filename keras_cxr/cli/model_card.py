"""`keras-cxr model-card`: a model card (Markdown and JSON) for a saved model."""

from __future__ import annotations

import argparse

HELP = "a model card (MODEL_CARD.md, model_card.json)"
DESCRIPTION = (
    "Writes MODEL_CARD.md and model_card.json (Mitchell et al. 2019 sections) from the "
    "model file's metadata, the training summary beside it, and an evaluation folder "
    "written by `keras-cxr evaluate --out` (its metrics and intervals). Reads nothing "
    "else and loads no weights."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the options of `keras-cxr model-card` to its parser.

    Args:
        parser: The sub-command's parser.

    Example:
        >>> args = keras_cxr.cli.build_parser().parse_args(
        ...     ["model-card", "--model", "m.keras", "--out", "card"])
        >>> args.eval is None
        True
    """
    parser.add_argument("--model", required=True, help="the .keras file")
    parser.add_argument(
        "--eval", default=None, help="a folder written by `keras-cxr evaluate --out` (optional)"
    )
    parser.add_argument("--out", required=True, help="the folder to write the card into")


def run(args: argparse.Namespace) -> int:
    """Writes the card and prints where.

    Args:
        args: The parsed `keras-cxr model-card` arguments.

    Returns:
        0 (failures raise).

    Raises:
        FileNotFoundError: If the model is missing, or the evaluation folder has no
            `metrics.json`.
        keras_cxr.ModelFileError: If the model file is not a `.keras` archive.

    Example:
        >>> keras_cxr.cli.model_card.run(keras_cxr.cli.build_parser().parse_args(
        ...     ["model-card", "--model", "m.keras", "--out", "card"]))
        0
    """
    from keras_cxr.training.model_cards import write_model_card

    json_path, markdown_path = write_model_card(args.model, args.out, args.eval)
    print(f"Model card: {markdown_path}\n            {json_path}")
    return 0
