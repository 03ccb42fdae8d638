"""A hand-written training loop that still drives `GradCAMCallback`, CSV logs and History.

`model.fit` runs callbacks for you. In your own loop, wrap them in a
`keras.callbacks.CallbackList` and call its hooks at the same points `fit` would: train
begin, epoch begin, batch end, epoch end (with the logs), train end. `GradCAMCallback`
then explains the same validation images at every epoch and writes
`<out>/gradcam/epoch_XXX.png`, and its drift value reaches the callbacks after it (here
the CSV log) and `History`.

    python examples/custom_training_loop.py [--out runs/custom_loop] [--epochs 4]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np

import keras_cxr
from keras_cxr.callbacks import GradCAMCallback
from keras_cxr.data.synthetic import make_phantoms
from keras_cxr.layers import build_compact_backbone


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/custom_loop")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--images", type=int, default=320)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    out = Path(args.out)
    size = args.image_size
    keras.utils.set_random_seed(0)

    # Data: phantoms in memory, 80% to train, 20% to validate.
    phantoms = make_phantoms(args.images, image_size=size, seed=0)
    x = phantoms.images.astype(np.float32)
    y = phantoms.labels.astype(np.float32)[:, None]
    split = int(0.8 * len(x))
    x_train, y_train, x_val, y_val = x[:split], y[:split], x[split:], y[split:]

    # Model: two compact CNN branches trained from scratch, BatchNorm included.
    backbones = [build_compact_backbone(name, (size, size, 3)) for name in ("cnn_3x3", "cnn_7x7")]
    model = keras_cxr.StackedEnsemble(
        backbones=backbones,
        input_shape=(size, size, 3),
        weights=None,
        trainable_backbones=True,
        head_units=(32,),
        dropout=0.3,
    )
    for backbone in model.backbones.values():
        for layer in backbone.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.trainable = True
    model.compile(
        keras.optimizers.Adam(2e-3),
        "binary_crossentropy",
        metrics=[keras.metrics.AUC(name="auc")],
        jit_compile=False,
    )

    # Callbacks, in the order `fit` would call them: GradCAM first so that its values
    # reach the CSV log; History last (add_history=True).
    gradcam = GradCAMCallback(
        x_val[:4], labels=y_val[:4, 0].astype(int), log_dir=out / "gradcam", every=1
    )
    callbacks = keras.callbacks.CallbackList(
        [gradcam, keras.callbacks.CSVLogger(str(out / "history.csv"))],
        add_history=True,
        model=model,
        epochs=args.epochs,
        steps=-(-len(x_train) // args.batch_size),
    )
    out.mkdir(parents=True, exist_ok=True)

    rng = np.random.default_rng(0)
    callbacks.on_train_begin()
    for epoch in range(args.epochs):
        callbacks.on_epoch_begin(epoch)
        model.reset_metrics()
        order = rng.permutation(len(x_train))
        for step, start in enumerate(range(0, len(order), args.batch_size)):
            batch = order[start : start + args.batch_size]
            callbacks.on_train_batch_begin(step)
            logs = model.train_on_batch(x_train[batch], y_train[batch], return_dict=True)
            callbacks.on_train_batch_end(step, logs)
        val = model.evaluate(x_val, y_val, batch_size=args.batch_size, verbose=0, return_dict=True)
        logs = {**logs, **{f"val_{key}": value for key, value in val.items()}}
        callbacks.on_epoch_end(epoch, logs)
        print(
            f"epoch {epoch + 1}: loss {logs['loss']:.3f}  val_auc {logs['val_auc']:.3f}  "
            f"gradcam_drift {gradcam.history['gradcam_drift'][-1]:.3f}"
        )
    callbacks.on_train_end()

    history = model.history.history
    print(f"History keys: {sorted(history)}")
    print(f"Grad-CAM grids: {sorted(p.name for p in (out / 'gradcam').glob('*.png'))}")


if __name__ == "__main__":
    main()
