"""A saved tiny classifier, its `BatchExplainer`, and a small phantom archive on disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from keras_cxr.data.synthetic import write_chest_xray
from keras_cxr.explain import BatchExplainer
from keras_cxr.models import save_model


@pytest.fixture(scope="module")
def model_file(two_branch_ensemble, tmp_path_factory) -> Path:
    """`two_branch_ensemble` (32 px) saved with a threshold that splits the phantoms."""
    path = tmp_path_factory.mktemp("model") / "model.keras"
    return save_model(two_branch_ensemble, path, {"threshold": 0.4809})


@pytest.fixture(scope="module")
def explainer(model_file) -> BatchExplainer:
    """Loaded and compiled once per module, and passed to `explain_folder` directly."""
    return BatchExplainer(model_file)


@pytest.fixture(scope="session")
def archive(tmp_path_factory) -> Path:
    """18 phantoms of 40 × 40 px in the Kermany layout (resized to 32 px); read only."""
    root = tmp_path_factory.mktemp("archive") / "chest_xray"
    return write_chest_xray(root, n_train=12, n_test=6, image_size=40, seed=3)
