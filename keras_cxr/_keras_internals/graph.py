"""Graph walking through Keras internals: steps of a Functional graph, sublayers, a hook.

Every function here calls `check_keras_internals` once per process before its first use of
an internal (`keras_cxr._keras_internals.check`), so a Keras that changed one fails with a
message naming it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keras
from keras import tree

try:
    from keras.src.models.functional import Functional

    IMPORT_ERROR: str | None = None
except ImportError as error:  # pragma: no cover - only under an untested Keras
    Functional = keras.Model  # lets the class below be defined; the check reports it
    IMPORT_ERROR = f"{type(error).__name__}: {error}"


@dataclass(frozen=True)
class GraphStep:
    """One call of a layer (or op) in a Functional graph, as Keras recorded it.

    Attributes:
        operation: The layer or operation called.
        inputs: Its symbolic input tensors, flattened.
        outputs: Its symbolic output tensors, flattened.
        node: The Keras node behind the step (opaque outside this module).

    Args:
        operation, inputs, outputs, node: The attributes above; `graph_steps` makes them.

    Returns:
        A read-only record.

    Raises:
        Nothing: no field is checked.

    Example:
        >>> step = keras_cxr._keras_internals.graph_steps(model)[-1]
        >>> step.operation.name
        'predictions'
    """

    operation: Any
    inputs: list
    outputs: list
    node: Any

    def arguments(self, values: dict[int, Any]) -> tuple[tuple, dict]:
        """The step's call arguments, with each symbolic tensor replaced by its value.

        Args:
            values: `id(symbolic tensor)` → the tensor to pass in its place; it must hold
                every tensor of `inputs`.

        Returns:
            `(args, kwargs)` to call `operation` with.

        Raises:
            KeyError: If a tensor of `inputs` has no value.

        Example:
            >>> args, kwargs = step.arguments({id(t): x for t, x in zip(step.inputs, xs)})
        """
        return self.node.arguments.fill_in(values)


def graph_steps(graph: Any) -> list[GraphStep]:
    """The steps of a Functional graph in the order Keras runs them (deepest first).

    Input nodes and nodes without an operation are left out.

    Args:
        graph: A Functional model (`functional_graph` finds it for a Sequential model).

    Returns:
        The `GraphStep`s.

    Raises:
        RuntimeError: If the installed Keras lacks an internal this relies on.

    Example:
        >>> [s.operation.name for s in keras_cxr._keras_internals.graph_steps(model)][:1]
        ['stacked_backbones']
    """
    _ensure_checked()
    return [
        GraphStep(node.operation, list(node.input_tensors), list(node.outputs), node)
        for depth in sorted(graph._nodes_by_depth, reverse=True)
        for node in graph._nodes_by_depth[depth]
        if node.operation and not node.is_input
    ]


def functional_graph(layer: Any) -> Any:
    """The Functional graph behind `layer` if it is a model with one, else `None`.

    A built Sequential model is given its Functional graph (Keras builds it lazily).

    Args:
        layer: Any layer or model.

    Returns:
        The Functional model (the layer itself, or a Sequential model's inner graph), or
        `None` for a plain layer, a subclassed model or an unbuilt Sequential model.

    Raises:
        RuntimeError: If the installed Keras lacks an internal this relies on.

    Example:
        >>> keras_cxr._keras_internals.functional_graph(keras.layers.ReLU()) is None
        True
    """
    _ensure_checked()
    if isinstance(layer, keras.Sequential):
        if layer._functional is None and layer.built:
            layer.build(layer.input_shape)
        return layer._functional
    if isinstance(layer, keras.Model) and isinstance(layer, keras.Function):
        return layer
    return None


def call_has_training_arg(layer: Any) -> bool:
    """Whether `layer.call` takes a `training` argument (Keras passes it only then).

    Args:
        layer: A Keras layer.

    Returns:
        The flag Keras itself computed when the layer was made.

    Raises:
        RuntimeError: If the installed Keras lacks an internal this relies on.

    Example:
        >>> keras_cxr._keras_internals.call_has_training_arg(keras.layers.Dropout(0.5))
        True
    """
    _ensure_checked()
    return bool(layer._call_has_training_arg)


def sublayers(layer: Any, recursive: bool = False) -> list:
    """The layers tracked by `layer` (its attributes, lists and dicts of layers), itself excluded.

    Unlike `model.layers`, this also sees the layers of a subclassed model, in the order
    they were assigned.

    Args:
        layer: A layer or model.
        recursive: Also the layers inside those layers. Defaults to False.

    Returns:
        The layers, each once.

    Raises:
        RuntimeError: If the installed Keras lacks an internal this relies on.

    Example:
        >>> [sub.name for sub in keras_cxr._keras_internals.sublayers(model)][:1]
        ['stacked_backbones']
    """
    _ensure_checked()
    return list(layer._flatten_layers(include_self=False, recursive=recursive))


def inbound_operations(layer: Any) -> list[list]:
    """For each symbolic call of `layer`, the operations that produced its inputs.

    Calls on real tensors leave no record; only calls on symbolic tensors (building a
    Functional model) do.

    Args:
        layer: A layer.

    Returns:
        One list per recorded call, in call order: the layers (or ops) feeding it.

    Raises:
        RuntimeError: If the installed Keras lacks an internal this relies on.

    Example:
        >>> keras_cxr._keras_internals.inbound_operations(model.get_layer("logits"))
        [[<Dropout name=head_dropout_1, built=True>]]
    """
    _ensure_checked()
    return [[parent.operation for parent in node.parent_nodes] for node in layer._inbound_nodes]


class StepwiseFunctional(Functional):
    """A Functional model whose eager call runs its graph through `run_steps`.

    Keras runs a Functional model in its private `_run_through_graph`; this class
    overrides that one method and hands the work to `run_steps`, a hook subclasses
    implement with `steps` and `GraphStep.arguments` only. Symbolic calls (building a
    bigger graph on this model) still go through Keras.

    Args:
        inputs: The symbolic input tensor(s).
        outputs: The symbolic output tensor(s).
        name: The model's name.

    Returns:
        The model.

    Raises:
        RuntimeError: If the installed Keras lacks an internal this relies on.
        ValueError: As `keras.Model` does, for outputs not connected to the inputs.

    Example:
        >>> class Plain(keras_cxr._keras_internals.StepwiseFunctional):
        ...     def run_steps(self, inputs, call_step):
        ...         values = {id(x): y for x, y in zip(self.inputs, inputs)}
        ...         for step in self.steps:
        ...             outputs = call_step(step, *step.arguments(values))
        ...             values.update((id(x), y) for x, y in zip(step.outputs, outputs))
        ...         return [values[id(x)] for x in self.outputs]
    """

    def __init__(self, inputs: Any, outputs: Any, name: str | None = None) -> None:
        _ensure_checked()
        super().__init__(inputs, outputs, name=name)
        self.steps = graph_steps(self)

    def run_steps(self, inputs: list, call_step: Callable[..., list]) -> list:
        """Computes the outputs from the inputs (the hook subclasses implement).

        Args:
            inputs: The call's input tensors, flattened in the order of `self.inputs`.
            call_step: `call_step(step, args, kwargs)` runs one step as Keras would
                (with `training` and the like passed on) and returns its outputs, flattened.

        Returns:
            The output tensors, flattened in the order of `self.outputs`.

        Raises:
            NotImplementedError: Here; subclasses implement it.

        Example:
            >>> outputs = model.run_steps([images], call_step)
        """
        raise NotImplementedError(f"{type(self).__name__} must implement `run_steps`.")

    def _run_through_graph(self, inputs, operation_fn=lambda op: op, call_fn=None):
        if call_fn is not None:  # symbolic execution: Keras's own path
            return super()._run_through_graph(inputs, operation_fn, call_fn)

        def call_step(step: GraphStep, args: tuple, kwargs: dict) -> list:
            return tree.flatten(operation_fn(self._operation_of(step))(*args, **kwargs))

        outputs = self.run_steps(tree.flatten(inputs), call_step)
        return tree.pack_sequence_as(self._outputs_struct, outputs)

    def _operation_of(self, step: GraphStep):
        # Newer Keras maps a node to the operation it runs (for NNX); older runs it directly.
        lookup = getattr(self, "_get_operation_for_node", None)
        return step.operation if lookup is None else lookup(step.node)


def _ensure_checked() -> None:
    # Imported here: the check's probes use the functions of this module.
    from keras_cxr._keras_internals.check import ensure_checked

    ensure_checked()


__all__ = [
    "IMPORT_ERROR",
    "Functional",
    "GraphStep",
    "StepwiseFunctional",
    "call_has_training_arg",
    "functional_graph",
    "graph_steps",
    "inbound_operations",
    "sublayers",
]
