"""How the explained output turns logits into predictions: found in the graph, or refused.

The explainers differentiate the pre-activation score (it does not saturate) and decide
"the predicted class" from it: above 0 for a sigmoid unit, the arg-max for a softmax. Both
need to know what the model's last operation does. `find_logits` reads it from the
flattened graph, whatever form the sigmoid or softmax takes:

- `keras.layers.Activation("sigmoid" | "softmax")`, a `keras.layers.Softmax()` over the
  last axis, and the ops that `keras.ops.sigmoid` / `keras.ops.softmax` (or
  `keras.activations.*`) record in a Functional graph: the logits are their input;
- a layer with a built-in one (`Dense(k, activation="sigmoid")`): the layer re-run
  without it (`WithoutActivation`, sharing the weights);
- a linear layer (`Dense(k)`, `activation="linear"`), or pooling, `Add`, `Average`,
  `Concatenate`, `Flatten` or `Reshape` of such logits: logits as they are.

Inference-time identities (`Dropout` and its kin, `Identity`) after the activation are
looked through. Anything else (a `Lambda`, a custom layer, `tanh`, a softmax over another
axis, an average of probabilities) cannot be told: `check_score` then refuses the
explainer with a message naming `score="output"` and `class_index=`, rather than
explaining class 1 of a probability as if it were a logit (every probability below 0.5
would read as "negative", every one above as "positive" only by luck).
"""

from __future__ import annotations

import keras

from keras_cxr.explain.graph import FlatGraph

#: Activations the explainers take off and put back.
SQUASHING = ("sigmoid", "softmax")
#: `activation` of an output whose last operation could not be told.
UNKNOWN = "unknown"

# Layers that are the identity at inference: looked through before the activation.
_IDENTITY_AT_INFERENCE = (
    keras.layers.Dropout,
    keras.layers.SpatialDropout1D,
    keras.layers.SpatialDropout2D,
    keras.layers.SpatialDropout3D,
    keras.layers.GaussianDropout,
    keras.layers.GaussianNoise,
    keras.layers.AlphaDropout,
    keras.layers.Identity,
)
# Layers that keep logits logits: linear in each input, no squashing of their own.
_LINEAR_COMBINATIONS = (
    keras.layers.Add,
    keras.layers.Average,
    keras.layers.Concatenate,
    keras.layers.Flatten,
    keras.layers.Reshape,
    keras.layers.GlobalAveragePooling1D,
    keras.layers.GlobalAveragePooling2D,
    keras.layers.GlobalAveragePooling3D,
)


def find_logits(graph: FlatGraph, output) -> tuple:
    """The logits behind `output` and the activation that turns them into it.

    Args:
        graph: The flattened model (`keras_cxr.explain.graph.flatten_model`).
        output: The flat-graph output tensor being explained.

    Returns:
        `(logits, activation, source)`: the flat-graph tensor of the pre-activation
        scores, `"sigmoid"`, `"softmax"`, `None` (the output is logits already) or
        `"unknown"` (then `logits` is `output` itself), and the path of the operation
        that decided it, for messages.

    Raises:
        Nothing of its own: an output that cannot be told comes back as `"unknown"`.

    Example:
        >>> inputs = keras.Input((4,))
        >>> model = keras.Model(inputs, keras.ops.sigmoid(keras.layers.Dense(3)(inputs)))
        >>> graph = keras_cxr.explain.graph.flatten_model(model)
        >>> from keras_cxr.explain.output_head import find_logits
        >>> find_logits(graph, graph.outputs[0])[1]
        'sigmoid'
    """
    node = graph.producer(output)
    while node is not None and isinstance(node.layer, _IDENTITY_AT_INFERENCE):
        node = graph.producer(node.inputs[0])
    if node is None:
        return output, None, "the model's input"
    squashing = _squashing(node)
    if squashing is not None:
        if isinstance(node.layer, keras.layers.Activation) or not hasattr(node.layer, "activation"):
            return node.inputs[0], squashing, node.path
        return WithoutActivation(node.layer)(node.inputs[0]), squashing, node.path
    if _is_logits(graph, output):
        return output, None, node.path
    return output, UNKNOWN, node.path


def check_score(activation: str | None, score: str, source: str, model_name: str) -> None:
    """Refuse a score that an output of unknown activation cannot give.

    Args:
        activation: As `find_logits` returns it.
        score: The explainer's `score` argument.
        source: The path of the output's last operation.
        model_name: The model's name, for the message.

    Returns:
        None.

    Raises:
        ValueError: For an `"unknown"` activation with `score` other than `"output"`.

    Example:
        >>> from keras_cxr.explain.output_head import check_score
        >>> check_score("unknown", "output", "scale", "model")  # explained as it is
        >>> check_score("unknown", "logit", "scale", "model")
        Traceback (most recent call last):
        ...
        ValueError: Cannot tell whether the output of `model` is a logit or a probability...
    """
    if activation != UNKNOWN or score == "output":
        return
    raise ValueError(
        f"Cannot tell whether the output of `{model_name}` is a logit or a probability: "
        f"its last operation `{source}` is no sigmoid, softmax or linear layer, so "
        f'neither its predicted class nor `score="{score}"` can be derived from it. Pass '
        '`score="output"` to explain the output as the model returns it, with '
        "`class_index=` naming the class of each image; or end the model in "
        '`Activation("sigmoid"|"softmax")`, a `Softmax` layer, `Dense(..., activation=...)` '
        "or `keras.ops.sigmoid`/`keras.ops.softmax`."
    )


def _squashing(node) -> str | None:
    """`"sigmoid"`/`"softmax"` if `node` applies one over its last axis, else `None`."""
    layer = node.layer
    if isinstance(layer, keras.layers.Softmax) or _is_op(layer, "Softmax"):
        return "softmax" if _over_last_axis(layer, node.inputs[0]) else None
    if _is_op(layer, "Sigmoid"):
        return "sigmoid"
    name = getattr(getattr(layer, "activation", None), "__name__", None)
    if name in SQUASHING and len(node.inputs) == 1:
        return name
    return None


def _is_op(operation, class_name: str) -> bool:
    """Whether `operation` is the op `keras.ops.<name>` records in a Functional graph."""
    return not isinstance(operation, keras.layers.Layer) and type(operation).__name__ == class_name


def _over_last_axis(layer, tensor) -> bool:
    axis = getattr(layer, "axis", -1)
    axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
    return len(axes) == 1 and axes[0] in (-1, len(tensor.shape) - 1)


def _is_logits(graph: FlatGraph, tensor) -> bool:
    """Whether `tensor` is a linear layer's output, or a linear combination of such."""
    node = graph.producer(tensor)
    if node is None:
        return False
    layer = node.layer
    if isinstance(layer, _IDENTITY_AT_INFERENCE + _LINEAR_COMBINATIONS) or (
        isinstance(layer, keras.layers.Activation) and _is_linear(layer)
    ):
        return bool(node.inputs) and all(_is_logits(graph, t) for t in node.inputs)
    return isinstance(layer, keras.layers.Layer) and _is_linear(layer)


def _is_linear(layer) -> bool:
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", None) == "linear"


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
        >>> from keras_cxr.explain.output_head import WithoutActivation
        >>> dense = keras.layers.Dense(1, activation="sigmoid", bias_initializer="ones")
        >>> dense.build((None, 3))  # the wrapped layer is the model's, built already
        >>> logits = WithoutActivation(dense)(keras.ops.zeros((2, 3)))
        >>> keras.ops.convert_to_numpy(logits).tolist()  # the bias, not sigmoid(1)
        [[1.0], [1.0]]
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
            >>> from keras_cxr.explain.output_head import WithoutActivation
            >>> dense = keras.layers.Dense(2, activation="softmax", bias_initializer="ones")
            >>> dense.build((None, 3))
            >>> values = WithoutActivation(dense).call(keras.ops.zeros((1, 3)))
            >>> keras.ops.convert_to_numpy(values).tolist()
            [[1.0, 1.0]]
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
            >>> from keras_cxr.explain.output_head import WithoutActivation
            >>> WithoutActivation(keras.layers.Dense(1)).compute_output_shape((None, 8))
            (None, 1)
        """
        return self.wrapped.compute_output_shape(input_shape)


__all__ = ["SQUASHING", "UNKNOWN", "WithoutActivation", "check_score", "find_logits"]
