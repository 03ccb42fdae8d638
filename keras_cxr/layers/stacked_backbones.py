"""`StackedBackbones`: several ImageNet backbones on one input, pooled features concatenated."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import keras

from keras_cxr._validation import check_int, invalid_value
from keras_cxr.layers.backbones import build_backbone, get_spec
from keras_cxr.layers.preprocessing import GrayscaleToRGB, ImageNetPreprocessing

Weights = str | os.PathLike | None | Mapping[str, str | os.PathLike | None]
_POOLING = {"avg": keras.layers.GlobalAveragePooling2D, "max": keras.layers.GlobalMaxPooling2D}


@keras.saving.register_keras_serializable(package="keras_cxr")
class StackedBackbones(keras.Model):
    """Run several ImageNet backbones side by side on one image and concatenate their features.

    Each branch is `ImageNetPreprocessing` (the scaling *that* backbone's weights expect)
    → backbone (a nested Functional model named after it, called with `training=False`)
    → global pooling. Note that Keras 3 lets an outer `fit` override that flag, so what
    keeps BatchNorm on its moving statistics during training is that BatchNorm layers are
    always frozen (a frozen BatchNorm runs in inference mode); dropout inside a backbone
    (EfficientNet) is active during `fit`. The input is raw
    pixels in [0, 255]; a 1-channel input is repeated to 3 channels first. Because every
    backbone stays a nested Functional model, its final spatial feature map stays
    reachable by `keras_cxr.GradCAM` (e.g. `"densenet169/relu"`).

    It is a `keras.Model`, hence also a `keras.layers.Layer`: call it on a tensor like any
    layer, or use it on its own as a feature extractor.

    Freezing: by default (`trainable=False`) no backbone weight is trained, as in the usual
    transfer-learning recipe. `unfreeze(last_n)` (or `fine_tune_last=last_n`) makes the last
    `last_n` layers of every backbone trainable for fine-tuning; BatchNorm layers stay
    frozen and in inference mode, which is right for pretrained statistics. A backbone
    trained from scratch needs the opposite: with `trainable_batchnorm=True`, the
    BatchNorm layers of the trainable part train too (their moving statistics then follow
    the training batches). Every one of these choices is part of the config, so a model
    reloaded from `.keras` trains as it did. Compile the model again after changing them.

    Args:
        backbones: Registered names (see `keras_cxr.layers.backbones.BACKBONES`) or
            `keras.Model` instances mapping `(H, W, 3)` images to a 4-D feature map (these
            get no preprocessing: they receive the raw [0, 255] pixels). Defaults to
            `("mobilenet_v2", "densenet169")`.
        weights: `"imagenet"`, `None`, a path to a weights file of this whole layer (from
            `save_weights`), or a dict mapping backbone names to `"imagenet"`, `None` or a
            path to that backbone's weights file. Defaults to `"imagenet"`. Never part of
            the config: a loaded model takes its weights from the `.keras` file.
        pooling: `"avg"` or `"max"` global pooling. Defaults to `"avg"`.
        trainable: Whether backbone weights train. Defaults to `False`.
        fine_tune_last: If > 0, only the last `fine_tune_last` layers of each backbone
            train (BatchNorm excluded unless `trainable_batchnorm`). Defaults to 0.
        trainable_batchnorm: Let the BatchNorm layers of the trainable part of each
            backbone train as well, for backbones trained from scratch. Defaults to False.
        input_shape: `(height, width, channels)`, channels 1 or 3. Defaults to
            `(224, 224, 3)`.
        name: Model name. Defaults to `"stacked_backbones"`.
        **kwargs: Passed to `keras.Model` (e.g. `dtype`).

    Returns:
        A model mapping `(batch, H, W, C)` images to `(batch, sum of feature sizes)`.

    Raises:
        ValueError: For an unknown backbone, duplicate backbone names, an unknown pooling,
            a bad input shape or a negative `fine_tune_last`.
        keras_cxr.layers.backbones.WeightsUnavailableError: If ImageNet weights cannot be
            downloaded.

    Example:
        >>> stack = keras_cxr.StackedBackbones(weights=None, input_shape=(96, 96, 1))
        >>> stack.output.shape  # 1280 (MobileNetV2) + 1664 (DenseNet169)
        (None, 2944)
    """

    def __init__(
        self,
        backbones: Sequence[str | keras.Model] = ("mobilenet_v2", "densenet169"),
        weights: Weights = "imagenet",
        pooling: str = "avg",
        trainable: bool = False,
        fine_tune_last: int = 0,
        input_shape: Sequence[int] = (224, 224, 3),
        trainable_batchnorm: bool = False,
        name: str = "stacked_backbones",
        **kwargs: Any,
    ) -> None:
        backbones = _validate_backbones(backbones)
        input_shape = _validate_input_shape(input_shape)
        if pooling not in _POOLING:
            raise invalid_value("pooling", f"one of {sorted(_POOLING)}", pooling)
        check_int("fine_tune_last", fine_tune_last, minimum=0)
        if not isinstance(trainable_batchnorm, bool):
            raise invalid_value("trainable_batchnorm", "True or False", trainable_batchnorm)
        per_backbone, whole_file = _split_weights(weights, backbones)

        # --- Functional construction ---
        inputs = keras.Input(shape=input_shape, name="image")
        rgb = GrayscaleToRGB(name="to_rgb")(inputs) if input_shape[-1] == 1 else inputs
        branch_features = []
        nets = []
        for backbone in backbones:
            if isinstance(backbone, str):
                net = build_backbone(backbone, (*input_shape[:2], 3), per_backbone.get(backbone))
                mode = get_spec(backbone).preprocessing
            else:
                net, mode = backbone, "none"
            nets.append(net)
            x = ImageNetPreprocessing(mode, name=f"{net.name}_preprocessing")(rgb)
            x = net(x, training=False)
            if len(x.shape) != 4:
                raise invalid_value(
                    "backbones",
                    "models whose output is a 4-D feature map",
                    f"{net.name}: {x.shape}",
                )
            branch_features.append(_POOLING[pooling](name=f"{net.name}_pool")(x))
        outputs = (
            keras.layers.Concatenate(name="features")(branch_features)
            if len(branch_features) > 1
            else branch_features[0]
        )
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)

        # --- Config ---
        self.backbone_specs = list(backbones)
        self.pooling = pooling
        self.fine_tune_last = fine_tune_last
        self.trainable_batchnorm = trainable_batchnorm
        self._backbone_models = nets
        self.trainable = trainable
        self.unfreeze(fine_tune_last) if fine_tune_last else self._apply_freezing(trainable, 0)
        if whole_file is not None:
            self.load_weights(os.fspath(whole_file))

    @property
    def backbones(self) -> dict[str, keras.Model]:
        """The backbone models, keyed by name, in branch order."""
        return {net.name: net for net in self._backbone_models}

    @property
    def feature_sizes(self) -> dict[str, int]:
        """Pooled feature size of each branch, keyed by backbone name."""
        return {net.name: int(net.output.shape[-1]) for net in self._backbone_models}

    def unfreeze(self, last_n: int | None = None) -> None:
        """Make backbone layers trainable for fine-tuning, BatchNorm excluded.

        Args:
            last_n: Number of trailing layers of each backbone to unfreeze; `None`
                unfreezes every layer. BatchNorm layers stay frozen (in inference mode)
                unless the layer was built with `trainable_batchnorm=True`.

        Raises:
            ValueError: If `last_n` is negative.

        Example:
            >>> stack = keras_cxr.StackedBackbones(weights=None, input_shape=(64, 64, 3))
            >>> stack.unfreeze(20)
            >>> stack.trainable
            True
        """
        if last_n is not None:
            check_int("last_n", last_n, minimum=0)
        self.fine_tune_last = 0 if last_n is None else last_n
        self._apply_freezing(True, last_n)

    def _apply_freezing(self, trainable: bool, last_n: int | None) -> None:
        self.trainable = trainable
        for net in self._backbone_models:
            net.trainable = trainable
            layers = net.layers
            first_trainable = 0 if not last_n else max(len(layers) - last_n, 0)
            for index, layer in enumerate(layers):
                frozen_batchnorm = not self.trainable_batchnorm and isinstance(
                    layer, keras.layers.BatchNormalization
                )
                layer.trainable = trainable and index >= first_trainable and not frozen_batchnorm

    def get_config(self) -> dict[str, Any]:
        config = {
            "name": self.name,
            "trainable": self.trainable,
            "backbones": [
                spec if isinstance(spec, str) else keras.saving.serialize_keras_object(spec)
                for spec in self.backbone_specs
            ],
            "pooling": self.pooling,
            "fine_tune_last": self.fine_tune_last,
            "input_shape": list(self.input_shape[1:]),
            "trainable_batchnorm": self.trainable_batchnorm,
        }
        if self.dtype_policy.name != keras.config.dtype_policy().name:
            config["dtype"] = keras.saving.serialize_keras_object(self.dtype_policy)
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects=None) -> StackedBackbones:
        return cls(weights=None, **revive_config(config, custom_objects))


def revive_config(config: dict[str, Any], custom_objects=None) -> dict[str, Any]:
    """Turn a saved config back into constructor arguments, refusing embedded weights.

    Shared by `StackedBackbones` and `StackedEnsemble`: user-supplied backbone models
    and dtype policies are deserialized; a `weights` entry is rejected because a saved
    model must never download weights or read paths named in its file.

    Args:
        config: The dict produced by `get_config`.
        custom_objects: Passed to `keras.saving.deserialize_keras_object`.

    Returns:
        A new dict, ready for `cls(weights=None, **config)`.

    Raises:
        ValueError: If the config names weights.
    """
    config = dict(config)
    if "weights" in config:
        raise invalid_value(
            "config", "no `weights` entry (weights come from the saved file)", config["weights"]
        )
    config["backbones"] = [
        spec
        if isinstance(spec, str)
        else keras.saving.deserialize_keras_object(spec, custom_objects=custom_objects)
        for spec in config.get("backbones", ())
    ]
    if isinstance(config.get("dtype"), dict):
        config["dtype"] = keras.saving.deserialize_keras_object(config["dtype"])
    return config


def _validate_backbones(backbones: Any) -> list[str | keras.Model]:
    if isinstance(backbones, (str, keras.Model)):
        backbones = [backbones]
    backbones = list(backbones) if isinstance(backbones, Sequence) else None
    if not backbones:
        raise invalid_value("backbones", "a non-empty list of names or keras.Model", backbones)
    names = []
    for backbone in backbones:
        if isinstance(backbone, str):
            get_spec(backbone)
            names.append(backbone)
        elif isinstance(backbone, keras.Model):
            names.append(backbone.name)
        else:
            raise invalid_value("backbones", "names or keras.Model instances", backbone)
    if len(set(names)) != len(names):
        raise invalid_value("backbones", "distinct backbone names", names)
    return backbones


def _validate_input_shape(input_shape: Any) -> tuple[int, int, int]:
    shape = tuple(input_shape) if isinstance(input_shape, Sequence) else None
    if (
        shape is None
        or len(shape) != 3
        or not all(isinstance(d, int) and d > 0 for d in shape)
        or shape[-1] not in (1, 3)
    ):
        raise invalid_value(
            "input_shape",
            "(height, width, channels) with positive sizes and 1 or 3 channels",
            input_shape,
        )
    return shape


def _split_weights(weights: Weights, backbones: list[str | keras.Model]):
    """Return (weights per named backbone, path of a whole-layer weights file or None)."""
    names = [b for b in backbones if isinstance(b, str)]
    if weights is None or weights == "imagenet":
        return dict.fromkeys(names, weights), None
    if isinstance(weights, Mapping):
        unknown = sorted(set(weights) - set(names))
        if unknown:
            raise invalid_value("weights", f"a dict keyed by backbone names {names}", unknown)
        return {name: weights.get(name) for name in names}, None
    if isinstance(weights, (str, os.PathLike)) and os.path.isfile(weights):
        return dict.fromkeys(names), weights
    raise invalid_value(
        "weights", "'imagenet', None, an existing weights file or a dict per backbone", weights
    )
