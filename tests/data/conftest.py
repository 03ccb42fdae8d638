from pathlib import Path

import pytest

from keras_cxr.data.synthetic import write_chest_xray


@pytest.fixture(scope="session")
def phantom_root(tmp_path_factory) -> Path:
    """A small Kermany-layout folder of 32 × 32 phantoms; tests must not modify it."""
    root = tmp_path_factory.mktemp("phantoms") / "chest_xray"
    return write_chest_xray(root, n_train=48, n_test=16, n_val=8, image_size=32, seed=0)
