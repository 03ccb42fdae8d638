"""Data flows one way: data → models → explain → metrics → callbacks → scale → training → cli.

A module may import keras_cxr code from its own level or below, never from above, even
inside a function (a lazy import is still a dependency). `viz` draws plain arrays and
knows nothing of models, so it sits at the bottom with `data`: `Explanation.plot` and the
report writer both call it. `scale` (explaining whole archives) sits above the explainers
and below `training`, which may use it but never the other way round. `serve` (the HTTP
server) shares the level of `training` but uses neither it nor the command line.
`federated` (training across sites) sits above `training`, whose pipeline it runs at
each site, and below the command line.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "keras_cxr"

#: Each top-level part of the package and its level; a part may import parts of a lower
#: or equal level.
LEVELS = {
    "_validation": 0,
    "_registration": 0,
    "_output_folder": 0,
    "_keras_internals": 0,
    "atomic": 0,
    "data": 1,
    "backend": 2,
    "layers": 2,
    "models": 3,
    "explain": 4,
    "metrics": 5,
    "viz": 1,
    "callbacks": 6,
    "scale": 7,
    "export": 7,
    "training": 8,
    "serve": 8,
    "federated": 9,
    "cli": 10,
}


def _part(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "keras_cxr" or len(parts) < 2:
        return None
    return parts[1]


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            if node.module == "keras_cxr":
                found += [(node.lineno, f"keras_cxr.{alias.name}") for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
    return found


SOURCES = sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent != PACKAGE)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_imports_a_higher_layer(path):
    own = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
    assert own in LEVELS, f"{own} has no level in LEVELS; add it"
    upward = [
        f"line {line}: {module}"
        for line, module in _imports(path)
        if (part := _part(module)) in LEVELS and LEVELS[part] > LEVELS[own]
    ]
    assert not upward, f"{path.relative_to(PACKAGE)} imports a higher layer: {upward}"


def test_serve_uses_neither_training_nor_the_command_line():
    used = {
        part
        for path in sorted((PACKAGE / "serve").rglob("*.py"))
        for _, module in _imports(path)
        if (part := _part(module)) is not None
    }
    assert not used & {"training", "cli"}, sorted(used)


def test_every_part_has_a_level():
    parts = {p.name.removesuffix(".py") for p in PACKAGE.iterdir() if not p.name.startswith("__")}
    assert parts <= set(LEVELS), sorted(parts - set(LEVELS))
