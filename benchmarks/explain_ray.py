"""Is `keras_cxr.scale.ray.explain_dataset` as fast as `explain_folder` on one machine?

Side by side in one run, on the same files and the same saved model: (a)
`keras_cxr.explain_folder` (threads decode, one process explains and writes) against (b)
`explain_dataset` on a local Ray cluster of this machine's cores (tasks decode,
`--concurrency` actors explain, the driver writes), each from the `.keras` file, so both
pay their model loading. Each runs on a small and a large archive: the difference between
the two sizes is the cost per image with start-up (Ray's worker processes, the actors'
model loading) taken out, and `1 / that` is the throughput of one worker. Last, how fast
the driver alone can write shards (statistics, compressed heatmaps, the table): the rate
past which adding workers no longer helps.

Model: two compact CNNs at 224 px (`--model compact`, default) or the default
`StackedEnsemble(weights=None)` (`--model ensemble`). Images: phantoms of `--phantom-size`.

Usage:
    python benchmarks/explain_ray.py [--images 64 128] [--concurrency 1] [--batch-size 16]
        [--model compact|ensemble] [--phantom-size 256]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def build(name: str):
    import keras_cxr

    if name == "ensemble":
        return keras_cxr.StackedEnsemble(weights=None)
    return keras_cxr.StackedEnsemble(
        backbones=["cnn_3x3", "cnn_7x7"], weights=None, input_shape=(224, 224, 3)
    )


def listing_of(count: int, folder: Path, size: int) -> Path:
    from keras_cxr.data.synthetic import write_chest_xray

    root = write_chest_xray(folder / f"phantoms_{count}", n_train=count, n_test=0, image_size=size)
    listing = folder / f"images_{count}.txt"
    listing.write_text("\n".join(str(p) for p in sorted(root.rglob("*.jpeg"))) + "\n")
    return listing


def timed(function, *args, **kwargs) -> float:
    start = time.perf_counter()
    function(*args, **kwargs)
    return time.perf_counter() - start


def steady_rate(function, *args, **kwargs) -> tuple[float, float]:
    """`(wall seconds, images/s after start-up)` of one call, from its summary.

    Start-up is the time until the first batch is written: model loading, and for Ray
    the actors' start (`ExplainFolderSummary.startup_seconds`).
    """
    start = time.perf_counter()
    summary = function(*args, **kwargs)
    return time.perf_counter() - start, summary.steady_images_per_second


def driver_write_rate(model_path: Path, folder: Path, batch_size: int, save: str) -> float:
    """Images per second that `ShardWriter` alone takes, on real explainer outputs."""
    import numpy as np

    from keras_cxr.data.synthetic import make_phantoms
    from keras_cxr.explain import BatchExplainer
    from keras_cxr.scale.shard_writer import ShardWriter

    explainer = BatchExplainer(model_path, batch_size=batch_size)
    images = make_phantoms(batch_size, image_size=explainer.image_size[0]).images
    outputs = explainer({"image": images})
    batches = 16
    start = time.perf_counter()
    for repeat in range(2):
        writer = ShardWriter(
            folder / save, repeat, explainer.heatmap_keys, save, "parquet", explainer.class_names
        )
        for batch in range(batches // 2):
            names = [f"/x/{repeat}-{batch}-{i}.png" for i in range(batch_size)]
            writer.add(
                {**outputs, "path": np.asarray(names), "label": np.full(batch_size, "")}, images
            )
        writer.commit()
    return batches * batch_size / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("compact", "ensemble"), default="compact")
    parser.add_argument("--images", type=int, nargs=2, default=(64, 128))
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--phantom-size", type=int, default=256)
    args = parser.parse_args()

    import ray

    import keras_cxr
    from keras_cxr.models import save_model
    from keras_cxr.scale.ray import explain_dataset

    cpus = os.cpu_count()
    print(
        f"model {args.model}, batch {args.batch_size}, phantoms of {args.phantom_size} px, "
        f"{cpus} CPUs, {args.concurrency} Ray actor(s)"
    )
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        model_path = save_model(build(args.model), folder / "model.keras")
        options = {"batch_size": args.batch_size, "progress": False}
        start = time.perf_counter()
        ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
        print(f"ray.init: {time.perf_counter() - start:.1f} s (not counted below)")
        rows = []
        for count in args.images:
            listing = listing_of(count, folder, args.phantom_size)
            single = steady_rate(
                keras_cxr.explain_folder,
                model_path,
                listing,
                folder / f"f{count}",
                **options,
            )
            spread = steady_rate(
                explain_dataset,
                model_path,
                listing,
                folder / f"r{count}",
                concurrency=args.concurrency,
                **options,
            )
            rows.append((count, single, spread))
        ray.shutdown()
        print(
            f"\n{'images':>7}{'wall: folder':>14}{'dataset':>9}{'ratio':>7}"
            f"{'steady: folder':>16}{'dataset':>9}{'ratio':>7}   (s; images/s)"
        )
        for count, (wall, rate), (ray_wall, ray_rate) in rows:
            print(
                f"{count:>7}{wall:>14.1f}{ray_wall:>9.1f}{ray_wall / wall:>7.2f}"
                f"{rate:>16.1f}{ray_rate:>9.1f}{rate / ray_rate:>7.2f}"
            )
        print(
            f"per Ray worker (steady, largest run): {rows[-1][2][1] / args.concurrency:.1f} "
            "images/s"
        )
        for save in ("heatmaps", "both"):
            rate = driver_write_rate(model_path, folder, args.batch_size, save)
            print(f"driver-side writes alone, save={save!r}: {rate:.0f} images/s")


if __name__ == "__main__":
    main()
