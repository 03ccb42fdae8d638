"""`AttentionCapture`: a model's attention probabilities (and their gradients) for a batch.

The attention explainers (`keras_cxr.explain.AttentionRollout`,
`keras_cxr.explain.AttentionGradient`) read the probabilities each
`keras.layers.MultiHeadAttention` of the model multiplies its values with, `(batch, heads,
tokens, tokens)`, in the order the layers run, and, for the gradient-weighted method, the
gradient of the explained score with respect to them. The layers are found anywhere in the
model (inside keras-hub blocks too) and watched while the model runs whole
(`keras_cxr._keras_internals.watched_attention`); the gradient comes from the backend's own
autodiff (`keras_cxr.backend.hooked_gradients`).
"""

from __future__ import annotations

from collections.abc import Callable

import keras
from keras import ops

from keras_cxr import backend
from keras_cxr._keras_internals import attention_layers, sublayers, watched_attention
from keras_cxr.explain.tokens import TokenLayout, layout_from_size


class AttentionCapture:
    """Run a model while recording its attention probabilities.

    Args:
        model: A Keras model with at least one `keras.layers.MultiHeadAttention` layer
            (self-attention over the same tokens in every layer).

    Returns:
        A capture; `layers` holds the attention layers found.

    Raises:
        ValueError: For a model without `MultiHeadAttention` layers (naming the attention
            layers of another kind it has, and, for windowed attention such as Swin's,
            why there is nothing to roll out), naming the CAMs as the alternative.

    Example:
        >>> capture = keras_cxr.explain.attention_capture.AttentionCapture(vit)
        >>> [layer.name for layer in capture.layers]
        ['block_0_attention', 'block_1_attention']
    """

    def __init__(self, model: keras.Model) -> None:
        self.model = model
        self.layers = attention_layers(model)
        if not self.layers:
            raise ValueError(_no_attention_message(model))
        #: Paths of the attention layers that ran, in the order they ran (set by `run`).
        self.ran: list[str] = []

    def run(
        self, forward: Callable, images, score: Callable | None = None
    ) -> tuple[object, list, list | None]:
        """Run `forward(images)` once, recording each attention layer's probabilities.

        Args:
            forward: Maps images to the logits (the model, or its logits part; it must
                call the model's attention layers).
            images: float32 `(batch, height, width, channels)`.
            score: `None` for no gradients, or a function from the logits to one score
                per image, differentiated w.r.t. the probabilities.

        Returns:
            `(logits, probabilities, gradients)`: the probabilities of each layer that
            ran, `(batch, heads, tokens, tokens)`, in the order they ran, and d(score)/d
            of each (`None` without `score`).

        Raises:
            ValueError: If no attention layer ran, a layer ran more than once (its
                weights shared between blocks), or a layer attends across token sets
                (cross-attention) or over other axes than the tokens.

        Example:
            >>> logits, probabilities, _ = capture.run(vit, images)
            >>> tuple(probabilities[0].shape)
            (3, 2, 17, 17)
        """

        def forward_watched(watch):
            order: list[int] = []

            def on_probabilities(index, probabilities):
                if index in order:
                    raise ValueError(
                        f"The attention layer `{self.layers[index].name}` ran more than once "
                        "in one forward pass (weights shared between blocks), so its "
                        "attention cannot be placed in the model's sequence of layers."
                    )
                self._check_square(self.layers[index], probabilities)
                watched = watch(len(order), probabilities)
                order.append(index)
                recorded.append(watched)
                return watched

            recorded: list = []
            with watched_attention(self.layers, on_probabilities):
                logits = forward(images)
            if not order:
                raise ValueError(
                    f"None of the attention layers of model `{self.model.name}` ran when it "
                    "was called, so there is no attention to explain."
                )
            self.ran = [_path(self.layers[index]) for index in order]
            return logits, recorded

        if score is None:
            logits, probabilities = forward_watched(lambda _, tensor: tensor)
            return logits, probabilities, None
        logits, probabilities, gradients = backend.hooked_gradients(forward_watched, score)
        return logits, list(probabilities), list(gradients)

    @staticmethod
    def _check_square(layer, probabilities) -> None:
        shape = tuple(probabilities.shape)
        if len(shape) != 4 or shape[2] != shape[3]:
            raise ValueError(
                f"The attention layer `{layer.name}` gives attention of shape {shape}; the "
                "attention explainers need self-attention over one token sequence, "
                "(batch, heads, tokens, tokens): no cross-attention and no `attention_axes`."
            )


def _path(layer) -> str:
    """The layer's path inside the model (keras-hub names every block's attention "mha")."""
    return getattr(layer, "path", None) or layer.name


def patch_relevance(relevance, layout: TokenLayout):
    """Each patch's relevance, `(batch, height, width)`, from a token-to-token matrix.

    The class token's row where the model has one (the head reads that token); the mean of
    all rows where it has none (the head pools every token). Class and register tokens'
    own columns are dropped, as `keras_cxr.explain.tokens` drops them.

    Args:
        relevance: `(batch, tokens, tokens)`; row `i` says how much each token contributes
            to token `i` after the last attention layer.
        layout: Where the patch tokens lie.

    Returns:
        float32 `(batch, layout.height, layout.width)`.

    Raises:
        Nothing of its own: the shapes are not checked.

    Example:
        >>> import numpy as np
        >>> from keras_cxr.explain.attention_capture import patch_relevance
        >>> from keras_cxr.explain.tokens import TokenLayout
        >>> relevance = np.eye(5, dtype="float32")[None] + np.arange(5.0)
        >>> np.asarray(patch_relevance(relevance, TokenLayout(1, 2, 2))).tolist()
        [[[1.0, 2.0], [3.0, 4.0]]]
    """
    relevance = ops.cast(relevance, "float32")
    rows = relevance[:, 0, :] if layout.extra else ops.mean(relevance, axis=1)
    return ops.reshape(rows[:, layout.extra :], (-1, layout.height, layout.width))


def _no_attention_message(model: keras.Model) -> str:
    """Why a model without `MultiHeadAttention` is refused, and what to use instead.

    A model may attend with layers of its own kind (keras-hub's Swin has `WindowAttention`):
    they are named, and windowed attention gets the reason there is nothing to roll out.
    """
    message = (
        f"Model `{model.name}` has no `keras.layers.MultiHeadAttention` layer, so there is no "
        "attention to explain it with."
    )
    kinds = sorted(
        {
            type(layer).__name__
            for layer in sublayers(model, recursive=True)
            if "attention" in type(layer).__name__.lower()
        }
    )
    if kinds:
        message = (
            f"Model `{model.name}` has no `keras.layers.MultiHeadAttention` layer; its "
            f"attention layers ({', '.join(f'`{kind}`' for kind in kinds)}) are of another "
            "kind, whose probabilities keras_cxr cannot read."
        )
    if any("window" in kind.lower() for kind in kinds):
        message += (
            " Windowed attention (Swin's shifted windows) attends only within local windows "
            "that move between blocks and merge between stages, so there is no one "
            "token-to-token attention matrix over the whole image to roll out or weight."
        )
    return (
        f"{message} Use a CAM (e.g. `keras_cxr.GradCAM` or `LayerCAM`, which also explain "
        "transformer tokens, Swin's included) or a pixel method instead."
    )


def layout_of(tokens: int, image_size: tuple[int, int], layout: TokenLayout | None):
    """The token layout to use: `layout` if given, else the one the image size implies.

    Args:
        tokens: The attention's token count.
        image_size: `(height, width)` of the images.
        layout: The user's `keras_cxr.explain.tokens.TokenLayout`, or `None`.

    Returns:
        A `TokenLayout` covering exactly `tokens` tokens.

    Raises:
        ValueError: If `layout` does not cover `tokens`, or no single layout fits (the
            message names `layout=`).

    Example:
        >>> from keras_cxr.explain.attention_capture import layout_of
        >>> layout_of(17, (16, 16), None)
        TokenLayout(extra=1, height=4, width=4)
    """
    found = layout if layout is not None else layout_from_size(tokens, image_size)
    if found is not None and found.extra + found.height * found.width == tokens:
        return found
    if layout is not None:
        raise ValueError(
            f"Invalid value received for argument `layout`. Expected a TokenLayout with "
            f"extra + height * width == {tokens}, the attention's token count. "
            f"Received: layout={layout!r}"
        )
    raise ValueError(
        f"Cannot tell how {tokens} attention tokens lie over {image_size[0]}x{image_size[1]} "
        "images (no single grid of square patches, after at most 9 class/register tokens, "
        "fits). Pass `layout=keras_cxr.explain.tokens.TokenLayout(extra, height, width)`."
    )


__all__ = ["AttentionCapture", "layout_of", "patch_relevance"]
