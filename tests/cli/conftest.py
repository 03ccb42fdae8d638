"""The demo run that the command tests read: trained once per test session."""

from __future__ import annotations

import contextlib
import io
import os

import keras
import pytest
from filelock import FileLock

from keras_cxr.cli import main


@pytest.fixture(scope="session")
def demo(tmp_path_factory):
    """`keras-cxr demo` shrunk to 32-pixel phantoms and one epoch; its folder is read only.

    Its standard output is saved as `stdout.txt` in the folder. Under pytest-xdist the
    workers of one session share one run per backend: the first to get here trains it, the
    others wait for it (about 25 s of CPU each saved).
    """
    if "PYTEST_XDIST_WORKER" not in os.environ:
        return _run_demo(tmp_path_factory.mktemp("cli") / "demo")
    shared = tmp_path_factory.getbasetemp().parent / f"cli-demo-{keras.backend.backend()}"
    with FileLock(f"{shared}.lock"):
        if not (shared / "demo" / "stdout.txt").is_file():
            _run_demo(shared / "demo")
    return shared / "demo"


def _run_demo(out):
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(
            [
                "demo",
                "--out",
                str(out),
                "--n-train",
                "60",
                "--n-test",
                "20",
                "--image-size",
                "32",
                "--epochs",
                "1",
                "--quiet",
            ]
        )
    assert code == 0
    (out / "stdout.txt").write_text(printed.getvalue())
    return out
