"""LayerCAM: positive gradients weight each activation at each location."""

from __future__ import annotations

from keras import ops

from keras_cxr.explain.base import BaseCAM


class LayerCAM(BaseCAM):
    """LayerCAM: Σ_c ReLU(gradient) × activation, location by location.

    Location-specific weights make it usable on earlier, higher-resolution layers too.

    Args:
        model, layer, output, score, batch_size: As for `keras_cxr.GradCAM`.

    Returns:
        An explainer for any layer, deep or early (`method="layercam"`).

    Raises:
        ValueError: As `keras_cxr.GradCAM`.

    Example:
        >>> explanation = keras_cxr.explain.LayerCAM(model).explain(images)

    Reference:
        Jiang et al., "LayerCAM: Exploring Hierarchical Class Activation Maps for
        Localization", IEEE TIP 30, 2021.
    """

    method_name = "layercam"

    def compute_cam(self, activations, gradients):
        """Weight each activation by its own positive gradient.

        Args:
            activations: `A`, float32 `(batch, h, w, channels)`.
            gradients: `g = d(score)/dA`, the same shape; only its positive part counts,
                position by position.

        Returns:
            `ReLU(Σ_c ReLU(g_c) · A_c)`, float32 `(batch, h, w)`.

        Raises:
            Nothing: `BaseCAM` passes matching shapes.

        Example:
            >>> cam = keras_cxr.LayerCAM(model).compute_cam(activations, gradients)
        """
        return ops.relu(ops.sum(ops.relu(gradients) * activations, axis=-1))
