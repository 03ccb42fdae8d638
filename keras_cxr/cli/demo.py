"""`keras-cxr demo`: the whole pipeline on synthetic phantoms, with no download."""

from __future__ import annotations

import argparse

from keras_cxr.cli._arguments import add_quiet_option, positive_int

HELP = "train, evaluate and explain a model on synthetic phantoms (no download)"
DESCRIPTION = (
    "The whole pipeline on synthetic chest X-ray phantoms, in a few minutes on a CPU: data, "
    "training (two compact CNNs end to end), evaluation, Grad-CAM and an HTML report, all "
    "written into --out."
)

#: Keyword arguments of `keras_cxr.training.run_demo` offered as flags: (type, default,
#: help). tests/cli/test_demo.py checks the defaults against `run_demo`'s own.
_OPTIONS = {
    "n_train": (positive_int, 800, "training phantoms, 20% of them for validation"),
    "n_test": (positive_int, 200, "test phantoms"),
    "image_size": (positive_int, 64, "image side in pixels"),
    "epochs": (positive_int, None, "training epochs"),
    "seed": (int, 0, "random seed"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the options of `keras-cxr demo` to its parser.

    Args:
        parser: The sub-command's parser.

    Example:
        >>> keras_cxr.cli.build_parser().parse_args(["demo", "--n-train", "60"]).n_train
        60
    """
    parser.add_argument("--out", default="runs/demo", help="output folder (default: runs/demo)")
    for name, (kind, default, text) in _OPTIONS.items():
        shown = "the demo recipe's" if default is None else default
        parser.add_argument(
            "--" + name.replace("_", "-"),
            type=kind,
            default=default,
            help=f"{text} (default: {shown})".replace("%", "%%"),
        )
    add_quiet_option(parser)


def run(args: argparse.Namespace) -> int:
    """Runs the demo into `args.out` and prints its test metrics and where to look.

    Args:
        args: The parsed `keras-cxr demo` arguments.

    Returns:
        0 (failures raise).

    Raises:
        keras_cxr.training.RunExistsError: If `--out` holds files that are not a demo.
        OSError: If `--out` cannot be written.

    Example:
        >>> parser = keras_cxr.cli.build_parser()
        >>> keras_cxr.cli.demo.run(parser.parse_args(["demo", "--out", "runs/demo"]))
        0
    """
    from keras_cxr.training import check_writable, run_demo

    check_writable(args.out)
    options = {name: getattr(args, name) for name in _OPTIONS}
    result = run_demo(args.out, progress=not args.quiet, **options)
    m = result.test_metrics
    print(
        f"\nDemo finished in {result.wall_time:.0f} s (CPU time {result.cpu_time:.0f} s).\n"
        f"Test split ({m['n']} phantoms, threshold {m['threshold']:.3f} chosen on validation): "
        f"accuracy {m['accuracy']:.3f}, sensitivity {m['sensitivity']:.3f}, specificity "
        f"{m['specificity']:.3f}, ROC AUC {m['roc_auc']:.3f}, ECE {m['ece']:.3f}.\n"
        f"Look at:\n"
        f"  report     {result.report_path}\n"
        f"  metrics    {result.metrics_path} (+ roc.png, reliability.png, confusion_matrix.png)\n"
        f"  Grad-CAM   {result.explanations[0].parent}/ and {result.out / 'logs' / 'gradcam'}/\n"
        f"  model      {result.model_path}\n"
        f"Next: keras-cxr explain --model {result.model_path} "
        f"{result.out / 'data' / 'test' / 'PNEUMONIA'}/*.jpeg --out {result.out / 'explained'}"
    )
    return 0
