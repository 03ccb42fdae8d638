"""What does explaining a vision transformer cost against its compiled forward pass?

Issue #26's target: the CAMs on a ViT within 1.25× its compiled forward pass, on every
backend. A keras-hub `ViTBackbone` (random weights; by default 4 layers, 96-px images,
16-px patches, width 192, 3 heads) under a sigmoid unit on the class token, batch 16. For
each backend (its own process: Keras fixes its backend at import) it prints the median
time of each explainer's `explain` divided by the median of a compiled forward pass
(`model(x, training=False)` through `keras_cxr.backend.compile_function`: `tf.function`,
`jax.jit` or eager PyTorch), measured side by side and interleaved in one run, so that
machine noise hits every column alike.

What bounds the ratio: `AttentionRollout` needs the forward pass only (its matrix products
are small); `GradCAM` differentiates from its target layer to the head (keras-hub's
encoder is one layer, so its target is the tokens entering the encoder and the backward
pass covers every block), and `AttentionGradient` from the first attention layer, so both
cost a forward and a backward pass through the encoder: a backward pass to the activations
alone costs about one forward pass, so about 2×, whatever the implementation.

`--model layers` builds the same sizes from Keras layers (blocks visible in the graph, the
mean token to the head): the CAM's target is then the last attention's query, its head
takes the residual stream that bypasses it from the feature part, and only the last block is
differentiated.

Usage (from the repository root, so that this checkout's keras_cxr is imported):
    PYTHONPATH=. python benchmarks/vit_explainer_cost.py [--backend tensorflow|jax|torch|all]
        [--model hub|layers] [--layers 4] [--size 96] [--batch 16] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

METHODS = ("GradCAM", "AttentionRollout", "AttentionGradient")
BACKENDS = ("tensorflow", "jax", "torch")


def build(layers: int, size: int, kind: str = "hub"):
    """A ViT under a sigmoid unit, random weights: keras-hub's (`kind="hub"`, the class
    token) or one of Keras layers whose blocks the flat graph sees (`"layers"`, pooled)."""
    import keras
    import keras_hub

    if kind == "layers":
        return _layers_vit(layers, size)

    backbone = keras_hub.models.ViTBackbone(
        image_shape=(size, size, 3), patch_size=16, num_layers=layers, num_heads=3,
        hidden_dim=192, mlp_dim=768,
    )  # fmt: skip
    inputs = keras.Input((size, size, 3))
    tokens = backbone(inputs)
    return keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(tokens[:, 0]))


def _layers_vit(layers: int, size: int):
    """The same sizes built from Keras layers: pre-norm blocks, the mean token to the head.

    Its blocks are in the graph, so the CAM's target is the last attention's query; the
    residual stream bypasses it and is handed to the CAM's head with the target.
    """
    import keras

    inputs = keras.Input((size, size, 3))
    x = keras.layers.Conv2D(192, 16, strides=16)(inputs)
    x = keras.layers.Reshape(((size // 16) ** 2, 192))(x)
    for _ in range(layers):
        y = keras.layers.LayerNormalization()(x)
        x = keras.layers.Add()([x, keras.layers.MultiHeadAttention(3, 64)(y, y)])
        y = keras.layers.Dense(768, activation="gelu")(keras.layers.LayerNormalization()(x))
        x = keras.layers.Add()([x, keras.layers.Dense(192)(y)])
    pooled = keras.layers.GlobalAveragePooling1D()(keras.layers.LayerNormalization()(x))
    return keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(pooled))


def timings(layers: int, size: int, batch: int, repeats: int, kind: str) -> dict:
    """Median seconds of the forward pass and of each explainer, interleaved."""
    import numpy as np

    import keras_cxr
    from keras_cxr import backend

    model = build(layers, size, kind)
    images = np.random.default_rng(0).uniform(0, 1, (batch, size, size, 3)).astype("float32")
    forward = backend.compile_function(
        lambda x: model(x, training=False), [((None, size, size, 3), "float32")], model
    )
    runs = {"forward": lambda: np.asarray(forward(images))}
    for method in METHODS:
        explainer = getattr(keras_cxr.explain, method)(model, batch_size=batch)
        runs[method] = lambda explainer=explainer: explainer.explain(images)
    first = {}
    for label, run in runs.items():  # compiles
        start = time.perf_counter()
        run()
        first[label] = time.perf_counter() - start
    samples = {label: [] for label in runs}
    for _ in range(repeats):
        for label, run in runs.items():
            start = time.perf_counter()
            run()
            samples[label].append(time.perf_counter() - start)
    return {"median": {k: statistics.median(v) for k, v in samples.items()}, "first": first}


def table(backends, layers: int, size: int, batch: int, repeats: int, kind: str) -> None:
    print(f"ViT ({kind}): {layers} layers, {size} px, 16-px patches, width 192; batch {batch}")
    header = "".join(f"{m + '/fwd':>22}" for m in METHODS)
    print(f"{'backend':<11}{'forward ms':>11}{header}")
    numbers = map(str, (layers, size, batch, repeats))
    command = [sys.executable, __file__, "--worker", *numbers, kind]
    for name in backends:
        environment = {**os.environ, "KERAS_BACKEND": name}
        done = subprocess.run(command, capture_output=True, text=True, env=environment)
        if done.returncode:
            raise SystemExit(f"{name} worker failed:\n{done.stderr[-3000:]}")
        median = json.loads(done.stdout.strip().splitlines()[-1])["median"]
        ratios = "".join(f"{median[m] / median['forward']:>22.2f}" for m in METHODS)
        print(f"{name:<11}{1000 * median['forward']:>11.1f}{ratios}", flush=True)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        layers, size, batch, repeats = (int(value) for value in sys.argv[2:6])
        print(json.dumps(timings(layers, size, batch, repeats, sys.argv[6])))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", default="all", choices=(*BACKENDS, "all"))
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--model", default="hub", choices=("hub", "layers"))
    args = parser.parse_args()
    backends = BACKENDS if args.backend == "all" else (args.backend,)
    table(backends, args.layers, args.size, args.batch, args.repeats, args.model)


if __name__ == "__main__":
    main()
