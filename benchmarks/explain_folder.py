"""How fast, and in how much memory, does `keras_cxr.explain_folder` go through an archive?

Side by side in one run, on the same files: (a) `explain_folder` (threaded decoding ahead of
the model, Grad-CAM of every branch, the table, heatmap shards written) against (b) the
least any pipeline must do: decode the same files in threads and `predict_on_batch` them,
batch by batch. Then the peak resident memory of `explain_folder` on a small and a large
archive, each in a fresh process: bounded memory means the two peaks are about equal.

Images: the Kermany training split in ../shared/data/chest_xray/train when present (real
JPEGs of about 1-2 k pixels a side), else phantoms written to disk. Model: the default
`StackedEnsemble(weights=None)` (MobileNetV2 + DenseNet169, 224 px); `--model compact`
takes two compact CNNs instead, for a quick check.

Usage:
    python benchmarks/explain_folder.py [--throughput-images 256] [--images 500 5000]
        [--model ensemble|compact] [--batch-size 16] [--phantoms]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

REAL_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "chest_xray" / "train"


def build(name: str):
    import keras_cxr

    if name == "ensemble":
        return keras_cxr.StackedEnsemble(weights=None)
    return keras_cxr.StackedEnsemble(
        backbones=["cnn_3x3", "cnn_7x7"], weights=None, input_shape=(224, 224, 3)
    )


def image_list(count: int, folder: Path, phantom_size: int, real: bool) -> Path:
    """A `.txt` list of `count` image files: real ones if `real`, else phantoms."""
    listing = folder / f"images_{count}.txt"
    if listing.exists():  # the throughput run and a memory run may share a size
        return listing
    if real:
        files = sorted(p for p in REAL_DATA.rglob("*") if p.suffix.lower() in (".jpeg", ".jpg"))
        if len(files) < count:
            raise SystemExit(f"{REAL_DATA} holds {len(files)} images, fewer than {count}.")
        step = len(files) / count  # spread over both classes, not the first folder only
        files = [files[int(i * step)] for i in range(count)]
    else:
        from keras_cxr.data.synthetic import write_chest_xray

        root = write_chest_xray(
            folder / f"phantoms_{count}", n_train=count, n_test=0, image_size=phantom_size
        )
        files = sorted(root.rglob("*.jpeg"))
    listing.write_text("\n".join(str(p) for p in files) + "\n")
    return listing


def throughput(name: str, listing: Path, batch_size: int) -> dict:
    """Images per second of explain_folder and of decode + predict, interleaved twice."""
    import numpy as np

    import keras_cxr
    from keras_cxr.data import MIN_IMAGE_SIDE, find_images, prefetch_batches, read_image
    from keras_cxr.explain import BatchExplainer

    model = build(name)
    explainer = BatchExplainer(model, batch_size=batch_size)
    sources = find_images(listing)
    size = explainer.image_size

    def predict_only() -> None:
        def read(source):
            return read_image(source.path, "rgb", size, MIN_IMAGE_SIDE)

        for batch in prefetch_batches(sources, read, batch_size):
            model.predict_on_batch(np.stack(batch.images).astype(np.float32))

    model.predict_on_batch(np.zeros((batch_size, *size, 3), np.float32))  # compile it first
    seconds = {"explain_folder": [], "decode_predict": []}
    with tempfile.TemporaryDirectory() as folder:
        for repeat in range(2):
            start = time.perf_counter()
            predict_only()
            seconds["decode_predict"].append(time.perf_counter() - start)
            start = time.perf_counter()
            keras_cxr.explain_folder(
                explainer,
                listing,
                Path(folder) / f"run{repeat}",
                batch_size=batch_size,
                progress=False,
            )
            seconds["explain_folder"].append(time.perf_counter() - start)
    best = {label: min(values) for label, values in seconds.items()}
    return {label: len(sources) / value for label, value in best.items()}


def peak_memory(name: str, listing: Path, batch_size: int) -> dict:
    """In a fresh process: RSS after building the explainer, and the peak while explaining."""
    import keras_cxr
    from keras_cxr.explain import BatchExplainer

    explainer = BatchExplainer(build(name), batch_size=batch_size)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with tempfile.TemporaryDirectory() as folder:
        summary = keras_cxr.explain_folder(
            explainer, listing, Path(folder) / "run", batch_size=batch_size, progress=False
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "baseline_mb": base,
        "peak_mb": peak,
        "images": summary.explained,
        "images_per_second": summary.images_per_second,
    }


def _subprocess(args: list[str]) -> dict:
    result = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("ensemble", "compact"), default="ensemble")
    parser.add_argument("--throughput-images", type=int, default=256)
    parser.add_argument(
        "--images",
        type=int,
        nargs=2,
        default=(500, 5000),
        metavar=("SMALL", "LARGE"),
        help="archive sizes of the memory runs",
    )
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument(
        "--phantom-size",
        type=int,
        default=512,
        help="side of the phantoms written when the real data is absent",
    )
    parser.add_argument(
        "--phantoms", action="store_true", help="use phantoms even when the real data is there"
    )
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, listing = args.worker
        job = throughput if kind == "time" else peak_memory
        print(json.dumps(job(args.model, Path(listing), args.batch_size)))
        return

    real = REAL_DATA.is_dir() and not args.phantoms
    source = f"{REAL_DATA}" if real else f"phantoms of {args.phantom_size} px"
    print(f"model {args.model}, batch {args.batch_size}, images: {source}, {os.cpu_count()} CPUs")
    common = ["--model", args.model, "--batch-size", str(args.batch_size)]
    with tempfile.TemporaryDirectory() as folder:
        listing = image_list(args.throughput_images, Path(folder), args.phantom_size, real)
        rates = _subprocess([*common, "--worker", "time", str(listing)])
        print(f"\nthroughput on {args.throughput_images} images (best of 2, images/s):")
        print(f"{'explain_folder':>16}{'decode+predict':>16}{'ratio':>8}")
        ratio = rates["decode_predict"] / rates["explain_folder"]
        print(f"{rates['explain_folder']:>16.1f}{rates['decode_predict']:>16.1f}{ratio:>8.2f}")

        print("\npeak memory of explain_folder, each in a fresh process (MB):")
        print(f"{'images':>8}{'built model':>13}{'peak':>8}{'peak - model':>14}{'images/s':>10}")
        for count in args.images:
            listing = image_list(count, Path(folder), args.phantom_size, real)
            run = _subprocess([*common, "--worker", "memory", str(listing)])
            print(
                f"{run['images']:>8}{run['baseline_mb']:>13.0f}{run['peak_mb']:>8.0f}"
                f"{run['peak_mb'] - run['baseline_mb']:>14.0f}{run['images_per_second']:>10.1f}"
            )


if __name__ == "__main__":
    main()
