"""The reference recipe over several training seeds: median, spread and patient intervals.

Trains a recipe once per seed (`keras-cxr train --recipe offline|pretrained --seed S
--test-fraction F`, into `OUT/seed_S`; a folder that already holds a `model.keras` is
reused), then grades every run the same way, at the threshold and temperature stored in
its model file:

- the **patient split** (the validation images the threshold and temperature were fitted
  on: optimistic by construction),
- the **held-out test** (`--test-fraction` of the patients, never seen in training or in
  choosing anything),
- the **shift-aware validation** of `keras_cxr.training.ShiftValidation`: the validation
  images with the independent test split's cohort mix (70 % `NORMAL2` among normals), the
  `NORMAL2` normals alone, and the worst of the intensity-shifted copies,

each metric with its 95 % percentile bootstrap interval over whole patients
(`keras_cxr.metrics.classification_intervals`, or `multiclass_intervals` for a run trained
with `--labels three_class`: pass its folders with `--runs`; the worst copy is then the one
of least accuracy, not of least specificity). The report gives, per metric and row, the
median over seeds, the range, and the median seed's interval.

Usage:
    python benchmarks/recipe_seeds.py --data ../shared/data/chest_xray [--seeds 0 1 2]
        [--recipe offline|pretrained] [--test-fraction 0.1] [--out runs/recipe_seeds]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

#: The metrics of each row, in the report's order.
METRICS = ("accuracy", "sensitivity", "specificity", "roc_auc", "ece", "brier")
#: The metrics of each row of a three-class run (`NORMAL/sensitivity`: normals called normal).
MULTICLASS_METRICS = (
    "accuracy",
    "macro_f1",
    "macro_roc_auc",
    "NORMAL/sensitivity",
    "bacterial_vs_viral/accuracy",
    "bacterial_vs_viral/roc_auc",
)
#: The targets of issue #17 on the independent test split (for the report's last column).
TARGETS = {"accuracy": ">= 0.93", "specificity": ">= 0.88", "roc_auc": ">= 0.97", "ece": "<= 0.05"}


def train_seed(
    data: Path, seed: int, test_fraction: float, folder: Path, recipe: str = "offline"
) -> None:
    """Runs `keras-cxr train --recipe RECIPE` for one seed into `folder`, unless it holds a
    model already."""
    if (folder / "model.keras").exists():
        return
    command = [
        "keras-cxr", "train", "--data", str(data), "--recipe", recipe,
        "--seed", str(seed), "--test-fraction", str(test_fraction), "--out", str(folder),
        "--quiet",
    ]  # fmt: skip
    subprocess.run(command, check=True)


def grade_run(folder: Path, resamples: int, threshold_data: str = "stored") -> dict:
    """Every row of one run (binary or three-class) with its patient-level intervals.

    `threshold_data="shifted"` re-chooses a binary run's threshold, for its stored
    operating point, on the validation images and their shifted copies pooled (what
    `TrainConfig.threshold_data="shifted"` does in training); "stored" keeps the model's.
    """
    from keras_cxr.data import load_image_splits
    from keras_cxr.data.cohorts import cohort_matched_subset, image_cohort
    from keras_cxr.data.shifted import shifted_copies
    from keras_cxr.models import (
        apply_temperature,
        load_model,
        predict_logits,
        read_metadata,
        stored_temperature,
    )
    from keras_cxr.training.calibrating import positive_probability_of

    config = json.loads((folder / "config.json").read_text())
    summary = json.loads((folder / "train_summary.json").read_text())
    metadata = read_metadata(folder / "model.keras")
    three_class = config.get("labels") == "three_class"
    threshold, temperature = metadata.get("threshold"), stored_temperature(metadata)
    model = load_model(folder / "model.keras")
    splits = load_image_splits(
        config["data"], image_size=config["image_size"], val_fraction=config["val_fraction"],
        test_fraction=config["test_fraction"], seed=config["seed"], progress=False,
        labels=config.get("labels", "binary"),
    )  # fmt: skip

    def predict(images: np.ndarray) -> np.ndarray:
        logits = predict_logits(model, images, 64)
        if three_class:
            return apply_temperature(logits, temperature)
        return positive_probability_of(logits, temperature)

    def grade(labels, probabilities, groups) -> dict:
        if three_class:
            return multiclass_row(labels, probabilities, groups, resamples)
        return row(labels, probabilities, threshold, groups, resamples)

    val, test, seed = splits.val, splits.test, config["seed"]
    labels, groups = np.asarray(val.labels), np.asarray(val.patients)
    p_val = predict(val.images)
    copies = {
        name: predict(images) for name, images in shifted_copies(val.images, seed=seed).items()
    }
    if threshold_data == "shifted" and not three_class:
        from keras_cxr.metrics import select_threshold

        pooled = np.concatenate([p_val, *copies.values()])
        pooled_labels = np.concatenate([labels] * (1 + len(copies)))
        point = metadata.get("operating_point") or "youden"
        threshold = select_threshold(pooled_labels, pooled, point)
    key = "accuracy" if three_class else "specificity"
    graded = {name: grade(labels, p, groups) for name, p in copies.items()}
    worst = min(graded, key=lambda name: graded[name][key]["point"])
    cohorts = [image_cohort(str(path)) for path in val.paths]
    subset = cohort_matched_subset(labels, cohorts, seed=seed)
    normal2 = np.asarray([c == "NORMAL2" for c in cohorts]) & (labels == 0)
    rows = {
        "patient split": grade(labels, p_val, groups),
        "held-out test": grade(test.labels, predict(test.images), test.patients),
        "cohort mix (70% NORMAL2)": grade(labels[subset], p_val[subset], groups[subset]),
        "NORMAL2 normals": grade(labels[normal2], p_val[normal2], groups[normal2]),
        f"worst shifted copy ({worst})": graded[worst],
    }
    mean_shifted = {
        metric: float(np.nanmean([g[metric]["point"] for g in graded.values() if g[metric]]))
        for metric in (MULTICLASS_METRICS if three_class else METRICS)
    }
    return {
        "seed": seed,
        "labels": config.get("labels", "binary"),
        "threshold": threshold,
        "temperature": temperature,
        "train_seconds": summary["timings_s"]["total"],
        "images": summary["images"],
        "worst_shift": worst,
        "mean_shifted": mean_shifted,
        "rows": rows,
    }


def multiclass_row(labels, probabilities, groups, resamples: int) -> dict:
    """`MULTICLASS_METRICS` with their intervals (NaN where undefined)."""
    from keras_cxr.metrics import multiclass_intervals

    intervals = multiclass_intervals(
        np.asarray(labels), np.asarray(probabilities), ("NORMAL", "BACTERIAL", "VIRAL"),
        groups=list(groups), n_resamples=resamples, pairs={"bacterial_vs_viral": (1, 2)},
    )  # fmt: skip
    return {"n": len(labels), **{name: intervals[name].to_dict() for name in MULTICLASS_METRICS}}


def row(labels, probabilities, threshold: float, groups, resamples: int) -> dict:
    """`METRICS` with their intervals (NaN where a metric is undefined, e.g. one class)."""
    from keras_cxr.metrics import classification_intervals

    intervals = classification_intervals(
        np.asarray(labels), np.asarray(probabilities), threshold, groups=list(groups),
        n_resamples=resamples,
    )  # fmt: skip
    result = {"n": len(labels)}
    for name in METRICS:
        interval = intervals.get(name)
        result[name] = None if interval is None else interval.to_dict()
    return result


def cell(runs: list[dict], row_name: str, metric: str) -> str:
    """`median [min, max] (median seed's interval)` of one metric of one row."""
    values = [
        (run["rows"][row_name][metric] or {}).get("point", np.nan)
        if row_name in run["rows"]
        else np.nan
        for run in runs
    ]
    values = np.asarray(values, np.float64)
    if np.isnan(values).all():
        return "n/a"
    order = np.argsort(np.nan_to_num(values, nan=np.inf))
    middle = runs[order[len(runs) // 2]]["rows"][row_name][metric]
    spread = f" [{np.nanmin(values):.3f}–{np.nanmax(values):.3f}]" if len(runs) > 1 else ""
    finite = middle is not None and np.isfinite(middle["low"])
    interval = f" ({middle['low']:.3f}–{middle['high']:.3f})" if finite else ""
    return f"{np.nanmedian(values):.3f}{spread}{interval}"


def report(runs: list[dict]) -> str:
    """The markdown table: a row per graded split, a column per metric."""
    metrics = MULTICLASS_METRICS if runs[0]["labels"] == "three_class" else METRICS
    names = [name for name in runs[0]["rows"] if not name.startswith("worst")]
    worst = {name for run in runs for name in run["rows"] if name.startswith("worst")}
    lines = [
        f"Median over {len(runs)} seeds ({', '.join(str(r['seed']) for r in runs)}) "
        "[range over seeds] (95% patient bootstrap interval of the median seed).",
        "",
        "| split | n | " + " | ".join(metrics) + " |",
        "|---|---:|" + "---:|" * len(metrics),
    ]
    for name in names:
        n = int(np.median([run["rows"][name]["n"] for run in runs]))
        cells = " | ".join(cell(runs, name, metric) for metric in metrics)
        lines.append(f"| {name} | {n} | {cells} |")
    for run in runs:  # the worst copy can differ between seeds: one line per seed
        name = next(n for n in run["rows"] if n.startswith("worst"))
        cells = " | ".join(cell([run], name, metric) for metric in metrics)
        lines.append(f"| seed {run['seed']}: {name} | {run['rows'][name]['n']} | {cells} |")
    seconds = [run["train_seconds"] for run in runs]
    thresholds = ", ".join(
        "arg-max" if run["threshold"] is None else f"{run['threshold']:.3f}" for run in runs
    )
    temperatures = ", ".join(f"{run['temperature']:.3f}" for run in runs)
    minutes = ", ".join(f"{value / 60:.0f}" for value in seconds)
    lines += [
        "",
        f"Worst copies: {', '.join(sorted(worst))}. Thresholds {thresholds}; temperatures "
        f"{temperatures}; training {minutes} min (median {np.median(seconds) / 60:.0f}).",
        "Targets of issue #17 (independent test split): "
        + ", ".join(f"{k} {v}" for k, v in TARGETS.items()),
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="ROOT with train/")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--test-fraction", type=float, default=0.1)
    parser.add_argument(
        "--recipe", choices=("offline", "pretrained"), default="offline",
        help="the recipe to train: compact CNNs from scratch, or ImageNet EfficientNet-Lite",
    )  # fmt: skip
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples")
    parser.add_argument(
        "--threshold-data", choices=("stored", "shifted"), default="stored",
        help="keep each model's threshold, or re-choose it on validation + shifted copies",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, default=Path("runs/recipe_seeds"))
    parser.add_argument(
        "--runs", type=Path, nargs="+", help="grade these run folders instead of OUT/seed_S"
    )
    args = parser.parse_args()
    folders = args.runs or [args.out / f"seed_{seed}" for seed in args.seeds]
    if not args.runs:
        for seed, folder in zip(args.seeds, folders):
            train_seed(args.data, seed, args.test_fraction, folder, args.recipe)
    runs = [grade_run(folder, args.resamples, args.threshold_data) for folder in folders]
    text = report(runs)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "table.md").write_text(text + "\n")
    (args.out / "results.json").write_text(json.dumps(runs, indent=2, default=float) + "\n")


if __name__ == "__main__":
    main()
