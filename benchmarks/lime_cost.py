"""What does LIME cost next to the forward passes it cannot avoid?

`LIME(num_samples=1000, internal_batch_size=256)` on one image against 1000 forward passes
of the same model in compiled batches of 256 (the scores of 1000 copies of the image),
interleaved over `--repeats` rounds after a warm-up call; the median ratio is the figure.
LIME's extra work is the SLIC segmentation, building the perturbed images with NumPy and a
ridge fit over ~50 superpixels; the issue's target is 1.2 x.

The model is MobileNetV2 (weights=None) with a two-unit softmax head at `--size` px.

Usage:
    python benchmarks/lime_cost.py [--size 224] [--repeats 3] [--samples 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

BATCH = 256


def build(size: int):
    import keras

    base = keras.applications.MobileNetV2(
        include_top=False, weights=None, input_shape=(size, size, 3)
    )
    x = keras.layers.GlobalAveragePooling2D()(base.output)
    return keras.Model(base.input, keras.layers.Dense(2, activation="softmax")(x))


def runs(size: int, samples: int) -> dict:
    import numpy as np

    import keras_cxr
    from keras_cxr.backend import compile_function

    model = build(size)
    rows, cols = np.mgrid[0:size, 0:size] / size
    gray = 0.5 + 0.3 * np.sin(6 * rows) * np.cos(5 * cols)
    image = np.repeat(gray[None, ..., None], 3, axis=-1).astype("float32")
    forward = compile_function(
        lambda x: model(x, training=False), [((None, size, size, 3), "float32")], model
    )
    copies = np.repeat(image, BATCH, axis=0)

    def passes():
        for start in range(0, samples, BATCH):
            np.asarray(forward(copies[: min(BATCH, samples - start)]))

    lime = keras_cxr.LIME(model, num_samples=samples, internal_batch_size=BATCH)
    return {"forward": passes, "lime": lambda: lime.explain(image, class_index=1)}


def timings(size: int, samples: int, repeats: int) -> dict:
    measured = runs(size, samples)
    seconds = {what: [] for what in measured}
    for run in measured.values():
        run()  # warm-up: traces and compiles
    for _ in range(repeats):
        for what, run in measured.items():
            start = time.perf_counter()
            run()
            seconds[what].append(time.perf_counter() - start)
    return {what: statistics.median(values) for what, values in seconds.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--samples", type=int, default=1000)
    args = parser.parse_args()
    import keras

    median = timings(args.size, args.samples, args.repeats)
    print(
        json.dumps(
            {
                "backend": keras.backend.backend(),
                "size": args.size,
                "samples": args.samples,
                "forward_s": round(median["forward"], 3),
                "lime_s": round(median["lime"], 3),
                "lime_over_forward": round(median["lime"] / median["forward"], 3),
            }
        )
    )


if __name__ == "__main__":
    main()
