"""Split a model at its target layers into a feature part and a (differentiable) head part.

Explaining costs one forward pass when the feature maps are computed once and gradients
are taken only through the layers *after* them. Both parts are Keras models over the same
layers (shared weights), built from the flattened graph of `keras_cxr.explain.graph`.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras

from keras_cxr.explain.graph import FlatGraph, GraphNode

_SQUASHING = {"sigmoid", "softmax"}


@dataclass
class SplitModel:
    """The two halves of a model cut at its target layers.

    Attributes:
        features: Model from the image to the list of target feature maps.
        head: Model from the feature maps (followed by the image, when `head_needs_image`)
            to the logits of the explained output.
        head_needs_image: Whether some path to the output bypasses every target layer, so
            that the head also takes the image.
        activation: `"sigmoid"`, `"softmax"` or `None`: how logits become the model's
            output.

    Args:
        features, head, head_needs_image, activation: The attributes above.

    Returns:
        The dataclass; `split_model` makes it.

    Raises:
        Nothing: no check of its own.

    Example:
        >>> split = keras_cxr.explain.split.split_model(graph, nodes, graph.outputs[0])
        >>> logits = split.head(split.features(images))
    """

    features: keras.Model
    head: keras.Model
    head_needs_image: bool
    activation: str | None


def split_model(graph: FlatGraph, targets: list[GraphNode], output) -> SplitModel:
    """Cut the flat graph at `targets` and find the logits behind `output`.

    A final `Activation("sigmoid"|"softmax")` layer is skipped, and a final layer with a
    built-in sigmoid/softmax activation (e.g. `Dense(1, activation="sigmoid")`) is
    re-applied without it, so that the head returns pre-activation logits.

    Args:
        graph: The flattened model.
        targets: Nodes whose outputs are the feature maps.
        output: The flat-graph output tensor being explained.

    Returns:
        A `SplitModel`.

    Raises:
        ValueError: If one target feeds another: the head would start at the later one,
            so no gradient could reach the earlier one.

    Example:
        >>> graph = keras_cxr.explain.graph.flatten_model(model)
        >>> nodes = keras_cxr.explain.target_layers.resolve_layers(graph, None, graph.outputs[0])
        >>> split = keras_cxr.explain.split.split_model(graph, nodes, graph.outputs[0])
        >>> split.activation
        'sigmoid'
    """
    logits, activation = _logits_of(graph, output)
    target_tensors = [node.outputs[0] for node in targets]
    _check_independent(graph, targets)
    bypass = graph.ancestors([logits], stop=target_tensors)
    head_needs_image = any(id(t) in bypass for t in graph.inputs)
    image = graph.inputs[0] if len(graph.inputs) == 1 else graph.inputs
    features = keras.Model(image, target_tensors, name="cam_features")
    head_inputs = target_tensors + (list(graph.inputs) if head_needs_image else [])
    head = keras.Model(head_inputs, logits, name="cam_head")
    return SplitModel(features, head, head_needs_image, activation)


def _check_independent(graph: FlatGraph, targets: list[GraphNode]) -> None:
    for later in targets:
        upstream = graph.ancestors(later.inputs)
        for earlier in targets:
            if earlier is not later and id(earlier.outputs[0]) in upstream:
                raise ValueError(
                    f"Invalid value received for argument `layer`: `{earlier.path}` feeds "
                    f"`{later.path}`, so the two lie on one path and cannot be explained "
                    "together (the gradient of the later one's head never reaches the "
                    "earlier one). Explain them with one explainer each, e.g. "
                    f"GradCAM(model, layer={earlier.path!r}) and "
                    f"GradCAM(model, layer={later.path!r})."
                )


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
