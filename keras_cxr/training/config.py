"""`TrainConfig`: every setting of the reference pipeline, with named recipes.

Each field's `dataclasses.field` metadata holds what `keras-cxr train` needs to offer it
as a flag (`keras_cxr.cli` generates the flags from the fields: names, defaults and help
have one source), and what `validate` and `fingerprint` read:

- `help` (str): the flag's help text.
- `flag` (str): the option string when it is not `--field-name`; a bool field with a
  `flag` gets that one flag, which sets the opposite of the default (`--quiet` sets
  `progress=False`), instead of the `--name`/`--no-name` pair.
- `metavar`, `choices`, `required`: as in `argparse`; `choices` are also the only values
  `validate` accepts, and `minimum` (int) the least integer it accepts.
- `default_text` (str): the default as the command line says it, where it differs.
- `resumable` (bool): may change when a run is resumed; `fingerprint` leaves it out.
- `added` (bool): a field added after runs were fingerprinted; `fingerprint` leaves it
  out while it has its default, so those runs still resume.
- `cli` (bool): False for a field that is no flag.

It imports only the standard library and `keras_cxr._validation`: no NumPy, no Keras.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any

from keras_cxr._validation import check_int, invalid_value
from keras_cxr.training.config_checks import THRESHOLD_METHODS, check_settings
from keras_cxr.training.recipes import RECIPES, recipe_settings

#: Label sets of `keras_cxr.data.kermany_label` that the pipeline trains, restated so that
#: the settings load without NumPy; tests/training/test_config.py checks them.
LABEL_SETS = ("binary", "three_class")

#: Where the threshold is chosen (`keras_cxr.training.shift_validation.THRESHOLD_DATA`).
THRESHOLD_DATA = ("validation", "shifted")
#: Names of `keras_cxr.data.AUGMENTATIONS`, restated for the same reason.
AUGMENTATIONS = ("geometric", "intensity")


def _flag(help: str, **options: Any) -> dict[str, Any]:
    """The metadata of a field: its flag's help and options (see the module docstring)."""
    return {"help": help, **options}


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
        labels: `"binary"` (NORMAL / PNEUMONIA: a sigmoid unit, a threshold chosen on
            validation) or `"three_class"` (NORMAL / BACTERIAL / VIRAL read from the file
            names, see `keras_cxr.data.kermany_label`: three softmax units, the decision
            is the arg-max).
        out: Output folder: `model.keras`, `history.csv`, `checkpoints/`, `logs/`.
        backbones: Backbone names of `keras_cxr.layers.BACKBONES`: ImageNet ones or
            the compact CNNs (`keras_cxr.layers.COMPACT_BACKBONES`).
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
        augmentation: What `augment` applies, a `keras_cxr.data.AUGMENTATIONS` name:
            `"geometric"` or `"intensity"`.
        fine_tune_last: After the main stage, train the last N layers of each backbone
            (BatchNorm stays frozen); 0 skips fine-tuning.
        fine_tune_epochs: Epochs of the fine-tuning stage.
        fine_tune_learning_rate: Learning rate of the fine-tuning stage.
        val_fraction: Share of the training pool moved to validation by patient.
        test_fraction: Share moved to a test split by patient, for folders without
            `test/`.
        class_weights: Weight the loss by balanced class weights.
        threshold_method: How the decision threshold is chosen on validation, see
            `keras_cxr.metrics.select_threshold`; `operating_point` overrides it.
        operating_point: Spec of `keras_cxr.metrics.operating_point` the threshold is
            chosen for (`"sensitivity:0.95"`); None uses `threshold_method`.
        calibrate: Fit a temperature on the validation logits and choose the threshold on
            the calibrated probabilities (`keras_cxr.training.calibrating`); for the
            three-class task, on the softmax logits, with no threshold.
        threshold_data: `"validation"` (the patient split) or `"shifted"` (it and its
            shifted copies pooled, see `keras_cxr.training.ShiftValidation.threshold`);
            needs `shift_validation`.
        shift_validation: After training, grade the model on the validation cohorts and
            shifted copies (`keras_cxr.training.shift_validation`; for the three-class
            task `keras_cxr.training.multiclass_shift`), stored in `train_summary.json`.
        gradcam_images: Validation images explained by `GradCAMCallback` (0: none).
        gradcam_every: Explain them every this many epochs.
        gradcam_method: Explanation method of the callback (a `keras_cxr.explain.METHODS` name).
        tensorboard: Write TensorBoard logs.
        max_images: Keep at most this many images per split (quick runs); None for all.
        seed: Seed of the splits, the shuffles and the augmentation.
        resume: Continue the interrupted run in `out` instead of refusing to overwrite it.
        overwrite: Delete a previous run in `out` first.
        progress: Show progress bars.
        distribute: Train data-parallel on this host's devices (TensorFlow or JAX).
        recipe_name: Name of the recipe the config came from (stored with the model).

    Example:
        >>> config = keras_cxr.training.TrainConfig(data="chest_xray", out="runs/seed")
        >>> offline = keras_cxr.training.TrainConfig.recipe("offline", data="chest_xray")
    """

    data: str | os.PathLike | None = field(
        default=None,
        metadata=_flag(
            "the folder ROOT/{train,val,test}/{NORMAL,PNEUMONIA}/", required=True, metavar="ROOT"
        ),
    )
    labels: str = field(
        default="binary",
        metadata=_flag(
            "the task: binary (normal / pneumonia) or three_class (normal / bacterial / "
            "viral, from the file names)",
            choices=LABEL_SETS,
        ),
    )
    out: str | os.PathLike = field(
        default="runs/train",
        metadata=_flag(
            "output folder: model.keras, history.csv, checkpoints/, logs/",
            metavar="DIR",
            default_text="runs/<recipe>",
            resumable=True,
        ),
    )
    backbones: tuple[str, ...] = field(
        default=("mobilenet_v2", "densenet169"),
        metadata=_flag("comma-separated keras_cxr.layers.BACKBONES names", metavar="A,B"),
    )
    image_size: int = field(default=224, metadata=_flag("input side in pixels", minimum=1))
    weights: str | os.PathLike | None = field(
        default="imagenet",
        metadata=_flag(
            "backbone weights: imagenet (download), none (random; selects the offline recipe) "
            "or a StackedBackbones weights file",
            metavar="imagenet|none|PATH",
        ),
    )
    train_backbones: bool = field(
        default=False, metadata=_flag("train the backbones end to end instead of freezing them")
    )
    head_units: tuple[int, ...] = field(
        default=(256, 128), metadata=_flag("units of the head's dense blocks", metavar="N,N")
    )
    dropout: float = field(default=0.5, metadata=_flag("dropout rate of the head"))
    learning_rate: float = field(default=1e-4, metadata=_flag("Adam learning rate"))
    batch_size: int = field(default=16, metadata=_flag("batch size", minimum=1))
    epochs: int = field(
        default=20, metadata=_flag("most epochs of the main stage", minimum=1, resumable=True)
    )
    patience: int = field(
        default=6, metadata=_flag("epochs without improvement before stopping", minimum=0)
    )
    monitor: str = field(
        default="val_loss",
        metadata=_flag(
            "validation metric that stops training and picks the best epoch",
            choices=("val_loss", "val_auc", "val_accuracy"),
        ),
    )
    lr_patience: int = field(
        default=3, metadata=_flag("epochs without improvement before the rate drops", minimum=1)
    )
    lr_factor: float = field(default=0.2, metadata=_flag("factor of each learning-rate drop"))
    min_learning_rate: float = field(default=1e-7, metadata=_flag("floor of the learning rate"))
    cache_features: bool = field(
        default=True,
        metadata=_flag("with frozen backbones, train the head on features computed once"),
    )
    augmented_views: int = field(
        default=0, metadata=_flag("augmented views per image in the cache", minimum=0, metavar="K")
    )
    augment: bool = field(
        default=False, metadata=_flag("augment images on the fly when training on images")
    )
    augmentation: str = field(
        default="geometric",
        metadata=_flag("what --augment applies", choices=AUGMENTATIONS, added=True),
    )
    fine_tune_last: int = field(
        default=0,
        metadata=_flag("then fine-tune the last N layers of each backbone", minimum=0),
    )
    fine_tune_epochs: int = field(
        default=0, metadata=_flag("epochs of fine-tuning", minimum=0, metavar="E", resumable=True)
    )
    fine_tune_learning_rate: float = field(
        default=1e-5, metadata=_flag("learning rate of fine-tuning", flag="--fine-tune-lr")
    )
    val_fraction: float = field(
        default=0.1, metadata=_flag("share of train/ moved to validation by patient")
    )
    test_fraction: float = field(
        default=0.0,
        metadata=_flag("share of train/ moved to a test split, for folders without test/"),
    )
    class_weights: bool = field(default=True, metadata=_flag("balanced class weights in the loss"))
    threshold_method: str = field(
        default="youden",
        metadata=_flag("how the threshold is chosen on validation", choices=THRESHOLD_METHODS),
    )
    # Both act after training only, so a resumed run may change them (`resumable`).
    operating_point: str | None = field(
        default=None,
        metadata=_flag(
            "threshold rule: youden, f1, sensitivity:T or specificity:T (e.g. sensitivity:0.95)",
            metavar="SPEC",
            default_text="--threshold-method",
            resumable=True,
        ),
    )
    calibrate: bool = field(
        default=True, metadata=_flag("fit a temperature on validation logits", resumable=True)
    )
    threshold_data: str = field(
        default="validation",
        metadata=_flag("threshold chosen on", choices=THRESHOLD_DATA, resumable=True),
    )
    shift_validation: bool = field(
        default=True, metadata=_flag("grade on cohorts and shifted copies", resumable=True)
    )
    gradcam_images: int = field(
        default=8, metadata=_flag("validation images explained during training", minimum=0)
    )
    gradcam_every: int = field(
        default=5, metadata=_flag("explain them every N epochs", minimum=1, resumable=True)
    )
    gradcam_method: str = field(default="gradcam", metadata=_flag("method of those maps"))
    tensorboard: bool = field(default=True, metadata=_flag("TensorBoard logs", resumable=True))
    max_images: int | None = field(
        default=None,
        metadata=_flag("at most this many images per split", minimum=2, default_text="all"),
    )
    seed: int = field(default=0, metadata=_flag("seed of splits, shuffles and augmentation"))
    resume: bool = field(
        default=False,
        metadata=_flag("continue an interrupted run in --out", flag="--resume", resumable=True),
    )
    overwrite: bool = field(
        default=False, metadata=_flag("replace a previous run in --out", flag="--overwrite")
    )
    # `--quiet` sets progress=False; its help says what the flag does.
    progress: bool = field(
        default=True, metadata=_flag("no progress bars", flag="--quiet", resumable=True)
    )
    distribute: bool = field(
        default=False, metadata=_flag("train data-parallel on every local device", resumable=True)
    )
    recipe_name: str = field(default="seed", metadata=_flag("the recipe's name", cli=False))

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
        config = cls(**recipe_settings(name, overrides))
        config.validate()
        return config

    @property
    def num_classes(self) -> int:
        """Output units of the model: 1 (a sigmoid) for `"binary"`, else one per class.

        Example:
            >>> keras_cxr.training.TrainConfig(labels="three_class").num_classes
            3
        """
        return 1 if self.labels == "binary" else 3

    @property
    def mode(self) -> str:
        """How the main stage trains: `"cached_features"`, `"frozen_images"` or `"end_to_end"`.

        Example:
            >>> keras_cxr.training.TrainConfig.recipe("offline").mode
            'end_to_end'
        """
        if self.train_backbones:
            return "end_to_end"
        return "cached_features" if self.cache_features else "frozen_images"

    def validate(self) -> None:
        """Checks every setting.

        The integer ranges and the accepted choices are those of the fields' metadata
        (`minimum`, `choices`), the ones `keras-cxr train` checks its flags against.

        Raises:
            ValueError: Naming the first invalid setting, in Keras's wording.

        Example:
            >>> keras_cxr.training.TrainConfig(epochs=0).validate()
            Traceback (most recent call last):
            ValueError: Invalid value received for argument `epochs`. ...
        """
        for setting in dataclasses.fields(self):
            value = getattr(self, setting.name)
            minimum = setting.metadata.get("minimum")
            if minimum is not None and not (value is None and setting.default is None):
                check_int(setting.name, value, minimum)
            choices = setting.metadata.get("choices")
            if choices is not None and value not in choices:
                raise invalid_value(setting.name, f"one of {list(choices)}", value)
        check_settings(self)

    def to_dict(self) -> dict[str, Any]:
        """The settings as a JSON-friendly dict (paths as strings, tuples as lists).

        Returns:
            A dict from field name to value, as stored in `config.json` of a run.

        Example:
            >>> keras_cxr.training.TrainConfig().to_dict()["backbones"]
            ['mobilenet_v2', 'densenet169']
        """
        values = dataclasses.asdict(self)
        for key, value in values.items():
            if isinstance(value, os.PathLike):
                values[key] = os.fspath(value)
            elif isinstance(value, tuple):
                values[key] = list(value)
        return values

    def fingerprint(self) -> str:
        """A hash of the settings that define what is trained (not `epochs`, `out`...).

        A run can only be resumed with the same fingerprint. The fields marked `resumable`
        in their metadata are left out, those marked `added` while at their default, and
        `data` counts as its absolute path.

        Returns:
            16 hexadecimal digits, the same in every process and on every machine for the
            same settings.

        Example:
            >>> config = keras_cxr.training.TrainConfig(data="chest_xray")
            >>> longer = keras_cxr.training.TrainConfig(data="chest_xray", epochs=30)
            >>> config.fingerprint() == longer.fingerprint()
            True
        """
        left_out = {
            f.name
            for f in dataclasses.fields(self)
            if f.metadata.get("resumable")
            or (f.metadata.get("added") and getattr(self, f.name) == f.default)
        }
        relevant = {k: v for k, v in self.to_dict().items() if k not in left_out}
        relevant["data"] = os.path.abspath(relevant["data"]) if relevant["data"] else None
        if relevant["labels"] == "binary":  # binary runs keep the hash they had before
            del relevant["labels"]
        text = json.dumps(relevant, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]
