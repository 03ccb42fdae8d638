"""LayerCAM: positive gradients weight each activation at each location."""

from __future__ import annotations

from keras import ops

from keras_cxr.explain.base import BaseCAM


class LayerCAM(BaseCAM):
    """LayerCAM: Σ_c ReLU(gradient) × activation, location by location.

    Location-specific weights make it usable on earlier, higher-resolution layers too.
    Same arguments and call as `keras_cxr.GradCAM`.

    Example:
        >>> explanation = keras_cxr.explain.LayerCAM(model).explain(images)

    Reference:
        Jiang et al., "LayerCAM: Exploring Hierarchical Class Activation Maps for
        Localization", IEEE TIP 30, 2021.
    """

    method_name = "layercam"

    def compute_cam(self, activations, gradients):
        return ops.relu(ops.sum(ops.relu(gradients) * activations, axis=-1))
