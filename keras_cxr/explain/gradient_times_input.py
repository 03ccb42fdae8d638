"""Gradient × input: each pixel's gradient times its value, summed over the channels."""

from __future__ import annotations

from keras import ops

from keras_cxr.explain.base_attribution import BaseAttribution


class GradientTimesInput(BaseAttribution):
    """Gradient × input: the first-order (Taylor) contribution of each pixel to the score.

    The attribution of a pixel is `Σ_c x_c · ∂s/∂x_c`, signed: positive where the pixel's
    value raises the explained score. For a model that is linear in its input (with no
    bias) the attributions add up to the score exactly; otherwise they are a local
    approximation, which `keras_cxr.explain.IntegratedGradients` integrates along a path.
    It is relative to a black (all-zero) reference image, in the model's own input scale.
    Cost: one forward and one backward pass per batch.

    Args:
        model: The Keras model to explain (of the image, and of other inputs given as
            `inputs=`, see `keras_cxr.explain.BaseCAM`).
        display: `"positive"` (default: evidence for the class) or `"abs"`.
        output, score, batch_size: As for `keras_cxr.explain.BaseAttribution`.

    Returns:
        An explainer; `explain(images, class_index=None)` gives a `keras_cxr.Explanation`
        whose `attributions` are `Σ_c x_c ∂s/∂x_c`, float32 `(batch, height, width)`.

    Raises:
        ValueError: As `keras_cxr.explain.BaseAttribution`.

    Example:
        >>> explainer = keras_cxr.explain.GradientTimesInput(model, display="abs")
        >>> explanation = explainer.explain(images)

    Reference:
        Shrikumar, Greenside, Shcherbina and Kundaje, "Not Just a Black Box: Learning
        Important Features Through Propagating Activation Differences", arXiv:1605.01713,
        2016.
    """

    method_name = "gradient-times-input"

    def compute_attribution(self, images, gradients):
        """Each channel's gradient times its value, summed over the channels.

        Args:
            images: `x`, float32 `(batch, height, width, channels)`.
            gradients: `∂s/∂x`, the same shape.

        Returns:
            `Σ_c x_c ∂s/∂x_c`, float32 `(batch, height, width)`.

        Raises:
            Nothing: `BaseAttribution` passes matching shapes.

        Example:
            >>> import numpy as np
            >>> x = np.array([[[[2.0, 1.0]]]], "float32")
            >>> explainer = keras_cxr.explain.GradientTimesInput(model)
            >>> np.asarray(explainer.compute_attribution(x, -x)).tolist()
            [[[-5.0]]]
        """
        images = ops.cast(images, "float32")
        return ops.sum(images * ops.cast(gradients, "float32"), axis=-1)
