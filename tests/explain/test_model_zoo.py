"""The CI slice of the conformance matrix (`benchmarks/model_zoo.py`): tiny configurations."""

import importlib.util
import re
from pathlib import Path

import keras
import numpy as np
import pytest

import keras_cxr

pytest.importorskip("keras_hub", reason="keras-hub is in the `test` extra")

#: Run under every Keras backend (tests/test_backends.py).
pytestmark = pytest.mark.backends

_SCRIPT = Path(__file__).parents[2] / "benchmarks" / "model_zoo.py"
_spec = importlib.util.spec_from_file_location("model_zoo", _SCRIPT)
zoo = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(zoo)

#: (model, method) → a pattern for the start of the cell it must give.
SLICE = {
    ("ViT", "GradCAM"): "works",
    ("ViT", "AttentionRollout"): "works",
    ("ViT", "AttentionGradient"): "works",
    ("DenseNet-hub", "GradCAM"): "works",
    ("DenseNet-hub", "AttentionRollout"): r"refused: Model `\w+` has no `keras.layers.Multi",
}


@pytest.fixture(scope="module")
def built():
    cache = {}

    def get(name):
        if name not in cache:
            model, size = zoo.build(name)
            images = np.random.default_rng(1).uniform(0, 255, (2, size, size, 3))
            cache[name] = model, images.astype("float32")
        return cache[name]

    return get


@pytest.mark.parametrize("name, method", sorted(SLICE), ids="-".join)
def test_a_cell_of_the_matrix(built, name, method):
    model, images = built(name)
    assert re.match(SLICE[name, method], zoo.cell(model, method, images))


def test_a_failure_is_reported_not_raised(built):
    model, images = built("DenseNet-hub")
    assert zoo.cell(model, "GradCAM", images[..., :2]).startswith("refused: ")
    assert zoo.cell(model, "NoSuchMethod", images).startswith("failed: AttributeError")


def test_an_error_from_inside_keras_is_a_failure_not_a_refusal():
    def from_keras():
        keras.layers.Dense(-1)

    def from_keras_cxr():
        keras_cxr.GradCAM(None)

    for raiser, expected in [(from_keras, False), (from_keras_cxr, True)]:
        with pytest.raises(ValueError) as caught:
            raiser()
        assert zoo._raised_by_keras_cxr(caught.value) is expected


def test_the_table_has_a_row_per_model_and_a_column_per_method():
    rows = [
        {"model": "ViT", "size": 28, "backend": "jax", "GradCAM": "works", "seconds": 1.0},
        {"model": "Broken", "build": "failed: no"},
    ]
    table = zoo.markdown(rows, ["GradCAM"]).splitlines()
    assert table[0] == "| model | input | backend | GradCAM | s |"
    assert table[2] == "| ViT | 28 | jax | works | 1.0 |"
    assert table[3].startswith("| Broken |  |  | failed: no |")
