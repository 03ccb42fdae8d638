"""Data-parallel checks on 2 CPU devices, under whatever KERAS_BACKEND is set.

`python tests/training/data_parallel_worker.py DATA OUT RESULT.json` splits the CPU in
two (TensorFlow logical devices, or `XLA_FLAGS` for JAX, set before the framework
starts), then writes to RESULT.json: the weight difference between a data-parallel and
a one-device fit of the same batches, padded validation against plain evaluation, the
batch-size error, and two `train(TrainConfig(distribute=True))` runs on the phantoms in
DATA (end to end and on cached features) saved under OUT, and a run with augmentation
and fine-tuning that is resumed for one more fine-tuning epoch.
`tests/training/test_data_parallel.py` runs it and reads the file.
"""

from __future__ import annotations

import faulthandler
import json
import os
import sys

DEVICES = 2

if os.environ.get("KERAS_BACKEND") == "jax":
    # The two emulated devices share 2 cores with the rest of the suite: with XLA's default
    # 40 s rendezvous deadline a loaded machine aborted the process (SIGABRT, "Termination
    # timeout for `all reduce` ... of 40 seconds exceeded") in the middle of a run.
    os.environ["XLA_FLAGS"] = (
        f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={DEVICES} "
        "--xla_cpu_collective_call_terminate_timeout_seconds=900"
    ).strip()

    # XLA's CPU client runs both emulated devices on one thread pool, sized by the cores
    # this process may use (or `NPROC`). With one thread, the device that reaches the
    # all-reduce first holds it while waiting for the other, which never starts: pinned to
    # one core (`taskset -c 0`) the worker hung until the test's 900 s timeout, as it did
    # once in CI. Two threads a device keep both running whatever the machine gives.
    os.environ["NPROC"] = str(max(int(os.environ.get("NPROC") or 0), 2 * DEVICES))

import numpy as np  # noqa: E402


def _split_cpu() -> None:
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * DEVICES
        )


def _small_model():
    """Conv → trainable BatchNorm → pooling → sigmoid, built and compiled afresh."""
    import keras

    keras.utils.set_random_seed(1)
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3)(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs)
    model.compile(
        keras.optimizers.SGD(0.1),
        "binary_crossentropy",
        weighted_metrics=[
            keras.metrics.AUC(name="auc"),
            keras.metrics.BinaryAccuracy(name="accuracy"),
        ],
    )
    return model


def equivalence() -> dict:
    """Same batches (40 images, batch 16: a partial last one) on 1 and on 2 devices."""
    from keras_cxr.backend import data_parallel, synchronized_batchnorm
    from keras_cxr.training.data_parallel import validation_data

    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 8, 8, 3)).astype("float32")
    y = (rng.random((40, 1)) > 0.5).astype("float32")
    single = _small_model()
    single.fit(x, y, batch_size=16, epochs=2, verbose=0, shuffle=False)
    plain = single.evaluate(x[:13], y[:13], batch_size=8, verbose=0, return_dict=True)
    with data_parallel(16) as devices:
        model = _small_model()
        with synchronized_batchnorm(model):
            synchronized = [
                layer.synchronized for layer in model.layers if hasattr(layer, "synchronized")
            ]
            model.fit(x, y, batch_size=16, epochs=2, verbose=0, shuffle=False)
        unsynchronized = [
            layer.synchronized for layer in model.layers if hasattr(layer, "synchronized")
        ]
        differences = [
            float(np.max(np.abs(a - b))) for a, b in zip(single.get_weights(), model.get_weights())
        ]
        model.set_weights(single.get_weights())  # the same weights, evaluated padded
        xv, yv, wv = validation_data(x[:13], y[:13, 0], devices)
        padded = model.evaluate(xv, yv, sample_weight=wv, batch_size=8, verbose=0, return_dict=True)
    return {
        "devices": devices,
        "max_weight_difference": max(differences),
        "synchronized_in_fit": synchronized,
        "synchronized_after": unsynchronized,
        "plain_evaluation": plain,
        "padded_evaluation": padded,
    }


def batch_size_error() -> dict:
    from keras_cxr.backend import data_parallel

    try:
        with data_parallel(15):
            pass
    except ValueError as error:
        return {"type": type(error).__name__, "message": str(error)}
    return {"type": None, "message": ""}


def trained(data: str, out: str) -> dict:
    """End-to-end and cached-features runs with `distribute=True`."""
    from keras_cxr.training import train
    from tests.training.conftest import tiny_config

    runs = {}
    for name, overrides in (
        ("end_to_end", {}),
        ("cached_features", {"train_backbones": False, "augmented_views": 1}),
    ):
        config = tiny_config(
            data,
            os.path.join(out, name),
            backbones=("cnn_3x3",),
            epochs=2,
            tensorboard=False,
            distribute=True,
            **overrides,
        )
        result = train(config)
        probabilities = result.model.predict(result.splits.val.images, verbose=0)
        np.save(os.path.join(out, f"{name}_val_probabilities.npy"), probabilities)
        runs[name] = {
            "mode": config.mode,
            "model_path": str(result.model_path),
            "val_metrics": result.val_metrics,
            "history": result.history,
            "val_count": len(result.splits.val),
        }
    return runs


def fine_tuned_and_resumed(data: str, out: str) -> dict:
    """Frozen backbone, augmented images and fine-tuning, then resumed for one more epoch."""
    from keras_cxr.training import train
    from tests.training.conftest import tiny_config

    settings = dict(
        backbones=("cnn_3x3",),
        epochs=1,
        tensorboard=False,
        distribute=True,
        train_backbones=False,
        cache_features=False,
        augment=True,
        fine_tune_last=2,
    )
    folder = os.path.join(out, "fine_tuned")
    first = train(tiny_config(data, folder, fine_tune_epochs=1, **settings))
    again = train(tiny_config(data, folder, fine_tune_epochs=2, resume=True, **settings))
    probabilities = again.model.predict(again.splits.val.images, verbose=0)
    np.save(os.path.join(out, "fine_tuned_val_probabilities.npy"), probabilities)
    return {
        "first_stages": list(first.history["stage"]),
        "stages": list(again.history["stage"]),
        "resumed": [list(entry) for entry in again.resumed],
        "val_loss": list(again.history["val_loss"]),
        "model_path": str(again.model_path),
    }


def main(data: str, out: str, result_path: str) -> None:
    # A hang (the all-reduce above) dumps every thread's stack and exits before the test's
    # 900 s timeout kills the process silently, so the failure shows where it stopped.
    faulthandler.dump_traceback_later(780, exit=True)
    _split_cpu()
    import keras

    result = {
        "backend": keras.backend.backend(),
        "equivalence": equivalence(),
        "batch_size_error": batch_size_error(),
        "runs": trained(data, out),
        "fine_tuned": fine_tuned_and_resumed(data, out),
    }
    with open(result_path, "w") as file:
        json.dump(result, file, default=float)


if __name__ == "__main__":
    main(*sys.argv[1:4])
