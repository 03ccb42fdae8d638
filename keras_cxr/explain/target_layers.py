"""Choosing the layers to explain: automatic search, or resolution of names, paths and objects.

`find_last_spatial` picks the last feature map of each branch (what the CAMs explain by
default); `block_layers` picks the ends of the last few resolution stages of each branch,
for the multi-layer fusion of LayerCAM.
"""

from __future__ import annotations

from typing import Any

import keras

from keras_cxr._validation import check_int
from keras_cxr.explain._inputs import output_index
from keras_cxr.explain.graph import FlatGraph, GraphNode, flatten_model
from keras_cxr.explain.tokens import last_attention_query, token_layout

LayerSpec = Any  # str | keras.layers.Layer | Sequence of those


def is_spatial(tensor) -> bool:
    """Whether `tensor` is a 4-D feature map with more than one spatial position.

    Unknown (dynamic) height or width counts as spatial.

    Args:
        tensor: A symbolic or eager tensor.

    Returns:
        `True` for `(batch, h, w, c)` with `h · w > 1` or unknown.

    Raises:
        Nothing: no check of its own.

    Example:
        >>> keras_cxr.explain.target_layers.is_spatial(keras.Input((7, 7, 32)))
        True
        >>> keras_cxr.explain.target_layers.is_spatial(keras.Input((1, 1, 32)))
        False
    """
    shape = tensor.shape
    if len(shape) != 4:
        return False
    height, width = shape[1], shape[2]
    return height is None or width is None or height * width > 1


def spatial_nodes(graph: FlatGraph) -> list[GraphNode]:
    """Layer calls whose output is a spatial feature map, in graph order.

    Args:
        graph: The flattened model.

    Returns:
        The `GraphNode`s of single-output layer calls (not whole nested models) whose output
        passes `is_spatial`.

    Raises:
        Nothing: no check of its own.

    Example:
        >>> graph = keras_cxr.explain.graph.flatten_model(model)
        >>> [n.path for n in keras_cxr.explain.target_layers.spatial_nodes(graph)][-1]
    """
    return [
        node
        for node in graph.nodes
        if not node.is_model and len(node.outputs) == 1 and is_spatial(node.outputs[0])
    ]


def find_last_spatial(graph: FlatGraph, output) -> list[GraphNode]:
    """The final spatial feature map of every branch that feeds `output`.

    A feature map qualifies when (1) `output` depends on it, (2) no other spatial map lies
    between it and `output` (it is the *last* one on its branch: DenseNet's `relu`, not
    its last `Conv2D`) and (3) it has learned weights somewhere upstream (so that a
    preprocessing layer applied to the raw image never counts). A model whose branches
    end in separate maps (`StackedEnsemble`) gets one target per branch.

    Args:
        graph: The flattened model.
        output: The flat-graph output tensor being explained.

    Returns:
        Graph nodes in graph order; empty when the model has no spatial layer.

    Raises:
        Nothing of its own: an empty list is the caller's to report.

    Example:
        >>> graph = keras_cxr.explain.graph.flatten_model(model)
        >>> nodes = keras_cxr.explain.target_layers.find_last_spatial(graph, graph.outputs[0])
        >>> [node.path for node in nodes]
        ['stacked_backbones/mobilenet_v2/out_relu', 'stacked_backbones/densenet169/relu']
    """
    feeding = graph.ancestors([output])
    has_spatial_below: set[int] = set()
    for node in reversed(graph.nodes):  # consumers before producers
        if node.is_model or not any(id(t) in feeding for t in node.outputs):
            continue
        if any(is_spatial(t) or id(t) in has_spatial_below for t in node.outputs):
            has_spatial_below.update(id(t) for t in node.inputs)
    weighted = _tensors_below_weights(graph)
    found = [
        node
        for node in spatial_nodes(graph)
        if id(node.outputs[0]) in feeding
        and id(node.outputs[0]) not in has_spatial_below
        and id(node.outputs[0]) in weighted
    ]
    rank = _branch_order(graph, output)
    return sorted(found, key=lambda node: rank.get(id(node.outputs[0]), len(rank)))


def find_last_tokens(graph: FlatGraph, output) -> GraphNode | None:
    """The last layer whose output is patch tokens alone, for models without 4-D maps.

    A windowed transformer such as keras-hub's Swin keeps its features as `(batch, tokens,
    channels)` from the patch embedding to the head, its grid shrinking at each patch
    merging, and pools every token; its last token tensor is what the last feature map is
    to a CNN. The last 3-D tensor feeding `output` with learned weights upstream is taken
    when its tokens tile the image on their own (`keras_cxr.explain.tokens.token_layout`
    with no class or register token, the grid read afresh at each stage). A tensor that
    leads with class tokens is not: a head reading the class token gives the patch tokens
    after the last attention no gradient (`last_attention_query` is the target there).

    Args:
        graph: The flattened model.
        output: The flat-graph output tensor being explained.

    Returns:
        The node, or `None` where the last token tensor has no patch grid of its own or
        there is none.

    Raises:
        Nothing: no check of its own.

    Example:
        >>> graph = keras_cxr.explain.graph.flatten_model(swin)  # a 32-px Swin, 2 stages
        >>> keras_cxr.explain.target_layers.find_last_tokens(graph, graph.outputs[0]).path
        'swin_transformer_backbone/norm'
    """
    feeding = graph.ancestors([output])
    weighted = _tensors_below_weights(graph)
    for node in reversed(graph.nodes):
        if node.is_model or len(node.outputs) != 1 or len(node.outputs[0].shape) != 3:
            continue
        tensor = node.outputs[0]
        if id(tensor) not in feeding or id(tensor) not in weighted:
            continue
        layout = token_layout(graph, tensor)
        if layout is not None:
            return node if layout.extra == 0 else None
    return None


def block_layers(model: keras.Model, n: int = 3, output: int | str | None = None) -> list[str]:
    """The outputs of the last `n` resolution stages of every branch, for multi-layer CAMs.

    A stage is a run of feature maps of one spatial size; its end is the last map of that
    size that every path from the image to the branch's final map passes through (a
    block's output, not a layer inside one of its side branches). Maps that grow (zero
    padding before a strided convolution) are no stage of their own. The deepest stage ends
    at the map `find_last_spatial` picks. Passed as `layer=` to `keras_cxr.LayerCAM`,
    they give one map per stage, fused into one: the shallow stages add detail at their
    finer resolution (Jiang et al.). Each stage gets the gradient through all the layers
    after it (`keras_cxr.explain.split`), so the cost grows with `n`.

    Args:
        model: A Functional or Sequential model with a fixed input size.
        n: Stages per branch, an integer >= 1; a branch with fewer stages gives them all.
            Defaults to 3.
        output: For models with several outputs, the output's index or name. Defaults to
            the first.

    Returns:
        Layer paths, branch by branch (in the order `find_last_spatial` gives them), each
        branch's stages from shallow to deep.

    Raises:
        ValueError: For a model without a graph (subclassed) or without spatial layers, a
            bad `n` or `output`, or a model whose feature-map sizes are not fixed.

    Example:
        >>> layers = keras_cxr.explain.block_layers(model, n=3)
        >>> explanation = keras_cxr.LayerCAM(model, layer=layers).explain(images)
        >>> len(explanation.layer_heatmaps) == len(layers)
        True

    Reference:
        Jiang et al., "LayerCAM: Exploring Hierarchical Class Activation Maps for
        Localization", IEEE TIP 30, 2021 (maps of several stages of one network, fused).
    """
    n = check_int("n", n)
    graph = flatten_model(model)
    output_tensor = graph.outputs[output_index(model, output)]
    branches = resolve_layers(graph, None, output_tensor)
    weighted = _tensors_below_weights(graph)
    return [node.path for last in branches for node in _stage_ends(graph, last, weighted)[-n:]]


def _stage_ends(graph: FlatGraph, last: GraphNode, weighted: set[int]) -> list[GraphNode]:
    """The last node of each run of one spatial size among the maps that `last` cannot be
    reached without (its dominators, which lie in one chain), in graph order. A map larger
    than the one before it is padding for a strided layer, not a stage of its own."""
    feeding = graph.ancestors([last.outputs[0]])
    ends: list[GraphNode] = []
    previous_size = None
    for node in spatial_nodes(graph):
        tensor = node.outputs[0]
        if id(tensor) not in feeding or id(tensor) not in weighted:
            continue
        bypass = graph.ancestors([last.outputs[0]], stop=[tensor])
        if any(id(image) in bypass for image in graph.inputs):
            continue
        size = tuple(tensor.shape[1:3])
        if None in size:
            raise ValueError(
                f"The feature map `{node.path}` has no fixed size {size}, so its stages "
                "cannot be told apart. Build the model with a fixed input size, or pass "
                "the layers to explain by name."
            )
        if previous_size is not None and (size[0] > previous_size[0] or size[1] > previous_size[1]):
            continue  # zero padding before a strided layer (MobileNet's block_13_pad)
        if size == previous_size:
            ends[-1] = node
        else:
            ends.append(node)
        previous_size = size
    return ends


def _branch_order(graph: FlatGraph, output) -> dict[int, int]:
    """Rank tensors by a depth-first walk from the output that follows inputs in order.

    So branches come out in the order the model combines them (the order of the
    backbones in a `Concatenate`), not in the order Keras happens to run them.
    """
    rank: dict[int, int] = {}
    pending = [output]
    while pending:
        tensor = pending.pop()
        if id(tensor) in rank:
            continue
        rank[id(tensor)] = len(rank)
        node = graph.producer(tensor)
        if node is not None:
            pending.extend(reversed(node.inputs))
    return rank


def _tensors_below_weights(graph: FlatGraph) -> set[int]:
    """Ids of tensors computed by, or downstream of, a layer that has weights."""
    weighted: set[int] = set()
    for node in graph.nodes:
        if node.is_model:
            continue
        has_weights = bool(getattr(node.layer, "weights", None))
        if has_weights or any(id(t) in weighted for t in node.inputs):
            weighted.update(id(t) for t in node.outputs)
    return weighted


def resolve_layers(graph: FlatGraph, spec: LayerSpec, output) -> list[GraphNode]:
    """Turn a user's layer choice into flat-graph nodes.

    Args:
        graph: The flattened model.
        spec: `None` (automatic, see `find_last_spatial`), a layer name (`"out_relu"`),
            a path or path suffix through nested models (`"densenet169/relu"`), a layer or
            nested-model object, or a list of these.
        output: The flat-graph output being explained.

    Returns:
        One node per target, each with a single 4-D output, or a 3-D one of transformer
        tokens: automatically the query of the last `MultiHeadAttention`
        (`keras_cxr.explain.tokens.last_attention_query`) when the model has one after
        its last 4-D map, else, for a model with neither, its last patch tokens
        (`find_last_tokens`: a windowed transformer such as Swin).

    Raises:
        ValueError: If a name matches nothing or several layers, a layer is not part of the
            model, a chosen layer's output is neither a 4-D feature map nor 3-D tokens, or
            the model has no spatial layer at all. The message lists the candidate layers.

    Example:
        >>> graph = keras_cxr.explain.graph.flatten_model(model)
        >>> nodes = keras_cxr.explain.target_layers.resolve_layers(
        ...     graph, "densenet169/relu", graph.outputs[0]
        ... )
        >>> nodes[0].path
        'stacked_backbones/densenet169/relu'
    """
    if spec is None:
        nodes = find_last_spatial(graph, output)
        query = last_attention_query(graph, output)
        if query is not None and _all_feed(graph, nodes, query):
            return [query]  # a transformer: its tokens, after the patch embedding
        tokens = None if nodes else find_last_tokens(graph, output)
        if tokens is not None:
            return [tokens]  # a windowed transformer (Swin): its last patch tokens
        if not nodes:
            raise ValueError(
                "Found no spatial (4-D) feature map nor patch tokens feeding the model "
                "output, so there is nothing to explain with a class activation map. Pass "
                "`layer=` explicitly "
                "(for a transformer whose blocks are single layers, the input of its last "
                "block, with `reshape=` if its token grid cannot be read from the model). "
                f"Candidate layers: {_candidates(graph)}"
            )
        return nodes
    specs = list(spec) if isinstance(spec, (list, tuple)) else [spec]
    if not specs:
        raise ValueError("`layer` is an empty list; pass None to choose layers automatically.")
    return [_resolve_one(graph, item) for item in specs]


def _resolve_one(graph: FlatGraph, item: Any) -> GraphNode:
    if isinstance(item, str):
        matches = _match_path(graph, item)
        described = f"layer `{item}`"
    elif isinstance(item, (keras.layers.Layer, keras.Operation)):
        matches = _last_call_per_path([n for n in graph.nodes if n.layer is item])
        described = f"layer object `{item.name}`"
    else:
        raise ValueError(
            "Invalid value received for argument `layer`. Expected None, a layer name, a "
            f"path like 'densenet169/relu', a layer object or a list of these. Received: "
            f"layer={item!r}"
        )
    if not matches:
        raise ValueError(
            f"Could not find {described} in the model. Candidate layers: {_candidates(graph)}"
        )
    if len(matches) > 1:
        raise ValueError(
            f"The {described} is ambiguous; it matches {sorted(n.path for n in matches)}. "
            "Use a longer path."
        )
    node = matches[0]
    if len(node.outputs) != 1 or len(node.outputs[0].shape) not in (3, 4):
        shape = [tuple(t.shape) for t in node.outputs]
        raise ValueError(
            f"The {described} ({node.path}) outputs {shape}, not a 4-D feature map "
            f"(batch, height, width, channels) nor transformer tokens (batch, tokens, "
            f"channels). Candidate layers: {_candidates(graph)}"
        )
    return node


def _all_feed(graph: FlatGraph, nodes: list[GraphNode], target: GraphNode) -> bool:
    """Whether every node's output is upstream of `target`'s (so `target` is later)."""
    upstream = graph.ancestors(target.outputs)
    return all(id(node.outputs[0]) in upstream for node in nodes)


def _match_path(graph: FlatGraph, text: str) -> list[GraphNode]:
    wanted = [part for part in text.strip("/").split("/") if part]
    exact = [n for n in graph.nodes if n.path.split("/") == wanted]
    if exact:
        return _last_call_per_path(exact)
    return _last_call_per_path(
        [n for n in graph.nodes if n.path.split("/")[-len(wanted) :] == wanted]
    )


def _last_call_per_path(nodes: list[GraphNode]) -> list[GraphNode]:
    by_path: dict[str, GraphNode] = {}
    for node in nodes:
        by_path[node.path] = node
    return list(by_path.values())


def _candidates(graph: FlatGraph, limit: int = 12) -> list[str]:
    paths = [node.path for node in spatial_nodes(graph)]
    return paths[-limit:] if paths else ["(none: the model has no 4-D feature maps)"]
