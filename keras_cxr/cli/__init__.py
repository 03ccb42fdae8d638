"""The `keras-cxr` command line: a thin layer over `keras_cxr.training` and `keras_cxr.scale`.

Commands: `demo` (the whole pipeline on synthetic phantoms, no download), `train`,
`federate`, `evaluate`, `evaluate-explanations`, `explain`, `export`, `report`,
`model-card`, `models`, `selfcheck`, `serve` and `view`, one module each. Every command
prints where its files went. Errors print one line, `error: ...`, on stderr and exit with
status 1 (2 for bad arguments); `--debug` (anywhere on the line) shows the traceback
instead.

Nothing heavy is imported until a command runs: `keras-cxr --help` and `keras-cxr COMMAND
--help` load neither Keras nor TensorFlow, and TensorFlow's C++ logging is set to errors
only unless `TF_CPP_MIN_LOG_LEVEL` is set (see `keras_cxr.cli._tf_logging`).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Collection

from keras_cxr.cli import (
    _tf_logging,
    demo,
    evaluate,
    evaluate_explanations,
    explain,
    export,
    federate,
    model_card,
    models,
    report,
    selfcheck,
    serve,
    train,
    view,
)
from keras_cxr.cli._errors import EXIT_ERROR, EXIT_INTERRUPTED, one_line

#: The sub-commands, in the order `keras-cxr --help` lists them.
_COMMANDS = {
    "demo": demo,
    "train": train,
    "federate": federate,
    "evaluate": evaluate,
    "evaluate-explanations": evaluate_explanations,
    "explain": explain,
    "export": export,
    "report": report,
    "model-card": model_card,
    "models": models,
    "selfcheck": selfcheck,
    "serve": serve,
    "view": view,
}

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `keras-cxr`, one sub-command per job.

    The `train` flags are generated from the fields of `keras_cxr.training.TrainConfig`
    and parse to only the settings given, so the recipe's values hold for the rest.

    Returns:
        The `argparse.ArgumentParser`, every sub-command complete.

    Example:
        >>> keras_cxr.cli.build_parser().parse_args(["demo", "--out", "d"]).out
        'd'
    """
    return _build_parser(complete=_COMMANDS)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `keras-cxr` console script.

    Sets `TF_CPP_MIN_LOG_LEVEL=2` (C++ errors only) when the environment does not set it,
    then parses the arguments and runs the command.

    Args:
        argv: Arguments without the program name; `None` reads `sys.argv`.

    Returns:
        The process exit code: 0 on success, 1 on an error (one `error: ...` line on
        stderr), 130 when interrupted.

    Raises:
        SystemExit: For `--help` (status 0) and invalid arguments (status 2), from
            `argparse`.

    Example:
        >>> keras_cxr.cli.main(["demo", "--out", "runs/demo"])
        0
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    filter_noise = _tf_logging.default_to_errors_only()
    # Only the command that runs needs its options: `--help` and the others stay light.
    requested = [a for a in argv if not a.startswith("-")][:1]
    with _tf_logging.start_up_noise_filtered(filter_noise):  # should a module load TF
        parser = _build_parser(complete=requested)
    args = parser.parse_args(argv)
    try:
        _check_model_file(args)
        if filter_noise:  # load TensorFlow now, while its start-up lines can be dropped
            with _tf_logging.start_up_noise_filtered(filter_noise):
                _tf_logging.import_backend()
        return args.run(args)
    except KeyboardInterrupt:
        if debug:
            raise
        print("error: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:
        if debug:
            raise
        print(f"error: {one_line(error)}", file=sys.stderr)
        return EXIT_ERROR


def _check_model_file(args: argparse.Namespace) -> None:
    """A `--model` that is not there is reported before the backend loads (seconds)."""
    path = getattr(args, "model", None)
    if isinstance(path, str) and not os.path.exists(path):
        raise FileNotFoundError(
            f"No model file at {path!r}. Pass the .keras file that `keras-cxr train` wrote."
        )


def _build_parser(complete: Collection[str]) -> argparse.ArgumentParser:
    """The parser, with the options of the commands in `complete` only."""
    parser = argparse.ArgumentParser(
        prog="keras-cxr",
        description="Explainable chest X-ray classifiers for Keras 3. Start with "
        "`keras-cxr demo`: it trains, evaluates and explains a model on synthetic phantoms.",
        epilog="Add --debug anywhere to see the full traceback of an error.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, command in _COMMANDS.items():
        sub = commands.add_parser(name, help=command.HELP, description=command.DESCRIPTION)
        if name in complete:
            command.add_arguments(sub)
        sub.set_defaults(run=command.run)
    return parser
