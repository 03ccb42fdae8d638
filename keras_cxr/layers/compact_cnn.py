"""`compact_cnn`: a small convolutional backbone that trains from scratch on a CPU."""

from __future__ import annotations

from collections.abc import Sequence

import keras

from keras_cxr._validation import invalid_value
from keras_cxr.layers.intensity import HistogramEqualization, PerImageStandardization

#: Named compact backbones, registered in `keras_cxr.layers.BACKBONES` next to the ImageNet
#: ones (so `StackedBackbones(backbones=["cnn_3x3"])` builds one by name): keyword arguments
#: of `compact_cnn`. The `_std` and `_eq` variants normalise each image's intensities
#: first (`keras_cxr.layers.intensity`).
COMPACT_BACKBONES: dict[str, dict[str, int | str]] = {
    "cnn_3x3": {"width": 8, "stages": 4, "first_kernel": 3},
    "cnn_7x7": {"width": 8, "stages": 4, "first_kernel": 7},
    "cnn_3x3_std": {"width": 8, "stages": 4, "first_kernel": 3, "normalization": "standardize"},
    "cnn_7x7_std": {"width": 8, "stages": 4, "first_kernel": 7, "normalization": "standardize"},
    "cnn_3x3_eq": {"width": 8, "stages": 4, "first_kernel": 3, "normalization": "equalize"},
    "cnn_7x7_eq": {"width": 8, "stages": 4, "first_kernel": 7, "normalization": "equalize"},
}

#: How `compact_cnn` scales raw pixels before its stem: `Rescaling(1/255)`,
#: `PerImageStandardization` or `HistogramEqualization`.
NORMALIZATIONS = ("rescale", "standardize", "equalize")


def compact_cnn(
    input_shape: Sequence[int],
    width: int = 16,
    stages: int = 4,
    first_kernel: int = 3,
    name: str = "compact_cnn",
    normalization: str = "rescale",
) -> keras.Model:
    """Builds a small VGG-style backbone of conv–BatchNorm–ReLU blocks, for training from scratch.

    ImageNet backbones with random weights learn slowly on a CPU budget, and frozen random
    ones not at all. This backbone is what the offline recipe and the demo train end to end
    instead: `Rescaling(1/255)` (or, with `normalization`, a per-image intensity
    normalisation of `keras_cxr.layers.intensity`), a stem convolution of
    `first_kernel`×`first_kernel` with stride 2 and `width` channels, then `stages - 1`
    stages of 2×2 max pooling and two 3×3 convolutions with `width * 2**stage` channels;
    every convolution is followed by BatchNorm (momentum 0.9, so that a short run's moving
    statistics keep up) and ReLU. It maps raw pixels in [0, 255] (what
    `keras_cxr.StackedBackbones` feeds a backbone model) to a 4-D feature map, the output of
    the last ReLU, which Grad-CAM finds on its own. Every layer name starts with `name`, so
    two of them (e.g. with different `first_kernel`) make a `keras_cxr.StackedEnsemble` with
    two branches.

    Args:
        input_shape: `(height, width, 3)` of the images; sides >= `2**stages`.
        width: Channels of the stem. Defaults to 16.
        stages: Number of stages, the stem included, >= 1. Defaults to 4.
        first_kernel: Kernel size of the stem, odd. Defaults to 3.
        name: Model name (the branch name in a `StackedEnsemble`). Defaults to
            `"compact_cnn"`.
        normalization: One of `NORMALIZATIONS`: `"rescale"` (÷ 255), `"standardize"`
            (`PerImageStandardization`) or `"equalize"` (`HistogramEqualization`).
            Defaults to `"rescale"`.

    Returns:
        A Functional `keras.Model` mapping `(batch, H, W, 3)` to
        `(batch, H // 2**stages, W // 2**stages, width * 2**(stages - 1))`.

    Raises:
        ValueError: For a non-positive `width` or `stages`, an even or non-positive
            `first_kernel`, an unknown `normalization`, or an input too small for the
            pooling.

    Example:
        >>> branch = keras_cxr.layers.compact_cnn((128, 128, 3), name="cnn_3x3")
        >>> branch.output.shape
        (None, 8, 8, 128)
        >>> model = keras_cxr.StackedEnsemble(
        ...     backbones=[branch], input_shape=(128, 128, 3), weights=None,
        ...     trainable_backbones=True)
    """
    for argument, value in (("width", width), ("stages", stages)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise invalid_value(argument, "an integer >= 1", value)
    if (
        isinstance(first_kernel, bool)
        or not isinstance(first_kernel, int)
        or first_kernel < 1
        or first_kernel % 2 == 0
    ):
        raise invalid_value("first_kernel", "an odd integer >= 1", first_kernel)
    if normalization not in NORMALIZATIONS:
        raise invalid_value("normalization", f"one of {list(NORMALIZATIONS)}", normalization)
    shape = tuple(input_shape)
    smallest = 2**stages
    if len(shape) != 3 or shape[-1] != 3 or min(shape[:2]) < smallest:
        raise invalid_value(
            "input_shape", f"(height, width, 3) with sides >= {smallest}", input_shape
        )
    inputs = keras.Input(shape=shape, name="image")
    if normalization == "standardize":
        x = PerImageStandardization(name=f"{name}_standardize")(inputs)
    elif normalization == "equalize":
        x = HistogramEqualization(name=f"{name}_equalize")(inputs)
    else:
        x = keras.layers.Rescaling(1.0 / 255.0, name=f"{name}_rescale")(inputs)
    x = _conv_block(x, width, first_kernel, f"{name}_stem", strides=2)
    for stage in range(1, stages):
        x = keras.layers.MaxPooling2D(name=f"{name}_pool{stage}")(x)
        x = _conv_block(x, width * 2**stage, 3, f"{name}_stage{stage}_1")
        x = _conv_block(x, width * 2**stage, 3, f"{name}_stage{stage}_2")
    return keras.Model(inputs, x, name=name)


def build_compact_backbone(name: str, input_shape: Sequence[int]) -> keras.Model:
    """Builds a backbone of `COMPACT_BACKBONES` by name.

    Args:
        name: A key of `keras_cxr.layers.COMPACT_BACKBONES`, e.g. `"cnn_3x3"`.
        input_shape: `(height, width, 3)`.

    Returns:
        The `compact_cnn` model named `name`.

    Raises:
        ValueError: If `name` is unknown.

    Example:
        >>> keras_cxr.layers.build_compact_backbone("cnn_7x7", (64, 64, 3)).name
        'cnn_7x7'
    """
    if name not in COMPACT_BACKBONES:
        raise invalid_value("backbones", f"one of {sorted(COMPACT_BACKBONES)}", name)
    return compact_cnn(input_shape, name=name, **COMPACT_BACKBONES[name])


def _conv_block(x, filters: int, kernel: int, prefix: str, strides: int = 1):
    x = keras.layers.Conv2D(
        filters, kernel, strides=strides, padding="same", use_bias=False, name=f"{prefix}_conv"
    )(x)
    # A short from-scratch run needs moving statistics that follow the weights quickly.
    x = keras.layers.BatchNormalization(momentum=0.9, name=f"{prefix}_bn")(x)
    return keras.layers.ReLU(name=f"{prefix}_relu")(x)
