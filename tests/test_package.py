"""The top-level package: lazy imports, and Keras finding keras_cxr's saved classes."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

import keras_cxr


def _run(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip()


def test_public_names_resolve_and_are_listed():
    for name in keras_cxr.__all__:
        assert getattr(keras_cxr, name) is not None
    assert set(keras_cxr.__all__) <= set(dir(keras_cxr))
    with pytest.raises(AttributeError, match="has no attribute 'GradCam'"):
        keras_cxr.GradCam  # noqa: B018


def test_import_loads_no_backend():
    assert _run("import sys, keras_cxr; print('keras' in sys.modules)") == "False"


@pytest.mark.parametrize("order", ["keras_cxr first", "keras first"])
def test_keras_loads_a_saved_ensemble_after_a_plain_import(order, tmp_path):
    path = tmp_path / "model.keras"
    imports = (
        "import keras_cxr\nimport keras"
        if order == "keras_cxr first"
        else ("import keras\nimport keras_cxr")
    )
    printed = _run(
        f"""
        {imports.splitlines()[0]}
        {imports.splitlines()[1]}
        from keras_cxr.models import StackedEnsemble
        StackedEnsemble(backbones=["cnn_3x3"], weights=None, input_shape=(32, 32, 3)).save(
            {str(path)!r})
        """
    )
    assert printed == ""
    # A fresh process that only imports keras_cxr (no keras_cxr.models) loads it.
    loaded = _run(
        f"""
        {imports.splitlines()[0]}
        {imports.splitlines()[1]}
        model = keras.models.load_model({str(path)!r})
        print(type(model).__name__)
        """
    )
    assert loaded == "StackedEnsemble"


def test_old_training_import_paths_warn_and_still_work():
    import keras_cxr.training as training
    from keras_cxr.data import load_image_splits
    from keras_cxr.models import HeadModel

    with pytest.warns(DeprecationWarning, match="moved to keras_cxr.data.load_image_splits"):
        assert training.load_image_splits is load_image_splits
    with pytest.warns(DeprecationWarning, match="keras_cxr.models"):
        assert training.HeadModel is HeadModel
    with pytest.raises(AttributeError, match="copy_head_weights"):
        training.copy_head_weights  # noqa: B018


def test_every_explanation_method_is_exported_at_top_level():
    from keras_cxr.explain import METHODS

    for cls in METHODS.values():
        assert getattr(keras_cxr, cls.__name__) is cls
        assert cls.__name__ in keras_cxr.__all__
    from keras_cxr import BatchExplainer, IntegratedGradients, SmoothGrad

    assert IntegratedGradients is keras_cxr.explain.IntegratedGradients
    assert SmoothGrad is keras_cxr.explain.SmoothGrad
    assert BatchExplainer is keras_cxr.explain.BatchExplainer
