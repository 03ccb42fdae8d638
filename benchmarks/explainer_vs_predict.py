"""How much does explaining cost compared with predicting?

For the default StackedEnsemble (MobileNetV2 + DenseNet169, weights=None, 224×224) and a
single MobileNetV2 nested inside a Functional model, at batch sizes 1 and 16, prints the
median time of `GradCAM.explain` divided by (a) `model.predict` and (b) a compiled forward
pass (`model(x, training=False)` through `keras_cxr.backend.compile_function`: `tf.function`,
`jax.jit` or eager PyTorch, after `KERAS_BACKEND`), all measured side by side in one run
and interleaved, plus first-call latency, milliseconds per image and peak memory (each
measured in a fresh subprocess, as resident-set peak over the process's baseline after
building the model). With `--backend all`, the same table for TensorFlow, JAX and PyTorch,
each backend in its own processes (Keras fixes its backend at import).

Usage:
    python benchmarks/explainer_vs_predict.py [--backend tensorflow|jax|torch|all]
        [--models ensemble nested_mobilenet] [--repeats 7] [--memory-images 64]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def build(name: str):
    import keras

    import keras_cxr

    if name == "ensemble":
        return keras_cxr.StackedEnsemble(weights=None)
    base = keras.applications.MobileNetV2(
        include_top=False, weights=None, input_shape=(224, 224, 3)
    )
    inputs = keras.Input((224, 224, 3))
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(base(x, training=False))
    return keras.Model(
        inputs, keras.layers.Dense(1, activation="sigmoid")(x), name="nested_mobilenet"
    )


def timings(name: str, batch: int, repeats: int) -> dict:
    import numpy as np

    import keras_cxr
    from keras_cxr import backend

    model = build(name)
    images = np.random.default_rng(0).uniform(0, 255, (batch, 224, 224, 3)).astype("float32")
    forward = backend.compile_function(
        lambda x: model(x, training=False), [((None, 224, 224, 3), "float32")], model
    )
    explainer = keras_cxr.GradCAM(model, batch_size=max(batch, 16))

    def run_predict():
        model.predict(images, batch_size=max(batch, 16), verbose=0)

    def run_forward():
        np.asarray(forward(images))

    def run_explain():
        explainer.explain(images)

    first = {}
    for label, fn in (("predict", run_predict), ("forward", run_forward), ("explain", run_explain)):
        start = time.perf_counter()
        fn()
        first[label] = time.perf_counter() - start
    samples = {"predict": [], "forward": [], "explain": []}
    for _ in range(repeats):  # interleaved, so that machine noise hits all three alike
        for label, fn in (
            ("predict", run_predict),
            ("forward", run_forward),
            ("explain", run_explain),
        ):
            start = time.perf_counter()
            fn()
            samples[label].append(time.perf_counter() - start)
    median = {label: statistics.median(values) for label, values in samples.items()}
    return {"median": median, "first": first}


def peak_memory(name: str, what: str, count: int) -> dict:
    """Run in a fresh process: build, measure baseline RSS, then `what` on `count` images."""
    import numpy as np

    import keras_cxr

    model = build(name)
    images = np.random.default_rng(0).uniform(0, 255, (count, 224, 224, 3)).astype("float32")
    explainer = keras_cxr.GradCAM(model, batch_size=16) if what == "explain" else None
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if what == "explain":
        explainer.explain(images)
    else:
        model.predict(images, batch_size=16, verbose=0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"baseline_mb": base, "peak_mb": peak}


BACKENDS = ("tensorflow", "jax", "torch")


def _subprocess(backend: str, args: list[str]) -> dict:
    result = subprocess.run(
        [sys.executable, __file__, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "KERAS_BACKEND": backend},
    )
    if result.returncode:
        raise SystemExit(f"{backend} worker {args} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def time_table(backends, models, repeats: int) -> None:
    print(
        f"{'backend':<11}{'model':<17}{'batch':>6}{'explain/predict':>17}"
        f"{'explain/forward':>17}{'explain ms/img':>16}{'forward ms/img':>16}"
        f"{'first explain s':>17}"
    )
    for backend in backends:
        for name in models:
            for batch in (1, 16):
                result = _subprocess(
                    backend, ["--repeats", str(repeats), "--worker", "time", name, str(batch)]
                )
                m, first = result["median"], result["first"]
                print(
                    f"{backend:<11}{name:<17}{batch:>6}{m['explain'] / m['predict']:>17.2f}"
                    f"{m['explain'] / m['forward']:>17.2f}{1000 * m['explain'] / batch:>16.1f}"
                    f"{1000 * m['forward'] / batch:>16.1f}{first['explain']:>17.1f}",
                    flush=True,
                )


def memory_table(backends, models, count: int) -> None:
    print(f"\npeak memory, {count} images (MB above the built model / total RSS):")
    for backend in backends:
        for name in models:
            runs = {
                what: _subprocess(
                    backend, ["--memory-images", str(count), "--worker", "memory", name, what]
                )
                for what in ("predict", "explain")
            }
            extra = {w: r["peak_mb"] - r["baseline_mb"] for w, r in runs.items()}
            print(
                f"{backend:<11}{name:<17} predict {extra['predict']:7.0f} / "
                f"{runs['predict']['peak_mb']:6.0f}   explain {extra['explain']:7.0f} / "
                f"{runs['explain']['peak_mb']:6.0f}   ratio total "
                f"{runs['explain']['peak_mb'] / runs['predict']['peak_mb']:.2f}",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--backend",
        choices=(*BACKENDS, "all"),
        default=os.environ.get("KERAS_BACKEND", "tensorflow"),
        help="the Keras backend(s) to measure (default: KERAS_BACKEND, else tensorflow)",
    )
    parser.add_argument(
        "--models",
        nargs="+",
        choices=("ensemble", "nested_mobilenet"),
        default=["ensemble", "nested_mobilenet"],
    )
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--memory-images", type=int, default=64)
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, name, *rest = args.worker
        if kind == "time":
            print(json.dumps(timings(name, int(rest[0]), args.repeats)))
        else:
            print(json.dumps(peak_memory(name, rest[0], args.memory_images)))
        return

    backends = BACKENDS if args.backend == "all" else (args.backend,)
    time_table(backends, args.models, args.repeats)
    memory_table(backends, args.models, args.memory_images)


if __name__ == "__main__":
    main()
