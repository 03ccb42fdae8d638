"""The checks of `keras_cxr.training.TrainConfig` that look at several settings at once.

`TrainConfig.validate` checks each field against its own metadata (ranges, choices), then
calls `check_settings` for the rest: lists, floats in their intervals, settings that
exclude each other. Like the settings, it imports no NumPy and no Keras.
"""

from __future__ import annotations

import os
from typing import Any

from keras_cxr._validation import invalid_value

__all__ = ["THRESHOLD_METHODS", "check_settings"]

#: Methods of `keras_cxr.metrics.select_threshold`, restated so that the settings load
#: without NumPy; tests/training/test_config.py checks that it accepts each of them.
THRESHOLD_METHODS = ("youden", "f1", "sensitivity", "specificity")
_TARGETED = ("sensitivity", "specificity")  # they take a target: "sensitivity:0.95"


def check_settings(config: Any) -> None:
    """Checks the settings of `config` that a field's metadata cannot express alone.

    Args:
        config: A `keras_cxr.training.TrainConfig`.

    Returns:
        None.

    Raises:
        ValueError: Naming the first invalid setting, in Keras's wording.

    Example:
        >>> keras_cxr.training.config_checks.check_settings(
        ...     keras_cxr.training.TrainConfig(dropout=1.0)
        ... )
        Traceback (most recent call last):
        ValueError: Invalid value received for argument `dropout`. ...
    """
    if not isinstance(config.backbones, (tuple, list)) or not config.backbones:
        raise invalid_value("backbones", "a non-empty list of backbone names", config.backbones)
    if not all(isinstance(b, str) for b in config.backbones):
        raise invalid_value("backbones", "backbone names", config.backbones)
    if not config.head_units or not all(
        isinstance(u, int) and not isinstance(u, bool) and u > 0 for u in config.head_units
    ):
        raise invalid_value("head_units", "positive integers", config.head_units)
    if not 0 <= config.dropout < 1:
        raise invalid_value("dropout", "a float in [0, 1)", config.dropout)
    for name in ("learning_rate", "fine_tune_learning_rate", "min_learning_rate"):
        if not getattr(config, name) > 0:
            raise invalid_value(name, "a positive float", getattr(config, name))
    if not 0 < config.lr_factor < 1:
        raise invalid_value("lr_factor", "a float in (0, 1)", config.lr_factor)
    if not 0 < config.val_fraction < 1:
        raise invalid_value("val_fraction", "a float in (0, 1)", config.val_fraction)
    if not 0 <= config.test_fraction < 1 or config.val_fraction + config.test_fraction >= 1:
        raise invalid_value(
            "test_fraction",
            "a float in [0, 1) with val_fraction + test_fraction < 1",
            config.test_fraction,
        )
    if config.weights not in (None, "imagenet") and not os.path.isfile(config.weights):
        raise invalid_value(
            "weights", "'imagenet', None or an existing weights file", config.weights
        )
    if config.fine_tune_last and config.train_backbones:
        raise invalid_value(
            "fine_tune_last",
            "0 when train_backbones=True (everything trains already)",
            config.fine_tune_last,
        )
    if config.operating_point is not None:
        _check_operating_point(config.operating_point)
    if config.threshold_data != "validation" and not config.shift_validation:
        raise invalid_value(
            "threshold_data",
            "'validation' when shift_validation=False (the copies are not made)",
            config.threshold_data,
        )
    if config.threshold_data != "validation" and config.num_classes > 1:
        raise invalid_value(
            "threshold_data",
            "'validation' with labels='three_class' (the arg-max decides; no threshold)",
            config.threshold_data,
        )
    if config.resume and config.overwrite:
        raise invalid_value("overwrite", "False together with resume=True", config.overwrite)


def _check_operating_point(spec: Any) -> None:
    """The checks of `keras_cxr.metrics.parse_operating_point`, restated without NumPy."""
    kind, separator, target = str(spec).strip().lower().partition(":")
    try:
        value = float(target) if separator else 1.0
    except ValueError:
        value = float("nan")
    targeted = kind.strip() in _TARGETED or not separator
    if not isinstance(spec, str) or kind.strip() not in THRESHOLD_METHODS or not targeted:
        raise invalid_value("operating_point", "youden, f1, sensitivity:T or specificity:T", spec)
    if not 0 < value <= 1:
        raise invalid_value("operating_point", "a target T in (0, 1]", spec)
