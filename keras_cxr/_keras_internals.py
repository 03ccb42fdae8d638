"""The one place that touches Keras internals: `keras.src` and `_`-prefixed Keras attributes.

Walking a model's graph node by node (to inline nested backbones, to split a model into
feature and head parts, to free tensors early) needs parts of Keras that are not public
API. Every such use lives here, behind small named functions, so that a Keras release that
renames one breaks one module, and says so: the first call of any of them runs
`check_keras_internals` once, which raises a `RuntimeError` naming the Keras version and
the internal that changed instead of an `AttributeError` deep inside an explainer.

What is relied on, and who relies on it:

- `keras.src.models.functional.Functional`, its `_run_through_graph(inputs, operation_fn,
  call_fn)`, `_outputs_struct` and (where present) `_get_operation_for_node`:
  `StepwiseFunctional`, under `explain.lean_functional.LeanFunctional`.
- `Function._nodes_by_depth` and a node's `operation`, `is_input`, `input_tensors`,
  `outputs` and `arguments.fill_in`: `graph_steps`, for `explain.graph` and
  `StepwiseFunctional`.
- `Sequential._functional`: `functional_graph`, for `explain.graph`, `explain.base` and
  `explain.base_attribution`.
- `Layer._call_has_training_arg`: `call_has_training_arg`, for `explain.graph`.
- `Layer._flatten_layers(include_self, recursive)`: `sublayers`, for `explain.hooks` and
  `backend.tensorflow`.
- `Layer._inbound_nodes` and a node's `parent_nodes`: `inbound_operations`, for
  `models.head`.

`tests/test_keras_internals.py` runs every probe against the installed Keras and checks
that no other module reads a Keras internal; `pyproject.toml` caps `keras` at the newest
version tested (`TESTED_KERAS`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import keras
from keras import tree

try:
    from keras.src.models.functional import Functional as _Functional

    _IMPORT_ERROR: str | None = None
except ImportError as error:  # pragma: no cover - only under an untested Keras
    _Functional = keras.Model  # lets the classes below be defined; the check reports it
    _IMPORT_ERROR = f"{type(error).__name__}: {error}"

#: The Keras versions keras_cxr is tested with (the bound on `keras` in pyproject.toml).
TESTED_KERAS = ">=3.13.2,<3.16"


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


class StepwiseFunctional(_Functional):
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


# --- The check -------------------------------------------------------------------------

_STATE = {"verified": False}


def _ensure_checked() -> None:
    """Runs `check_keras_internals` once per process, before the first use of an internal."""
    if not _STATE["verified"]:
        check_keras_internals()
        _STATE["verified"] = True


def keras_internals_problems() -> list[str]:
    """The Keras internals keras_cxr relies on that the installed Keras lacks.

    Each probe builds a two-layer model (named `keras_cxr_probe_*`, no weights) and uses
    one internal the way the package does.

    Returns:
        One line per internal that failed: its name and what went wrong. Empty when all
        are there.

    Raises:
        Nothing: a failing probe is reported, not raised.

    Example:
        >>> keras_cxr._keras_internals.keras_internals_problems()
        []
    """
    if _IMPORT_ERROR is not None:
        return [f"keras.src.models.functional.Functional ({_IMPORT_ERROR})"]
    problems = []
    # The probes go through the functions above, which must not start a check of their own.
    verified, _STATE["verified"] = _STATE["verified"], True
    try:
        for internal, probe in _PROBES:
            try:
                probe()
            except Exception as error:  # every failure is a finding to report
                problems.append(f"{internal} ({type(error).__name__}: {error})")
    finally:
        _STATE["verified"] = verified
    return problems


def check_keras_internals() -> None:
    """Raises a `RuntimeError` naming each Keras internal the installed Keras lacks.

    Called once, lazily, by the first function of this module that uses an internal, so a
    Keras release that changed one fails with this message and not deep in an explainer.

    Raises:
        RuntimeError: "keras_cxr relies on <internal>, which Keras X.Y.Z no longer has
            (...)", with the tested versions and how to install one.

    Example:
        >>> keras_cxr._keras_internals.check_keras_internals()  # passes on a tested Keras
    """
    problems = keras_internals_problems()
    if problems:
        raise RuntimeError(
            f"keras_cxr relies on {'; '.join(problems)}, which Keras {keras.__version__} "
            f"no longer has. keras_cxr is tested with keras{TESTED_KERAS}: install one "
            f"(pip install 'keras{TESTED_KERAS}'), or update keras_cxr/_keras_internals.py "
            "for this Keras (docs/layout.md, 'Keras internals')."
        )


def _probe_graph():
    """Input → ReLU → Dropout, and the same as a built Sequential model (no weights)."""
    image = keras.Input((2,), name="keras_cxr_probe_input")
    relu = keras.layers.ReLU(name="keras_cxr_probe_relu")
    dropout = keras.layers.Dropout(0.5, name="keras_cxr_probe_dropout")
    hidden = relu(image)
    output = dropout(hidden)
    return image, relu, dropout, hidden, output


def _check_steps() -> None:
    image, relu, dropout, hidden, output = _probe_graph()
    graph = _Functional(image, output, name="keras_cxr_probe")
    steps = graph_steps(graph)
    _expect([s.operation for s in steps] == [relu, dropout], "steps in call order", steps)
    _expect(steps[1].inputs == [hidden] and steps[1].outputs == [output], "step tensors", steps)
    args, kwargs = steps[1].arguments({id(hidden): "value"})
    _expect(args == ("value",), "the tensor filled in", args)
    _expect(kwargs.get("training") is False, "the recorded keyword arguments", kwargs)


def _check_run_through_graph() -> None:
    parameters = list(inspect.signature(_Functional._run_through_graph).parameters)
    _expect(parameters == ["self", "inputs", "operation_fn", "call_fn"], "signature", parameters)
    image, relu, _, hidden, output = _probe_graph()
    ran = []

    class Probe(StepwiseFunctional):
        def run_steps(self, inputs, call_step):
            values = {id(x): y for x, y in zip(self.inputs, inputs)}
            for step in self.steps:
                ran.append(step.operation)
                step_outputs = call_step(step, *step.arguments(values))
                values.update((id(x), y) for x, y in zip(step.outputs, step_outputs))
            return [values[id(x)] for x in self.outputs]

    result = Probe(image, {"hidden": hidden, "output": output}, name="keras_cxr_probe")(
        keras.ops.convert_to_tensor([[-1.0, 2.0]]), training=False
    )
    _expect(len(ran) == 2 and ran[0] is relu, "Functional.call to run through the hook", ran)
    values = {key: keras.ops.convert_to_numpy(value).tolist() for key, value in result.items()}
    expected = {"hidden": [[0.0, 2.0]], "output": [[0.0, 2.0]]}
    _expect(values == expected, "the hook's outputs, in their structure", values)


def _check_sequential() -> None:
    model = keras.Sequential(
        [
            keras.Input((2,), name="keras_cxr_probe_input"),
            keras.layers.ReLU(name="keras_cxr_probe_relu"),
        ],
        name="keras_cxr_probe_sequential",
    )
    graph = functional_graph(model)
    _expect(graph is not None and graph.layers[-1] is model.layers[-1], "its graph", graph)


def _check_training_arg() -> None:
    _, relu, dropout, _, _ = _probe_graph()
    flags = (call_has_training_arg(relu), call_has_training_arg(dropout))
    _expect(flags == (False, True), "(False, True) for ReLU and Dropout", flags)


def _check_sublayers() -> None:
    image, relu, dropout, _, output = _probe_graph()
    graph = _Functional(image, output, name="keras_cxr_probe")
    found = [layer for layer in sublayers(graph) if layer is relu or layer is dropout]
    _expect(found == [relu, dropout], "the model's layers", found)


def _check_inbound() -> None:
    _, relu, dropout, _, _ = _probe_graph()
    found = inbound_operations(dropout)
    _expect(len(found) == 1 and found[0] == [relu], "one call fed by the ReLU", found)


def _expect(condition: bool, expected: str, received: Any) -> None:
    if not condition:
        raise AssertionError(f"expected {expected}, received {received!r}")


#: Each internal the module relies on, named as in Keras, and the probe that uses it.
_PROBES: Sequence[tuple[str, Callable[[], None]]] = (
    (
        "Function._nodes_by_depth and Node.operation/.is_input/.input_tensors/.outputs/"
        ".arguments.fill_in (keras.src.ops.function, keras.src.ops.node)",
        _check_steps,
    ),
    (
        "Functional._run_through_graph(inputs, operation_fn, call_fn) and "
        "Function._outputs_struct (keras.src.models.functional)",
        _check_run_through_graph,
    ),
    ("Sequential._functional (keras.src.models.sequential)", _check_sequential),
    ("Layer._call_has_training_arg (keras.src.layers.layer)", _check_training_arg),
    ("Layer._flatten_layers(include_self, recursive) (keras.src.layers.layer)", _check_sublayers),
    ("Layer._inbound_nodes and Node.parent_nodes (keras.src.layers.layer)", _check_inbound),
)

__all__ = [
    "TESTED_KERAS",
    "GraphStep",
    "StepwiseFunctional",
    "call_has_training_arg",
    "check_keras_internals",
    "functional_graph",
    "graph_steps",
    "inbound_operations",
    "keras_internals_problems",
    "sublayers",
]
