"""Eigen-CAM: the first principal component of the feature map (no gradients)."""

from __future__ import annotations

from keras import ops

from keras_cxr.explain.base import BaseCAM


class EigenCAM(BaseCAM):
    """Eigen-CAM: project the feature map on its first principal component.

    Class-agnostic (the same map for every class) and gradient-free. The sign of a
    principal component is arbitrary, so it is chosen to agree with the channel-summed
    activation. Same arguments and call as `keras_cxr.GradCAM`; `class_index` only
    affects the reported scores.

    Example:
        >>> explanation = keras_cxr.explain.EigenCAM(model).explain(images)

    Reference:
        Muhammad & Yeasin, "Eigen-CAM: Class Activation Map using Principal Components",
        IJCNN 2020.
    """

    method_name = "eigencam"
    needs_gradients = False

    def compute_cam(self, activations, gradients):
        shape = ops.shape(activations)
        flat = ops.reshape(activations, (shape[0], shape[1] * shape[2], shape[3]))
        centered = flat - ops.mean(flat, axis=1, keepdims=True)
        _, _, vt = ops.svd(centered, full_matrices=False)
        projection = ops.einsum("bpc,bc->bp", flat, vt[:, 0, :])
        agreement = ops.sum(projection * ops.sum(flat, axis=-1), axis=1, keepdims=True)
        projection = ops.where(agreement < 0, -projection, projection)
        return ops.relu(ops.reshape(projection, (shape[0], shape[1], shape[2])))
