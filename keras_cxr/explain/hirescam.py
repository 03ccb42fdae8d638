"""HiResCAM: element-wise gradient times activation, summed over channels."""

from __future__ import annotations

from keras import ops

from keras_cxr.explain.base import BaseCAM


class HiResCAM(BaseCAM):
    """High-Resolution Class Activation Mapping.

    Multiplies gradients and activations element-wise before summing over channels, so
    the map provably reflects the locations the score depends on (for heads ending in
    global average pooling and a dense layer it equals the class's contribution map).
    Same arguments and call as `keras_cxr.GradCAM`.

    Example:
        >>> explanation = keras_cxr.explain.HiResCAM(model).explain(images)

    Reference:
        Draelos & Carin, "Use HiResCAM instead of Grad-CAM for faithful explanations of
        convolutional neural networks", arXiv:2011.08891, 2020.
    """

    method_name = "hirescam"

    def compute_cam(self, activations, gradients):
        return ops.relu(ops.sum(gradients * activations, axis=-1))
