"""HiResCAM: element-wise gradient times activation, summed over channels."""

from __future__ import annotations

from keras import ops

from keras_cxr.explain.base import BaseCAM


class HiResCAM(BaseCAM):
    """High-Resolution Class Activation Mapping.

    Multiplies gradients and activations element-wise before summing over channels, so
    the map provably reflects the locations the score depends on (for heads ending in
    global average pooling and a dense layer it equals the class's contribution map).

    Args:
        model, layer, output, score, batch_size: As for `keras_cxr.GradCAM`.

    Returns:
        An explainer whose maps are gradient × activation summed over channels, at each
        position (`method="hirescam"`).

    Raises:
        ValueError: As `keras_cxr.GradCAM`.

    Example:
        >>> explanation = keras_cxr.explain.HiResCAM(model).explain(images)

    Reference:
        Draelos & Carin, "Use HiResCAM instead of Grad-CAM for faithful explanations of
        convolutional neural networks", arXiv:2011.08891, 2020.
    """

    method_name = "hirescam"

    def compute_cam(self, activations, gradients):
        """Multiply gradients and activations position by position.

        Args:
            activations: `A`, float32 `(batch, h, w, channels)`.
            gradients: `g = d(score)/dA`, the same shape; used position by position, not averaged.

        Returns:
            `ReLU(Σ_c g_c · A_c)`, float32 `(batch, h, w)`.

        Raises:
            Nothing: `BaseCAM` passes matching shapes.

        Example:
            >>> cam = keras_cxr.HiResCAM(model).compute_cam(activations, gradients)
        """
        return ops.relu(ops.sum(gradients * activations, axis=-1))
