"""Explain one saved model with every CAM method, under whatever KERAS_BACKEND is set.

`python tests/explain_worker.py MODEL.keras IMAGES.npy OUT.npz` writes the model's
predictions and each method's heatmaps; with `save` first, it builds and saves the model
(`saved_ensemble`) under its own backend before explaining it. `tests/test_cross_backend.py`
runs it under each backend and compares the files.
"""

from __future__ import annotations

import sys

import numpy as np

#: Side of the images the saved ensemble takes.
SIZE = 32

#: Every CAM method, by the name keras_cxr.explain.get_method knows.
METHODS = ("gradcam", "gradcam++", "hirescam", "xgradcam", "layercam", "eigencam", "scorecam")


def saved_ensemble(path) -> None:
    """A two-branch StackedEnsemble of compact CNNs with non-trivial BatchNorm statistics."""
    import keras

    import keras_cxr
    from keras_cxr.layers import compact_cnn

    keras.utils.set_random_seed(3)
    branches = [
        compact_cnn((SIZE, SIZE, 3), width=4, stages=3, first_kernel=k, name=f"b{k}")
        for k in (3, 5)
    ]
    model = keras_cxr.StackedEnsemble(
        backbones=branches, input_shape=(SIZE, SIZE, 3), weights=None, head_units=(6,)
    )
    bn = model.get_layer("head_bn_1")
    bn.moving_mean.assign(np.linspace(-1, 1, bn.moving_mean.shape[0]).astype("float32"))
    bn.moving_variance.assign(np.full(bn.moving_variance.shape, 4.0, "float32"))
    model.save(path)


def explain_all(model_path: str, images: np.ndarray) -> dict:
    """Predictions and every method's heatmaps for the model saved at `model_path`.

    Each method's heatmaps are those of class 0 followed by those of class 1 (of a random
    model, one class often has all-zero maps for some methods; the other does not).
    """
    import keras_cxr
    from keras_cxr.explain import get_method

    model = keras_cxr.load_model(model_path)
    results = {"predictions": np.asarray(model.predict(images, verbose=0))}
    for name in METHODS:
        explainer = get_method(name)(model)
        maps = [explainer.explain(images, class_index=c).heatmaps for c in (0, 1)]
        results[name] = np.concatenate(maps)
    return results


if __name__ == "__main__":
    arguments = sys.argv[1:]
    if arguments[0] == "save":
        arguments = arguments[1:]
        saved_ensemble(arguments[0])
    model_path, images_path, out_path = arguments
    np.savez(out_path, **explain_all(model_path, np.load(images_path)))
