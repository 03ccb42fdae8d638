"""Attention rollout: the attention of every layer, chained through the residual paths."""

from __future__ import annotations

from keras import ops

from keras_cxr.explain.base_attention import BaseAttention, identity_like


class AttentionRollout(BaseAttention):
    """Attention rollout: how much each patch flows into the class token, layer by layer.

    Each layer's attention is averaged over its heads and mixed half and half with the
    identity, for the residual connection around it: `Ã = (mean_h A_h + I) / 2` (rows still
    sum to one). Chained from the first layer to the last, `R = Ã_L ··· Ã_1`, row `i` of
    `R` says how much each input token reaches token `i` at the top. The map is the class
    token's row (the mean of all rows for a model without one) over the patch tokens,
    upsampled to the image. It uses no gradients and so is the same for every class: it
    shows where the model looks, not the evidence for one class (see
    `keras_cxr.explain.AttentionGradient` for that).

    Args:
        model: A Keras model with `keras.layers.MultiHeadAttention` self-attention layers
            (see `keras_cxr.explain.BaseAttention`).
        layout, output, score, batch_size: As for `keras_cxr.explain.BaseAttention`.

    Returns:
        An explainer; `explain(images, class_index=None)` gives a `keras_cxr.Explanation`
        whose `attributions` are the rolled-out relevance of each pixel's patch.

    Raises:
        ValueError: As `keras_cxr.explain.BaseAttention`.

    Example:
        >>> explanation = keras_cxr.explain.AttentionRollout(vit).explain(images)
        >>> explanation.heatmaps.shape == images.shape[:3]
        True

    Reference:
        Abnar and Zuidema, "Quantifying Attention Flow in Transformers", ACL 2020.
    """

    method_name = "attention-rollout"
    needs_gradients = False

    def relevance(self, probabilities, gradients):
        """`Ã_L ··· Ã_1` with `Ã = (mean over heads + identity) / 2`.

        Args:
            probabilities: One `(batch, heads, tokens, tokens)` per layer, in order.
            gradients: Unused (`None`).

        Returns:
            float32 `(batch, tokens, tokens)`.

        Raises:
            Nothing: `BaseAttention` passes matching shapes.

        Example:
            >>> import numpy as np
            >>> uniform = [np.full((1, 2, 3, 3), 1 / 3, "float32")]
            >>> rollout = keras_cxr.explain.AttentionRollout(vit)
            >>> rolled = np.asarray(rollout.relevance(uniform, None))
            >>> rolled[0, 0].astype(float).round(3).tolist()
            [0.667, 0.167, 0.167]
        """
        del gradients
        identity = identity_like(probabilities[0])
        rolled = identity
        for attention in probabilities:
            mixed = (ops.mean(attention, axis=1) + identity) / 2.0
            rolled = ops.matmul(mixed, rolled)
        return rolled
