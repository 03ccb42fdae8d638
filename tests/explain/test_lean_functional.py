"""`LeanFunctional`: the same outputs as `keras.Model` on the same graph, in both modes."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_cxr.explain.graph import flatten_model
from keras_cxr.explain.lean_functional import LeanFunctional

pytestmark = pytest.mark.backends  # also run under JAX and PyTorch


def _targets(graph, names):
    return [node.outputs[0] for node in graph.nodes if node.layer.name in names]


@pytest.mark.parametrize("training", [False, True])
def test_outputs_equal_keras_functional_on_a_flattened_ensemble(
    two_branch_ensemble, tiny_images, training
):
    graph = flatten_model(two_branch_ensemble)
    # An inner map of one branch (its later layers consume it) and the end of the other.
    names = {"b3_stage1_2_relu", "b5_stage2_2_relu"}
    outputs = [*_targets(graph, names), graph.outputs[0]]
    plain = keras.Model(graph.inputs[0], outputs)
    lean = LeanFunctional(graph.inputs[0], outputs, name="lean")
    images = tiny_images.astype("float32")
    expected = [keras.ops.convert_to_numpy(x) for x in plain(images, training=training)]
    got = [keras.ops.convert_to_numpy(x) for x in lean(images, training=training)]
    assert len(got) == len(expected) == 3
    # In training mode the head's dropout draws anew on each call: compare the maps only
    # (their BatchNorm uses the batch's statistics, so both modes are deterministic there).
    compared = zip(got, expected) if not training else zip(got[:2], expected[:2])
    for a, b in compared:
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    assert np.ptp(got[-1]) > 0  # a real output, not a constant


def test_a_single_output_is_returned_unwrapped(two_branch_ensemble, tiny_images):
    graph = flatten_model(two_branch_ensemble)
    lean = LeanFunctional(graph.inputs[0], graph.outputs[0], name="lean")
    result = lean(tiny_images.astype("float32"), training=False)
    expected = two_branch_ensemble(tiny_images.astype("float32"), training=False)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(result),
        keras.ops.convert_to_numpy(expected),
        rtol=1e-5,
        atol=1e-6,
    )
