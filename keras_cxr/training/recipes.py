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
    # No downloads: two compact CNNs trained end to end at 128 px on a CPU. Measured on the
    # 5,216 training images of Kermany et al. with 10% validation and 10% test carved out
    # by patient (`keras-cxr train --weights none --test-fraction 0.1`): 21 min on 2 shared
    # CPU cores; validation AUC 0.992, sensitivity 0.995, specificity 0.933, accuracy
    # 0.979, ECE 0.021 (threshold 0.20 chosen there); test AUC 0.993, accuracy 0.960. On
    # the independent Kermany test split it over-called normals (specificity 0.73), so
    # the augmentation is "intensity" (brightness, contrast, blur): on the cohort-held-out
    # fold of benchmarks/recipe_search.py it raised the unseen normals' specificity from
    # 0.914 to 0.950 and AUC from 0.975 to 0.985, and the shifted copies' worst
    # specificity from 0.57 to 0.73 (docs/tutorials/shift-aware-validation.md). The
    # default run with it (no test split): 34 min on 2 heavily shared cores; patient
    # split AUC 0.994, accuracy 0.981, specificity 0.948, ECE 0.014; worst shifted copy
    # specificity 0.791 (gamma 0.7), NORMAL2 normals' specificity 0.915.
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

__all__ = ["RECIPES"]
