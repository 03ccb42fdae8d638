"""`keras-cxr selfcheck`: build the default `StackedEnsemble`, save it and reload it."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from keras_cxr.cli._arguments import positive_int

HELP = "build the default StackedEnsemble, save it and reload it"
DESCRIPTION = (
    "Builds the default StackedEnsemble with random weights (no download), saves it, "
    "reloads it in safe mode and checks that it predicts the same."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the options of `keras-cxr selfcheck` to its parser.

    Args:
        parser: The sub-command's parser.

    Example:
        >>> keras_cxr.cli.build_parser().parse_args(["selfcheck"]).size
        224
    """
    parser.add_argument("--out", default="runs/selfcheck", help="output folder")
    parser.add_argument("--size", type=positive_int, default=224, help="input side in pixels")


def run(args: argparse.Namespace) -> int:
    """Builds, saves and reloads the model, and prints what it checked.

    Args:
        args: The parsed `keras-cxr selfcheck` arguments.

    Returns:
        0 (failures raise).

    Raises:
        RuntimeError: If the reloaded model predicts differently.

    Example:
        >>> parser = keras_cxr.cli.build_parser()
        >>> keras_cxr.cli.selfcheck.run(parser.parse_args(["selfcheck", "--size", "64"]))
        0
    """
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
    after = keras_cxr.load_model(path).predict(images.astype("float32"), verbose=0)
    if not np.allclose(before, after, rtol=1e-5, atol=1e-6):
        raise RuntimeError("the reloaded model predicts differently")
    print(
        f"Built {model.name} ({', '.join(model.backbones)}; {model.count_params():,} "
        f"parameters), saved to {path}, reloaded with identical predictions in "
        f"{time.perf_counter() - start:.1f} s."
    )
    return 0
