"""One saved model, three backends: the same predictions and heatmaps for every CAM method.

The model is built and saved under this process's backend, then loaded and explained in one
subprocess per other backend (Keras fixes its backend at import); and the other way round:
saved and explained under each other backend, loaded and explained here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from .explain_worker import METHODS, SIZE, explain_all, saved_ensemble
from .test_backends import backend_environment, skip_unless_available

WORKER = Path(__file__).resolve().parent / "explain_worker.py"


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cross_backend")
    model_path, images_path = folder / "model.keras", folder / "images.npy"
    saved_ensemble(model_path)
    images = np.random.default_rng(5).uniform(0, 255, (4, SIZE, SIZE, 3)).astype("float32")
    np.save(images_path, images)
    return folder, explain_all(str(model_path), images)


def run_worker(backend: str, *arguments) -> None:
    result = subprocess.run(
        [sys.executable, str(WORKER), *map(str, arguments)],
        env=backend_environment(backend),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]


def assert_same_explanations(got: dict, expected: dict, where: str) -> None:
    np.testing.assert_allclose(got["predictions"], expected["predictions"], atol=1e-5)
    for name in METHODS:
        a, b = got[name], expected[name]
        assert np.abs(a - b).max() <= 1e-4, f"{name} {where}: max |diff| {np.abs(a - b).max()}"
        assert b.max() == pytest.approx(1.0), f"{name}: the comparison must not be of zeros"
        for i in range(len(a)):
            if np.ptp(b[i]) == 0:  # a constant (all-zero) map: the difference says it all
                continue
            correlation = np.corrcoef(a[i].ravel(), b[i].ravel())[0, 1]
            assert correlation >= 0.999, f"{name} {where}, image {i}: r={correlation}"


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["tensorflow", "jax", "torch"])
def test_predictions_and_heatmaps_agree_across_backends(reference, backend):
    skip_unless_available(backend)
    folder, expected = reference
    out = folder / f"{backend}.npz"
    run_worker(backend, folder / "model.keras", folder / "images.npy", out)
    assert_same_explanations(dict(np.load(out)), expected, f"under {backend}")


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["tensorflow", "jax", "torch"])
def test_a_file_saved_under_another_backend_loads_here_with_the_same_results(reference, backend):
    skip_unless_available(backend)
    folder, _ = reference
    model_path, out = folder / f"saved_by_{backend}.keras", folder / f"saved_by_{backend}.npz"
    run_worker(backend, "save", model_path, folder / "images.npy", out)
    here = explain_all(str(model_path), np.load(folder / "images.npy"))
    assert_same_explanations(here, dict(np.load(out)), f"saved under {backend}, loaded here")
