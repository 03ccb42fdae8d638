"""The `backends` tests under the Keras backends this process does not run.

Keras fixes its backend when it is imported, so each other backend gets its own pytest
process (`KERAS_BACKEND=jax python -m pytest -m backends`); this test starts
it and fails with its report when it fails. The keras_cxr under test is put first on the
child's path, so the child tests the same copy as this process.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import keras
import pytest

import keras_cxr

ROOT = Path(__file__).resolve().parents[1]
#: The folders whose `backends` tests run under every backend: the explainers, layers,
#: models, callbacks and a smoke test of the command line (the demo and the commands on it).
FOLDERS = ("tests/explain", "tests/layers", "tests/models", "tests/callbacks", "tests/cli")
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


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["tensorflow", "jax", "torch"])
def test_the_backends_tests_pass_under(backend):
    skip_unless_available(backend)
    command = [sys.executable, "-m", "pytest", "-m", "backends", "-q", "-p", "no:cacheprovider"]
    result = subprocess.run(
        [*command, *FOLDERS],
        cwd=ROOT,
        env=backend_environment(backend),
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert result.returncode == 0, (
        f"under {backend}:\n{result.stdout[-6000:]}{result.stderr[-2000:]}"
    )
