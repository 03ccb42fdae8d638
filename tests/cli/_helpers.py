"""Reading what a command printed, and running it as a user would."""

from __future__ import annotations

import os
import subprocess
import sys


def error_line(capsys) -> str:
    """The one `error:` line on stderr; fails on a traceback or on several error lines."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    return lines[0]


def train_parser():
    """The `keras-cxr train` sub-parser of the full parser."""
    from keras_cxr.cli import build_parser

    return subparser(build_parser(), "train")


def subparser(parser, command: str):
    """The sub-parser of `command` in a `keras-cxr` parser."""
    return parser._subparsers._group_actions[0].choices[command]


def user_environment() -> dict[str, str]:
    """The test environment, less the TF_CPP_MIN_LOG_LEVEL that tests/conftest.py sets."""
    return {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}


def run_python(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`python *args` in a new process (by default in `user_environment()`), its output as text."""
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        env=user_environment() if env is None else env,
        timeout=300,
    )
