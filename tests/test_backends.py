"""The `backends` tests under the Keras backends this process does not run.

Keras fixes its backend when it is imported, so each other backend gets its own pytest
process (`KERAS_BACKEND=jax python -m pytest -m backends`); the processes start as soon as
the suite is collected (`tests/conftest.py`), run beside it, and this test waits for its
backend's and fails with its report when it fails. The keras_cxr under test is put first on the
child's path, so the child tests the same copy as this process.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import keras
import pytest

import keras_cxr

ROOT = Path(__file__).resolve().parents[1]
#: The folders whose `backends` tests run under every backend: the explainers, layers,
#: models, metrics, callbacks and a smoke test of the command line (the demo and the
#: commands on it).
FOLDERS = (
    "tests/explain",
    "tests/layers",
    "tests/models",
    "tests/metrics",
    "tests/callbacks",
    "tests/cli",
)
PACKAGE_ROOT = Path(keras_cxr.__file__).resolve().parents[1]


def backend_environment(backend: str) -> dict:
    """This process's environment with `KERAS_BACKEND=backend` and keras_cxr first on the path."""
    path = os.pathsep.join(p for p in (str(PACKAGE_ROOT), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": path}


def skip_unless_available(backend: str) -> None:
    if keras.backend.backend() == backend:
        pytest.skip(f"this process runs under {backend}: the suite itself covers it")
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed (pip install 'keras_cxr[{backend}]')")


def child_command() -> list[str]:
    return [
        sys.executable,
        *("-m", "pytest", "-m", "backends", "-q", "-p", "no:cacheprovider"),
        *FOLDERS,
    ]


class ChildSuite:
    """The `backends` suite under another backend, running in the background.

    Started when collection finishes (`tests/conftest.py`), so that it runs beside this
    process's tests (on 2 cores, JAX's compiler and TensorFlow's small ops each leave a core
    idle) instead of after them.
    """

    def __init__(self, backend: str) -> None:
        self.output = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed in `report`)
        self.process = subprocess.Popen(
            child_command(),
            cwd=ROOT,
            env=backend_environment(backend),
            stdout=self.output,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def report(self, timeout: float) -> tuple[int, str]:
        """Waits for the suite; returns its exit code and output."""
        try:
            returncode = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise
        self.output.seek(0)
        text = self.output.read()
        self.output.close()
        return returncode, text


def start_child_suites(items) -> dict[str, ChildSuite]:
    """A started `ChildSuite` for every runnable `test_the_backends_tests_pass_under`."""
    wanted = {
        item.callspec.params["backend"]
        for item in items
        if getattr(item, "originalname", None) == "test_the_backends_tests_pass_under"
    }
    return {backend: ChildSuite(backend) for backend in sorted(wanted) if runnable(backend)}


def runnable(backend: str) -> bool:
    return keras.backend.backend() != backend and importlib.util.find_spec(backend) is not None


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["tensorflow", "jax", "torch"])
def test_the_backends_tests_pass_under(backend, request):
    skip_unless_available(backend)
    started = getattr(request.config, "backend_child_suites", {})
    suite = started.pop(backend, None) or ChildSuite(backend)
    returncode, report = suite.report(timeout=1500)
    assert returncode == 0, f"under {backend}:\n{report[-8000:]}"
