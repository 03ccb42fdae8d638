"""Registering keras_cxr's saved classes with Keras as soon as Keras is imported.

`keras.models.load_model` finds keras_cxr classes (`StackedEnsemble`,
`StackedBackbones`, the preprocessing layers) in Keras's registry, which their
`register_keras_serializable` decorators fill when their modules are imported. The package
itself imports lazily (so the command line starts without a deep-learning backend), so
this module keeps the promise that `import keras_cxr` is all a loader needs: if Keras is
already imported, the classes are registered now; otherwise a finder waits for `keras` to
be imported and registers them right after. (When the import that loads Keras is
`import keras_cxr.layers` itself, `StackedEnsemble` registers once `keras_cxr.models` is
imported; `keras_cxr.load_model` always imports it.)
"""

from __future__ import annotations

import importlib
import importlib.abc
import sys

#: The modules whose import registers every saved keras_cxr class (`objective`: the metric
#: that three-class models are compiled with, stored in their files).
_REGISTERING_MODULES = ("keras_cxr.layers", "keras_cxr.models", "keras_cxr.training.objective")


def register_when_keras_loads() -> None:
    """Registers the saved classes now if Keras is loaded, else right after it loads."""
    if "keras" in sys.modules:
        _register()
    elif not any(isinstance(finder, _KerasWatcher) for finder in sys.meta_path):
        sys.meta_path.insert(0, _KerasWatcher())


def _register() -> None:
    # Keras may be loading because one of these modules imports it: that module finishes
    # (and registers) by itself, and what comes after it in the list depends on it.
    for name in _REGISTERING_MODULES:
        if _initializing(name):
            return
        importlib.import_module(name)


def _initializing(name: str) -> bool:
    module = sys.modules.get(name)
    return module is not None and getattr(module.__spec__, "_initializing", False)


class _KerasWatcher(importlib.abc.MetaPathFinder):
    """Finds nothing itself; wraps the loader of `keras` so registration follows its import."""

    def find_spec(self, fullname, path, target=None):
        if fullname != "keras":
            return None
        sys.meta_path.remove(self)  # once is enough, and the search below must skip us
        for finder in sys.meta_path:
            spec = (
                finder.find_spec(fullname, path, target) if hasattr(finder, "find_spec") else None
            )
            if spec is not None and spec.loader is not None:
                spec.loader = _RegisteringLoader(spec.loader)
                return spec
        return None


class _RegisteringLoader(importlib.abc.Loader):
    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        self.loader.exec_module(module)
        _register()
