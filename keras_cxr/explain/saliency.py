"""Saliency: the magnitude of the gradient of the class score w.r.t. each pixel."""

from __future__ import annotations

from keras import ops

from keras_cxr.explain.base_attribution import BaseAttribution


class Saliency(BaseAttribution):
    """Vanilla gradient saliency: how strongly each pixel moves the class score.

    The attribution of a pixel is the largest absolute gradient of the explained score
    over its channels, `max_c |∂s/∂x_c|`, as in Simonyan et al. It costs one forward and
    one backward pass through the whole model per batch, and is noisy on deep networks
    (see `keras_cxr.explain.SmoothGrad`). It says where the score is *sensitive*, not
    which way a pixel pushes it, so its attributions are never negative.

    Args:
        model: The Keras model to explain (of the image, and of other inputs given as
            `inputs=`, see `keras_cxr.explain.BaseCAM`).
        display: `"abs"` (default) or `"positive"`; both give the same heatmaps here, as
            the attributions are magnitudes.
        output, score, batch_size: As for `keras_cxr.explain.BaseAttribution`.

    Returns:
        An explainer; `explain(images, class_index=None)` gives a `keras_cxr.Explanation`
        whose `attributions` are `max_c |∂s/∂x_c|`, float32 `(batch, height, width)`.

    Raises:
        ValueError: As `keras_cxr.explain.BaseAttribution`.

    Example:
        >>> explanation = keras_cxr.explain.Saliency(model).explain(images, class_index=1)
        >>> explanation.attributions.min() >= 0
        True

    Reference:
        Simonyan, Vedaldi and Zisserman, "Deep Inside Convolutional Networks: Visualising
        Image Classification Models and Saliency Maps", ICLR Workshops 2014.
    """

    method_name = "saliency"
    default_display = "abs"

    def compute_attribution(self, images, gradients):
        """The largest absolute gradient over the channels of each pixel.

        Args:
            images: float32 `(batch, height, width, channels)` (unused).
            gradients: `∂s/∂x`, the same shape.

        Returns:
            `max_c |∂s/∂x_c|`, float32 `(batch, height, width)`.

        Raises:
            Nothing: `BaseAttribution` passes matching shapes.

        Example:
            >>> import numpy as np
            >>> gradients = np.array([[[[1.0, -3.0]]]], "float32")
            >>> saliency = keras_cxr.explain.Saliency(model)
            >>> np.asarray(saliency.compute_attribution(gradients, gradients)).tolist()
            [[[3.0]]]
        """
        del images
        return ops.max(ops.abs(ops.cast(gradients, "float32")), axis=-1)
