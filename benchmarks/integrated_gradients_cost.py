"""What do Integrated Gradients cost, in time and memory, next to plain gradient passes?

Time: `IntegratedGradients(steps=32, internal_batch_size=32)` on `--images` images against
`Saliency(batch_size=32)` on the same images repeated 32 times (32 forward + backward
passes per image, in batches of the same size), and against a compiled forward pass of the
images, interleaved over `--repeats` rounds after a warm-up call; the median ratio is the
figure. Integrated Gradients at 32 steps evaluates 33 points per image (both ends of the
path) plus one plain forward pass, so about 1.04 x is the floor.

Memory: each in a fresh subprocess, the resident-set peak while running, over the
process's resident set just before (Linux: the peak is reset through
`/proc/self/clear_refs`, else `ru_maxrss` is used), for the first call (tracing and
compiling included) and for a second, warm one: a compiled forward pass of 8 images,
`Saliency` on 8 images (one forward + backward pass of 8), and `IntegratedGradients(steps=
32, internal_batch_size=8)` on one image. TensorFlow's CPU memory is invisible to
`tracemalloc`, hence the resident set. A warm call's peak can be low where the allocator
reuses what the first call freed.

The model is MobileNetV2 (weights=None) with a one-unit sigmoid head at `--size` px.

Usage:
    python benchmarks/integrated_gradients_cost.py [--size 224] [--images 2] [--repeats 3]
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

STEPS = 32
MEMORY_BATCH = 8


def build(size: int):
    import keras

    base = keras.applications.MobileNetV2(
        include_top=False, weights=None, input_shape=(size, size, 3)
    )
    x = keras.layers.GlobalAveragePooling2D()(base.output)
    return keras.Model(base.input, keras.layers.Dense(1, activation="sigmoid")(x))


def images_of(count: int, size: int):
    import numpy as np

    return np.random.default_rng(0).uniform(0, 1, (count, size, size, 3)).astype("float32")


def callables(what: str, model, size: int, count: int):
    """The callable measured as `what`, with its inputs bound."""
    import numpy as np

    import keras_cxr
    from keras_cxr.backend import compile_function

    images = images_of(count, size)
    if what == "forward":
        forward = compile_function(
            lambda x: model(x, training=False), [((None, size, size, 3), "float32")]
        )
        return lambda: np.asarray(forward(images))
    if what == "gradients":
        saliency = keras_cxr.Saliency(model, batch_size=32)
        repeated = np.repeat(images, STEPS, axis=0)
        return lambda: saliency.explain(repeated, class_index=1)
    if what == "gradients8":
        saliency = keras_cxr.Saliency(model, batch_size=MEMORY_BATCH)
        return lambda: saliency.explain(images, class_index=1)
    batch = 32 if what == "ig" else MEMORY_BATCH
    ig = keras_cxr.IntegratedGradients(model, steps=STEPS, internal_batch_size=batch)
    return lambda: ig.explain(images, class_index=1)


def timings(size: int, count: int, repeats: int) -> dict:
    model = build(size)
    runs = {what: callables(what, model, size, count) for what in ("forward", "gradients", "ig")}
    seconds = {what: [] for what in runs}
    for run in runs.values():
        run()  # warm-up: traces and compiles
    for _ in range(repeats):
        for what, run in runs.items():
            start = time.perf_counter()
            run()
            seconds[what].append(time.perf_counter() - start)
    return {what: statistics.median(values) for what, values in seconds.items()}


def _rss_mb(field: str) -> float | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _reset_peak() -> tuple[float, str | None]:
    """The resident set now, after resetting the peak where Linux allows it."""
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")  # resets VmHWM, the resident-set peak, to the current size
        return _rss_mb("VmRSS"), "VmHWM"
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, None


def _peak(field: str | None) -> float:
    return _rss_mb(field) if field else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_memory(what: str, size: int) -> dict:
    """The peak over the resident set before, for the first call and for a warm one."""
    model = build(size)
    count = 1 if what == "ig8" else MEMORY_BATCH
    run = callables(what, model, size, count)
    base, field = _reset_peak()
    run()  # the first call traces and compiles
    first = _peak(field) - base
    base, field = _reset_peak()
    run()
    return {"first_mb": first, "warm_mb": _peak(field) - base}


def _subprocess(args: list[str]) -> dict:
    result = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(f"worker {args} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def time_table(t: dict, args) -> None:
    print(f"MobileNetV2 at {args.size} px, {args.images} images, median of {args.repeats}")
    print("| what | seconds | / 32 forward+backward passes | / forward pass |")
    print("|---|---:|---:|---:|")
    for what, label in (
        ("ig", "Integrated Gradients, 32 steps"),
        ("gradients", "32 forward+backward passes"),
        ("forward", "forward pass"),
    ):
        print(
            f"| {label} | {t[what]:.2f} | {t[what] / t['gradients']:.3f} "
            f"| {t[what] / t['forward']:.1f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--images", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--memory-only", action="store_true", help="skip the timing")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        what, result = args.worker[0], None
        if what == "time":
            result = timings(args.size, args.images, args.repeats)
        else:
            result = peak_memory(what, args.size)
        print(json.dumps(result))
        return
    common = ["--size", str(args.size), "--images", str(args.images)]
    if not args.memory_only:
        time_table(_subprocess([*common, "--repeats", str(args.repeats), "--worker", "time"]), args)
    memory = {
        what: _subprocess([*common, "--worker", what]) for what in ("forward", "gradients8", "ig8")
    }
    print()
    print(f"Resident-set peak over the baseline, {args.size} px, one fresh process each:")
    print("| what | first call, MB | / forward of 8 | warm call, MB | / forward of 8 |")
    print("|---|---:|---:|---:|---:|")
    for what, label in (
        ("forward", "forward pass of 8 images"),
        ("gradients8", "forward+backward pass of 8 images (Saliency)"),
        ("ig8", "Integrated Gradients, internal_batch_size=8, 1 image"),
    ):
        cells = [
            f"{memory[what][key]:.0f} | {memory[what][key] / memory['forward'][key]:.2f}"
            for key in ("first_mb", "warm_mb")
        ]
        print(f"| {label} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
