"""Transformer tokens as feature maps: `(batch, tokens, channels)` laid back on the patch grid.

A vision transformer has no 4-D feature map after its patch embedding: each block maps
`(batch, tokens, channels)` to the same, the first tokens being class (and register) tokens
and the rest one token per patch, row by row. A CAM explains such a tensor once its patch
tokens are put back on their grid. The grid is read from the model, not hard-coded: it is
the size of the last 4-D map the tokens come from (the patch embedding's output,
`image size / patch size`), and the tokens beyond `height · width` are the leading class
and register tokens, which are dropped. A layout this cannot infer takes a `reshape=`
function instead (as pytorch-grad-cam's `reshape_transform`).

The automatic target of a transformer is the query of its last `MultiHeadAttention`
(the last block's first normalisation): after that attention, the class token alone
carries the gradient to the head, and the patch tokens of later layers get none.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import keras
from keras import ops

from keras_cxr._keras_internals import attention_layers
from keras_cxr.explain.graph import FlatGraph, GraphNode

#: Most leading non-patch tokens accepted (a class token and up to 8 register tokens).
MAX_EXTRA_TOKENS = 9


@dataclass(frozen=True)
class TokenLayout:
    """Where the patch tokens of a `(batch, tokens, channels)` tensor lie.

    Attributes:
        extra: Leading class and register tokens, dropped.
        height, width: The patch grid; tokens `extra:` are its cells, row by row.

    Args:
        extra, height, width: The attributes above.

    Returns:
        The record; `token_layout` makes it.

    Raises:
        Nothing: no check of its own.

    Example:
        >>> from keras_cxr.explain.tokens import TokenLayout
        >>> TokenLayout(extra=1, height=14, width=14).height
        14
    """

    extra: int
    height: int
    width: int

    def to_grid(self, tokens):
        """`(batch, extra + height · width, channels)` → `(batch, height, width, channels)`.

        Args:
            tokens: The token tensor (activations or their gradients).

        Returns:
            Its patch tokens on the grid.

        Raises:
            ValueError: From `keras.ops.reshape`, for a tensor of another layout.

        Example:
            >>> import numpy as np
            >>> from keras_cxr.explain.tokens import TokenLayout
            >>> tokens = np.arange(10, dtype="float32").reshape(1, 5, 2)
            >>> grid = TokenLayout(1, 2, 2).to_grid(tokens)
            >>> keras.ops.convert_to_numpy(grid)[0, 1, 0].tolist()  # token 1 + 2 = 3
            [6.0, 7.0]
        """
        patches = tokens[:, self.extra :, :]
        return ops.reshape(patches, (-1, self.height, self.width, tokens.shape[-1]))


def token_layout(graph: FlatGraph, tensor) -> TokenLayout | None:
    """The layout of a `(batch, tokens, channels)` tensor, or `None` if it cannot be told.

    The grid is the `(height, width)` of the last 4-D tensor that `tensor` depends on (the
    patch embedding's output); the tokens beyond it must be at most `MAX_EXTRA_TOKENS`.
    Where no 4-D tensor feeds it (a patch embedding inside one layer, as in keras-hub),
    the grid is the one the image size implies (`layout_from_size`).

    Args:
        graph: The flattened model.
        tensor: One of its tensors.

    Returns:
        A `TokenLayout`, or `None` for a tensor that is not 3-D, has no fixed token count,
        or no grid that fits.

    Raises:
        Nothing: no check of its own.

    Example:
        >>> graph = keras_cxr.explain.graph.flatten_model(vit)  # a 16-px ViT, 4-px patches
        >>> norm = next(n for n in graph.nodes if n.path == "block_1_norm1")
        >>> keras_cxr.explain.tokens.token_layout(graph, norm.outputs[0])
        TokenLayout(extra=1, height=4, width=4)
    """
    if len(tensor.shape) != 3 or tensor.shape[1] is None:
        return None
    feeding = graph.ancestors([tensor])
    grids = [
        node.outputs[0]
        for node in graph.nodes
        if not node.is_model
        and len(node.outputs) == 1
        and len(node.outputs[0].shape) == 4
        and id(node.outputs[0]) in feeding
    ]
    if not grids:  # the patch embedding is one layer (keras-hub): the image size tells
        image = graph.inputs[0].shape if len(graph.inputs) == 1 else ()
        if len(image) != 4 or None in image[1:3]:
            return None
        return layout_from_size(int(tensor.shape[1]), (int(image[1]), int(image[2])))
    if None in grids[-1].shape[1:3]:
        return None
    height, width = (int(side) for side in grids[-1].shape[1:3])
    extra = int(tensor.shape[1]) - height * width
    return TokenLayout(extra, height, width) if 0 <= extra <= MAX_EXTRA_TOKENS else None


def layout_from_size(tokens: int, image_size: tuple[int, int]) -> TokenLayout | None:
    """The layout of `tokens` tokens over an image of `image_size`, from arithmetic alone.

    For models whose patch embedding is hidden inside one layer (keras-hub's ViT), so that
    no 4-D map shows the grid: the patch tokens must tile the image with square patches
    (`height / grid height == width / grid width`, both whole numbers, at least 2 × 2
    cells), after at most `MAX_EXTRA_TOKENS` leading class and register tokens.

    Args:
        tokens: The token count (class and register tokens included).
        image_size: `(height, width)` of the images.

    Returns:
        The one `TokenLayout` that fits, or `None` where none or several fit.

    Raises:
        Nothing: no check of its own.

    Example:
        >>> keras_cxr.explain.tokens.layout_from_size(197, (224, 224))  # ViT-B/16
        TokenLayout(extra=1, height=14, width=14)
        >>> keras_cxr.explain.tokens.layout_from_size(261, (224, 224))  # 4 registers, 14 px
        TokenLayout(extra=5, height=16, width=16)
    """
    image_height, image_width = image_size
    fits = []
    for extra in range(min(MAX_EXTRA_TOKENS, tokens) + 1):
        for height in range(2, image_height + 1):
            cells = tokens - extra
            if image_height % height or cells % height:
                continue
            width = cells // height
            if (
                width >= 2
                and image_width % width == 0
                and (image_height // height == image_width // width)
            ):
                fits.append(TokenLayout(extra, height, width))
    return fits[0] if len(fits) == 1 else None


def last_attention_query(graph: FlatGraph, output) -> GraphNode | None:
    """The node whose output is the query of the last `MultiHeadAttention` feeding `output`.

    Args:
        graph: The flattened model.
        output: The flat-graph output tensor being explained.

    Returns:
        The node (e.g. the last block's first `LayerNormalization`; where the attention
        layers are hidden inside one layer, as keras-hub's `ViTEncoder`, the node feeding
        the last such layer), or `None` for a model without attention, or whose query has
        no token layout.

    Raises:
        Nothing: no check of its own.

    Example:
        >>> graph = keras_cxr.explain.graph.flatten_model(vit)
        >>> keras_cxr.explain.tokens.last_attention_query(graph, graph.outputs[0]).path
        'block_1_norm1'
    """
    feeding = graph.ancestors([output])
    attending = [
        node
        for node in graph.nodes
        if node.inputs and any(id(t) in feeding for t in node.outputs) and _attends(node)
    ]
    # Attention layers in the graph; else the last layer holding them (a keras-hub block
    # or encoder), whose input is then the target.
    direct = [n for n in attending if isinstance(n.layer, keras.layers.MultiHeadAttention)]
    for node in reversed(direct or attending):
        query = graph.producer(node.inputs[0])
        if query is None or len(query.outputs) != 1 or query.is_model:
            return None
        return query if token_layout(graph, query.outputs[0]) is not None else None
    return None


def _attends(node: GraphNode) -> bool:
    """Whether the node's layer is or holds a `MultiHeadAttention` (not a whole model)."""
    if node.is_model or not isinstance(node.layer, keras.layers.Layer):
        return False
    return bool(attention_layers(node.layer))


def grid_function(graph: FlatGraph, node: GraphNode, reshape: Callable | None) -> Callable:
    """The function that turns a target's output (or its gradient) into a 4-D map.

    Args:
        graph: The flattened model.
        node: A target node.
        reshape: The user's `reshape=` function, or `None`.

    Returns:
        `reshape` if given; the identity for a 4-D output; `TokenLayout.to_grid` for tokens.

    Raises:
        ValueError: For a target that is neither 4-D nor tokens with a known layout, naming
            `reshape=`.

    Example:
        >>> to_grid = keras_cxr.explain.tokens.grid_function(graph, node, None)
        >>> tuple(to_grid(node.outputs[0]).shape)
        (None, 4, 4, 8)
    """
    if reshape is not None:
        return reshape
    tensor = node.outputs[0]
    if len(tensor.shape) == 4:
        return _identity
    layout = token_layout(graph, tensor)
    if layout is None:
        raise ValueError(
            f"The layer `{node.path}` outputs {tuple(tensor.shape)}, neither a 4-D feature "
            "map (batch, height, width, channels) nor transformer tokens whose patch grid "
            "can be read from the model (at most "
            f"{MAX_EXTRA_TOKENS} leading class/register tokens before a grid of the patch "
            "embedding's size). Pass `reshape=` a function from its output to "
            "(batch, height, width, channels), e.g. "
            "`lambda t: keras.ops.reshape(t[:, 1:], (-1, 14, 14, t.shape[-1]))`."
        )
    return layout.to_grid


def _identity(tensor):
    return tensor


__all__ = [
    "TokenLayout",
    "grid_function",
    "last_attention_query",
    "layout_from_size",
    "token_layout",
]
