"""Explain one saved model with every CAM method, under whatever KERAS_BACKEND is set.

`python tests/explain_worker.py MODEL.keras IMAGES.npy OUT.npz` writes the model's
predictions and each method's heatmaps; `tests/test_cross_backend.py` runs it under each
backend and compares the files.
"""

from __future__ import annotations

import sys

import numpy as np

#: Every CAM method, by the name keras_cxr.explain.get_method knows.
METHODS = ("gradcam", "gradcam++", "hirescam", "xgradcam", "layercam", "eigencam", "scorecam")


def explain_all(model_path: str, images: np.ndarray) -> dict:
    """Predictions and heatmaps of every method (class 1) for the model saved at `model_path`."""
    import keras_cxr
    from keras_cxr.explain import get_method

    model = keras_cxr.load_model(model_path)
    results = {"predictions": np.asarray(model.predict(images, verbose=0))}
    for name in METHODS:
        results[name] = get_method(name)(model).explain(images, class_index=1).heatmaps
    return results


if __name__ == "__main__":
    model_path, images_path, out_path = sys.argv[1:]
    np.savez(out_path, **explain_all(model_path, np.load(images_path)))
