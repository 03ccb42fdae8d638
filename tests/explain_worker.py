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
    model_path, images_path, out_path = sys.argv[1:]
    np.savez(out_path, **explain_all(model_path, np.load(images_path)))
