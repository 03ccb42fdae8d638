"""`keras_cxr.layers.compact_cnn`: the small from-scratch backbone."""

from __future__ import annotations

import pytest

import keras_cxr
from keras_cxr.layers import compact_cnn

pytestmark = pytest.mark.backends  # also run under JAX and PyTorch

SIZE = 32


def test_compact_cnn_shape_names_and_argument_checks():
    net = compact_cnn((64, 64, 3), width=8, stages=4, first_kernel=7, name="cnn")
    assert net.output.shape == (None, 4, 4, 64)
    assert all(layer.name.startswith("cnn") or layer.name == "image" for layer in net.layers)
    assert net.get_layer("cnn_stem_conv").kernel.shape == (7, 7, 3, 8)
    with pytest.raises(ValueError, match="`first_kernel`"):
        compact_cnn((64, 64, 3), first_kernel=4)
    with pytest.raises(ValueError, match="`input_shape`"):
        compact_cnn((8, 8, 3), stages=4)


def test_two_compact_branches_are_found_by_gradcam(two_branch_ensemble, tiny_images):
    explanation = keras_cxr.GradCAM(two_branch_ensemble).explain(tiny_images[:2])
    assert [path.split("/")[-2] for path in explanation.layer_heatmaps] == ["b3", "b5"]
    assert explanation.heatmaps.shape == (2, SIZE, SIZE)
