"""One class rule for a model file, whichever entry point loads it, or a warning when not."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import keras_cxr
from keras_cxr.explain import BatchExplainer, GradCAM, Saliency, StoredThresholdWarning
from keras_cxr.models import load_model, save_model
from keras_cxr.models.loading import file_metadata

THRESHOLD = 0.4809


@pytest.fixture(scope="module")
def model_file(two_branch_ensemble, tmp_path_factory):
    path = tmp_path_factory.mktemp("stored") / "model.keras"
    return save_model(two_branch_ensemble, path, {"threshold": THRESHOLD})


@pytest.fixture(scope="module")
def images():
    return keras_cxr.data.synthetic.make_phantoms(6, image_size=32, seed=2).images


def test_load_model_keeps_the_files_metadata_with_the_model(model_file, two_branch_ensemble):
    model = load_model(model_file, compile=False)
    assert file_metadata(model)["threshold"] == THRESHOLD
    assert file_metadata(model)["path"] == str(model_file)
    assert file_metadata(two_branch_ensemble) == {}  # built in memory: nothing stored
    assert file_metadata(object()) == {}


def test_a_batch_explainer_of_the_loaded_model_decides_as_one_of_the_path(model_file, images):
    by_path = BatchExplainer(model_file, warm_up=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", StoredThresholdWarning)  # it decides itself: no warning
        by_model = BatchExplainer(load_model(model_file, compile=False), warm_up=False)
        a, b = by_path({"image": images}), by_model({"image": images})
        smooth = BatchExplainer(load_model(model_file, compile=False), "smoothgrad", warm_up=False)
        smooth({"image": images[:2]})  # a noise wrapper's own Saliency is marked too
    assert (by_model.threshold, by_model.threshold_source) == (THRESHOLD, "model file")
    assert by_model.temperature == by_path.temperature
    np.testing.assert_array_equal(a["decision"], b["decision"])
    np.testing.assert_allclose(a["probability"], b["probability"], rtol=1e-6)
    np.testing.assert_allclose(a["heatmap"], b["heatmap"], atol=1e-5)


@pytest.mark.parametrize("method", [GradCAM, Saliency])
def test_a_bare_explainer_warns_once_when_it_decides_the_class_itself(model_file, images, method):
    model = load_model(model_file, compile=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", StoredThresholdWarning)
        explainer = method(model)  # building it decides nothing
        explainer.explain(images, class_index=1)  # the caller decided: no warning
    expected = r"stores the decision threshold 0.4809.*BatchExplainer\(model\) to explain at"
    with pytest.warns(StoredThresholdWarning, match=expected) as caught:
        explainer.explain(images)
    assert [w.filename for w in caught] == [__file__]  # it points at the user's call
    with warnings.catch_warnings():
        warnings.simplefilter("error", StoredThresholdWarning)
        explainer.explain(images)  # once per explainer


def test_no_warning_without_a_stored_threshold_to_ignore(two_branch_ensemble, images, tmp_path):
    plain = save_model(two_branch_ensemble, tmp_path / "plain.keras")  # no threshold stored
    half = save_model(two_branch_ensemble, tmp_path / "half.keras", {"threshold": 0.5})
    with warnings.catch_warnings():
        warnings.simplefilter("error", StoredThresholdWarning)
        for model in (two_branch_ensemble, load_model(plain), load_model(half)):
            GradCAM(model).explain(images[:2])
