"""`build_model`: the untrained `StackedEnsemble` that a `TrainConfig` describes."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

from keras_cxr._validation import invalid_value
from keras_cxr.layers.backbones import BACKBONES
from keras_cxr.models.stacked_ensemble import StackedEnsemble

if TYPE_CHECKING:
    from keras_cxr.training.config import TrainConfig


def build_model(config: TrainConfig, findings: int | None = None) -> StackedEnsemble:
    """Builds the `StackedEnsemble` a config describes, untrained.

    Backbones come from the registry `keras_cxr.layers.BACKBONES`: ImageNet architectures
    get `config.weights`, the compact CNNs (`keras_cxr.layers.COMPACT_BACKBONES`), which
    have no pretrained weights, start from scratch. With `train_backbones`, every
    backbone layer trains, BatchNorm included when the weights are random
    (`trainable_batchnorm`, stored in the model's config: a from-scratch network needs its
    batch statistics; pretrained BatchNorm stays frozen).

    Args:
        config: The settings.
        findings: For a multi-label model, its number of findings: that many independent
            sigmoid units replace the config's labels. Defaults to None.

    Returns:
        The model, not compiled.

    Raises:
        ValueError: For an unknown backbone name.
        keras_cxr.WeightsUnavailableError: If ImageNet weights cannot be downloaded.

    Example:
        >>> model = keras_cxr.training.build_model(
        ...     keras_cxr.training.TrainConfig.recipe("offline"))
    """
    unknown = [name for name in config.backbones if name not in BACKBONES]
    if unknown:
        raise invalid_value("backbones", f"names from {sorted(BACKBONES)}", unknown[0])
    pretrained = [name for name in config.backbones if BACKBONES[name].pretrained]
    if pretrained and config.weights is None and not config.train_backbones:
        warnings.warn(
            "Frozen backbones with random weights (weights=None, train_backbones=False) "
            "produce features a head cannot learn much from. Use weights='imagenet', or "
            "the 'offline' recipe, which trains compact backbones end to end.",
            stacklevel=2,
        )
    return StackedEnsemble(
        backbones=list(config.backbones),
        input_shape=(config.image_size, config.image_size, 3),
        num_classes=config.num_classes if findings is None else findings,
        multi_label=findings is not None,
        head_units=tuple(config.head_units),
        dropout=config.dropout,
        weights={name: config.weights if name in pretrained else None for name in config.backbones},
        trainable_backbones=config.train_backbones,
        trainable_batchnorm=config.train_backbones and config.weights is None,
    )
