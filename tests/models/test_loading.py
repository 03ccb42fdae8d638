import hashlib

import keras
import numpy as np
import pytest

from keras_cxr import ModelFileError, StackedEnsemble, load_model

pytestmark = pytest.mark.backends  # also run under JAX and PyTorch


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "tiny.keras"
    model = StackedEnsemble(
        ("mobilenet_v2",), weights=None, input_shape=(32, 32, 3), head_units=(8,)
    )
    model.save(path)
    return path, model


def test_loads_a_saved_ensemble(saved):
    path, model = saved
    loaded = load_model(path)
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5)


def test_lambda_layer_is_refused_and_file_untouched(tmp_path):
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Lambda(lambda t: t * 2)(inputs))
    path = tmp_path / "lambda.keras"
    model.save(path)
    digest = _digest(path)
    with pytest.raises(ModelFileError, match=r"contains a `Lambda` layer.*safe_mode=False"):
        load_model(path)
    assert _digest(path) == digest


def test_truncated_file_is_reported_and_untouched(saved, tmp_path):
    data = saved[0].read_bytes()
    path = tmp_path / "truncated.keras"
    path.write_bytes(data[: len(data) // 2])
    digest = _digest(path)
    with pytest.raises(ModelFileError, match=r"not a complete `\.keras` archive"):
        load_model(path)
    assert _digest(path) == digest


def test_empty_file_is_reported(tmp_path):
    path = tmp_path / "empty.keras"
    path.touch()
    with pytest.raises(ModelFileError, match=r"is empty \(0 bytes\)"):
        load_model(path)
    assert path.stat().st_size == 0


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="No model file"):
        load_model(tmp_path / "missing.keras")
