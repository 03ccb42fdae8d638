"""Split a model at its target layers into a feature part and a (differentiable) head part.

Explaining costs one forward pass when the feature maps are computed once and gradients
are taken only through the layers *after* them. Both parts are Keras models over the same
layers (shared weights), built from the flattened graph of `keras_cxr.explain.graph`.
`logits_model` is the uncut model up to its logits, for the methods that differentiate
w.r.t. the image itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import keras

from keras_cxr.explain.graph import FlatGraph, GraphNode
from keras_cxr.explain.lean_functional import LeanFunctional
from keras_cxr.explain.output_head import WithoutActivation, find_logits


@dataclass
class SplitModel:
    """The two halves of a model cut at its target layers.

    Targets on separate branches (one per backbone of a `StackedEnsemble`) share one head.
    Targets on one path (several blocks of one backbone, as LayerCAM fuses them) get one
    head each, from that target to the logits, since a head cut at a later target would
    stop the gradient of an earlier one there.

    Attributes:
        features: Model from the image (the list of inputs, for a model of several) to
            the list of target feature maps, followed by the tensors that cross the cut
            (`head_crossing`).
        heads: Models from some of the feature maps (followed by the tensors of
            `head_crossing`, then the model's inputs when `heads_need_image` says so) to
            the logits of the explained output.
        head_targets: For each head, the indices (into the outputs of `features`) of the
            feature maps it takes, in order. Together they cover every target once.
        heads_need_image: For each head, whether a layer after its targets reads one of
            the model's inputs itself (the image, or a second input such as age), so
            that it also takes the model's inputs.
        head_crossing: For each head, the indices (into the outputs of `features`, after
            the targets) of the tensors computed before the cut that its layers also
            read (a residual stream around a transformer block's attention, a pooling
            branch that bypasses the targets, as InceptionV3's at 75 px): the head takes
            them as they are, so that nothing before the cut runs twice. Empty tuples by
            default.
        activation: `"sigmoid"`, `"softmax"`, `None` (the output is logits) or
            `"unknown"`: how logits become the model's output
            (`keras_cxr.explain.output_head.find_logits`).
        activation_source: Path of the operation that decided `activation`.

    Args:
        features, heads, head_targets, heads_need_image, activation, activation_source:
            The attributes above.

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
    activation_source: str = ""
    head_crossing: list[tuple[int, ...]] = field(default_factory=list)

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

    The final sigmoid or softmax, in whatever form (`keras_cxr.explain.output_head`), is
    taken off, so that the head returns pre-activation logits. Independent
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
    logits, activation, source = find_logits(graph, output)
    target_tensors = [node.outputs[0] for node in targets]
    image = graph.inputs[0] if len(graph.inputs) == 1 else graph.inputs
    if _on_one_path(graph, targets):
        groups = [(index,) for index in range(len(targets))]
    else:
        groups = [tuple(range(len(targets)))]
    outputs = list(target_tensors)  # of `features`: the targets, then the crossing tensors
    heads, needs_image, crossing_indices = [], [], []
    for number, group in enumerate(groups):
        cut = [target_tensors[index] for index in group]
        # Searched from `output`, not `logits`: logits taken from a layer's own
        # `activation=` are a new tensor outside the flat graph, whose walk would end at
        # once and miss a branch that bypasses the targets (InceptionV3's pooling branch
        # at 75 px, a second input such as age).
        crossing = _crossing(graph, cut, output)
        needs_image.append(any(t is i for t in crossing for i in graph.inputs))
        crossing = [t for t in crossing if not any(t is i for i in graph.inputs)]
        crossing_indices.append(tuple(_index_of(outputs, tensor) for tensor in crossing))
        head_inputs = cut + crossing + (list(graph.inputs) if needs_image[-1] else [])
        name = "cam_head" if len(groups) == 1 else f"cam_head_{number}"
        heads.append(keras.Model(head_inputs, logits, name=name))
    features = LeanFunctional(image, outputs, name="cam_features")
    return SplitModel(features, heads, groups, needs_image, activation, source, crossing_indices)


def _crossing(graph: FlatGraph, cut: list, output) -> list:
    """The tensors from before the cut that the layers between the cut and `output` read.

    A residual stream around the target (a pre-norm transformer block's `x + attention(
    norm(x))`, cut at `norm(x)`) is one; the image itself, where a later layer reads it,
    is another. In graph order, each once.
    """
    feeding = graph.ancestors([output])
    after = {id(tensor) for tensor in cut}
    crossing: dict[int, object] = {}
    for node in graph.nodes:
        if node.is_model or not any(id(t) in after for t in node.inputs):
            continue
        after.update(id(t) for t in node.outputs)
        if any(id(t) in feeding for t in node.outputs):
            for tensor in node.inputs:
                if id(tensor) not in after:
                    crossing.setdefault(id(tensor), tensor)
    return list(crossing.values())


def _index_of(tensors: list, tensor) -> int:
    """The index of `tensor` in `tensors`, appending it when it is not there yet."""
    for index, known in enumerate(tensors):
        if known is tensor:
            return index
    tensors.append(tensor)
    return len(tensors) - 1


def logits_model(graph: FlatGraph, output) -> tuple[keras.Model, str | None, str]:
    """The whole flat graph, from the image to the logits behind `output`.

    The pixel attribution methods differentiate it w.r.t. the image. The final sigmoid or
    softmax is taken off as in `split_model`.

    Args:
        graph: The flattened model.
        output: The flat-graph output tensor being explained.

    Returns:
        `(model, activation, source)`: a Keras model from the image (or, for a model of
        several inputs, from the list of them, in the model's order) to the logits
        (sharing the original layers), and the activation and its source as
        `keras_cxr.explain.output_head.find_logits` gives them.

    Raises:
        Nothing of its own.

    Example:
        >>> graph = keras_cxr.explain.graph.flatten_model(model)
        >>> logits, activation, _ = keras_cxr.explain.split.logits_model(graph, graph.outputs[0])
        >>> activation
        'sigmoid'
    """
    logits, activation, source = find_logits(graph, output)
    inputs = graph.inputs[0] if len(graph.inputs) == 1 else graph.inputs
    return keras.Model(inputs, logits, name="attribution_logits"), activation, source


def _on_one_path(graph: FlatGraph, targets: list[GraphNode]) -> bool:
    """Whether some target feeds another, so that they cannot share a head."""
    for later in targets:
        upstream = graph.ancestors(later.inputs)
        if any(e is not later and id(e.outputs[0]) in upstream for e in targets):
            return True
    return False


__all__ = ["SplitModel", "WithoutActivation", "logits_model", "split_model"]
