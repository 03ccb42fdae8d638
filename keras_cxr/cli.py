"""The `keras-cxr` command line (a thin layer over the library)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _selfcheck(args: argparse.Namespace) -> int:
    import numpy as np

    import keras_cxr

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    model = keras_cxr.StackedEnsemble(weights=None, input_shape=(args.size, args.size, 3))
    images = np.random.default_rng(0).uniform(0, 255, (2, args.size, args.size, 3))
    before = model.predict(images.astype("float32"), verbose=0)
    path = out / "stacked_ensemble.keras"
    model.save(path)
    loaded = keras_cxr.load_model(path)
    after = loaded.predict(images.astype("float32"), verbose=0)
    if not np.allclose(before, after, rtol=1e-5, atol=1e-6):
        print("error: reloaded model predicts differently", file=sys.stderr)
        return 1
    print(
        f"Built {model.name} ({', '.join(model.backbones)}; {model.count_params():,} parameters), "
        f"saved to {path}, reloaded with identical predictions in "
        f"{time.perf_counter() - start:.1f} s."
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `keras-cxr` (one sub-command per job)."""
    parser = argparse.ArgumentParser(
        prog="keras-cxr", description="Explainable chest X-ray classifiers for Keras 3."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser(
        "selfcheck", help="build the default StackedEnsemble, save it and reload it"
    )
    check.add_argument("--out", default="runs/selfcheck", help="output folder")
    check.add_argument("--size", type=int, default=224, help="input side in pixels")
    check.set_defaults(run=_selfcheck)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `keras-cxr` console script.

    Args:
        argv: Arguments without the program name; `None` reads `sys.argv`.

    Returns:
        The process exit code.
    """
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
