"""How much `keras_cxr.callbacks.GradCAMCallback` adds to an epoch of `fit`.

Fits the default `keras_cxr.StackedEnsemble(weights=None)` (MobileNetV2 + DenseNet169,
224 × 224) on synthetic images, with and without the callback (8 images explained, every
epoch), side by side in one run: a warm-up step first (tracing), then the two
configurations alternate one epoch at a time from the same initial weights, so that a
change of machine load hits both alike. Prints each epoch's time, the medians and the
overhead ratio, and the callback's own time per epoch measured directly around its
`on_epoch_end` (the steadier figure when other processes share the CPU), split into
explaining and writing. Explaining 8 images costs about a forward pass of 8 images, as
does training on them with frozen backbones, so the overhead is roughly 8 / `--images`
plus the writing; it shrinks with larger epochs or `every` > 1. The callback's one-off setup at
`on_train_begin` (building and compiling the explainer) is reported separately; it is
not part of any epoch.

Usage:
    python benchmarks/callback_overhead.py [--images 320] [--epochs 2] [--batch-size 32]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np

import keras_cxr
from keras_cxr.callbacks import GradCAMCallback

IMAGE_SIZE = 224


class _Stopwatch(keras.callbacks.Callback):
    """Times each epoch, or, placed around another callback, that callback's epoch end."""

    def __init__(self, mark: str, times: dict[str, list[float]]):
        super().__init__()
        self.mark, self.times = mark, times

    def on_train_begin(self, logs=None):
        now = time.perf_counter()
        if self.mark == "before_callback":
            self.times["setup_start"] = now
        elif self.mark == "after_callback":
            self.times["setup"].append(now - self.times.pop("setup_start"))

    def on_epoch_begin(self, epoch, logs=None):
        if self.mark == "epoch":
            self.times["start"] = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        now = time.perf_counter()
        if self.mark == "before_callback":
            self.times["callback_start"] = now
        elif self.mark == "after_callback":
            self.times["callback"].append(now - self.times.pop("callback_start"))
        else:
            self.times["epoch"].append(now - self.times.pop("start"))


def _synthetic_data(count: int, seed: int = 0):
    """Phantom chest radiographs when available, else smooth random blobs."""
    try:
        from keras_cxr.data.synthetic import make_phantoms
    except ImportError:
        rng = np.random.default_rng(seed)
        coarse = rng.uniform(0, 255, (count, 7, 7, 1)).astype(np.float32)
        images = np.repeat(keras.ops.image.resize(coarse, (IMAGE_SIZE, IMAGE_SIZE)), 3, -1)
        return np.asarray(images), rng.integers(0, 2, count).astype("float32"), None
    phantoms = make_phantoms(count, image_size=IMAGE_SIZE, seed=seed)
    return phantoms.images, phantoms.labels.astype("float32"), phantoms.lesion_masks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=320, help="training images")
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per configuration")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--explained", type=int, default=8, help="images the callback explains")
    parser.add_argument("--log-dir", default=None, help="defaults to a temporary directory")
    args = parser.parse_args()

    keras.utils.set_random_seed(0)
    images, labels, masks = _synthetic_data(args.images)
    started = time.perf_counter()
    model = keras_cxr.StackedEnsemble(weights=None)
    model.compile(keras.optimizers.Adam(1e-3), "binary_crossentropy")
    initial = model.get_weights()
    print(
        f"StackedEnsemble(weights=None): {model.count_params():,} parameters, built in "
        f"{time.perf_counter() - started:.1f} s; {args.images} images of "
        f"{IMAGE_SIZE}x{IMAGE_SIZE}, batch {args.batch_size}, {os.cpu_count()} CPU(s)"
    )

    log_dir = args.log_dir or tempfile.mkdtemp(prefix="gradcam_overhead_")
    n = args.explained
    gradcam = GradCAMCallback(
        images[-n:],
        labels=labels[-n:].astype(int),
        masks=None if masks is None else masks[-n:],
        log_dir=log_dir,
        every=1,
        max_images=n,
    )
    times = {name: {"epoch": [], "callback": [], "setup": []} for name in ("without", "with")}

    def fit_one_epoch(name: str, steps: int | None = None) -> None:
        record = times[name]
        callbacks = [_Stopwatch("epoch", record)]
        if name == "with":
            callbacks = [
                _Stopwatch("before_callback", record),
                gradcam,
                _Stopwatch("after_callback", record),
                *callbacks,
            ]
        model.set_weights(initial)
        model.fit(
            images,
            labels,
            batch_size=args.batch_size,
            epochs=1,
            verbose=0,
            shuffle=False,
            steps_per_epoch=steps,
            callbacks=callbacks,
        )

    started = time.perf_counter()
    fit_one_epoch("without", steps=1)  # warm-up: traces the train function
    print(f"warm-up (tracing and one step): {time.perf_counter() - started:.1f} s")
    times["without"]["epoch"].clear()
    for _ in range(args.epochs):
        for name in ("without", "with"):
            fit_one_epoch(name)
    setup = times["with"]["setup"][0]
    explain_times = []
    for _ in range(3):
        started = time.perf_counter()
        gradcam.explainer.explain(images[-n:], class_index=labels[-n:].astype(int))
        explain_times.append(time.perf_counter() - started)
    explain = statistics.median(explain_times)

    without = statistics.median(times["without"]["epoch"])
    with_callback = statistics.median(times["with"]["epoch"])
    callback = statistics.median(times["with"]["callback"])
    print()
    print(f"{'epoch':>5}  {'without (s)':>11}  {'with (s)':>9}  {'callback (s)':>12}")
    for index, (a, b, c) in enumerate(
        zip(times["without"]["epoch"], times["with"]["epoch"], times["with"]["callback"]),
        start=1,
    ):
        print(f"{index:>5}  {a:>11.2f}  {b:>9.2f}  {c:>12.2f}")
    print(f"{'median':>5}  {without:>11.2f}  {with_callback:>9.2f}  {callback:>12.2f}")
    print()
    print(f"overhead, epoch times:           {100 * (with_callback / without - 1):+.1f} %")
    print(f"overhead, callback time / epoch: {100 * callback / without:.1f} %  (target <= 3 %)")
    print(
        f"callback time split: explaining {n} images {explain:.2f} s (a forward pass through "
        f"both backbones), writing PNG + TensorBoard + metrics {callback - explain:.2f} s"
    )
    print(f"one-off setup at on_train_begin (explainer build + compile): {setup:.1f} s")
    print(f"files in {log_dir}: {sorted(os.listdir(log_dir))}")


if __name__ == "__main__":
    main()
