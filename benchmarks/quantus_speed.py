"""How long do keras_cxr's Quantus-family metrics take next to Quantus's own, on 64 maps?

Both score the same 64 random signed maps (and masks) of `--size` px: keras_cxr's function
with `per_image=True`, Quantus 0.6's metric class called with the precomputed `a_batch`
and no model (its defaults, `disable_warnings=True`). The median over `--repeats` rounds of
each is reported, with the ratio Quantus / keras_cxr. Quantus installs without its
dependencies: `pip install --no-deps quantus cachetools`.

Usage:
    python benchmarks/quantus_speed.py [--size 224] [--images 64] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
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
    for ours, kwargs, theirs, settings, with_masks in PAIRS:
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

        ours_s = median_seconds(ours_run, args.repeats)
        theirs_s = median_seconds(quantus_run, args.repeats)
        rows.append(
            {
                "metric": ours,
                "keras_cxr_ms": round(1000 * ours_s, 2),
                "quantus_ms": round(1000 * theirs_s, 2),
                "quantus_over_keras_cxr": round(theirs_s / ours_s, 2),
            }
        )
    print(json.dumps({"images": args.images, "size": args.size, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
