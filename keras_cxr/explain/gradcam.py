"""Grad-CAM: channel weights from spatially averaged gradients."""

from __future__ import annotations

from keras import ops

from keras_cxr.explain.base import BaseCAM


class GradCAM(BaseCAM):
    """Gradient-weighted Class Activation Mapping.

    Each channel of the target feature map is weighted by the spatial mean of the
    gradient of the class score with respect to it; the map is the ReLU of the weighted
    sum. Works on any Keras model: the last spatial layer of every branch is found
    automatically, also inside nested backbones (`StackedEnsemble` gets one map per
    backbone and a fused map), and gradients flow only through the layers after the
    target layers, so a batch costs about one forward pass.

    Args:
        model: The Keras model to explain.
        layer: `None` (automatic), a name, a path such as `"densenet169/relu"`, a layer
            object, or a list of these.
        output: Output index or name for multi-output models.
        score: `"logit"` (default) or `"probability"`.
        batch_size: Images per compiled call. Defaults to 16.

    Returns:
        An explainer; call `explain(images, class_index=None)` for a
        `keras_cxr.Explanation`.

    Raises:
        ValueError: For an unknown layer, a model without spatial layers, or bad inputs.

    Example:
        >>> model = keras_cxr.StackedEnsemble(weights=None, input_shape=(96, 96, 3))
        >>> explainer = keras_cxr.GradCAM(model)
        >>> explainer.target_layers
        ['stacked_backbones/mobilenet_v2/out_relu', 'stacked_backbones/densenet169/relu']
        >>> explanation = explainer.explain(images)

    Reference:
        Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via
        Gradient-based Localization", ICCV 2017.
    """

    method_name = "gradcam"

    def compute_cam(self, activations, gradients):
        """Weight each channel by its spatially averaged gradient.

        Args:
            activations: `A`, float32 `(batch, h, w, channels)`.
            gradients: `g = d(score)/dA`, the same shape; only its mean over positions is used.

        Returns:
            `ReLU(Σ_c mean_ij(g_c) · A_c)`, float32 `(batch, h, w)`.

        Raises:
            Nothing: `BaseCAM` passes matching shapes.

        Example:
            >>> a = np.ones((1, 2, 2, 3), "float32")
            >>> cam = keras_cxr.GradCAM(model).compute_cam(a, 0.5 * a)  # 1.5 everywhere
        """
        weights = ops.mean(gradients, axis=(1, 2), keepdims=True)
        return ops.relu(ops.sum(weights * activations, axis=-1))
