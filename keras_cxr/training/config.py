"""`TrainConfig`: every setting of the reference pipeline, with named recipes."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any

from keras_cxr._validation import invalid_value
from keras_cxr.metrics.classification import THRESHOLD_METHODS

#: Settings that differ from the `TrainConfig` defaults (the "seed" recipe) in each recipe.
RECIPES: dict[str, dict[str, Any]] = {
    # The seed notebook: frozen ImageNet MobileNetV2 + DenseNet169, a head trained on
    # cached features.
    "seed": {},
    # No downloads: two compact CNNs trained end to end at 128 px on a CPU. Measured on the
    # 5,216 training images of Kermany et al. with 10% validation and 10% test carved out
    # by patient (`keras-cxr train --weights none --test-fraction 0.1`): 21 min on 2 shared
    # CPU cores; validation AUC 0.992, sensitivity 0.995, specificity 0.933, accuracy
    # 0.979, ECE 0.021 (threshold 0.20 chosen there); test AUC 0.993, accuracy 0.960.
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

# Fields that may change between an interrupted run and its `resume` without changing what
# is being trained.
_RESUMABLE_CHANGES = frozenset(
    {"out", "resume", "progress", "epochs", "fine_tune_epochs", "tensorboard", "gradcam_every"}
)


@dataclass
class TrainConfig:
    """Settings of `keras_cxr.training.train`; the defaults are the seed notebook's recipe.

    Defaults: MobileNetV2 + DenseNet169 with ImageNet weights, frozen, 224 × 224, a
    (256, 128) head with dropout 0.5, Adam 1e-4, binary cross-entropy with balanced class
    weights, batch 16, 20 epochs, early stopping after 6 epochs without improvement of
    `monitor`, learning rate × 0.2 after 3, and the best weights kept. Frozen backbones
    mean the head trains on cached features (`cache_features`). `TrainConfig.recipe`
    gives the other named recipes of `RECIPES`: `"offline"` (no download, compact CNNs
    trained end to end at 128 px) and `"demo"`.

    Attributes:
        data: Kermany-layout folder, `data/{train,val,test}/{NORMAL,PNEUMONIA}/`.
        out: Output folder: `model.keras`, `history.csv`, `checkpoints/`, `logs/`.
        backbones: ImageNet backbone names (`keras_cxr.layers.BACKBONES`) or compact
            ones (`keras_cxr.training.COMPACT_BACKBONES`).
        image_size: Side of the square model input, in pixels.
        weights: `"imagenet"`, None (random) or a `StackedBackbones` weights file.
        train_backbones: Train the backbones end to end (from scratch with `weights=None`,
            BatchNorm included) instead of freezing them.
        head_units: Units of the head's dense blocks.
        dropout: Dropout rate of the head.
        learning_rate: Adam learning rate.
        batch_size: Batch size.
        epochs: Most epochs of the main stage.
        patience: Epochs without improvement of `monitor` before stopping.
        monitor: `"val_loss"`, `"val_auc"` or `"val_accuracy"`; also picks the best
            epoch.
        lr_patience: Epochs without improvement before the learning rate drops.
        lr_factor: Factor of each learning-rate drop.
        min_learning_rate: Floor of the learning rate.
        cache_features: With frozen backbones, compute features once and train the head
            on them (False: run the backbones on every batch, like plain `fit`).
        augmented_views: Fixed augmented views `K` per image in the feature cache.
        augment: Augment images on the fly when training on images (end to end and
            fine-tuning).
        fine_tune_last: After the main stage, train the last N layers of each backbone
            (BatchNorm stays frozen); 0 skips fine-tuning.
        fine_tune_epochs: Epochs of the fine-tuning stage.
        fine_tune_learning_rate: Learning rate of the fine-tuning stage.
        val_fraction: Share of the training pool moved to validation by patient.
        test_fraction: Share moved to a test split by patient, for folders without
            `test/`.
        class_weights: Weight the loss by balanced class weights.
        threshold_method: How the decision threshold is chosen on validation, see
            `keras_cxr.metrics.select_threshold`.
        gradcam_images: Validation images explained by `GradCAMCallback` (0: none).
        gradcam_every: Explain them every this many epochs.
        gradcam_method: CAM method of the callback.
        tensorboard: Write TensorBoard logs.
        max_images: Keep at most this many images per split (quick runs); None for all.
        seed: Seed of the splits, the shuffles and the augmentation.
        resume: Continue the interrupted run in `out` instead of refusing to overwrite it.
        overwrite: Delete a previous run in `out` first.
        progress: Show progress bars.
        recipe_name: Name of the recipe the config came from (stored with the model).

    Example:
        >>> config = keras_cxr.training.TrainConfig(data="chest_xray", out="runs/seed")
        >>> offline = keras_cxr.training.TrainConfig.recipe("offline", data="chest_xray")
    """

    data: str | os.PathLike | None = None
    out: str | os.PathLike = "runs/train"
    backbones: tuple[str, ...] = ("mobilenet_v2", "densenet169")
    image_size: int = 224
    weights: str | os.PathLike | None = "imagenet"
    train_backbones: bool = False
    head_units: tuple[int, ...] = (256, 128)
    dropout: float = 0.5
    learning_rate: float = 1e-4
    batch_size: int = 16
    epochs: int = 20
    patience: int = 6
    monitor: str = "val_loss"
    lr_patience: int = 3
    lr_factor: float = 0.2
    min_learning_rate: float = 1e-7
    cache_features: bool = True
    augmented_views: int = 0
    augment: bool = False
    fine_tune_last: int = 0
    fine_tune_epochs: int = 0
    fine_tune_learning_rate: float = 1e-5
    val_fraction: float = 0.1
    test_fraction: float = 0.0
    class_weights: bool = True
    threshold_method: str = "youden"
    gradcam_images: int = 8
    gradcam_every: int = 5
    gradcam_method: str = "gradcam"
    tensorboard: bool = True
    max_images: int | None = None
    seed: int = 0
    resume: bool = False
    overwrite: bool = False
    progress: bool = True
    recipe_name: str = field(default="seed")

    @classmethod
    def recipe(cls, name: str, **overrides: Any) -> TrainConfig:
        """The config of a named recipe, with some settings overridden.

        Args:
            name: A key of `keras_cxr.training.RECIPES`: `"seed"`, `"offline"` or
                `"demo"`.
            **overrides: Fields to set, e.g. `data="chest_xray", epochs=5`.

        Returns:
            A validated `TrainConfig`.

        Raises:
            ValueError: For an unknown recipe or an invalid setting.

        Example:
            >>> keras_cxr.training.TrainConfig.recipe("offline", data="chest_xray").image_size
            128
        """
        if name not in RECIPES:
            raise invalid_value("recipe", f"one of {sorted(RECIPES)}", name)
        config = cls(**{**RECIPES[name], "recipe_name": name, **overrides})
        config.validate()
        return config

    @property
    def mode(self) -> str:
        """How the main stage trains: `"cached_features"`, `"frozen_images"` or `"end_to_end"`."""
        if self.train_backbones:
            return "end_to_end"
        return "cached_features" if self.cache_features else "frozen_images"

    def validate(self) -> None:
        """Checks every setting.

        Raises:
            ValueError: Naming the first invalid setting, in Keras's wording.
        """
        positive = ("image_size", "batch_size", "epochs", "lr_patience", "gradcam_every")
        for name in positive:
            _check_int(name, getattr(self, name), 1)
        for name in ("patience", "augmented_views", "fine_tune_last", "fine_tune_epochs"):
            _check_int(name, getattr(self, name), 0)
        _check_int("gradcam_images", self.gradcam_images, 0)
        if self.max_images is not None:
            _check_int("max_images", self.max_images, 2)
        if not isinstance(self.backbones, (tuple, list)) or not self.backbones:
            raise invalid_value("backbones", "a non-empty list of backbone names", self.backbones)
        if not all(isinstance(b, str) for b in self.backbones):
            raise invalid_value("backbones", "backbone names", self.backbones)
        if not self.head_units or not all(
            isinstance(u, int) and not isinstance(u, bool) and u > 0 for u in self.head_units
        ):
            raise invalid_value("head_units", "positive integers", self.head_units)
        if not 0 <= self.dropout < 1:
            raise invalid_value("dropout", "a float in [0, 1)", self.dropout)
        for name in ("learning_rate", "fine_tune_learning_rate", "min_learning_rate"):
            if not getattr(self, name) > 0:
                raise invalid_value(name, "a positive float", getattr(self, name))
        if not 0 < self.lr_factor < 1:
            raise invalid_value("lr_factor", "a float in (0, 1)", self.lr_factor)
        if self.monitor not in ("val_loss", "val_auc", "val_accuracy"):
            raise invalid_value(
                "monitor", "one of ['val_auc', 'val_accuracy', 'val_loss']", self.monitor
            )
        if not 0 < self.val_fraction < 1:
            raise invalid_value("val_fraction", "a float in (0, 1)", self.val_fraction)
        if not 0 <= self.test_fraction < 1 or self.val_fraction + self.test_fraction >= 1:
            raise invalid_value(
                "test_fraction",
                "a float in [0, 1) with val_fraction + test_fraction < 1",
                self.test_fraction,
            )
        if self.threshold_method not in THRESHOLD_METHODS:
            raise invalid_value(
                "threshold_method", f"one of {THRESHOLD_METHODS}", self.threshold_method
            )
        if self.weights not in (None, "imagenet") and not os.path.isfile(self.weights):
            raise invalid_value(
                "weights", "'imagenet', None or an existing weights file", self.weights
            )
        if self.fine_tune_last and self.train_backbones:
            raise invalid_value(
                "fine_tune_last",
                "0 when train_backbones=True (everything trains already)",
                self.fine_tune_last,
            )
        if self.resume and self.overwrite:
            raise invalid_value("overwrite", "False together with resume=True", self.overwrite)

    def to_dict(self) -> dict[str, Any]:
        """The settings as a JSON-friendly dict (paths as strings, tuples as lists)."""
        values = dataclasses.asdict(self)
        for key, value in values.items():
            if isinstance(value, os.PathLike):
                values[key] = os.fspath(value)
            elif isinstance(value, tuple):
                values[key] = list(value)
        return values

    def fingerprint(self) -> str:
        """A hash of the settings that define what is trained (not `epochs`, `out`...).

        A run can only be resumed with the same fingerprint.
        """
        relevant = {k: v for k, v in self.to_dict().items() if k not in _RESUMABLE_CHANGES}
        relevant["data"] = os.path.abspath(relevant["data"]) if relevant["data"] else None
        text = json.dumps(relevant, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _check_int(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise invalid_value(name, f"an integer >= {minimum}", value)
