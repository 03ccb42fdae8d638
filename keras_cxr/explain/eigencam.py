"""Eigen-CAM: the first principal component of the feature map (no gradients)."""

from __future__ import annotations

from keras import ops

from keras_cxr.explain.base import BaseCAM


class EigenCAM(BaseCAM):
    """Eigen-CAM: project the feature map on its first principal component.

    Per image, the feature map is read as a matrix `A` of shape `(h·w, channels)` (one row
    per position), centred by subtracting its mean over positions, and factorised,
    `A − mean = U Σ Vᵀ`; the map is `ReLU((A − mean) · v₁)` reshaped to `(h, w)`, where
    `v₁` is the first right singular vector: the projection of the centred activations on
    their first principal component, as `get_2d_projection` of pytorch-grad-cam computes it.

    The sign of a singular vector is arbitrary (LAPACK builds differ, and pytorch-grad-cam,
    which keeps it as returned, has had reports of inverted maps), so it is fixed here:
    `v₁` is flipped when its components sum to less than zero. Since
    `Σ_p map_p · Σ_c A_pc = σ₁² · Σ_c v₁c` before the ReLU, this is the same as making the
    map correlate positively with the channel-summed activation: it highlights where the
    feature map is strongly active, not where it is quiet. (Where the components sum to
    exactly zero the sign is left as returned.) Adding a constant to a channel at every
    position does not change the map.

    Class-agnostic (the same map for every class) and gradient-free; `class_index` only
    affects the reported scores.

    Args:
        model: The Keras model to explain.
        layer: The layer(s) to explain; `None` (default) finds the last spatial layer of
            every branch. `output`, `score` (which only sets the reported `scores`) and
            `batch_size` are keywords, as for `keras_cxr.GradCAM`.

    Returns:
        A gradient-free explainer; `explain(images, class_index=None)` returns a
        `keras_cxr.Explanation` with `method="eigencam"`.

    Raises:
        ValueError: For the same arguments as `keras_cxr.GradCAM` does.

    Example:
        >>> explanation = keras_cxr.EigenCAM(model).explain(images)

    Reference:
        Muhammad & Yeasin, "Eigen-CAM: Class Activation Map using Principal Components",
        IJCNN 2020; pytorch-grad-cam, `pytorch_grad_cam/utils/svd_on_activations.py`
        (github.com/jacobgil/pytorch-grad-cam), and its issue #315 on the sign.
    """

    method_name = "eigencam"
    needs_gradients = False

    def compute_cam(self, activations, gradients):
        """The ReLU of the centred activations' projection on their first component.

        Args:
            activations: float32 `(batch, h, w, channels)`.
            gradients: Ignored (`None`).

        Returns:
            float32 `(batch, h, w)`, non-negative; all zeros where the activations are
            constant over positions.

        Raises:
            ValueError: If `activations` is not 4-D.

        Example:
            >>> import numpy as np
            >>> explainer = keras_cxr.EigenCAM(model)
            >>> cam = explainer.compute_cam(np.ones((1, 2, 2, 3), "float32"), None)
            >>> np.asarray(cam).tolist()  # constant activations: nothing to project
            [[[0.0, 0.0], [0.0, 0.0]]]
        """
        if len(activations.shape) != 4:
            raise ValueError(
                "Invalid value received for argument `activations`. Expected a 4-D "
                f"(batch, h, w, channels) tensor. Received: activations.shape="
                f"{tuple(activations.shape)}"
            )
        activations = ops.cast(activations, "float32")
        batch, height, width, channels = ops.shape(activations)
        flat = ops.reshape(activations, (batch, height * width, channels))
        centred = flat - ops.mean(flat, axis=1, keepdims=True)
        _, _, vt = ops.svd(centred, full_matrices=False)
        component = vt[:, 0, :]
        sign = ops.where(ops.sum(component, axis=-1, keepdims=True) < 0, -1.0, 1.0)
        projection = ops.einsum("bpc,bc->bp", centred, component * sign)
        return ops.relu(ops.reshape(projection, (batch, height, width)))
