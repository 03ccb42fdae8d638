"""Grad-CAM++: pixel-wise weighting of positive gradients."""

from __future__ import annotations

from keras import ops

from keras_cxr.explain.base import BaseCAM


class GradCAMPlusPlus(BaseCAM):
    """Grad-CAM++, with the closed-form α coefficients of the paper.

    α = g² / (2 g² + Σ_ij A · g³) (zero where the denominator vanishes); channel weight =
    Σ_ij α · ReLU(g). Better than Grad-CAM when several instances of a finding appear.

    Args:
        model, layer, output, score, batch_size: As for `keras_cxr.GradCAM`.

    Returns:
        An explainer whose maps weight each channel by its α-weighted positive gradients
        (`method="gradcam++"` in the `keras_cxr.Explanation`).

    Raises:
        ValueError: As `keras_cxr.GradCAM`.

    Example:
        >>> explanation = keras_cxr.explain.GradCAMPlusPlus(model).explain(images)

    Reference:
        Chattopadhay et al., "Grad-CAM++: Generalized Gradient-based Visual Explanations
        for Deep Convolutional Networks", WACV 2018.
    """

    method_name = "gradcam++"

    def compute_cam(self, activations, gradients):
        """Weight each channel by its α-weighted positive gradients.

        Args:
            activations: `A`, float32 `(batch, h, w, channels)`.
            gradients: `g = d(score)/dA`, the same shape; its square, cube and ReLU enter α
                and the weight.

        Returns:
            `ReLU(Σ_c w_c · A_c)` with `w_c = Σ_ij α_c · ReLU(g_c)` and
            `α = g² / (2 g² + Σ_ab A · g³)` (0 where that denominator is 0), float32
            `(batch, h, w)`.

        Raises:
            Nothing: `BaseCAM` passes matching shapes.

        Example:
            >>> explainer = keras_cxr.explain.GradCAMPlusPlus(model)
            >>> cam = explainer.compute_cam(activations, gradients)
        """
        squared = gradients * gradients
        cubed = squared * gradients
        mass = ops.sum(activations, axis=(1, 2), keepdims=True)
        denominator = 2.0 * squared + mass * cubed
        nonzero = denominator != 0
        alpha = ops.where(nonzero, squared / ops.where(nonzero, denominator, 1.0), 0.0)
        weights = ops.sum(alpha * ops.relu(gradients), axis=(1, 2), keepdims=True)
        return ops.relu(ops.sum(weights * activations, axis=-1))
