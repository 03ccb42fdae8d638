"""Draw every explanation method on a few real chest X-rays, for the documentation.

Trains a small CNN (`keras_cxr.layers.compact_cnn`, three stages, trained from scratch:
ImageNet weights cannot be downloaded here) for a few epochs on a balanced subset of a
Kermany-layout folder (`--data`, e.g. `chest_xray/train`), read in grayscale at `--size`
px, then explains "pneumonia" on `--show` held-out pneumonia images with every method in
`keras_cxr.explain.METHODS` and writes one PNG (`--out`). Only the figure is written: the
images themselves stay where they are. The model is weak (a few CPU minutes of training)
and the figure shows what each method makes of the same model, not a clinical finding.

Usage:
    python scripts/real_image_methods.py --data /path/chest_xray/train \\
        --out docs/images/methods_real.png [--images 600] [--epochs 4] [--size 96]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import cv2
import keras
import numpy as np

import keras_cxr
from keras_cxr.layers import compact_cnn
from keras_cxr.viz import plot_grid


def read_folder(root: Path, per_class: int, size: int, seed: int):
    """`per_class` images of NORMAL and of PNEUMONIA, grayscale uint8 resized to `size`."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for label, name in enumerate(("NORMAL", "PNEUMONIA")):
        files = sorted((root / name).glob("*.jp*g"))
        for path in rng.permutation(files)[:per_class]:
            image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
            if image is not None:
                images.append(cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA))
                labels.append(label)
    order = rng.permutation(len(images))
    return np.stack(images)[order][..., None].repeat(3, -1), np.array(labels)[order]


def build(size: int) -> keras.Model:
    inputs = keras.Input((size, size, 3), name="image")
    features = compact_cnn((size, size, 3), width=16, stages=3, name="cnn")(inputs)
    pooled = keras.layers.GlobalAveragePooling2D()(features)
    return keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(pooled))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path("docs/images/methods_real.png"))
    parser.add_argument("--images", type=int, default=600, help="training images, balanced")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--show", type=int, default=3)
    args = parser.parse_args()
    keras.utils.set_random_seed(0)
    images, labels = read_folder(args.data, args.images // 2 + args.show, args.size, 0)
    shown = np.flatnonzero(labels == 1)[: args.show]
    train = np.setdiff1d(np.arange(len(images)), shown)
    model = build(args.size)
    model.compile(keras.optimizers.Adam(1e-3), "binary_crossentropy", metrics=["accuracy"])
    history = model.fit(
        images[train].astype("float32"), labels[train], epochs=args.epochs, batch_size=32,
        validation_split=0.15, verbose=0,
    )  # fmt: skip
    accuracy = history.history["val_accuracy"][-1]
    batch = images[shown].astype("float32")
    probability = model.predict(batch, verbose=0)[:, 0]
    heatmaps = {
        name: keras_cxr.explain.get_method(name)(model).explain(batch, class_index=1).heatmaps
        for name in keras_cxr.explain.METHODS
    }
    titles = [f"pneumonia, p={p:.2f}" for p in probability]
    title = (
        f"Every method, class 'pneumonia', a compact CNN trained {args.epochs} epochs on "
        f"{len(train)} images at {args.size} px (validation accuracy {accuracy:.2f})"
    )
    figure = plot_grid(images[shown], heatmaps, titles=titles, cell_size=1.25, title=title)
    for axis in figure.axes:
        axis.title.set_fontsize(6)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(args.out, dpi=80)
    print(f"wrote {args.out}; validation accuracy {accuracy:.3f}")


if __name__ == "__main__":
    main()
