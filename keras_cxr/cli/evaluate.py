"""`keras-cxr evaluate`: metrics, ROC and calibration of a model on labelled images."""

from __future__ import annotations

import argparse
from pathlib import Path

from keras_cxr.cli._arguments import (
    add_bootstrap_options,
    add_model_options,
    add_quiet_option,
    positive_int,
)
from keras_cxr.cli._model import load_model_and_folder

HELP = "metrics, ROC and calibration of a model on labelled images"
DESCRIPTION = (
    "Accuracy, sensitivity, specificity, PPV, NPV, ROC AUC, Brier score, confusion matrix and "
    "calibration (ECE before and after temperature scaling, reliability diagram) at the "
    "threshold and temperature stored with the model, each metric with a 95% patient-level "
    "bootstrap interval. The threshold is never re-chosen on these images: --threshold "
    "replaces it. Writes metrics.json, roc.png, reliability.png and confusion_matrix.png. "
    "A three-class model (normal / bacterial / viral) is decided by the arg-max of its "
    "probabilities, calibrated by the stored temperature: per-class sensitivity, specificity "
    "and one-vs-rest AUC, macro-F1, the 3 x 3 confusion matrix, bacterial vs viral, and the "
    "top-label ECE before and after temperature scaling."
)

#: Metric name → how `keras-cxr evaluate` prints it.
_LABELS = {
    "accuracy": "accuracy",
    "sensitivity": "sensitivity",
    "specificity": "specificity",
    "ppv": "PPV",
    "npv": "NPV",
    "roc_auc": "ROC AUC",
    "brier": "Brier score",
    "ece": "ECE",
}


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
    add_bootstrap_options(parser)
    parser.add_argument(
        "--labels-csv",
        default=None,
        metavar="CSV",
        help=(
            "evaluate a multi-label model (keras-cxr train --labels-csv) on the images of a "
            "ChestX-ray14- or CheXpert-layout CSV; --data is then their folder"
        ),
    )
    parser.add_argument(
        "--uncertainty",
        choices=("u_ones", "u_zeros", "ignore"),
        default=None,
        help="CheXpert's -1 labels (default: the policy the model was trained with)",
    )
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
    from keras_cxr.data import CLASS_NAMES
    from keras_cxr.training import check_writable, evaluate_model

    check_writable(args.out)
    if getattr(args, "labels_csv", None):
        return _run_multilabel(args)
    progress = not args.quiet
    loaded = load_model_and_folder(args.model, args.threshold, args.data, progress)
    evaluation = evaluate_model(
        loaded.model,
        loaded.data.images,
        loaded.data.labels,
        loaded.threshold,
        loaded.threshold_source,
        args.batch_size,
        progress=progress,
        class_names=CLASS_NAMES[loaded.labels],
        temperature=loaded.temperature,
        groups=loaded.data.patients,
        n_resamples=args.bootstrap,
        seed=args.seed,
        operating_point=loaded.operating_point,
    )
    out = Path(args.out)
    written = evaluation.save(out, extra={"model": args.model, "data": args.data})
    plots = ", ".join(path.name for key, path in written.items() if key != "metrics")
    caveat = f"These figures hold for the images of {args.data}. {EVALUATED_ELSEWHERE}"
    # k classes are decided by the arg-max and have a summary of their own.
    k_classes = evaluation.threshold is None
    figures = evaluation.summary() if k_classes else summary(evaluation.metrics)
    print(f"{figures}\n{caveat}\nWrote {written['metrics']} and {plots} in {out}")
    return 0


def _run_multilabel(args: argparse.Namespace) -> int:
    """`evaluate --labels-csv`: per-finding metrics with patient-level intervals."""
    from keras_cxr.atomic import atomic_write_json
    from keras_cxr.cli.train import multilabel_lines
    from keras_cxr.training import evaluate_multilabel

    metrics = evaluate_multilabel(
        args.model, args.labels_csv, args.data, args.uncertainty, args.batch_size,
        args.bootstrap, args.seed,
    )  # fmt: skip
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    extra = {"model": args.model, "data": args.data, "labels_csv": args.labels_csv}
    path = atomic_write_json(out / "metrics.json", {**metrics, **extra})
    print(multilabel_lines(f"{metrics['n']} images", metrics))
    if "intervals" in metrics:
        macro = metrics["intervals"]["macro_roc_auc"]
        print(f"Macro ROC AUC 95% interval (patients resampled): [{macro['low']:.3f}, "
              f"{macro['high']:.3f}]; every metric's interval is in {path.name}.")  # fmt: skip
    print(f"These figures hold for the images of {args.labels_csv}. {EVALUATED_ELSEWHERE}")
    print(f"Wrote {path}")
    return 0


#: What `evaluate` says under its figures: a folder from the training site says little of
#: another (see `keras_cxr.training.caveats.INTERNAL_VALIDATION`).
EVALUATED_ELSEWHERE = (
    "Images from the hospital and period the model was trained on give optimistic figures "
    "that do not measure performance at another site or in a later period; evaluate on "
    "images from where the model will be used."
)


def summary(metrics: dict) -> str:
    """The lines `keras-cxr evaluate` prints for the metrics of an evaluation.

    Args:
        metrics: `keras_cxr.training.Evaluation.metrics`.

    Returns:
        The text: one line per metric with its interval, then the confusion matrix and
        how the intervals were made.

    Example:
        >>> print(keras_cxr.cli.evaluate.summary(evaluation.metrics))
    """
    m = metrics
    intervals = m.get("intervals", {})
    bootstrap = m.get("bootstrap")
    point = m.get("operating_point")
    lines = [
        f"{m['n']} images ({m['n_positive']} pneumonia), threshold {m['threshold']:.3f} "
        f"({m['threshold_source']}{f'; operating point {point}' if point else ''}), "
        f"temperature {m['temperature']:.3f}:"
    ]
    for key, label in _LABELS.items():
        line = f"  {label:<12} {m[key]:.4f}"
        if key in intervals:
            line += f"  [{intervals[key]['low']:.4f}, {intervals[key]['high']:.4f}]"
        if key in ("ece", "brier"):
            line += f"  (before calibration {m[key + '_uncalibrated']:.4f})"
        lines.append(line)
    lines.append(f"  confusion [[TN, FP], [FN, TP]] = {m['confusion_matrix']}")
    if bootstrap:
        dropped = {_LABELS[k]: v["dropped"] for k, v in intervals.items() if v["dropped"]}
        lines.append(
            f"{bootstrap['confidence']:.0%} intervals: percentile bootstrap, "
            f"{bootstrap['resamples']} resamples of {bootstrap['groups']} "
            f"{bootstrap['unit']}s"
            + (f"; undefined and dropped in {dropped}" if dropped else "")
            + "."
        )
    return "\n".join(lines)
