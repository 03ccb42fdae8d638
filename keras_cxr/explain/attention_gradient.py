"""Gradient-weighted attention: the class-specific relevance of Chefer et al.'s generic rule."""

from __future__ import annotations

from keras import ops

from keras_cxr.explain.base_attention import BaseAttention, identity_like


class AttentionGradient(BaseAttention):
    """Gradient-weighted attention relevance, propagated through every layer.

    Each layer's attention `A` is weighted by the gradient of the explained score with
    respect to it, keeping the positive part and averaging over the heads:
    `Ā = mean_h (∇A_h ⊙ A_h)⁺`. Starting from the identity (each token is itself), the
    relevance is updated layer by layer with the residual connection: `R ← R + Ā · R`. The
    map is the class token's row of `R` (the mean of all rows for a model without one)
    over the patch tokens, upsampled to the image. Unlike
    `keras_cxr.explain.AttentionRollout` it is class-specific: the gradients are those of
    the explained class's score, so each class gets its own map. It costs one forward and
    one backward pass through the whole model per batch.

    Named for what it computes (gradient-weighted attention) rather than for the paper's
    title, which also names a second rule for encoder-decoder models that this does not
    implement.

    Args:
        model: A Keras model with `keras.layers.MultiHeadAttention` self-attention layers
            (see `keras_cxr.explain.BaseAttention`).
        layout, output, score, batch_size: As for `keras_cxr.explain.BaseAttention`.

    Returns:
        An explainer; `explain(images, class_index=None)` gives a `keras_cxr.Explanation`
        whose `attributions` are the relevance of each pixel's patch for the class.

    Raises:
        ValueError: As `keras_cxr.explain.BaseAttention`.

    Example:
        >>> explanation = keras_cxr.explain.AttentionGradient(vit).explain(images, 1)
        >>> explanation.heatmaps.shape == images.shape[:3]
        True

    Reference:
        Chefer, Gur and Wolf, "Generic Attention-model Explainability for Interpreting
        Bi-Modal and Encoder-Decoder Transformers", ICCV 2021 (eq. 5-6, self-attention).
    """

    method_name = "attention-gradient"

    def relevance(self, probabilities, gradients):
        """`R ← R + mean_h (∇A ⊙ A)⁺ · R`, from `R = I`, layer by layer.

        Args:
            probabilities: One `(batch, heads, tokens, tokens)` per layer, in order.
            gradients: d(score)/d(each of them), the same shapes.

        Returns:
            float32 `(batch, tokens, tokens)`.

        Raises:
            Nothing: `BaseAttention` passes matching shapes.

        Example:
            >>> import numpy as np
            >>> attention = [np.full((1, 1, 2, 2), 0.5, "float32")]
            >>> gradient = [np.array([[[[2.0, -2.0], [0.0, 4.0]]]], "float32")]
            >>> method = keras_cxr.explain.AttentionGradient(vit)
            >>> np.asarray(method.relevance(attention, gradient))[0].tolist()
            [[2.0, 0.0], [0.0, 3.0]]
        """
        relevance = identity_like(probabilities[0])
        for attention, gradient in zip(probabilities, gradients):
            weighted = ops.mean(ops.relu(gradient * attention), axis=1)
            relevance = relevance + ops.matmul(weighted, relevance)
        return relevance
