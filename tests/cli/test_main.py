"""`keras_cxr.cli.main`: help, exit codes, errors, and a light start."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from keras_cxr.cli import main

from ._helpers import run_python, user_environment

COMMANDS = ["demo", "train", "evaluate", "explain", "export", "report", "selfcheck", "serve"]

# What a subprocess reports after `main(argv)`: which heavy modules it loaded.
_PROBE = """
import sys
from keras_cxr.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print("LOADED", sorted(m for m in ("keras", "tensorflow", "numpy") if m in sys.modules))
"""


@pytest.mark.parametrize("command", [*COMMANDS])
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert f"usage: keras-cxr {command}" in capsys.readouterr().out


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_loads_no_keras_and_prints_nothing_on_stderr(command):
    argv = ["--help"] if command is None else [command, "--help"]
    completed = run_python("-c", _PROBE, *argv)
    assert completed.stderr == ""
    assert completed.stdout.startswith(f"usage: keras-cxr{'' if command is None else ' '}")
    assert completed.stdout.splitlines()[-1] == "LOADED []"


def test_console_script_prints_the_usage():
    script = shutil.which("keras-cxr")
    if script is None:
        pytest.skip("the keras-cxr console script is not installed on PATH")
    completed = subprocess.run(
        [script, "--help"], capture_output=True, text=True, env=user_environment(), timeout=60
    )
    assert completed.returncode == 0 and completed.stderr == ""
    for command in COMMANDS:
        assert command in completed.stdout


@pytest.mark.parametrize(
    "command", ["evaluate", "report", "explain", "export", "serve", "model-card"]
)
def test_a_missing_model_file_is_reported_before_any_framework_loads(command, tmp_path):
    missing = str(tmp_path / "missing.keras")
    others = {
        "evaluate": ["--data", "d"],
        "report": ["--data", "d"],
        "explain": ["a.png", "--out", "o"],
    }
    others |= {"export": ["--format", "onnx", "--out", "m.onnx"], "model-card": ["--out", "c"]}
    argv = [command, "--model", missing, *others.get(command, [])]
    completed = run_python("-c", _PROBE, *argv)
    assert completed.stderr.strip() == (
        f"error: No model file at {missing!r}. Pass the .keras file that `keras-cxr train` wrote."
    )
    assert completed.stdout.splitlines()[-1] == "LOADED []"


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(FileNotFoundError, match="No model file"):
        main(["--debug", "evaluate", "--model", str(tmp_path / "m.keras"), "--data", str(tmp_path)])


def test_exit_code_of_the_console_script(tmp_path):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    model, data = str(tmp_path / "m.keras"), str(tmp_path)
    completed = run_python(
        "-m", "keras_cxr.cli", "evaluate", "--model", model, "--data", data, env=env
    )
    assert completed.returncode == 1
    assert "Traceback" not in completed.stderr
    assert completed.stderr.strip().splitlines()[-1] == (
        f"error: No model file at '{tmp_path / 'm.keras'}'. "
        "Pass the .keras file that `keras-cxr train` wrote."
    )
    assert completed.stdout == ""


def test_interrupt_exits_with_130(monkeypatch, capsys):
    import keras_cxr.cli.selfcheck as selfcheck

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(selfcheck, "run", interrupted)
    assert main(["selfcheck"]) == 130
    assert capsys.readouterr().err == "error: interrupted\n"


def test_an_unexpected_error_is_named_with_its_type(monkeypatch, capsys):
    import keras_cxr.cli.selfcheck as selfcheck

    def broken(args):
        raise KeyError("size")

    monkeypatch.setattr(selfcheck, "run", broken)
    assert main(["selfcheck"]) == 1
    assert capsys.readouterr().err == (
        "error: KeyError: 'size' (run with --debug for the traceback)\n"
    )


def test_missing_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([])
    assert exit_info.value.code == 2
    assert "the following arguments are required: COMMAND" in capsys.readouterr().err
