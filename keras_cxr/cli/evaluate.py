"""`keras-cxr evaluate`: metrics, ROC and calibration of a model on labelled images."""

from __future__ import annotations

import argparse
from pathlib import Path

from keras_cxr.cli._arguments import add_model_options, add_quiet_option, positive_int
from keras_cxr.cli._model import color_mode, load_model_and_threshold, model_labels, square_input

HELP = "metrics, ROC and calibration of a model on labelled images"
DESCRIPTION = (
    "Accuracy, sensitivity, specificity, PPV, NPV, ROC AUC, confusion matrix and calibration "
    "(ECE, reliability diagram) at the threshold stored with the model. Writes metrics.json, "
    "roc.png, reliability.png and confusion_matrix.png. A three-class model (normal / "
    "bacterial / viral) is decided by the arg-max: per-class sensitivity, specificity and "
    "one-vs-rest AUC, macro-F1, the 3 x 3 confusion matrix, and bacterial vs viral."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the options of `keras-cxr evaluate` to its parser.

    Args:
        parser: The sub-command's parser.

    Example:
        >>> args = keras_cxr.cli.build_parser().parse_args(
        ...     ["evaluate", "--model", "m.keras", "--data", "chest_xray/test"]
        ... )
        >>> args.out, args.batch_size
        ('runs/evaluate', 32)
    """
    add_model_options(parser)
    parser.add_argument(
        "--data",
        required=True,
        help="a split folder with NORMAL/ and PNEUMONIA/ (e.g. ROOT/test), or ROOT",
    )
    parser.add_argument(
        "--out", default="runs/evaluate", help="output folder (default: runs/evaluate)"
    )
    parser.add_argument("--batch-size", type=positive_int, default=32)
    add_quiet_option(parser)


def run(args: argparse.Namespace) -> int:
    """Evaluates the model on the folder, writes the metrics and plots, and prints them.

    Args:
        args: The parsed `keras-cxr evaluate` arguments.

    Returns:
        0 (failures raise).

    Raises:
        FileNotFoundError: If the model file or the folder does not exist.
        keras_cxr.ModelFileError: If the file is not a Keras model.
        ValueError: If the folder has no NORMAL/ and PNEUMONIA/ images.

    Example:
        >>> parser = keras_cxr.cli.build_parser()
        >>> keras_cxr.cli.evaluate.run(
        ...     parser.parse_args(["evaluate", "--model", "m.keras", "--data", "chest_xray/test"])
        ... )
        0
    """
    from keras_cxr.data import CLASS_NAMES, load_image_folder
    from keras_cxr.training import check_writable, evaluate_model

    check_writable(args.out)
    model, threshold, source = load_model_and_threshold(args.model, args.threshold)
    progress = not args.quiet
    labels = model_labels(args.model, model)
    data = load_image_folder(
        args.data, square_input(model), color_mode(model), progress=progress, labels=labels
    )
    evaluation = evaluate_model(
        model,
        data.images,
        data.labels,
        threshold,
        source,
        args.batch_size,
        progress=progress,
        class_names=CLASS_NAMES[labels],
    )
    out = Path(args.out)
    written = evaluation.save(out, extra={"model": args.model, "data": args.data})
    m = evaluation.metrics
    plots = ", ".join(path.name for key, path in written.items() if key != "metrics")
    if evaluation.threshold is None:  # k classes, decided by the arg-max
        print(f"{evaluation.summary()}\nWrote {written['metrics']} and {plots} in {out}")
        return 0
    print(
        f"{m['n']} images ({m['n_positive']} pneumonia), threshold {threshold:.3f} ({source}):\n"
        f"  accuracy {m['accuracy']:.4f}  sensitivity {m['sensitivity']:.4f}  specificity "
        f"{m['specificity']:.4f}  PPV {m['ppv']:.4f}  NPV {m['npv']:.4f}\n"
        f"  ROC AUC {m['roc_auc']:.4f}  ECE {m['ece']:.4f}  confusion [[TN, FP], [FN, TP]] = "
        f"{m['confusion_matrix']}\n"
        f"Wrote {written['metrics']} and {plots} in {out}"
    )
    return 0
