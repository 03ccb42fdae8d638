"""keras_cxr: explainable chest X-ray classifiers for Keras 3.

Names are imported on first use (PEP 562), so `import keras_cxr` and the `keras-cxr`
command line start without loading Keras or a deep-learning backend; `from keras_cxr
import GradCAM` loads what `GradCAM` needs and nothing more. The saved classes are
registered with Keras as soon as Keras is imported, before or after keras_cxr, so
`keras.models.load_model` needs nothing but `import keras_cxr`.

Example:
    >>> from keras_cxr import StackedEnsemble, GradCAM
    >>> model = StackedEnsemble(weights=None, input_shape=(96, 96, 3))
    >>> explanation = GradCAM(model).explain(images)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from keras_cxr._registration import register_when_keras_loads

__version__ = "0.1.0"

#: Public name → the subpackage that defines it.
_EXPORTS = {
    "AttentionGradient": "explain",
    "AttentionRollout": "explain",
    "BatchExplainer": "explain",
    "EigenCAM": "explain",
    "Explanation": "explain",
    "GradCAM": "explain",
    "GradCAMCallback": "callbacks",
    "GradCAMPlusPlus": "explain",
    "GradientTimesInput": "explain",
    "GrayscaleToRGB": "layers",
    "HiResCAM": "explain",
    "ImageNetPreprocessing": "layers",
    "IntegratedGradients": "explain",
    "LIME": "explain",
    "LayerCAM": "explain",
    "ModelFileError": "models",
    "Occlusion": "explain",
    "SHAP": "explain",
    "Saliency": "explain",
    "ScoreCAM": "explain",
    "SmoothGrad": "explain",
    "StackedBackbones": "layers",
    "StackedEnsemble": "models",
    "VarGrad": "explain",
    "WeightsUnavailableError": "layers",
    "XGradCAM": "explain",
    "explain_folder": "scale",
    "load_model": "models",
}
_SUBPACKAGES = (
    "atomic",
    "callbacks",
    "data",
    "explain",
    "federated",
    "layers",
    "metrics",
    "models",
    "scale",
    "training",
    "viz",
)

__all__ = [
    "LIME",
    "SHAP",
    "AttentionGradient",
    "AttentionRollout",
    "BatchExplainer",
    "EigenCAM",
    "Explanation",
    "GradCAM",
    "GradCAMCallback",
    "GradCAMPlusPlus",
    "GradientTimesInput",
    "GrayscaleToRGB",
    "HiResCAM",
    "ImageNetPreprocessing",
    "IntegratedGradients",
    "LayerCAM",
    "ModelFileError",
    "Occlusion",
    "Saliency",
    "ScoreCAM",
    "SmoothGrad",
    "StackedBackbones",
    "StackedEnsemble",
    "VarGrad",
    "WeightsUnavailableError",
    "XGradCAM",
    "__version__",
    "explain_folder",
    "load_model",
]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from keras_cxr.callbacks import GradCAMCallback
    from keras_cxr.explain import (
        LIME,
        SHAP,
        AttentionGradient,
        AttentionRollout,
        BatchExplainer,
        EigenCAM,
        Explanation,
        GradCAM,
        GradCAMPlusPlus,
        GradientTimesInput,
        HiResCAM,
        IntegratedGradients,
        LayerCAM,
        Occlusion,
        Saliency,
        ScoreCAM,
        SmoothGrad,
        VarGrad,
        XGradCAM,
    )
    from keras_cxr.layers import (
        GrayscaleToRGB,
        ImageNetPreprocessing,
        StackedBackbones,
        WeightsUnavailableError,
    )
    from keras_cxr.models import ModelFileError, StackedEnsemble, load_model
    from keras_cxr.scale import explain_folder


register_when_keras_loads()


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"keras_cxr.{_EXPORTS[name]}"), name)
    elif name in _SUBPACKAGES:
        value = importlib.import_module(f"keras_cxr.{name}")
    else:
        raise AttributeError(f"module 'keras_cxr' has no attribute {name!r}")
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS, *_SUBPACKAGES})
