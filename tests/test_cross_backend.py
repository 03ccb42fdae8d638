"""One saved model, three backends: the same predictions and heatmaps for every CAM method.

The model is built and saved under this process's backend, then loaded and explained in one
subprocess per other backend (Keras fixes its backend at import).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from .explain_worker import METHODS, explain_all
from .test_backends import backend_environment, skip_unless_available

WORKER = Path(__file__).resolve().parent / "explain_worker.py"
SIZE = 32


def saved_ensemble(path: Path) -> None:
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


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cross_backend")
    model_path, images_path = folder / "model.keras", folder / "images.npy"
    saved_ensemble(model_path)
    images = np.random.default_rng(5).uniform(0, 255, (4, SIZE, SIZE, 3)).astype("float32")
    np.save(images_path, images)
    return folder, explain_all(str(model_path), images)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["tensorflow", "jax", "torch"])
def test_predictions_and_heatmaps_agree_across_backends(reference, backend):
    skip_unless_available(backend)
    folder, expected = reference
    out = folder / f"{backend}.npz"
    result = subprocess.run(
        [
            sys.executable,
            str(WORKER),
            *(str(folder / f) for f in ("model.keras", "images.npy")),
            str(out),
        ],
        env=backend_environment(backend),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    got = dict(np.load(out))
    np.testing.assert_allclose(got["predictions"], expected["predictions"], atol=1e-5)
    for name in METHODS:
        a, b = got[name], expected[name]
        assert np.abs(a - b).max() <= 1e-4, (
            f"{name} under {backend}: max |diff| {np.abs(a - b).max()}"
        )
        assert b.max() == pytest.approx(1.0), f"{name}: the comparison must not be of zeros"
        for i in range(len(a)):
            if np.ptp(b[i]) == 0:  # a constant (all-zero) map: the difference says it all
                continue
            correlation = np.corrcoef(a[i].ravel(), b[i].ravel())[0, 1]
            assert correlation >= 0.999, f"{name} under {backend}, image {i}: r={correlation}"
