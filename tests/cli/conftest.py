"""The demo run that the command tests read: trained once per test session."""

from __future__ import annotations

import contextlib
import io

import pytest

from keras_cxr.cli import main


@pytest.fixture(scope="session")
def demo(tmp_path_factory):
    """`keras-cxr demo` shrunk to 32-pixel phantoms and one epoch; its folder is read only.

    Its standard output is saved as `stdout.txt` in the folder.
    """
    out = tmp_path_factory.mktemp("cli") / "demo"
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
