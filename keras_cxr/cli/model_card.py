"""`keras-cxr model-card`: a model card (Markdown and JSON) for a saved model."""

from __future__ import annotations

import argparse

from keras_cxr.cli._arguments import add_method_option, positive_int

HELP = "a model card (MODEL_CARD.md, model_card.json)"
DESCRIPTION = (
    "Writes MODEL_CARD.md and model_card.json (Mitchell et al. 2019 sections) from the "
    "model file's metadata, the training summary beside it, and an evaluation folder "
    "written by `keras-cxr evaluate --out` (its metrics and intervals). With "
    "--sanity-data, it also runs the model-randomization check of the heatmaps on images "
    "of that folder (Adebayo et al. 2018); without it, no weights are loaded."
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
    parser.add_argument(
        "--sanity-data",
        default=None,
        help="a labelled image folder for the heatmaps' model-randomization check (optional)",
    )
    parser.add_argument(
        "--sanity-images",
        type=positive_int,
        default=8,
        help="images of --sanity-data the check uses, evenly spread (default: 8)",
    )
    add_method_option(parser)


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

    sanity = None if args.sanity_data is None else _sanity(args)
    json_path, markdown_path = write_model_card(args.model, args.out, args.eval, sanity)
    print(f"Model card: {markdown_path}\n            {json_path}")
    return 0


def _sanity(args: argparse.Namespace) -> dict:
    """The model-randomization check on `--sanity-images` images of `--sanity-data`."""
    import numpy as np

    from keras_cxr.cli._model import load_model_and_folder
    from keras_cxr.training.card_sanity import explanation_sanity

    loaded = load_model_and_folder(args.model, None, args.sanity_data, progress=False)
    count = min(args.sanity_images, len(loaded.data))
    images = loaded.data.images[np.linspace(0, len(loaded.data) - 1, count).astype(int)]
    return explanation_sanity(
        loaded.model,
        images,
        args.method,
        threshold=loaded.threshold,
        temperature=loaded.temperature,
    )
