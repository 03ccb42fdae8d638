"""How long do keras_cxr's Quantus-family metrics take next to Quantus's own, on 64 maps?

Both score the same 64 random signed maps (and masks) of `--size` px: keras_cxr's function
with `per_image=True`, Quantus 0.6's metric class called with the precomputed `a_batch`
and no model (its defaults, `disable_warnings=True`). The median over `--repeats` rounds of
each is reported, with the ratio Quantus / keras_cxr. Quantus installs without its
dependencies: `pip install --no-deps quantus cachetools`.

The metrics that call a model (faithfulness, random logit) score one torch linear
classifier on `--model-size` px images, the same `torch.nn.Module` for both: Quantus calls it
directly, keras_cxr through `predict_fn` (channel-last NumPy in, probabilities out), so the
ratio measures the metric code around equal model calls. They run `--model-repeats` rounds
(default 1: Quantus's ROAD alone solves 50 x 64 sparse systems a round).

Usage:
    python benchmarks/quantus_speed.py [--size 224] [--images 64] [--repeats 3]
        [--model-size 32] [--model-repeats 1] [--skip-map-metrics] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

#: keras_cxr name, keras_cxr arguments, Quantus class, Quantus arguments, needs masks.
PAIRS = [
    ("sparseness", {}, "Sparseness", {}, False),
    ("complexity", {}, "Complexity", {}, False),
    ("effective_complexity", {}, "EffectiveComplexity", {}, False),
    ("relevance_mass_accuracy", {}, "RelevanceMassAccuracy", {}, True),
    ("relevance_rank_accuracy", {}, "RelevanceRankAccuracy", {}, True),
    ("attribution_localisation", {}, "AttributionLocalisation", {}, True),
    ("top_k_intersection", {"k": 1000}, "TopKIntersection", {"k": 1000}, True),
    ("auc", {}, "AUC", {}, True),
    ("pointing_game", {}, "PointingGame", {}, True),
]


#: keras_cxr name, keras_cxr arguments, Quantus class, its arguments (the model metrics).
MODEL_PAIRS = [
    ("pixel_flipping", {"features_in_step": 16}, "PixelFlipping", {"features_in_step": 16}),
    (
        "faithfulness_correlation",
        {"nr_runs": 100, "subset_size": 64},
        "FaithfulnessCorrelation",
        {"nr_runs": 100, "subset_size": 64, "return_aggregate": False},
    ),
    ("road", {"noise": 0.01}, "ROAD", {"noise": 0.01}),
    ("random_logit", {"num_classes": 3, "similarity": "spearman"}, "RandomLogit",
     {"num_classes": 3}),
    ("relative_input_stability", {"num_samples": 20}, "RelativeInputStability",
     {"nr_samples": 20}),
]  # fmt: skip


def model_rows(quantus, metrics, args) -> list[dict]:
    """Time the MODEL_PAIRS on one torch linear classifier (see the module docstring)."""
    import numpy as np
    import torch

    torch.manual_seed(0)
    side = args.model_size
    module = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(side * side, 3)).eval()
    weights = module[1].weight.detach().numpy().reshape(3, side, side)

    def predict_fn(batch):
        x = torch.from_numpy(np.ascontiguousarray(batch.transpose(0, 3, 1, 2)))
        with torch.no_grad():
            return torch.softmax(module(x), dim=-1).numpy()

    def explain_images(images, classes):  # input x weight of the class, channel-last
        return images[..., 0] * weights[np.asarray(classes)]

    def quantus_explain(model, inputs, targets, **_):
        return explain_images(np.asarray(inputs).transpose(0, 2, 3, 1), targets)[:, None]

    rng = np.random.default_rng(1)
    images = rng.uniform(size=(args.images, side, side, 1)).astype("float32")
    labels = np.argmax(predict_fn(images), axis=1)
    maps = explain_images(images, labels)
    rows = []
    for ours, kwargs, theirs, settings in MODEL_PAIRS:
        if args.only and ours not in args.only:
            continue
        metric = getattr(quantus, theirs)(disable_warnings=True, **settings)
        function = getattr(metrics, ours)
        target = labels if ours in ("road", "random_logit") else 0

        def ours_run(function=function, target=target, kwargs=kwargs, ours=ours):
            if ours == "random_logit":  # the maps given, as Quantus is given `a_batch`
                function(explain_images, images, target, per_image=True, maps=maps, **kwargs)
            elif ours == "relative_input_stability":
                function(explain_images, predict_fn, images, labels, per_image=True, **kwargs)
            else:
                function(predict_fn, images, maps, target, per_image=True, **kwargs)

        def quantus_run(metric=metric, ours=ours):
            y = (
                labels
                if ours in ("road", "random_logit", "relative_input_stability")
                else (np.zeros(len(images), int))
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                metric(model=module, x_batch=images.transpose(0, 3, 1, 2).copy(), y_batch=y,
                       a_batch=maps[:, None].copy(), channel_first=True, device="cpu",
                       explain_func=quantus_explain, softmax=True)  # fmt: skip

        rows.append(timed_row(ours, ours_run, quantus_run, args.model_repeats))
        print(rows[-1], file=sys.stderr, flush=True)  # partial results survive a timeout
    return rows


def timed_row(name: str, ours_run, quantus_run, repeats: int) -> dict:
    ours_s = median_seconds(ours_run, repeats)
    theirs_s = median_seconds(quantus_run, repeats)
    return {
        "metric": name,
        "keras_cxr_ms": round(1000 * ours_s, 2),
        "quantus_ms": round(1000 * theirs_s, 2),
        "quantus_over_keras_cxr": round(theirs_s / ours_s, 2),
    }


def median_seconds(run, repeats: int) -> float:
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model-size", type=int, default=32)
    parser.add_argument("--model-repeats", type=int, default=1)
    parser.add_argument("--skip-map-metrics", action="store_true",
                        help="time only the metrics that call a model")  # fmt: skip
    parser.add_argument("--only", nargs="+", help="time only these keras_cxr metrics")
    args = parser.parse_args()
    import numpy as np

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import quantus

    from keras_cxr import metrics

    rng = np.random.default_rng(0)
    shape = (args.images, args.size, args.size)
    maps = rng.normal(size=shape)
    masks = rng.uniform(size=shape) > 0.8
    x = np.ones((args.images, 1, args.size, args.size))
    y = np.zeros(args.images, int)
    rows = []
    for ours, kwargs, theirs, settings, with_masks in [] if args.skip_map_metrics else PAIRS:
        if args.only and ours not in args.only:
            continue
        function = getattr(metrics, ours)
        inputs = (maps, masks) if with_masks else (maps,)
        metric = getattr(quantus, theirs)(disable_warnings=True, **settings)

        def quantus_run(metric=metric, with_masks=with_masks):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                metric(model=None, x_batch=x, y_batch=y, a_batch=maps[:, None].copy(),
                       s_batch=masks[:, None].astype(float) if with_masks else None,
                       channel_first=True)  # fmt: skip

        def ours_run(function=function, inputs=inputs, kwargs=kwargs):
            function(*inputs, per_image=True, **kwargs)

        rows.append(timed_row(ours, ours_run, quantus_run, args.repeats))
    model_size_rows = model_rows(quantus, metrics, args)
    report = {"images": args.images, "size": args.size, "rows": rows,
              "model_size": args.model_size, "model_rows": model_size_rows}  # fmt: skip
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
