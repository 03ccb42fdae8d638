"""XGrad-CAM: gradient weights normalised by the activation mass of each channel."""

from __future__ import annotations

from keras import ops

from keras_cxr.explain.base import BaseCAM


class XGradCAM(BaseCAM):
    """Axiom-based Grad-CAM.

    Channel weight = Σ(gradient × activation) / Σ activation over the spatial positions
    (zero for a channel with no activation). Same arguments and call as
    `keras_cxr.GradCAM`.

    Example:
        >>> explanation = keras_cxr.explain.XGradCAM(model).explain(images)

    Reference:
        Fu et al., "Axiom-based Grad-CAM: Towards Accurate Visualization and Explanation of
        CNNs", BMVC 2020.
    """

    method_name = "xgradcam"

    def compute_cam(self, activations, gradients):
        mass = ops.sum(activations, axis=(1, 2), keepdims=True)
        safe_mass = ops.where(mass != 0, mass, 1.0)
        weights = ops.where(
            mass != 0, ops.sum(gradients * activations, axis=(1, 2), keepdims=True) / safe_mass, 0.0
        )
        return ops.relu(ops.sum(weights * activations, axis=-1))
