"""Federated training (FedAvg over simulated sites) against centralized training on the same data.

For each partition (`iid:K`, `label:K`, `cohort`), `keras_cxr.federated.federate` trains
the recipe for `--rounds` rounds of `--local-epochs` at each site; the centralized
baseline trains the same recipe with `keras_cxr.training.train` on exactly the same
images, the sites' training and validation images pooled, for `rounds * local_epochs`
epochs. All models are graded on the same held-out patients (`--test-fraction` of the
folder's patients, or its `test/`), at their own threshold and temperature (fitted on the
pooled validation logits; for the baseline, on the pooled validation images).

Printed: test ROC AUC, accuracy, sensitivity, specificity and ECE, the AUC gap to
centralized (issue #30's target: within 0.01), and the framework's share of each round:
`(round time - local training time) / local training time`, where local training is what
the sites spend in `fit` (including TensorFlow's tracing of each fresh compile), and the
round adds the evaluation of every site, the averaging and the committed round files.

Usage:
    python benchmarks/federated_vs_centralized.py --data ../shared/data/chest_xray \\
        [--partitions iid:3 label:3 cohort] [--rounds 4] [--local-epochs 2] \\
        [--recipe offline] [--image-size 64] [--test-fraction 0.1] [--out runs/fed_bench]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def pooled(parts):
    """One `ImageSet` of several, in order."""
    from keras_cxr.data import ImageSet

    return ImageSet(
        np.concatenate([p.images for p in parts]),
        np.concatenate([p.labels for p in parts]),
        [path for p in parts for path in p.paths],
        [patient for p in parts for patient in p.patients],
    )


def centralized(args, sites, held_out, out: Path) -> dict:
    """The recipe trained on the sites' images pooled, graded on `held_out`."""
    from keras_cxr.data import ImageSplits, balanced_class_weight
    from keras_cxr.training import TrainConfig, train

    train_set = pooled([site.splits.train for site in sites])
    splits = ImageSplits(
        train=train_set,
        val=pooled([site.splits.val for site in sites]),
        test=held_out,
        class_names=sites[0].splits.class_names,
        class_weight=balanced_class_weight(train_set.labels.tolist()),
    )
    config = TrainConfig.recipe(
        args.recipe,
        data=args.data,
        out=out,
        image_size=args.image_size,
        epochs=args.rounds * args.local_epochs,
        shift_validation=False,
        tensorboard=False,
        progress=False,
        overwrite=True,
        seed=args.seed,
    )
    tic = time.perf_counter()
    result = train(config, splits=splits)
    return {"test": result.test_metrics, "seconds": time.perf_counter() - tic}


def federated(args, partition: str, out: Path) -> tuple[dict, list, object]:
    """One federation; returns its summary, its round rows and its sites."""
    from keras_cxr.federated import FederatedConfig, federate, load_sites

    sites, held_out = load_sites(
        args.data, partition, args.image_size, test_fraction=args.test_fraction, seed=args.seed
    )
    config = FederatedConfig(
        args.data,
        partition,
        rounds=args.rounds,
        out=out,
        recipe=args.recipe,
        local_epochs=args.local_epochs,
        image_size=args.image_size,
        test_fraction=args.test_fraction,
        seed=args.seed,
        overwrite=True,
    )
    tic = time.perf_counter()
    result = federate(config, sites, held_out)
    summary = {"test": result.test_metrics, "seconds": time.perf_counter() - tic}
    return summary, result.rows, (sites, held_out)


def overhead(rows: list[dict]) -> float:
    """Share of the rounds' time spent outside the sites' local training."""
    rounds = sum(r["round_seconds"] for r in rows if r["round_seconds"] != "")
    local = sum(r["local_seconds"] for r in rows if r["local_seconds"] != "")
    return (rounds - local) / local


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--partitions", nargs="+", default=["iid:3", "label:3", "cohort"])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--local-epochs", type=int, default=2)
    parser.add_argument("--recipe", default="offline")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--test-fraction", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/fed_bench")
    args = parser.parse_args()
    out = Path(args.out)
    lines, baseline = [], None
    for partition in args.partitions:
        summary, rows, (sites, held_out) = federated(
            args, partition, out / partition.replace(":", "_")
        )
        if baseline is None:  # the same pooled images for every partition of one folder
            baseline = centralized(args, sites, held_out, out / "centralized")
            lines.append(("centralized", baseline, None))
        lines.append((partition, summary, overhead(rows)))
    columns = ("AUC", "gap", "acc", "sens", "spec", "ECE", "wall s", "overhead")
    widths = (6, 7, 6, 6, 6, 6, 7, 9)
    print(f"{'training':<12} " + " ".join(f"{c:>{w}}" for c, w in zip(columns, widths)))
    for name, summary, share in lines:
        m = summary["test"]
        gap = m["roc_auc"] - baseline["test"]["roc_auc"]
        print(
            f"{name:<12} {m['roc_auc']:6.3f} {gap:+7.3f} {m['accuracy']:6.3f} "
            f"{m['sensitivity']:6.3f} {m['specificity']:6.3f} {m['ece']:6.3f} "
            f"{summary['seconds']:7.0f} {'' if share is None else f'{share:9.1%}'}"
        )
    (out / "comparison.json").write_text(
        json.dumps(
            {name: {**s, "overhead": share} for name, s, share in lines}, indent=1, default=str
        )
    )


if __name__ == "__main__":
    main()
