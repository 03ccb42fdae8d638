"""Frozen-backbone feature caching against recomputing the backbones every epoch.

The seed recipe trains a head on frozen MobileNetV2 + DenseNet169 features (224 × 224,
batch 16, Adam 1e-4, 20 epochs). Plain `model.fit` on images runs both backbones on every
batch of every epoch; `keras_cxr.training` computes the pooled features once (plus `K`
fixed augmented views) and trains a `HeadModel` on them. Both run here side by side, in
one process, on the same synthetic 224 × 224 images, the same model and the same
optimizer settings:

- plain: `model.fit` on images for `--plain-epochs` epochs (the first includes graph
  tracing; the steady per-epoch cost is the median of the others);
- cached: `extract_features` (timed), then the head for `--epochs` epochs (all measured).

It prints every measured time, then extrapolates the plain run to `--epochs` epochs as
first epoch + (epochs - 1) × steady epoch (an honest extrapolation: epochs after the first
cost the same, as the printed per-epoch times show), and the ratio. It also checks that the
full model with the trained head predicts what the head predicts on the cached features.

Backbone weights are random (`weights=None`): the speed is the same as with ImageNet
weights, and nothing is downloaded.

Usage:
    python benchmarks/training_pipeline.py [--images 256] [--plain-epochs 2] [--epochs 20]
        [--augmented-views 0]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np

import keras_cxr
from keras_cxr.data.synthetic import make_phantoms
from keras_cxr.models import HeadModel
from keras_cxr.training import extract_features

SIZE = 224
BATCH = 16


class _EpochTimes(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.times: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self._start)


def _compile(model: keras.Model) -> None:
    model.compile(
        keras.optimizers.Adam(1e-4),
        "binary_crossentropy",
        metrics=[keras.metrics.AUC(name="auc")],
        jit_compile=False,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=256, help="training images (224 px)")
    parser.add_argument("--plain-epochs", type=int, default=2, help="measured plain epochs")
    parser.add_argument("--epochs", type=int, default=20, help="epochs to compare at")
    parser.add_argument("--augmented-views", type=int, default=0, help="K cached views")
    args = parser.parse_args()

    phantoms = make_phantoms(args.images, image_size=SIZE, seed=0)
    images, labels = phantoms.images, phantoms.labels.astype(np.float32)[:, None]
    print(
        f"{args.images} synthetic {SIZE}×{SIZE} images, MobileNetV2 + DenseNet169 frozen "
        f"(random weights), batch {BATCH}, Adam 1e-4; {os.cpu_count()} CPU cores."
    )

    keras.utils.set_random_seed(0)
    model = keras_cxr.StackedEnsemble(weights=None, input_shape=(SIZE, SIZE, 3))
    initial = model.get_weights()

    # --- plain fit: backbones recomputed on every batch
    _compile(model)
    plain = _EpochTimes()
    model.fit(
        images.astype(np.float32),
        labels,
        batch_size=BATCH,
        epochs=args.plain_epochs,
        callbacks=[plain],
        verbose=0,
    )
    print("plain fit, measured epochs (s):", ", ".join(f"{t:.1f}" for t in plain.times))

    # --- cached features: backbones once, then the head only
    model.set_weights(initial)
    tic = time.perf_counter()
    features = extract_features(model, images, augmented_views=args.augmented_views, batch_size=32)
    extraction = time.perf_counter() - tic
    head = HeadModel(model)
    _compile(head)
    cached = _EpochTimes()
    rng = np.random.default_rng(0)
    views = rng.integers(0, features.shape[0], len(images))
    head.fit(
        features[views, np.arange(len(images))],
        labels,
        batch_size=BATCH,
        epochs=args.epochs,
        callbacks=[cached],
        verbose=0,
    )
    # `head` shares the model's head layers: `model` is trained now, nothing to copy.
    print(
        f"feature extraction ({1 + args.augmented_views} view(s)): {extraction:.1f} s; "
        f"head epochs (s): first {cached.times[0]:.2f}, median of the rest "
        f"{statistics.median(cached.times[1:] or cached.times):.3f}"
    )

    # --- same predictions from the full model and from the head on cached features
    full = model.predict(images[:32].astype(np.float32), verbose=0)
    on_features = head.predict(features[0, :32], verbose=0)
    gap = float(np.abs(full - on_features).max())
    print(f"full model vs head on cached features, max |difference| on 32 images: {gap:.2e}")

    # --- extrapolation to the same number of epochs
    steady = statistics.median(plain.times[1:] or plain.times)
    plain_total = plain.times[0] + (args.epochs - 1) * steady
    cached_total = extraction + sum(cached.times)
    print(
        f"\nAt {args.epochs} epochs:\n"
        f"  plain fit : {plain.times[0]:.1f} s first epoch + {args.epochs - 1} × {steady:.1f} s "
        f"(measured steady epoch) = {plain_total:.0f} s (extrapolated)\n"
        f"  cached    : {extraction:.1f} s extraction + {sum(cached.times):.1f} s for "
        f"{args.epochs} head epochs = {cached_total:.0f} s (measured)\n"
        f"  speed-up  : {plain_total / cached_total:.1f}×\n"
        f"Per epoch after the first: plain {steady:.1f} s, cached head "
        f"{statistics.median(cached.times[1:] or cached.times):.3f} s "
        f"({steady / statistics.median(cached.times[1:] or cached.times):.0f}×)."
    )


if __name__ == "__main__":
    main()
