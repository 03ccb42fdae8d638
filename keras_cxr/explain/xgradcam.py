"""XGrad-CAM: gradient weights normalised by the activation mass of each channel."""

from __future__ import annotations

from keras import ops

from keras_cxr.explain.base import BaseCAM


class XGradCAM(BaseCAM):
    """Axiom-based Grad-CAM.

    Channel weight = Σ(gradient × activation) / Σ activation over the spatial positions
    (zero for a channel with no activation).

    Args:
        model, layer, output, score, batch_size: As for `keras_cxr.GradCAM`.

    Returns:
        An explainer; `explain(images, class_index=None)` returns a `keras_cxr.Explanation`
        whose maps use activation-weighted mean gradients (`method="xgradcam"`).

    Raises:
        ValueError: As `keras_cxr.GradCAM`.

    Example:
        >>> explanation = keras_cxr.explain.XGradCAM(model).explain(images)

    Reference:
        Fu et al., "Axiom-based Grad-CAM: Towards Accurate Visualization and Explanation of
        CNNs", BMVC 2020.
    """

    method_name = "xgradcam"

    def compute_cam(self, activations, gradients):
        """Weight each channel by its activation-weighted mean gradient.

        Args:
            activations: `A`, float32 `(batch, h, w, channels)`.
            gradients: `g = d(score)/dA`, the same shape; averaged with the activations as weights.

        Returns:
            `ReLU(Σ_c w_c · A_c)` with `w_c = Σ_ij(g_c · A_c) / Σ_ij A_c` (0 for a
            channel without activation), float32 `(batch, h, w)`.

        Raises:
            Nothing: `BaseCAM` passes matching shapes.

        Example:
            >>> cam = keras_cxr.XGradCAM(model).compute_cam(activations, gradients)
        """
        mass = ops.sum(activations, axis=(1, 2), keepdims=True)
        safe_mass = ops.where(mass != 0, mass, 1.0)
        weights = ops.where(
            mass != 0, ops.sum(gradients * activations, axis=(1, 2), keepdims=True) / safe_mass, 0.0
        )
        return ops.relu(ops.sum(weights * activations, axis=-1))
