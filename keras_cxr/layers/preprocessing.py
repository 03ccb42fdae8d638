"""In-model image preprocessing: the per-backbone ImageNet conventions as serializable layers."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from keras_cxr._validation import invalid_value

#: Per-channel ImageNet statistics as used by `keras.applications.imagenet_utils`.
_TORCH_MEAN = (0.485, 0.456, 0.406)
_TORCH_STD = (0.229, 0.224, 0.225)
_CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)
#: EfficientNet-Lite's inception-style scaling (MEAN_RGB, STDDEV_RGB of its TF builder).
_LITE_MEAN = 127.0
_LITE_STD = 128.0

PREPROCESSING_MODES = ("tf", "torch", "caffe", "lite", "none")


@keras.saving.register_keras_serializable(package="keras_cxr")
class ImageNetPreprocessing(keras.layers.Layer):
    """Map raw RGB pixels in [0, 255] to the input range a backbone was trained on.

    Keras applications disagree about their inputs: MobileNetV2, InceptionV3 and Xception
    expect [-1, 1] (`"tf"`), DenseNets expect torch-style mean/std scaling (`"torch"`),
    ResNet50 expects caffe-style BGR minus the ImageNet mean (`"caffe"`), EfficientNet-Lite
    expects `(x - 127) / 128` (`"lite"`, the scaling its TensorFlow checkpoints were trained
    with), and EfficientNet rescales inside the model itself (`"none"`). Putting the
    conversion inside the model means a saved model takes raw pixels and cannot be fed the
    wrong scaling.

    Args:
        mode: One of `"tf"`, `"torch"`, `"caffe"`, `"lite"` or `"none"`. Defaults to `"tf"`.
        **kwargs: Standard layer keyword arguments (`name`, `dtype`, ...).

    Returns:
        A layer mapping `(..., 3)` images in [0, 255] to the same shape, rescaled.

    Raises:
        ValueError: If `mode` is not one of the supported modes.

    Example:
        >>> layer = keras_cxr.layers.ImageNetPreprocessing("tf")
        >>> layer(np.full((1, 2, 2, 3), 255.0)).numpy().max()
        1.0
    """

    def __init__(self, mode: str = "tf", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if mode not in PREPROCESSING_MODES:
            raise invalid_value("mode", f"one of {PREPROCESSING_MODES}", mode)
        self.mode = mode

    def call(self, inputs):
        x = ops.cast(inputs, self.compute_dtype)
        if self.mode == "tf":
            return x / 127.5 - 1.0
        if self.mode == "torch":
            mean = ops.convert_to_tensor(_TORCH_MEAN, dtype=self.compute_dtype)
            std = ops.convert_to_tensor(_TORCH_STD, dtype=self.compute_dtype)
            return (x / 255.0 - mean) / std
        if self.mode == "caffe":
            mean = ops.convert_to_tensor(_CAFFE_BGR_MEAN, dtype=self.compute_dtype)
            return ops.flip(x, axis=-1) - mean
        if self.mode == "lite":
            return (x - _LITE_MEAN) / _LITE_STD
        return x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mode": self.mode}


@keras.saving.register_keras_serializable(package="keras_cxr")
class GrayscaleToRGB(keras.layers.Layer):
    """Repeat a single-channel image three times so that ImageNet backbones accept it.

    Chest X-rays are grayscale; ImageNet backbones expect three channels. Three-channel
    inputs pass through unchanged, so the layer can sit in front of any model.

    Args:
        **kwargs: Standard layer keyword arguments.

    Returns:
        A layer mapping `(..., H, W, 1)` to `(..., H, W, 3)`.

    Raises:
        ValueError: When called on an input whose last axis is neither 1 nor 3.

    Example:
        >>> keras_cxr.layers.GrayscaleToRGB()(np.zeros((2, 8, 8, 1))).shape
        TensorShape([2, 8, 8, 3])
    """

    def call(self, inputs):
        channels = inputs.shape[-1]
        if channels == 3:
            return inputs
        if channels != 1:
            raise invalid_value("inputs", "images with 1 or 3 channels", f"shape {inputs.shape}")
        return ops.repeat(inputs, 3, axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 3)
