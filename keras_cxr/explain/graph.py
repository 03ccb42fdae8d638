"""Flatten nested Keras models into one symbolic graph, so any inner layer can be a target.

The keras.io Grad-CAM recipe builds `keras.Model(model.inputs, model.get_layer(name).output)`,
which fails ("Graph disconnected") as soon as the layer lives inside a nested backbone: its
output tensor belongs to the backbone's own graph. Here the outer model's graph is re-run on
fresh inputs and every nested Functional or Sequential model is *inlined* instead of called,
so the tensors of inner layers become tensors of one flat graph, named by their path
(`"stacked_backbones/densenet169/relu"`). Layers are called again, not copied: weights are
shared with the original model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import keras
from keras import tree

from keras_cxr._keras_internals import call_has_training_arg, functional_graph, graph_steps


@dataclass
class GraphNode:
    """One call of a layer (or op) in the flattened graph.

    Attributes:
        path: Names from the outermost model down to the layer, joined by `/`.
        layer: The Keras layer or operation that was called.
        outputs: Its output tensors in the flat graph.
        inputs: Its input tensors in the flat graph.
        is_model: Whether this node stands for a whole nested model (its outputs are
            those of the model's last inner layers).

    Args:
        path, layer, outputs, inputs, is_model: The attributes above.

    Returns:
        A plain record; `flatten_model` makes one per layer call.

    Raises:
        Nothing: no field is checked.

    Example:
        >>> node = keras_cxr.explain.graph.flatten_model(model).nodes[-1]
        >>> node.path, node.layer.name, node.is_model
    """

    path: str
    layer: Any
    outputs: list
    inputs: list
    is_model: bool = False


@dataclass
class FlatGraph:
    """A model's computation with nested models inlined.

    Attributes:
        inputs: Fresh `keras.Input` tensors standing for the model's inputs.
        outputs: The flat graph's tensors for the model's outputs.
        nodes: Every layer call, in execution (topological) order.

    Args:
        inputs, outputs, nodes: The attributes above; `flatten_model` builds them.

    Returns:
        The graph, with its nodes indexed by output tensor for `producer`.

    Raises:
        Nothing of its own: the nodes are taken as they are.

    Example:
        >>> graph = keras_cxr.explain.graph.flatten_model(model)
        >>> graph.producer(graph.outputs[0]).path
    """

    inputs: list
    outputs: list
    nodes: list[GraphNode] = field(default_factory=list)

    def producer(self, tensor) -> GraphNode | None:
        """The innermost layer call that produced `tensor`, or `None` for an input.

        Args:
            tensor: A tensor of this flat graph.

        Returns:
            Its `GraphNode`, or `None` for a graph input or a foreign tensor.

        Raises:
            Nothing: no check of its own.

        Example:
            >>> graph.producer(graph.outputs[0]).layer.name
        """
        return self._producers.get(id(tensor))

    def __post_init__(self) -> None:
        self._producers: dict[int, GraphNode] = {}
        for node in self.nodes:
            if node.is_model:
                continue
            for tensor in node.outputs:
                self._producers[id(tensor)] = node

    def ancestors(self, tensors: Sequence, stop: Sequence = ()) -> set[int]:
        """Ids of every tensor that `tensors` depend on (themselves included).

        Args:
            tensors: Flat-graph tensors to start from.
            stop: Tensors at which the walk stops (they are included, their inputs not).

        Returns:
            A set of `id(tensor)`.

        Raises:
            Nothing: no check of its own.

        Example:
            >>> feeding = graph.ancestors(graph.outputs)
            >>> id(graph.inputs[0]) in feeding
            True
        """
        stop_ids = {id(t) for t in stop}
        seen: set[int] = set()
        pending = list(tensors)
        while pending:
            tensor = pending.pop()
            if id(tensor) in seen:
                continue
            seen.add(id(tensor))
            node = self.producer(tensor)
            if node is not None and id(tensor) not in stop_ids:
                pending.extend(node.inputs)
        return seen


def flatten_model(model: keras.Model) -> FlatGraph:
    """Re-run `model`'s graph on fresh inputs with every nested model inlined.

    Args:
        model: A Functional or Sequential Keras model (possibly loaded from `.keras`).

    Returns:
        The `FlatGraph`.

    Raises:
        ValueError: If the model has no graph (a subclassed model, or a Sequential model
            that was never built); pass its layer explicitly to `keras_cxr.GradCAM`, which
            then explains it through a forward hook instead.
        RuntimeError: If the installed Keras lacks an internal that
            `keras_cxr._keras_internals` relies on.

    Example:
        >>> graph = keras_cxr.explain.graph.flatten_model(model)
        >>> [node.path for node in graph.nodes][-2:]
        ['logits', 'predictions']
    """
    graph = functional_graph(model)
    if graph is None:
        raise ValueError(
            f"Model `{model.name}` ({type(model).__name__}) has no Functional graph to "
            "inline (subclassed models and unbuilt Sequential models have none)."
        )
    inputs = [
        keras.Input(batch_shape=tensor.shape, dtype=tensor.dtype, name=f"flat_{index}")
        for index, tensor in enumerate(graph.inputs)
    ]
    nodes: list[GraphNode] = []
    outputs = _inline(graph, inputs, "", nodes, owners={})
    return FlatGraph(inputs=inputs, outputs=outputs, nodes=nodes)


def _inline(graph, inputs: list, prefix: str, nodes: list[GraphNode], owners: dict) -> list:
    tensor_map = {id(ref): new for ref, new in zip(graph.inputs, inputs)}
    for step in graph_steps(graph):
        if any(id(t) not in tensor_map for t in step.inputs):
            continue
        args, kwargs = step.arguments(tensor_map)
        layer = step.operation
        path = prefix + layer.name
        inner = functional_graph(layer)
        call_inputs = [
            t
            for t in tree.flatten((args, kwargs))
            if keras.ops.is_tensor(t) or isinstance(t, keras.KerasTensor)
        ]
        if inner is not None:
            outputs = _inline(inner, call_inputs, path + "/", nodes, owners)
            nodes.append(GraphNode(path, layer, list(outputs), call_inputs, is_model=True))
        else:
            outputs = tree.flatten(_uniquely_named(layer, path, owners)(*args, **kwargs))
            nodes.append(GraphNode(path, layer, list(outputs), call_inputs))
        for ref, new in zip(step.outputs, outputs):
            tensor_map[id(ref)] = new
    return [tensor_map[id(ref)] for ref in graph.outputs]


def _uniquely_named(layer, path: str, owners: dict):
    """`layer`, or an alias of it under a unique name if another layer took its name.

    A Functional model needs unique operation names, but two nested backbones often
    share inner layer names (DenseNet121 and DenseNet169 both have a `conv1_conv`). Once
    inlined into one graph, the second layer of a name is called through an `_Alias`
    named after its path; it shares the layer's weights.
    """
    owner = owners.setdefault(layer.name, id(layer))
    if owner == id(layer):
        return layer
    alias_name = path.replace("/", "__")
    while alias_name in owners:
        alias_name += "_"
    owners[alias_name] = id(layer)
    return _Alias(layer, alias_name)


class _Alias(keras.layers.Layer):
    """Calls another layer under a different name, sharing its weights (never saved)."""

    def __init__(self, layer: keras.layers.Layer, name: str) -> None:
        super().__init__(name=name, dtype=layer.dtype_policy)
        self.wrapped = layer
        self.pass_training = call_has_training_arg(layer)

    def call(self, *args, training=None, **kwargs):
        if self.pass_training:
            kwargs["training"] = training
        return self.wrapped(*args, **kwargs)

    def compute_output_spec(self, *args, **kwargs):
        kwargs.pop("training", None)
        return self.wrapped.compute_output_spec(*args, **kwargs)


__all__ = ["FlatGraph", "GraphNode", "flatten_model"]
