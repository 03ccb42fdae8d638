"""Per-image intensity normalisation as saved layers, so that inference normalises like training.

Radiographs from another machine or site differ in exposure, windowing and gamma. A
network that sees each image rescaled by a fixed 1/255 has to learn to ignore those
differences from the examples it has; these layers remove them before the first
convolution instead, and, being part of the saved model, do the same at inference:

- `PerImageStandardization`: zero mean and unit standard deviation per image, which
  undoes any brightness offset and contrast factor (an affine change of intensities);
- `HistogramEqualization`: each pixel replaced by its mid-rank in the image's own
  histogram of 256 levels, which also undoes gamma and any other increasing change of
  intensities (up to the 256-level quantisation and clipping).
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from keras_cxr._validation import invalid_value

#: Intensity levels of `HistogramEqualization` (pixels are rounded to integers in [0, 255]).
LEVELS = 256


@keras.saving.register_keras_serializable(package="keras_cxr")
class PerImageStandardization(keras.layers.Layer):
    """Scales each image to zero mean and unit standard deviation.

    `(x - mean) / max(std, epsilon)`, with the mean and standard deviation taken over
    the height, width and channels of each image, like `tf.image.per_image_standardization`.
    An image `a * x + b` (a > 0) gives the same output as `x`, so brightness and contrast
    changes cannot reach the network.

    Args:
        epsilon: Least standard deviation divided by (a flat image stays finite), > 0.
            Defaults to 1.0, a grey level of the [0, 255] range.
        **kwargs: Standard layer keyword arguments (`name`, `dtype`, ...).

    Returns:
        A layer mapping `(batch, H, W, C)` images to float images of the same shape.

    Raises:
        ValueError: If `epsilon` is not a positive number.

    Example:
        >>> layer = keras_cxr.layers.PerImageStandardization()
        >>> out = keras.ops.convert_to_numpy(layer(np.arange(8.0).reshape(1, 2, 2, 2)))
        >>> round(float(out.mean()), 6), round(float(out.std()), 6)
        (0.0, 1.0)
    """

    def __init__(self, epsilon: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or epsilon <= 0:
            raise invalid_value("epsilon", "a positive float", epsilon)
        self.epsilon = float(epsilon)

    def call(self, inputs):
        x = ops.cast(inputs, self.compute_dtype)
        mean = ops.mean(x, axis=(1, 2, 3), keepdims=True)
        std = ops.sqrt(ops.mean(ops.square(x - mean), axis=(1, 2, 3), keepdims=True))
        return (x - mean) / ops.maximum(std, self.epsilon)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="keras_cxr")
class HistogramEqualization(keras.layers.Layer):
    """Replaces each pixel by its mid-rank in its image's intensity histogram.

    Pixels are rounded and clipped to the integers 0…255; with `h` the image's
    histogram over its height, width and channels and `n` its pixel count, a pixel of
    level `v` becomes `(sum(h[:v]) + h[v] / 2) / n`, in (0, 1): global histogram
    equalisation. Any increasing change of intensities that keeps the levels apart
    (brightness, contrast, gamma) leaves the output unchanged. The output does not
    depend on the input smoothly (its gradient is zero), so gradient-based attributions
    of the input (saliency, integrated gradients) see nothing through it; Grad-CAM and
    the other maps of inner feature maps are unaffected.

    Args:
        **kwargs: Standard layer keyword arguments.

    Returns:
        A layer mapping `(batch, H, W, C)` images in [0, 255] to float images of the same
        shape in (0, 1).

    Example:
        >>> layer = keras_cxr.layers.HistogramEqualization()
        >>> image = np.array([0.0, 0.0, 10.0, 200.0]).reshape(1, 2, 2, 1)
        >>> keras.ops.convert_to_numpy(layer(image)).ravel().tolist()
        [0.25, 0.25, 0.625, 0.875]

    Reference:
        Gonzalez and Woods. "Digital Image Processing", 4th ed., §3.3 (histogram
        equalization). Pearson, 2018.
    """

    def call(self, inputs):
        x = ops.cast(inputs, "float32")
        shape = ops.shape(x)
        levels = ops.cast(
            ops.clip(ops.round(ops.reshape(x, (shape[0], -1))), 0, LEVELS - 1), "int32"
        )
        counts = ops.cast(ops.bincount(levels, minlength=LEVELS), "float32")
        pixels = ops.cast(ops.shape(levels)[1], "float32")
        mid_rank = (ops.cumsum(counts, axis=-1) - counts / 2.0) / pixels
        out = ops.take_along_axis(mid_rank, levels, axis=-1)
        return ops.cast(ops.reshape(out, shape), self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape
