"""`BaseAttention`: the plumbing the attention explainers share.

An attention method maps the attention probabilities of a transformer's layers (and, for
gradient-weighted methods, their gradients) to one token-to-token relevance matrix; it
subclasses `BaseAttention` and overrides one hook, `relevance(probabilities, gradients)`,
written with `keras.ops`. The base finds and watches the attention layers
(`keras_cxr.explain.attention_capture`), checks the inputs and resolves the explained class
and score as every explainer does, lays the patch tokens' relevance on the patch grid
(class and register tokens dropped, as in `keras_cxr.explain.tokens`), upsamples it to the
image and batches with compiled functions.
"""

from __future__ import annotations

import dataclasses

import keras
from keras import ops

from keras_cxr.explain import heatmaps as hm
from keras_cxr.explain.attention_capture import AttentionCapture, layout_of, patch_relevance
from keras_cxr.explain.base_attribution import BaseAttribution, to_numpy
from keras_cxr.explain.class_targets import resolve_classes
from keras_cxr.explain.explanation import Explanation
from keras_cxr.explain.tokens import TokenLayout


class BaseAttention(BaseAttribution):
    """Shared machinery of the attention explainers; subclasses implement `relevance`.

    The `Explanation`'s `attributions` are the patches' relevance, bilinearly upsampled
    from the patch grid to the image (float32 `(batch, height, width)`), its `heatmaps`
    their min-max scaled form, its `target_layers` the attention layers in the order they
    ran.

    Args:
        model: A Keras model whose only input is the image and which contains
            `keras.layers.MultiHeadAttention` self-attention layers over one token
            sequence (a vision transformer; keras-hub's ViT blocks included).
        layout: Where the patch tokens lie, a `keras_cxr.explain.tokens.TokenLayout`.
            Defaults to `None`: read from the token count and the image size (square
            patches tiling the image, after up to 9 class/register tokens).
        output, score, batch_size: As for `keras_cxr.explain.BaseAttribution`.

    Returns:
        An explainer bound to `model`.

    Raises:
        ValueError: As `keras_cxr.explain.BaseAttribution`; for a model without
            `MultiHeadAttention`; and, when explaining, for cross-attention, a layer run
            twice, or tokens whose layout cannot be told (naming `layout=`).

    Example:
        >>> class LastLayer(keras_cxr.explain.BaseAttention):
        ...     method_name = "last-attention"
        ...     needs_gradients = False
        ...
        ...     def relevance(self, probabilities, gradients):
        ...         return keras.ops.mean(probabilities[-1], axis=1)
        >>> explanation = LastLayer(vit).explain(images)
    """

    method_name = "base-attention"
    default_display = "positive"
    #: Whether `relevance` needs the gradients of the score w.r.t. the probabilities.
    needs_gradients = True

    def __init__(
        self,
        model: keras.Model,
        *,
        layout: TokenLayout | None = None,
        output: int | str | None = None,
        score: str = "logit",
        batch_size: int = 16,
    ) -> None:
        super().__init__(model, output=output, score=score, batch_size=batch_size)
        self._capture = AttentionCapture(model)
        self.layout = layout

    # ------------------------------------------------------------------ hooks
    def relevance(self, probabilities: list, gradients: list | None):
        """Combine every layer's attention into one token-to-token relevance matrix.

        Args:
            probabilities: One float32 `(batch, heads, tokens, tokens)` per attention
                layer, in the order they ran; row `i` of a head is how token `i`
                attends to every token.
            gradients: d(score)/d(each of them), the same shapes, or `None` when
                `needs_gradients` is False.

        Returns:
            `(batch, tokens, tokens)`: row `i`, column `j` is how much token `j` of the
            input contributes to token `i` after the last layer.

        Raises:
            NotImplementedError: Always, in `BaseAttention` itself.

        Example:
            >>> import numpy as np
            >>> probabilities = [np.full((1, 2, 3, 3), 1 / 3, "float32")]
            >>> rollout = keras_cxr.explain.AttentionRollout(vit)
            >>> relevance = np.asarray(rollout.relevance(probabilities, None))
            >>> relevance[0, 0].astype(float).round(3).tolist()
            [0.667, 0.167, 0.167]
        """
        raise NotImplementedError

    # ------------------------------------------------------------------ public
    def explain(self, images, class_index=None, *, threshold=0.5, inputs=None) -> Explanation:
        """Explain a batch of images by the attention of the model's layers.

        Args:
            images, class_index, threshold, inputs: As for
                `keras_cxr.explain.BaseAttribution.explain` (`inputs`: the model's other
                inputs, passed through unchanged).

        Returns:
            A `keras_cxr.Explanation`: `attributions` (the patch relevance upsampled to
            float32 `(batch, height, width)`), `heatmaps` in [0, 1], and `target_layers`
            naming the attention layers in the order they ran.

        Raises:
            ValueError: As `keras_cxr.explain.BaseAttribution.explain`; for cross-attention,
                an attention layer run twice, or tokens whose layout cannot be told.

        Example:
            >>> explanation = keras_cxr.explain.AttentionRollout(vit).explain(images)
            >>> explanation.target_layers
            ['block_0_attention', 'block_1_attention']
        """
        explanation = super().explain(images, class_index, threshold=threshold, inputs=inputs)
        return dataclasses.replace(explanation, target_layers=list(self._capture.ran))

    __call__ = explain

    # ------------------------------------------------------------------ internals
    def _explain_chunk(self, images, classes, others: tuple = ()) -> dict:
        compiled = self._compiled_for(self._attention_batch, images, others)
        result = compiled(images, classes, *others)
        return {key: to_numpy(value) for key, value in result.items()}

    def _attention_batch(self, images, class_index, *others):
        """Compiled: logits, resolved classes and the upsampled patch relevance."""

        def score(logits):
            return self._scores_of(logits, resolve_classes(logits, class_index))

        logits, probabilities, gradients = self._capture.run(
            lambda x: self._logits(x, others), images, score if self.needs_gradients else None
        )
        probabilities = [ops.cast(p, "float32") for p in probabilities]
        if gradients is not None:
            gradients = [ops.cast(g, "float32") for g in gradients]
        size = tuple(images.shape[1:3])
        layout = layout_of(int(probabilities[0].shape[-1]), size, self.layout)
        patches = patch_relevance(self.relevance(probabilities, gradients), layout)
        return {
            "attributions": hm.upsample(patches, size),
            "logits": logits,
            # Resolved outside the differentiated function (see BaseAttribution).
            "classes": resolve_classes(logits, class_index),
        }


def identity_like(probabilities):
    """The identity matrix, `(1, tokens, tokens)`, for a `(batch, heads, tokens, tokens)`
    attention tensor: where relevance starts before the first layer.

    Args:
        probabilities: One layer's attention probabilities.

    Returns:
        float32 `(1, tokens, tokens)`.

    Raises:
        Nothing of its own.

    Example:
        >>> import numpy as np
        >>> from keras_cxr.explain.base_attention import identity_like
        >>> np.asarray(identity_like(np.zeros((2, 4, 3, 3)))).shape
        (1, 3, 3)
    """
    return ops.eye(int(probabilities.shape[-1]), dtype="float32")[None]


__all__ = ["BaseAttention", "identity_like"]
