"""A tiny classifier saved with metadata, and its exports, made once per test session."""

from __future__ import annotations

import keras
import numpy as np
import pytest

#: Side of the tiny model's input, and its stored threshold.
SIZE = 32
THRESHOLD = 0.47


def tiny_ensemble():
    """A two-branch `StackedEnsemble` of compact CNNs with non-trivial BatchNorm statistics."""
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
    _spread_logits(model)
    return model


def _spread_logits(model) -> None:
    """Untrained, the probabilities barely vary between images: rescale the last layer so
    that the logits of some images have mean 0 and standard deviation 0.5, so that a 1e-4
    agreement means something."""
    layer = model.get_layer("logits")
    sample = np.random.default_rng(7).integers(0, 256, (16, SIZE, SIZE, 3)).astype("float32")
    raw = keras.Model(model.inputs, layer.output).predict(sample, verbose=0)
    scale = 0.5 / raw.std()
    layer.kernel.assign(layer.kernel * scale)
    layer.bias.assign((layer.bias - raw.mean()) * scale)


@pytest.fixture(scope="session")
def model_file(tmp_path_factory):
    """The tiny ensemble saved as `.keras` with a threshold and class names inside."""
    from keras_cxr.models import save_model

    path = tmp_path_factory.mktemp("export") / "model.keras"
    metadata = {"threshold": THRESHOLD, "class_names": ["NORMAL", "PNEUMONIA"]}
    save_model(tiny_ensemble(), path, metadata)
    return path


@pytest.fixture(scope="session")
def loaded_model(model_file):
    import keras_cxr

    return keras_cxr.load_model(model_file, compile=False)


@pytest.fixture(scope="session")
def exported(model_file, tmp_path_factory):
    """`exported(format)`: the `ExportResult` of `model_file` in that format, made once."""
    from keras_cxr.export import export_model, get_format

    folder = tmp_path_factory.mktemp("exports")
    results = {}

    def export(name: str):
        if name not in results:
            # SavedModels go where TF Serving looks, into folders that do not exist yet.
            suffix = get_format(name).suffix
            out = folder / f"model{suffix}" if suffix else folder / name / "serving" / "1"
            results[name] = export_model(model_file, out, name)
        return results[name]

    return export


@pytest.fixture(scope="session")
def images(loaded_model):
    """16 other images than the check's: uint8 noise and phantoms, as float32."""
    from keras_cxr.export import check_images

    noise = np.random.default_rng(5).integers(0, 256, (8, SIZE, SIZE, 3))
    return np.concatenate([noise, check_images(loaded_model, 8, seed=9)]).astype("float32")
