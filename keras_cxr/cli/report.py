"""`keras-cxr report`: one self-contained HTML report of a model on labelled images."""

from __future__ import annotations

import argparse
from pathlib import Path

from keras_cxr.cli._arguments import (
    add_method_option,
    add_model_options,
    add_quiet_option,
    non_negative_int,
    positive_int,
)
from keras_cxr.cli._model import load_model_and_folder

HELP = "a self-contained HTML report"
DESCRIPTION = (
    "One HTML file (images embedded): metrics with patient-level bootstrap intervals, ROC, "
    "reliability before and after temperature scaling, confusion matrix, and "
    "galleries of the most confident and most wrong cases with overlays and MC-dropout "
    "uncertainty."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the options of `keras-cxr report` to its parser.

    Args:
        parser: The sub-command's parser.

    Example:
        >>> args = keras_cxr.cli.build_parser().parse_args(
        ...     ["report", "--model", "m.keras", "--data", "chest_xray/test"]
        ... )
        >>> args.out, args.gallery, args.mc_samples
        ('report.html', 6, 30)
    """
    add_model_options(parser)
    parser.add_argument("--data", required=True, help="a split folder (e.g. ROOT/test), or ROOT")
    parser.add_argument("--out", default="report.html", help="the HTML file (default: report.html)")
    add_method_option(parser)
    parser.add_argument("--gallery", type=positive_int, default=6, help="cases per gallery")
    parser.add_argument(
        "--mc-samples",
        type=non_negative_int,
        default=30,
        help="MC-dropout samples (0: no uncertainty)",
    )
    parser.add_argument(
        "--max-images",
        type=positive_int,
        default=None,
        help="use at most this many images (evenly spread)",
    )
    add_quiet_option(parser)


def run(args: argparse.Namespace) -> int:
    """Evaluates and explains the model on the folder and writes the HTML report.

    The training history shown is the `history.csv` next to the model, when there is one.

    Args:
        args: The parsed `keras-cxr report` arguments.

    Returns:
        0 (failures raise).

    Raises:
        FileNotFoundError: If the model file or the folder does not exist.
        ValueError: If the folder has no NORMAL/ and PNEUMONIA/ images.

    Example:
        >>> parser = keras_cxr.cli.build_parser()
        >>> keras_cxr.cli.report.run(
        ...     parser.parse_args(["report", "--model", "m.keras", "--data", "chest_xray/test"])
        ... )
        0
    """
    from keras_cxr.training import check_writable, read_history, write_report

    check_writable(Path(args.out).parent)
    loaded = load_model_and_folder(args.model, args.threshold, args.data, not args.quiet)
    data = loaded.data
    if args.max_images is not None and len(data) > args.max_images:
        data = data.take(_spread(len(data), args.max_images))
    history_file = Path(args.model).parent / "history.csv"
    result = write_report(
        loaded.model,
        data,
        args.out,
        threshold=loaded.threshold,
        threshold_source=loaded.threshold_source,
        method=args.method,
        gallery_size=args.gallery,
        mc_samples=args.mc_samples,
        title=f"keras_cxr report: {Path(args.model).name}",
        subtitle=f"model {args.model} · data {args.data}",
        history=read_history(history_file) if history_file.is_file() else None,
        progress=not args.quiet,
        temperature=loaded.temperature,
        operating_point=loaded.operating_point,
    )
    m = result.evaluation.metrics
    if result.evaluation.threshold is None:  # k classes
        print(
            f"Macro one-vs-rest ROC AUC {m['macro_roc_auc']:.4f}, accuracy {m['accuracy']:.4f}, "
            f"macro-F1 {m['macro_f1']:.4f} on {m['n']} images."
        )
    else:
        print(f"ROC AUC {m['roc_auc']:.4f}, accuracy {m['accuracy']:.4f} on {m['n']} images.")
    print(f"Wrote {result.path} (self-contained; open it in a browser).")
    return 0


def _spread(total: int, count: int):
    """`count` indices spread evenly over `range(total)`."""
    import numpy as np

    return np.unique(np.linspace(0, total - 1, count).round().astype(int))
