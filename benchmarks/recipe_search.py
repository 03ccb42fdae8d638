"""Levers of the offline recipe, graded on the patient split and on the shift-aware validation.

The offline recipe scored accuracy 0.98 / specificity 0.97 on its patient-split validation
and 0.885 / 0.73 on the independent Kermany test split, where normals are over-called.
This script trains a shrunken offline recipe once per lever, on one fold of the training
folder that holds out a whole cohort of normals (`keras_cxr.data.hold_out_cohort`: every
`NORMAL2-IM-…` normal, plus 20 % of the pneumonia patients, is graded and never trained
on), and prints side by side, per lever:

- patient: the patient-split validation (drawn like the training images), at the
  threshold chosen there;
- copies: the mean and worst specificity and AUC over the shifted copies of that
  validation (`keras_cxr.data.shifted_copies`);
- held-out cohort: accuracy, specificity, AUC and ECE on the held-out fold, at the
  threshold chosen on the validation images (`thr=val`) and on them and their shifted
  copies pooled (`thr=shifted`, `TrainConfig.threshold_data="shifted"`).

A lever is worth keeping when it moves the held-out-cohort numbers (and the copies), not
the patient split alone. Every lever trains with the same seed, images and epochs.

Usage (needs the Kermany training folder; takes minutes per lever on a CPU):
    nice -n 10 python benchmarks/recipe_search.py --data ../shared/data/chest_xray \\
        [--image-size 96] [--epochs 5] [--max-train 1600] [--levers baseline,intensity]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from keras_cxr.data import (
    ImageSet,
    ImageSplits,
    balanced_class_weight,
    hold_out_cohort,
    image_cohort,
    read_images,
    scan_chest_xray,
    stratified_sample,
)
from keras_cxr.metrics import classification_report
from keras_cxr.models import predict_probabilities
from keras_cxr.training import ShiftValidation, TrainConfig, train

#: Lever name → `TrainConfig` overrides of the shrunken offline recipe.
LEVERS: dict[str, dict] = {
    "baseline": {},
    "intensity_aug": {"augmentation": "intensity"},
    "standardize": {"backbones": ("cnn_3x3_std", "cnn_7x7_std")},
    "equalize": {"backbones": ("cnn_3x3_eq", "cnn_7x7_eq")},
    "equalize+intensity_aug": {
        "backbones": ("cnn_3x3_eq", "cnn_7x7_eq"),
        "augmentation": "intensity",
    },
    "standardize+intensity_aug": {
        "backbones": ("cnn_3x3_std", "cnn_7x7_std"),
        "augmentation": "intensity",
    },
}


def load_fold(root: str, image_size: int, max_train: int, seed: int) -> ImageSplits:
    """The cohort-held-out fold of `root/train`, decoded: train, val and "shifted" as test."""
    records = scan_chest_xray(root, "binary", 0.0, seed).records
    cohorts = [image_cohort(r.path.name) for r in records]
    folds = hold_out_cohort(
        [r.patient for r in records],
        [r.label for r in records],
        cohorts,
        "NORMAL2",
        0.15,
        0.2,
        seed,
    )
    sets = {}
    for name, fold in (("train", "train"), ("val", "val"), ("test", "shifted")):
        chosen = [r for r, f in zip(records, folds) if f == fold]
        if name == "train" and len(chosen) > max_train:
            keep = stratified_sample([r.label for r in chosen], max_train, seed)
            chosen = [chosen[i] for i in keep]
        images = read_images([r.path for r in chosen], image_size, "rgb", False, name)
        sets[name] = ImageSet(
            images,
            np.asarray([r.label for r in chosen], np.int64),
            [r.path for r in chosen],
            [r.patient for r in chosen],
        )
    return ImageSplits(
        sets["train"],
        sets["val"],
        sets["test"],
        class_weight=balanced_class_weight(sets["train"].labels.tolist()),
    )


def run_lever(name: str, splits: ImageSplits, args: argparse.Namespace, out: Path) -> dict:
    """Trains one lever and grades it; returns its row of the table."""
    settings = dict(
        data=args.data,
        out=out / name,
        image_size=args.image_size,
        epochs=args.epochs,
        patience=args.epochs,
        gradcam_images=0,
        tensorboard=False,
        progress=False,
        shift_validation=False,  # measured below, at both thresholds
        seed=args.seed,
    )
    config = TrainConfig.recipe("offline", **{**settings, **LEVERS[name]})
    tic = time.perf_counter()
    result = train(config, splits)
    seconds = time.perf_counter() - tic
    model = result.model

    def predict(images):
        return predict_probabilities(model, images, 64)

    shift = ShiftValidation.measure(predict, splits.val, seed=args.seed)
    held_out = predict(splits.test.images)
    row = {"lever": name, "train_s": round(seconds, 1)}
    for data in ("validation", "shifted"):
        threshold = shift.threshold("youden", data)
        report = shift.report(threshold)
        graded = classification_report(splits.test.labels, held_out, threshold)
        row[data] = {
            "threshold": threshold,
            "patient": report["patient"],
            "mean_shifted": report["mean_shifted"],
            "worst_shifted": report["worst_shifted"],
            "held_out": {k: graded[k] for k in ("accuracy", "sensitivity", "specificity")},
        }
    row["held_out_auc"] = classification_report(splits.test.labels, held_out)["roc_auc"]
    row["held_out_ece"] = classification_report(splits.test.labels, held_out)["ece"]
    return row


def format_row(row: dict) -> str:
    """One line of the comparison table."""
    v, s = row["validation"], row["shifted"]
    return (
        f"{row['lever']:<28}"
        f"{v['patient']['accuracy']:>6.3f}{v['patient']['specificity']:>6.3f}"
        f"{v['patient']['roc_auc']:>6.3f} |"
        f"{v['mean_shifted']['specificity']:>6.3f}{v['worst_shifted']['specificity']:>6.3f}"
        f"{v['mean_shifted']['roc_auc']:>6.3f} |"
        f"{v['held_out']['accuracy']:>6.3f}{v['held_out']['specificity']:>6.3f}"
        f"{s['held_out']['accuracy']:>6.3f}{s['held_out']['specificity']:>6.3f}"
        f"{row['held_out_auc']:>6.3f}{row['held_out_ece']:>6.3f}{row['train_s']:>7.0f}"
    )


HEADER = (
    f"{'':<28}{'patient split':^18} |{'shifted copies':^18} |"
    f"{'held-out cohort (NORMAL2 normals)':^36}\n"
    f"{'lever':<28}{'acc':>6}{'spec':>6}{'auc':>6} |{'spec':>6}{'worst':>6}{'auc':>6} |"
    f"{'acc':>6}{'spec':>6}{'acc':>6}{'spec':>6}{'auc':>6}{'ece':>6}{'sec':>7}\n"
    f"{'':<28}{'':18} |{'':18} |{'thr=val':>12}{'thr=shifted':>12}"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--image-size", type=int, default=96)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--max-train", type=int, default=1600)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--levers", default=",".join(LEVERS))
    parser.add_argument("--json", default=None, help="also write the rows to this file")
    args = parser.parse_args()
    splits = load_fold(args.data, args.image_size, args.max_train, args.seed)
    print(
        f"fold: {len(splits.train)} train, {len(splits.val)} val, {len(splits.test)} held out "
        f"({int((splits.test.labels == 0).sum())} NORMAL2 normals); {args.image_size} px, "
        f"{args.epochs} epochs, seed {args.seed}"
    )
    print(HEADER, flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as out:
        for name in args.levers.split(","):
            rows.append(run_lever(name, splits, args, Path(out)))
            print(format_row(rows[-1]), flush=True)
            if args.json:
                Path(args.json).write_text(json.dumps(rows, indent=1, default=float))


if __name__ == "__main__":
    main()
