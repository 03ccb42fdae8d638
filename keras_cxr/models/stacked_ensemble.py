"""`StackedEnsemble`: the seed's stacked-backbone pneumonia classifier as one Keras model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras

from keras_cxr._validation import check_int, invalid_value
from keras_cxr.layers.stacked_backbones import StackedBackbones, Weights, revive_config


@keras.saving.register_keras_serializable(package="keras_cxr")
class StackedEnsemble(keras.Model):
    """Several ImageNet backbones on one input, pooled features concatenated, a dense head.

    The defaults reproduce the seed notebook's architecture: `StackedBackbones`
    (MobileNetV2 + DenseNet169, each with its own preprocessing) → BatchNorm →
    Dense(256, relu) → Dropout(0.5) → BatchNorm → Dense(128, relu) → Dropout(0.5) →
    Dense(1) → sigmoid, on 224×224×3 raw-pixel input. The last dense layer (`"logits"`)
    and its activation (`"predictions"`) are separate layers so that explainers can
    read the pre-activation score.

    The model saves to `.keras` and loads with plain `keras.models.load_model` (no
    `custom_objects`, `safe_mode=True`): its config holds only the constructor arguments
    below, never weights or paths.

    Args:
        backbones: Backbone names or models, see `keras_cxr.StackedBackbones`.
            Defaults to `("mobilenet_v2", "densenet169")`.
        input_shape: `(height, width, channels)` with 1 or 3 channels. Defaults to
            `(224, 224, 3)`.
        num_classes: 1 for a sigmoid output (binary), N >= 2 for softmax. Defaults to 1.
        head_units: Units of each hidden dense block (BatchNorm → Dense → Dropout).
            Defaults to `(256, 128)`.
        dropout: Dropout rate of each block, in [0, 1). Defaults to 0.5.
        weights: Backbone weights, see `keras_cxr.StackedBackbones`. Defaults to
            `"imagenet"`; use `None` offline.
        pooling: `"avg"` or `"max"`. Defaults to `"avg"`.
        trainable_backbones: Whether the backbones train. Defaults to `False`.
        fine_tune_last: Train only the last N layers of each backbone. Defaults to 0.
        trainable_batchnorm: Let the backbones' BatchNorm layers train too, for
            backbones trained from scratch (see `keras_cxr.StackedBackbones`). Defaults
            to False.
        multi_label: One independent sigmoid per unit instead of a softmax over them,
            for several findings per image (ChestX-ray14, CheXpert). Defaults to False.
        name: Model name. Defaults to `"stacked_ensemble"`.
        **kwargs: Passed to `keras.Model`.

    Returns:
        A model mapping `(batch, H, W, C)` images in [0, 255] to `(batch, num_classes)`
        probabilities.

    Raises:
        ValueError: For invalid arguments (Keras-style message naming the argument).
        keras_cxr.layers.WeightsUnavailableError: If ImageNet weights cannot be downloaded.

    Example:
        >>> model = keras_cxr.StackedEnsemble(weights=None, input_shape=(96, 96, 3))
        >>> model.compile("adam", "binary_crossentropy")
        >>> model.save("ensemble.keras")
        >>> keras.models.load_model("ensemble.keras").name
        'stacked_ensemble'
    """

    def __init__(
        self,
        backbones: Sequence[str | keras.Model] = ("mobilenet_v2", "densenet169"),
        input_shape: Sequence[int] = (224, 224, 3),
        num_classes: int = 1,
        head_units: Sequence[int] = (256, 128),
        dropout: float = 0.5,
        weights: Weights = "imagenet",
        pooling: str = "avg",
        trainable_backbones: bool = False,
        fine_tune_last: int = 0,
        trainable_batchnorm: bool = False,
        multi_label: bool = False,
        name: str = "stacked_ensemble",
        **kwargs: Any,
    ) -> None:
        check_int("num_classes", num_classes)
        if not isinstance(multi_label, bool):
            raise invalid_value("multi_label", "True or False", multi_label)
        head_units = list(head_units) if isinstance(head_units, Sequence) else head_units
        if not isinstance(head_units, list) or not all(
            isinstance(u, int) and u > 0 for u in head_units
        ):
            raise invalid_value("head_units", "a sequence of positive integers", head_units)
        if not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
            raise invalid_value("dropout", "a float in [0, 1)", dropout)

        # --- Functional construction ---
        stack = StackedBackbones(
            backbones=backbones,
            weights=weights,
            pooling=pooling,
            trainable=trainable_backbones,
            fine_tune_last=fine_tune_last,
            input_shape=input_shape,
            trainable_batchnorm=trainable_batchnorm,
        )
        inputs = keras.Input(shape=stack.input_shape[1:], name="image")
        x = stack(inputs)
        for index, units in enumerate(head_units, start=1):
            x = keras.layers.BatchNormalization(name=f"head_bn_{index}")(x)
            x = keras.layers.Dense(units, activation="relu", name=f"head_dense_{index}")(x)
            x = keras.layers.Dropout(dropout, name=f"head_dropout_{index}")(x)
        x = keras.layers.Dense(num_classes, name="logits")(x)
        activation = "sigmoid" if num_classes == 1 or multi_label else "softmax"
        outputs = keras.layers.Activation(activation, dtype="float32", name="predictions")(x)
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)

        # --- Config ---
        self.stacked_backbones = stack
        self.num_classes = num_classes
        self.multi_label = multi_label
        self.head_units = head_units
        self.dropout = float(dropout)

    @property
    def backbones(self) -> dict[str, keras.Model]:
        """The backbone models, keyed by name, in branch order."""
        return self.stacked_backbones.backbones

    def unfreeze(self, last_n: int | None = None) -> None:
        """Unfreeze the last `last_n` layers of every backbone (BatchNorm stays frozen).

        Args:
            last_n: Trailing layers per backbone to train; `None` for all.

        Raises:
            ValueError: If `last_n` is negative.

        Example:
            >>> model = keras_cxr.StackedEnsemble(weights=None, input_shape=(64, 64, 3))
            >>> model.unfreeze(30)
            >>> model.compile(keras.optimizers.Adam(1e-5), "binary_crossentropy")
        """
        self.stacked_backbones.unfreeze(last_n)

    def get_config(self) -> dict[str, Any]:
        stack_config = self.stacked_backbones.get_config()
        config = {
            "name": self.name,
            "trainable": self.trainable,
            "backbones": stack_config["backbones"],
            "input_shape": stack_config["input_shape"],
            "num_classes": self.num_classes,
            "head_units": list(self.head_units),
            "dropout": self.dropout,
            "pooling": stack_config["pooling"],
            "trainable_backbones": stack_config["trainable"],
            "fine_tune_last": stack_config["fine_tune_last"],
            "trainable_batchnorm": stack_config["trainable_batchnorm"],
        }
        if self.multi_label:  # only when set, so single-label configs and fingerprints stay
            config["multi_label"] = True
        if self.dtype_policy.name != keras.config.dtype_policy().name:
            config["dtype"] = keras.saving.serialize_keras_object(self.dtype_policy)
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects=None) -> StackedEnsemble:
        return cls(weights=None, **revive_config(config, custom_objects))
