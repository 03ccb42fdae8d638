"""The wall around Keras internals: each one works in the installed Keras, and none leaks out.

`keras_cxr._keras_internals` is the only module allowed to read `keras.src` or a
`_`-prefixed Keras attribute. The first tests run its probes one by one against the
installed Keras, so a Keras release that changed an internal fails here with the internal
named; the last one scans the package for internals used anywhere else.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import keras
import numpy as np
import pytest

from keras_cxr._keras_internals import (
    TESTED_KERAS,
    check,
    check_keras_internals,
    functional_graph,
    inbound_operations,
    keras_internals_problems,
    sublayers,
)

pytestmark = pytest.mark.backends  # also run under JAX and PyTorch

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "keras_cxr"
WALL = PACKAGE / "_keras_internals"


@pytest.mark.parametrize(
    "internal, probe", check._PROBES, ids=[re.split(r"[ (]", name)[0] for name, _ in check._PROBES]
)
def test_the_installed_keras_has_the_internal(internal, probe):
    try:
        probe()
    except Exception as error:
        pytest.fail(
            f"Keras {keras.__version__} changed {internal}: {type(error).__name__}: {error}. "
            "Update keras_cxr/_keras_internals/ (docs/layout.md, 'Keras internals')."
        )


def test_every_probe_runs_and_none_fails_on_the_installed_keras():
    assert len(check._PROBES) == 7
    assert keras_internals_problems() == []
    check_keras_internals()  # raises nothing


def test_the_check_names_the_keras_version_and_the_internal_that_changed(monkeypatch):
    monkeypatch.delattr(keras.layers.Layer, "_flatten_layers")
    problems = keras_internals_problems()
    assert len(problems) == 1
    assert problems[0].startswith("Layer._flatten_layers(include_self, recursive)")
    assert "AttributeError" in problems[0]
    message = (
        rf"keras_cxr relies on Layer\._flatten_layers\(include_self, recursive\) .*"
        rf"which Keras {re.escape(keras.__version__)} no longer has\. keras_cxr is tested "
        rf"with keras{re.escape(TESTED_KERAS)}: install one"
    )
    with pytest.raises(RuntimeError, match=message):
        check_keras_internals()


def test_the_first_use_of_an_internal_raises_the_clear_message(monkeypatch):
    monkeypatch.setitem(check._STATE, "verified", False)
    model = keras.Sequential([keras.Input((2,)), keras.layers.ReLU(name="relu")])
    monkeypatch.delattr(keras.layers.Layer, "_flatten_layers")
    # Any function of the wall checks every internal first, not only its own.
    with pytest.raises(RuntimeError, match=r"relies on Layer\._flatten_layers"):
        functional_graph(model)
    assert check._STATE["verified"] is False
    monkeypatch.undo()
    monkeypatch.setitem(check._STATE, "verified", False)
    assert sublayers(model)[-1] is model.get_layer("relu")
    assert check._STATE["verified"] is True  # checked once, not on every call


def test_inbound_operations_lists_the_layers_feeding_each_symbolic_call():
    image = keras.Input((2,), name="image")
    first, second = keras.layers.ReLU(name="first"), keras.layers.ReLU(name="second")
    add = keras.layers.Add(name="add")
    hidden = first(image)
    add([hidden, second(hidden)])
    second(image)  # a second symbolic call
    second(np.ones((1, 2), "float32"))  # a call on a real tensor leaves no record
    assert inbound_operations(add) == [[first, second]]
    calls = inbound_operations(second)
    assert len(calls) == 2
    assert calls[0] == [first]
    assert [operation.name for operation in calls[1]] == ["image"]


def test_pyproject_caps_keras_at_the_tested_versions():
    # A regular expression, not tomllib: the package supports Python 3.10.
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert re.findall(r'^\s*"(keras[<>=!~].*)",$', pyproject, re.MULTILINE) == [
        f"keras{TESTED_KERAS}"
    ]
    lower, upper = re.fullmatch(r">=([\d.]+),<([\d.]+)", TESTED_KERAS).groups()
    installed = tuple(int(part) for part in keras.__version__.split(".")[:3] if part.isdigit())
    assert tuple(map(int, lower.split("."))) <= installed < tuple(map(int, upper.split(".")))


# --- No internal outside the wall ------------------------------------------------------

#: `_`-names read on objects other than `self` that are keras_cxr's own, not Keras's:
#: an explainer's `_activation` (batch_explainer) and an import spec's `_initializing`.
OWN_PRIVATE_NAMES = {"_activation", "_initializing"}


def _keras_private_names() -> set[str]:
    """`_`-names of Keras's base classes and of the attributes their instances set."""
    image = keras.Input((2,))
    instances = [
        keras.Model(image, keras.layers.Dense(1)(image)),
        keras.layers.Dense(1),
        keras.callbacks.Callback(),
        keras.metrics.AUC(),
    ]
    names = {name for obj in instances for name in dir(obj)}
    names |= {name for obj in instances for name in vars(obj)}
    return {name for name in names if name.startswith("_") and not name.startswith("__")}


def _keras_subclasses(trees: dict[Path, ast.Module]) -> set[str]:
    """Names of the package's classes that derive from a Keras class, transitively."""
    found = {"Functional", "_Functional"}  # Keras's Functional, as imported from keras.src
    changed = True
    while changed:
        changed = False
        for tree in trees.values():
            for node in ast.walk(tree):
                if not isinstance(node, ast.ClassDef) or node.name in found:
                    continue
                bases = [ast.unparse(base) for base in node.bases]
                if any(b.startswith("keras.") or b.split(".")[-1] in found for b in bases):
                    found.add(node.name)
                    changed = True
    return found


def _uses_of_internals(path: Path, tree: ast.Module, keras_private: set, keras_classes: set):
    uses = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            modules += [alias.name for alias in node.names]
            uses += [f"{node.lineno}: imports {m}" for m in modules if m.startswith("keras.src")]
        elif isinstance(node, ast.Attribute) and ast.unparse(node).startswith("keras.src"):
            uses.append(f"{node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.Attribute) and _private(node.attr):
            owner = node.value
            is_self = isinstance(owner, ast.Name) and owner.id in ("self", "cls")
            if not is_self and node.attr not in OWN_PRIVATE_NAMES:
                uses.append(f"{node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) in (
            "getattr",
            "hasattr",
            "setattr",
        ):
            name = node.args[1] if len(node.args) > 1 else None
            is_text = isinstance(name, ast.Constant) and isinstance(name.value, str)
            if is_text and _private(name.value) and name.value not in OWN_PRIVATE_NAMES:
                uses.append(f"{node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.ClassDef) and node.name in keras_classes:
            for inner in ast.walk(node):
                name = None
                if isinstance(inner, ast.FunctionDef):
                    name = inner.name
                elif isinstance(inner, ast.Attribute) and ast.unparse(inner.value) == "self":
                    name = inner.attr
                if name in keras_private:
                    uses.append(f"{inner.lineno}: {node.name} uses Keras's {name}")
    return uses


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def test_no_module_but_the_wall_uses_a_keras_internal():
    trees = {
        path: ast.parse(path.read_text(encoding="utf-8")) for path in sorted(PACKAGE.rglob("*.py"))
    }
    keras_private = _keras_private_names()
    assert {"_flatten_layers", "_inbound_nodes", "_call_has_training_arg"} <= keras_private
    keras_classes = _keras_subclasses(trees)
    assert {"StackedEnsemble", "LeanFunctional", "GradCAMCallback"} <= keras_classes
    found = {
        str(path.relative_to(PACKAGE)): uses
        for path, tree in trees.items()
        if WALL not in path.parents
        and (uses := _uses_of_internals(path, tree, keras_private, keras_classes))
    }
    assert not found, f"Keras internals outside keras_cxr/_keras_internals/: {found}"
    # And the scan finds them where they are.
    graph = WALL / "graph.py"
    assert _uses_of_internals(graph, trees[graph], keras_private, {"StepwiseFunctional"})
