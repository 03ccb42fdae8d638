"""`keras_cxr.cli._arguments`: the options several commands share."""

from __future__ import annotations

import pytest

import keras_cxr
from keras_cxr.cli import build_parser
from keras_cxr.cli._arguments import METHOD_NAMES

from ._helpers import subparser


@pytest.mark.parametrize(("command", "dest"), [("report", "method"), ("train", "gradcam_method")])
def test_every_method_flag_offers_the_explainers(command, dest):
    parser = subparser(build_parser(), command)
    action = next(a for a in parser._actions if a.dest == dest)
    assert tuple(action.choices) == METHOD_NAMES == tuple(sorted(keras_cxr.explain.METHODS))


# ----------------------------------------------------------------- bad input


def _option(command: str, flag: str):
    parser = subparser(build_parser(), command)
    return next(a for a in parser._actions if flag in a.option_strings)


@pytest.mark.parametrize(
    ("flag", "commands", "expected"),
    [
        (
            "--model",
            ("evaluate", "explain", "export", "report", "serve"),
            {"required": True, "help": "a .keras model file", "default": None},
        ),
        (
            "--resume",
            ("explain", "federate"),
            {"required": False, "help": "continue an interrupted run in --out", "default": False},
        ),
    ],
)
def test_a_shared_option_reads_the_same_in_every_command(flag, commands, expected):
    for command in commands:
        action = _option(command, flag)
        found = {key: getattr(action, key) for key in expected}
        assert found == expected, command


@pytest.mark.parametrize("command", ["evaluate", "explain", "export", "report", "serve"])
@pytest.mark.parametrize("value", ["1.5", "-0.1", "nan", "half"])
def test_a_threshold_outside_zero_one_is_a_usage_error_before_any_model_loads(
    command, value, capsys
):
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args([command, "--model", "m.keras", "--threshold", value])
    assert exited.value.code == 2
    assert f"expected a probability in [0, 1], got {value}" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["0", "0.35", "1"])
def test_a_threshold_in_zero_one_is_read_as_a_float(value):
    args = build_parser().parse_args(
        ["evaluate", "--model", "m", "--data", "d", "--threshold", value]
    )
    assert args.threshold == float(value)
