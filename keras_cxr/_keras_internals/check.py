"""`check_keras_internals`: each Keras internal the wall relies on, probed on a tiny model.

Each probe builds a two-layer model (layers named `keras_cxr_probe_*`, no weights, so
nothing is allocated and no automatic layer name is taken) and uses one internal through
`keras_cxr._keras_internals.graph` the way the package does.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import keras

from keras_cxr._keras_internals.graph import (
    IMPORT_ERROR,
    Functional,
    StepwiseFunctional,
    call_has_training_arg,
    functional_graph,
    graph_steps,
    inbound_operations,
    sublayers,
)

#: The Keras versions keras_cxr is tested with (the bound on `keras` in pyproject.toml).
TESTED_KERAS = ">=3.13.2,<3.16"

_STATE = {"verified": False}


def ensure_checked() -> None:
    """Runs `check_keras_internals` once per process, before the first use of an internal.

    Raises:
        RuntimeError: As `check_keras_internals`, until a check passes.

    Example:
        >>> keras_cxr._keras_internals.check.ensure_checked()  # probes once, then returns
    """
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
    if IMPORT_ERROR is not None:
        return [f"keras.src.models.functional.Functional ({IMPORT_ERROR})"]
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
            f"(pip install 'keras{TESTED_KERAS}'), or update keras_cxr/_keras_internals/ "
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
    graph = Functional(image, output, name="keras_cxr_probe")
    steps = graph_steps(graph)
    _expect([s.operation for s in steps] == [relu, dropout], "steps in call order", steps)
    _expect(steps[1].inputs == [hidden] and steps[1].outputs == [output], "step tensors", steps)
    args, kwargs = steps[1].arguments({id(hidden): "value"})
    _expect(args == ("value",), "the tensor filled in", args)
    _expect(kwargs.get("training") is False, "the recorded keyword arguments", kwargs)


def _check_run_through_graph() -> None:
    parameters = list(inspect.signature(Functional._run_through_graph).parameters)
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
    graph = Functional(image, output, name="keras_cxr_probe")
    found = [layer for layer in sublayers(graph) if layer is relu or layer is dropout]
    _expect(found == [relu, dropout], "the model's layers", found)


def _check_inbound() -> None:
    _, relu, dropout, _, _ = _probe_graph()
    found = inbound_operations(dropout)
    _expect(len(found) == 1 and found[0] == [relu], "one call fed by the ReLU", found)


def _check_attention() -> None:
    # Imported here: the attention module itself imports this one.
    from keras_cxr._keras_internals.attention import _probe

    _probe()


def _expect(condition: bool, expected: str, received: Any) -> None:
    if not condition:
        raise AssertionError(f"expected {expected}, received {received!r}")


#: Each internal the wall relies on, named as in Keras, and the probe that uses it.
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
    (
        "MultiHeadAttention._compute_attention(..., return_attention_scores) and "
        "MultiHeadAttention._softmax (keras.src.layers.attention.multi_head_attention)",
        _check_attention,
    ),
)

__all__ = ["TESTED_KERAS", "check_keras_internals", "ensure_checked", "keras_internals_problems"]
