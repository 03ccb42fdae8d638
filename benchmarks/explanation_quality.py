"""How well does every explanation method explain a small CNN trained on chest phantoms?

Trains a small Functional CNN (`_quality_model.build_model`: five 3 x 3 convolutions with
batch norm, two max-pools, global average pooling, one sigmoid unit; the last feature map
is 1/4 of the image, 24 x 24 at 96 px) on `keras_cxr.data.synthetic.make_phantoms`, then
explains class 1 on held-out *positive* phantoms with every method in
`keras_cxr.explain.METHODS` (the CAM family and the pixel attribution methods, with their
default arguments but Integrated Gradients at 32 steps and SHAP at 200 evaluations) and two
model-independent baselines: `random` (noise on the CAM grid, upsampled, so as smooth as
a CAM) and `centre` (a Gaussian on the image centre). All of it is repeated for `--seeds`
training seeds (phantoms, initial weights and batch order change with the seed) and
reported as the mean ± sd over the seeds:

- the pointing game at 0 px, 4 px (one CAM cell) and 15 px (Zhang et al., TorchRay);
- the heatmap energy inside the lesion, and that energy over the lesion's area fraction
  (a uniform map scores 1);
- deletion and insertion AUC (blur baseline, 20 steps, on the probability), on the first
  `--faithfulness-images` positives;
- model randomization (Adebayo et al. 2018): the Spearman rank correlation of the trained
  model's maps with those of the model with its head re-initialized, and Spearman and
  SSIM with every layer re-initialized (`--randomization-seeds` draws), beside the SSIM of
  the maps with an empty map (the floor that SSIM gives sparse maps) and the share of
  randomized maps that come out empty (no evidence anywhere; counted, not averaged);
- Quantus's families, as `keras-cxr evaluate-explanations` scores them
  (`_quality_families.py`): relevance mass and rank accuracy, sparseness and complexity,
  faithfulness correlation and ROAD, max-sensitivity and random logit;
- the time per image as a multiple of a warm forward pass (batches of 16), both measured
  in the same process, after a warm-up call that compiles;
- the shortcut: a second model trained on phantoms whose burned-in marker correlates with
  the label, explained on held-out normals that all carry the marker (the only evidence
  for class 1 there): the energy and the peak on the marker, for both models.

SHAP, LIME, Occlusion and Score-CAM are slow: they are scored on the first `--slow-images`
positives (and marked normals) and their sanity check on 2 images; the table says how many
images each method had.

Usage:
    python benchmarks/explanation_quality.py [--seeds 5] [--images 1200] [--epochs 10]
        [--size 96] [--eval-images 96] [--slow-images 24] [--out runs/explanation_quality/]
    python benchmarks/explanation_quality.py --quick   # small and fast, for a smoke run
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
from _quality_model import forward_seconds, gray, make_predict_fn, train
from _quality_report import (
    FAMILY_COLUMNS,
    MARKER_COLUMNS,
    QUALITY_COLUMNS,
    aggregate,
    cell,
    json_safe,
    markdown_table,
    save_methods_figure,
)
from _quality_rows import (
    BASELINES,
    clear_explainers,
    explainer_for,
    marker_row,
    quality_row,
    randomized_copies,
)

import keras_cxr
from keras_cxr import metrics
from keras_cxr.data.synthetic import make_phantoms

#: The methods that are scored on `--slow-images` only.
SLOW = ("scorecam", "occlusion", "shap", "lime")
#: Held-out phantoms (half positive) for the classification check.
TEST_IMAGES = 400
FIGURE_IMAGES = 4
QUICK = {
    "seeds": 1,
    "images": 400,
    "epochs": 4,
    "size": 64,
    "eval_images": 16,
    "slow_images": 4,
    "faithfulness_images": 8,
    "randomization_images": 4,
    "shortcut_images": 8,
}


def log(message: str) -> None:
    """Progress goes to stderr so that stdout holds only the tables."""
    print(message, file=sys.stderr, flush=True)


def _positives(phantoms, count: int):
    keep = np.flatnonzero(phantoms.labels == 1)[:count]
    return gray(phantoms.images[keep]), phantoms.lesion_masks[keep], keep


def _first(phantoms, count: int | None):
    """The first `count` phantoms (all for `None`), as the same kind of object."""
    keep = slice(None) if count is None else slice(count)
    marker = phantoms.marker_masks
    return type(phantoms)(
        phantoms.images[keep], phantoms.labels[keep], phantoms.lesion_masks[keep],
        phantoms.lung_masks[keep], None if marker is None else marker[keep],
    )  # fmt: skip


def run_seed(args, seed: int, methods: list[str]) -> dict:
    """Train both models with `seed` and score every method; rows and figure material."""
    size, begin = args.size, time.perf_counter()
    models, fit_seconds = {}, {}
    for label, shortcut in (("normal", False), ("shortcut", True)):
        phantoms = make_phantoms(args.images, size, seed=seed, shortcut=shortcut)
        models[label], fit_seconds[label] = train(phantoms, size, args.epochs, seed, f"{label}_cnn")
        log(f"seed {seed}: fit {label} {fit_seconds[label]:.0f} s")
    predict_fn = make_predict_fn(models["normal"], size)
    test = make_phantoms(args.test_images, size, seed=seed + 1)
    images, masks, _ = _positives(test, args.eval_images)
    per_image = forward_seconds(predict_fn, images) / len(images)
    copies = randomized_copies(models["normal"], seed, args.randomization_seeds)
    rows = []
    for method in methods:
        count = args.slow_images if method in SLOW else args.eval_images
        sanity = min(args.randomization_images, 2) if method in SLOW else args.randomization_images
        data = {
            "images": images[:count],
            "masks": masks[:count],
            "faithfulness": min(count, args.faithfulness_images),
            "randomization": images[:sanity],
            "forward_seconds": per_image * min(count, len(images)),
        }
        start = time.perf_counter()
        row = quality_row(method, models["normal"], predict_fn, data, copies, seed)
        row["randomized_empty_share"] = row["randomized_empty_maps"] / row["randomized_maps"]
        rows.append(row)
        log(f"seed {seed}: {method} {time.perf_counter() - start:.0f} s")
    # Normals that all carry the marker: the marker is the only evidence for class 1.
    normals = make_phantoms(
        args.shortcut_images, size, seed=seed + 2, prevalence=0.0, shortcut=True,
        marker_rates=(1.0, 1.0),
    )  # fmt: skip
    markers = [
        marker_row(m, models, _first(normals, args.slow_images if m in SLOW else None), seed)
        for m in methods
    ]
    twins = make_phantoms(args.shortcut_images, size, seed=seed + 2, prevalence=0.0)
    shortcut_predict = make_predict_fn(models["shortcut"], size)
    classification = {
        "p_marked_normals": float(shortcut_predict(gray(normals.images)).mean()),
        "p_unmarked_twins": float(shortcut_predict(gray(twins.images)).mean()),
        "auc_clean_test": metrics.roc_auc(test.labels, predict_fn(gray(test.images))[:, 0]),
        "fit_seconds": fit_seconds,
        "forward_ms_per_image": 1000 * per_image,
    }
    seconds = time.perf_counter() - begin
    log(f"seed {seed}: {seconds:.0f} s")
    return {
        "seed": seed,
        "seconds": seconds,
        "quality": rows,
        "markers": markers,
        "classification": classification,
        "figure": {"test": test, "normals": normals, "models": models},
    }


def save_figures(args, result: dict, methods: list[str]) -> None:
    """Every method on the same held-out positives (normal model) and marked normals."""
    test, normals = result["figure"]["test"], result["figure"]["normals"]
    images, _, keep = _positives(test, FIGURE_IMAGES)
    heatmaps = {}
    for method in methods:
        rows = [row for row in result["markers"] if row["method"] == method]
        heatmaps[method] = explainer_for(
            method, result["figure"]["models"]["normal"], args.first_seed
        )(images)
        heatmaps[f"{method} (marked)"] = rows[0]["shortcut_heatmaps"][:FIGURE_IMAGES]
    plain = {m: heatmaps[m] for m in methods}
    save_methods_figure(
        args.out / "methods_positives.png", test.images[keep], test.lesion_masks[keep], None,
        plain, [f"pneumonia {i}" for i in range(len(images))],
        "Every method, class 1, normal model (green: lesion)",
    )  # fmt: skip
    marked = {m: heatmaps[f"{m} (marked)"] for m in methods}
    count = min(FIGURE_IMAGES, len(normals.images))
    save_methods_figure(
        args.out / "methods_marked_normals.png", normals.images[:count], None,
        normals.marker_masks[:count], {m: v[:count] for m, v in marked.items()},
        [f"normal {i}" for i in range(count)],
        "Every method, class 1, shortcut model, normals with the marker (white)",
    )  # fmt: skip


def report(args, runs: list[dict], methods: list[str], seconds: float) -> str:
    quality = aggregate([run["quality"] for run in runs])
    markers = aggregate([run["markers"] for run in runs])
    seeds = ", ".join(str(run.get("seed", "?")) for run in runs)
    c = aggregate([[{"method": "shortcut", **run["classification"]}] for run in runs])[0]
    fit = np.mean([sum(run["classification"]["fit_seconds"].values()) for run in runs])
    return "\n".join(
        [
            "## Explanation quality, normal model",
            "",
            f"Mean ± sd over {len(runs)} training seeds ({seeds}); {args.images} training "
            f"phantoms at {args.size} px, {args.epochs} epochs; class 1 explained (logit). "
            f"Per seed: up to {args.eval_images} held-out positives ({args.slow_images} for "
            f"{', '.join(SLOW)}), deletion/insertion on the first {args.faithfulness_images}, "
            f"the sanity check on {args.randomization_images} (2 for the slow methods) with "
            f"{args.randomization_seeds} draws of the fully randomized model.",
            "",
            markdown_table(quality, QUALITY_COLUMNS),
            "",
            "## Quantus's metric families, normal model",
            "",
            "As `keras-cxr evaluate-explanations` scores them (`EXPLANATION_METRICS`): "
            "localisation and complexity on every image above, faithfulness correlation "
            f"and ROAD on the first {args.faithfulness_images}, max-sensitivity (10 noisy "
            "copies, radius 51 grey levels) and random logit (SSIM with the map of class 0) "
            f"on the sanity-check images; n/a for the baselines, which have no explainer.",
            "",
            markdown_table(quality, FAMILY_COLUMNS),
            "",
            f"## Shortcut: {args.shortcut_images} held-out normals, every one marked",
            "",
            f"p(pneumonia) of the shortcut model: {cell(c, 'p_marked_normals')} with the "
            f"marker, {cell(c, 'p_unmarked_twins')} on the same images without it. "
            f"Normal model's AUC on clean held-out phantoms: {cell(c, 'auc_clean_test')}.",
            "",
            markdown_table(markers, MARKER_COLUMNS),
            "",
            f"Forward pass: {cell(c, 'forward_ms_per_image', 2)} ms per image; fitting "
            f"both models {fit:.0f} s per seed; {seconds:.0f} s in all (seeds' times added).",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="training seeds")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--images", type=int, default=1200, help="training phantoms")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--size", type=int, default=96, help="image side in pixels")
    parser.add_argument("--eval-images", type=int, default=96, help="held-out positives")
    parser.add_argument("--slow-images", type=int, default=24, help="for " + ", ".join(SLOW))
    parser.add_argument("--faithfulness-images", type=int, default=32)
    parser.add_argument("--randomization-images", type=int, default=8)
    parser.add_argument("--randomization-seeds", type=int, default=3)
    parser.add_argument("--shortcut-images", type=int, default=48)
    parser.add_argument("--test-images", type=int, default=TEST_IMAGES)
    parser.add_argument("--methods", nargs="+", help="a subset of the methods and baselines")
    parser.add_argument(
        "--merge", nargs="+", type=Path,
        help="instead of running, report the seeds of these earlier --out folders together",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, default=Path("runs/explanation_quality"))
    parser.add_argument("--quick", action="store_true", help="small and fast: " + str(QUICK))
    args = parser.parse_args()
    # Every randomized copy gets its own explainer and compiled function, by design.
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    if args.quick:
        for key, value in QUICK.items():
            setattr(args, key, value)
    args.out.mkdir(parents=True, exist_ok=True)
    begin = time.perf_counter()
    methods = args.methods or [*keras_cxr.explain.METHODS, *BASELINES]
    runs = []
    for folder in args.merge or []:
        runs += json.loads((folder / "results.json").read_text())["per_seed"]
    for index in range(0 if args.merge else args.seeds):
        runs.append(run_seed(args, args.first_seed + index, methods))
        if index == 0:
            save_figures(args, runs[0], methods)
        runs[-1].pop("figure")
        clear_explainers()
    merged = sum(run.get("seconds", 0.0) for run in runs) if args.merge else 0.0
    text = report(args, runs, methods, merged or time.perf_counter() - begin)
    print(text)
    (args.out / "table.md").write_text(text + "\n")
    results = {
        "settings": {k: str(v) for k, v in vars(args).items()},
        "per_seed": runs,
        "quality": aggregate([run["quality"] for run in runs]),
        "markers": aggregate([run["markers"] for run in runs]),
    }
    (args.out / "results.json").write_text(json.dumps(json_safe(results), indent=2) + "\n")
    log(f"wrote {args.out}/: table.md, results.json, methods_*.png")


if __name__ == "__main__":
    main()
