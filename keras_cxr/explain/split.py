"""Split a model at its target layers into a feature part and a (differentiable) head part.

Explaining costs one forward pass when the feature maps are computed once and gradients
are taken only through the layers *after* them. Both parts are Keras models over the same
layers (shared weights), built from the flattened graph of `keras_cxr.explain.graph`.
`logits_model` is the uncut model up to its logits, for the methods that differentiate
w.r.t. the image itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras

from keras_cxr.explain.graph import FlatGraph, GraphNode
from keras_cxr.explain.lean_functional import LeanFunctional

_SQUASHING = {"sigmoid", "softmax"}


@dataclass
class SplitModel:
    """The two halves of a model cut at its target layers.

    Targets on separate branches (one per backbone of a `StackedEnsemble`) share one head.
    Targets on one path (several blocks of one backbone, as LayerCAM fuses them) get one
    head each, from that target to the logits, since a head cut at a later target would
    stop the gradient of an earlier one there.

    Attributes:
        features: Model from the image to the list of target feature maps.
        heads: Models from some of the feature maps (followed by the image, when
            `heads_need_image` says so) to the logits of the explained output.
        head_targets: For each head, the indices (into the outputs of `features`) of the
            feature maps it takes, in order. Together they cover every target once.
        heads_need_image: For each head, whether some path to the output bypasses its
            targets, so that it also takes the image.
        activation: `"sigmoid"`, `"softmax"` or `None`: how logits become the model's
            output.

    Args:
        features, heads, head_targets, heads_need_image, activation: The attributes above.

    Returns:
        The dataclass; `split_model` makes it. `head` and `head_needs_image` are those of
        the first head.

    Raises:
        Nothing: no check of its own.

    Example:
        >>> split = keras_cxr.explain.split.split_model(graph, nodes, graph.outputs[0])
        >>> logits = split.head(split.features(images))
    """

    features: keras.Model
    heads: list[keras.Model]
    head_targets: list[tuple[int, ...]]
    heads_need_image: list[bool]
    activation: str | None

    @property
    def head(self) -> keras.Model:
        """The first head: enough to compute the logits from the feature maps."""
        return self.heads[0]

    @property
    def head_needs_image(self) -> bool:
        """Whether the first head also takes the image."""
        return self.heads_need_image[0]


def split_model(graph: FlatGraph, targets: list[GraphNode], output) -> SplitModel:
    """Cut the flat graph at `targets` and find the logits behind `output`.

    A final `Activation("sigmoid"|"softmax")` layer is skipped, and a final layer with a
    built-in sigmoid/softmax activation (e.g. `Dense(1, activation="sigmoid")`) is
    re-applied without it, so that the head returns pre-activation logits. Independent
    targets share one head; when one target feeds another, each gets its own head (the
    later layers are then run once per target, which costs more than one shared head).

    Args:
        graph: The flattened model.
        targets: Nodes whose outputs are the feature maps.
        output: The flat-graph output tensor being explained.

    Returns:
        A `SplitModel`.

    Raises:
        Nothing of its own: the targets were resolved in `graph`.

    Example:
        >>> graph = keras_cxr.explain.graph.flatten_model(model)
        >>> nodes = keras_cxr.explain.target_layers.resolve_layers(graph, None, graph.outputs[0])
        >>> split = keras_cxr.explain.split.split_model(graph, nodes, graph.outputs[0])
        >>> split.activation
        'sigmoid'
    """
    logits, activation = _logits_of(graph, output)
    target_tensors = [node.outputs[0] for node in targets]
    image = graph.inputs[0] if len(graph.inputs) == 1 else graph.inputs
    features = LeanFunctional(image, target_tensors, name="cam_features")
    if _on_one_path(graph, targets):
        groups = [(index,) for index in range(len(targets))]
    else:
        groups = [tuple(range(len(targets)))]
    heads, needs_image = [], []
    for number, group in enumerate(groups):
        cut = [target_tensors[index] for index in group]
        bypass = graph.ancestors([logits], stop=cut)
        needs_image.append(any(id(t) in bypass for t in graph.inputs))
        head_inputs = cut + (list(graph.inputs) if needs_image[-1] else [])
        name = "cam_head" if len(groups) == 1 else f"cam_head_{number}"
        heads.append(keras.Model(head_inputs, logits, name=name))
    return SplitModel(features, heads, groups, needs_image, activation)


def logits_model(graph: FlatGraph, output) -> tuple[keras.Model, str | None]:
    """The whole flat graph, from the image to the logits behind `output`.

    The pixel attribution methods differentiate it w.r.t. the image. The final sigmoid or
    softmax is taken off as in `split_model`.

    Args:
        graph: The flattened model; it must have a single input, the image.
        output: The flat-graph output tensor being explained.

    Returns:
        `(model, activation)`: a Keras model from the image to the logits (sharing the
        original layers), and `"sigmoid"`, `"softmax"` or `None`.

    Raises:
        ValueError: If the model has several inputs (only the image can be attributed).

    Example:
        >>> graph = keras_cxr.explain.graph.flatten_model(model)
        >>> logits, activation = keras_cxr.explain.split.logits_model(graph, graph.outputs[0])
        >>> activation
        'sigmoid'
    """
    if len(graph.inputs) != 1:
        raise ValueError(
            f"The model has {len(graph.inputs)} inputs; the pixel attribution methods "
            "explain a model whose only input is the image."
        )
    logits, activation = _logits_of(graph, output)
    return keras.Model(graph.inputs[0], logits, name="attribution_logits"), activation


def _on_one_path(graph: FlatGraph, targets: list[GraphNode]) -> bool:
    """Whether some target feeds another, so that they cannot share a head."""
    for later in targets:
        upstream = graph.ancestors(later.inputs)
        if any(e is not later and id(e.outputs[0]) in upstream for e in targets):
            return True
    return False


def _activation_name(function) -> str | None:
    name = getattr(function, "__name__", None)
    return name if name in _SQUASHING else None


def _logits_of(graph: FlatGraph, output):
    node = graph.producer(output)
    if node is None:
        return output, None
    if isinstance(node.layer, keras.layers.Activation):
        activation = _activation_name(node.layer.activation)
        if activation is not None:
            return node.inputs[0], activation
    activation = _activation_name(getattr(node.layer, "activation", None))
    if activation is not None and len(node.inputs) == 1:
        return WithoutActivation(node.layer)(node.inputs[0]), activation
    return output, None


class WithoutActivation(keras.layers.Layer):
    """Run a layer with its activation switched off, sharing its weights (never saved).

    Used for a final layer with a built-in sigmoid or softmax (`Dense(1,
    activation="sigmoid")`), so that the head returns its logits; the wrapped layer's
    activation is restored after every call.

    Args:
        layer: A layer with an `activation` attribute.

    Returns:
        A layer computing `layer` without its activation.

    Raises:
        Nothing: no check of its own.

    Example:
        >>> dense = keras.layers.Dense(1, activation="sigmoid")
        >>> logits = keras_cxr.explain.split.WithoutActivation(dense)(features)
    """

    def __init__(self, layer: keras.layers.Layer) -> None:
        super().__init__(name=f"{layer.name}_logits", dtype=layer.dtype_policy)
        self.wrapped = layer

    def call(self, inputs):
        """The wrapped layer's `call` with a linear activation.

        Args:
            inputs: The wrapped layer's input.

        Returns:
            Its pre-activation output.

        Raises:
            Exception: Whatever the wrapped layer raises.

        Example:
            >>> logits = wrapper(features)
        """
        activation = self.wrapped.activation
        self.wrapped.activation = keras.activations.linear
        try:
            return self.wrapped.call(inputs)
        finally:
            self.wrapped.activation = activation

    def compute_output_shape(self, input_shape):
        """The wrapped layer's output shape (the activation does not change it).

        Args:
            input_shape: The input shape.

        Returns:
            The output shape.

        Raises:
            Exception: Whatever the wrapped layer raises.

        Example:
            >>> wrapper.compute_output_shape((None, 8))
            (None, 1)
        """
        return self.wrapped.compute_output_shape(input_shape)
