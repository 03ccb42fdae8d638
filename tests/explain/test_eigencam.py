"""EigenCAM against a numpy SVD of the centred activations, with its sign rule."""

import keras
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from keras_cxr import EigenCAM

from .models import tiny_cnn

#: Run under every Keras backend (tests/test_backends.py).
pytestmark = pytest.mark.backends

MODEL = tiny_cnn()
EXPLAINER = EigenCAM(MODEL)


def eigen_reference(activations):
    """pytorch-grad-cam's `get_2d_projection` for one image, with the sign fixed so that the
    principal direction's components sum to >= 0, and the ReLU of the CAM family."""
    height, width, channels = activations.shape
    flat = activations.reshape(-1, channels).astype(np.float64)
    centred = flat - flat.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    component = vt[0] if vt[0].sum() >= 0 else -vt[0]
    return np.maximum(centred @ component, 0).reshape(height, width)


def minmax(cam):
    return (cam - cam.min()) / (cam.max() - cam.min())


def test_explain_matches_the_numpy_reference_on_a_model():
    images = np.random.default_rng(5).uniform(0, 255, (3, 16, 16, 3))
    features = keras.Model(MODEL.inputs, MODEL.get_layer("last_relu").output).predict(
        images, verbose=0
    )
    explanation = EXPLAINER.explain(images)
    assert explanation.method == "eigencam"
    for i in range(len(images)):
        expected = minmax(eigen_reference(features[i]))
        np.testing.assert_allclose(explanation.heatmaps[i], expected, atol=1e-4)


def test_the_map_is_the_same_for_every_class():
    images = np.random.default_rng(6).uniform(0, 255, (2, 16, 16, 3))
    negative, positive = EXPLAINER.explain(images, 0), EXPLAINER.explain(images, 1)
    np.testing.assert_array_equal(negative.heatmaps, positive.heatmaps)
    np.testing.assert_allclose(negative.scores, -positive.scores, rtol=1e-6)


activation_maps = hnp.arrays(
    np.float32,
    st.tuples(st.integers(2, 6), st.integers(2, 6), st.integers(1, 5)),
    elements=st.floats(0, 10, width=32, allow_subnormal=False),
)


def well_separated(activations) -> bool:
    """Whether the first principal component is unique (σ₁ clearly above σ₂) and not at the
    sign rule's tie (components summing to ~0), so that the reference is well defined."""
    flat = activations.reshape(-1, activations.shape[-1]).astype(np.float64)
    centred = flat - flat.mean(axis=0)
    _, sigma, vt = np.linalg.svd(centred, full_matrices=False)
    second = sigma[1] if len(sigma) > 1 else 0.0
    return sigma[0] > 1e-2 and sigma[0] > 1.05 * second and abs(vt[0].sum()) > 1e-2


@settings(max_examples=40, deadline=None)
@given(activation_maps)
def test_compute_cam_matches_the_numpy_reference(activations):
    assume(well_separated(activations))
    got = np.asarray(EXPLAINER.compute_cam(activations[None], None))[0]
    expected = eigen_reference(activations)
    np.testing.assert_allclose(got, expected, atol=1e-3 * max(1.0, np.abs(expected).max()))


@settings(max_examples=30, deadline=None)
@given(activation_maps, st.data())
def test_a_constant_added_to_a_channel_changes_nothing(activations, data):
    # The projection is of the centred activations: per-channel offsets cancel. (The former
    # projection of the uncentred activations failed this.)
    assume(well_separated(activations))
    offsets = data.draw(
        hnp.arrays(
            np.float32,
            activations.shape[-1],
            elements=st.floats(-5, 5, width=32, allow_subnormal=False),
        )
    )
    shifted = activations + offsets
    np.testing.assert_allclose(
        np.asarray(EXPLAINER.compute_cam(shifted[None], None)),
        np.asarray(EXPLAINER.compute_cam(activations[None], None)),
        atol=1e-3 * max(1.0, float(np.abs(activations).max())),
    )


@pytest.mark.parametrize("direction_sign", [1.0, -1.0])
def test_the_sign_makes_the_map_agree_with_the_summed_activation(direction_sign):
    # Rank one around the mean: the centred activations are t ⊗ d (t sums to 0), so the
    # principal direction is ±d / |d|, and the rule picks the one whose components sum to
    # >= 0. Whichever way d points, the map is high where the channel sum is high.
    t = np.array([3.0, -1.0, 0.5, -2.5, 1.0, -1.0], "float32")
    d = direction_sign * np.array([2.0, 1.0, -0.5], "float32")
    activations = (4.0 + t[:, None] * d).reshape(1, 2, 3, 3)
    got = np.asarray(EXPLAINER.compute_cam(activations, None))[0]
    expected = np.maximum(t * np.sign(d.sum()), 0) * np.linalg.norm(d)
    np.testing.assert_allclose(got, expected.reshape(2, 3), rtol=1e-5, atol=1e-5)
    assert np.corrcoef(got.ravel(), activations.sum(-1).ravel())[0, 1] > 0


def test_constant_activations_give_a_zero_map():
    constant = np.full((2, 3, 4, 5), 7.0, "float32")
    np.testing.assert_array_equal(np.asarray(EXPLAINER.compute_cam(constant, None)), 0.0)


def test_compute_cam_refuses_a_map_that_is_not_4d():
    with pytest.raises(ValueError, match=r"argument `activations`.*4-D.*shape=\(3, 4, 5\)"):
        EXPLAINER.compute_cam(np.zeros((3, 4, 5), "float32"), None)
