import numpy as np
import pytest

from keras_cxr import Explanation, GradCAM, StackedEnsemble


@pytest.fixture(scope="module")
def explained():
    model = StackedEnsemble(
        ("mobilenet_v2", "densenet121"), weights=None, input_shape=(64, 64, 3), head_units=(8,)
    )
    images = np.random.default_rng(0).integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    return images, GradCAM(model).explain(images, class_index=[0, 1])


def test_one_map_per_branch_and_a_fused_map(explained):
    _, explanation = explained
    assert isinstance(explanation, Explanation)
    assert list(explanation.layer_heatmaps) == explanation.target_layers
    assert all(m.shape == (2, 64, 64) for m in explanation.layer_heatmaps.values())
    np.testing.assert_array_equal(explanation.class_index, [0, 1])
    positive = explanation.predictions[:, 0]
    np.testing.assert_allclose(explanation.probabilities, [1 - positive[0], positive[1]], rtol=1e-6)


def test_overlay_per_layer_and_fused(explained):
    images, explanation = explained
    fused = explanation.overlay(images)
    branch = explanation.overlay(images, layer=explanation.target_layers[1])
    assert fused.shape == branch.shape == (2, 64, 64, 3) and fused.dtype == np.uint8
    with pytest.raises(KeyError):
        explanation.overlay(images, layer="nope")


def test_plot_shows_image_branches_and_fused(explained, tmp_path):
    images, explanation = explained
    figure = explanation.plot(images, labels=[0, 1])
    titles = [axis.get_title() for axis in figure.axes[:4]]
    assert titles == ["image", "mobilenet_v2/out_relu", "densenet121/relu", "fused"]
    assert figure.axes[0].get_ylabel().startswith("label 0 | class 0 p=")
    figure.savefig(tmp_path / "grid.png")
    assert (tmp_path / "grid.png").stat().st_size > 1000
