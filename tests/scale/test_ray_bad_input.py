"""`keras_cxr.scale.ray.explain_dataset` refuses bad input before Ray is asked anything.

These tests need no Ray: the module imports without it, and without it the call says
how to install it.
"""

from __future__ import annotations

import sys

import keras
import pytest

from keras_cxr.scale.ray import explain_dataset


def test_the_module_imports_and_names_the_extra_without_ray(model_file, archive, tmp_path):
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
        patch.setitem(sys.modules, "ray.data", None)
        with pytest.raises(ImportError, match=r"needs Ray Data: pip install 'keras_cxr\[ray\]'"):
            explain_dataset(model_file, archive, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_a_model_object_is_refused_not_pickled(two_branch_ensemble, archive, tmp_path):
    assert isinstance(two_branch_ensemble, keras.Model)
    with pytest.raises(
        ValueError,
        match=r"argument `model`. Expected a .keras file path, which every Ray actor loads "
        r"itself \(save a keras.Model with keras_cxr.models.save_model first.*"
        r"Received: model='StackedEnsemble'",
    ):
        explain_dataset(two_branch_ensemble, archive, tmp_path / "out", progress=False)


@pytest.mark.parametrize("concurrency", [0, -2, 1.5, True, "4"])
def test_concurrency_must_be_a_positive_integer(model_file, archive, tmp_path, concurrency):
    with pytest.raises(
        ValueError, match=r"argument `concurrency`. Expected an integer >= 1. Received: "
    ):
        explain_dataset(model_file, archive, tmp_path / "out", concurrency=concurrency)
    assert not (tmp_path / "out").exists()


def test_ray_remote_args_must_be_a_dict(model_file, archive, tmp_path):
    with pytest.raises(ValueError, match=r"`ray_remote_args`. Expected a dict or None"):
        explain_dataset(model_file, archive, tmp_path / "out", ray_remote_args=["num_gpus"])


def test_a_bad_save_option(model_file, archive, tmp_path):
    with pytest.raises(ValueError, match=r"`save`. Expected one of \['heatmaps', 'overlays'"):
        explain_dataset(model_file, archive, tmp_path / "out", save="all")
